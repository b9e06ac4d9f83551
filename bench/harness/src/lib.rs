//! The benchmark harness, shared by the bench program (`examples/bench`, run by
//! `bench/run.sh`) and its smoke test (`tests/it/bench_smoke.rs`): `load` (publisher),
//! `sink` (HTTP receiver), `stats` and `report` (figures), `config` (the bridge's TOML),
//! `openssl` (the RSA yardstick).

pub mod config;
pub mod load;
pub mod openssl;
pub mod report;
pub mod sink;
pub mod stats;

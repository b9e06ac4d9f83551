//! Subcommands other than `run` and `check-config`, one file each, and what they share.

pub mod channel;
pub mod dead;
pub mod deliveries;
pub mod demo;
pub mod explain;
pub mod publish;
pub mod request_file;
pub mod send_test;
pub mod sign;
pub mod verify;

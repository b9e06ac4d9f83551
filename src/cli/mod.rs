//! Subcommands other than `run` and `check-config`, one file each.

pub mod dead;
pub mod publish;
pub mod sign;
pub mod verify;

//! The subcommands, one file each; `main.rs` dispatches to them. Top layer: they assemble
//! the domain modules and own no domain logic. `headroom run` is [`crate::app::run`].

pub mod capacity;
pub mod check;
pub mod config;
pub mod dday;
pub mod docs;
pub mod rds_token;

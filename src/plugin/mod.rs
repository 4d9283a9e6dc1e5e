//! `kubectl socialconn`, the kubectl plugin: status of connections, check and refresh requests,
//! reauthorization links and the list of connections that need a person.
//!
//! [`advice`] and [`report`] are pure (what to do, urgency, tables, JSON views); [`commands`]
//! talks to the API server; [`args`] is the command line. The binary
//! `src/bin/kubectl-socialconn.rs` only parses and exits.

pub mod advice;
pub mod args;
pub mod commands;
pub mod report;

pub use args::Cli;
pub use commands::{PluginError, run};

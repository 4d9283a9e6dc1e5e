//! social-connection-operator: keeps the OAuth connections between an organisation and its
//! social-network accounts healthy, as Kubernetes resources.
//!
//! The layout follows the architecture: [`api`] holds the custom resource types, [`providers`]
//! talks to each social network, [`secrets`] reads (and redacts) tokens, [`controller`] decides
//! and records, [`notify`] tells people, [`server`] answers health probes and metrics scrapes,
//! [`telemetry`] sets up logs; [`plugin`] is the kubectl plugin `kubectl socialconn`.

// Table tests keep one tuple per row; naming each row type would hide the table.
#![cfg_attr(test, allow(clippy::type_complexity))]

pub mod api;
pub mod conditions;
pub mod config;
pub mod controller;
pub mod crd;
pub mod error;
pub mod notify;
pub mod plugin;
pub mod providers;
pub mod redact;
pub mod secrets;
pub mod server;
pub mod telemetry;

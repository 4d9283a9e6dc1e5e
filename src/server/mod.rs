//! The operator's HTTP endpoints beside the controller: the connect flow ([`connect`]: link,
//! callback and pages) and its signed state ([`state`]).

pub mod connect;
pub mod state;

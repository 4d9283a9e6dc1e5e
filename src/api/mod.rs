//! The `SocialConnection` custom resource: spec, status and the closed vocabularies they use.
//!
//! Nothing in this module performs I/O; it is the contract shared by the CRD, the controller and
//! the documentation.

mod duration;
mod spec;
mod status;

pub use duration::{GoDuration, ParseDurationError};
pub use spec::{
    AccountRef, AppSecretRef, CHECK_REQUESTED_ANNOTATION, DEFAULT_CHECK_INTERVAL, DEFAULT_EXPIRY_WARNING, MIN_CHECK_INTERVAL, ProviderKind,
    RequiredRole, SecretKeys, SecretRef, SocialConnection, SocialConnectionSpec,
};
pub use status::SocialConnectionStatus;

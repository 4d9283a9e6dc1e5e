//! Errors of the controller. Provider answers are facts, not errors (see
//! [`crate::providers::CheckReport`]); these are failures to talk to Kubernetes or to start.

use crate::providers::endpoints::EndpointError;
use crate::providers::http::HttpBuildError;

/// An error of the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
    /// The status could not be serialised.
    #[error("serialising status failed: {0}")]
    Serialize(#[from] serde_json::Error),
    /// A SocialConnection without namespace or name (the API server never sends one).
    #[error("object has no {0}")]
    MissingObjectKey(&'static str),
    /// Bad start-up configuration.
    #[error("configuration: {0}")]
    Config(#[from] EndpointError),
    /// A bad `--provider-rate`.
    #[error("configuration: {0}")]
    Rate(#[from] crate::controller::throttle::RateError),
    /// Leader election timings that cannot guarantee one leader.
    #[error("configuration: {0}")]
    Leader(#[from] crate::controller::leader::TimingsError),
    /// The provider HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] HttpBuildError),
    /// Connecting to Kubernetes failed at start-up.
    #[error("cannot connect to Kubernetes: {0}")]
    KubeConfig(String),
    /// A bad connect flow setting.
    #[error("configuration: {0}")]
    Connect(#[from] crate::server::connect::ConnectConfigError),
    /// The health server failed.
    #[error("health server: {0}")]
    Io(#[from] std::io::Error),
    /// A cached connection could not be unpacked (never expected: it is this process's own
    /// serialization).
    #[error(transparent)]
    Cache(#[from] crate::controller::packed::PackError),
}

impl Error {
    /// A fixed label for logs and metrics.
    pub const fn label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Serialize(_) => "serialize",
            Error::MissingObjectKey(_) => "missing_object_key",
            Error::Config(_) | Error::Rate(_) | Error::Connect(_) | Error::Leader(_) => "config",
            Error::Http(_) => "http",
            Error::KubeConfig(_) => "kubeconfig",
            Error::Io(_) => "io",
            Error::Cache(_) => "cache",
        }
    }
}

/// Result with the operator's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

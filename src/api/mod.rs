//! The `SocialConnection` and `SocialNotificationPolicy` custom resources: spec, status and the closed vocabularies they use.
//!
//! Nothing in this module performs I/O; it is the contract shared by the CRD, the controller and
//! the documentation.

mod duration;
mod notification_policy;
mod spec;
mod status;

pub use duration::{GoDuration, ParseDurationError};
pub use notification_policy::{
    DEFAULT_EXPIRY_WARNING_DAYS, DEFAULT_REPEAT_EVERY, EmailReceiver, LocalSecretRef, MIN_REPEAT_EVERY, OWNER_ANNOTATION, Receiver,
    SlackReceiver, SocialNotificationPolicy, SocialNotificationPolicySpec, WebhookReceiver,
};
pub use spec::{
    AccountRef, AppSecretRef, CHECK_REQUESTED_ANNOTATION, DEFAULT_CHECK_INTERVAL, DEFAULT_EXPIRY_WARNING, MANAGED_LABEL,
    MIN_CHECK_INTERVAL, ProviderKind, REFRESH_REQUESTED_ANNOTATION, REVOKE_FINALIZER, RefreshPolicy, RefreshSpec, RequiredRole,
    ResolvedKeys, SecretKeys, SecretRef, SocialConnection, SocialConnectionSpec,
};
pub use status::{
    MAX_STATUS_NAME_LEN, MAX_STATUS_SCOPE_LEN, MAX_STATUS_SCOPES, NotificationRecord, SocialConnectionStatus, bounded_scopes,
};

//! Email receiver: SMTP with STARTTLS required (never plain text), authenticated when the
//! Secret has credentials, trusting the Secret's `ca.crt` in addition to the public roots.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message as Email};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::SendError;
use super::message::Message;
use crate::redact::SecretString;

/// Default submission port.
pub const DEFAULT_PORT: u16 = 587;

/// SMTP settings read from the receiver's Secret.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    /// Server host name (also the name its certificate must carry).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Sender address.
    pub from: String,
    /// SMTP user, when the server needs authentication.
    pub username: Option<String>,
    /// SMTP password.
    pub password: Option<SecretString>,
    /// Extra PEM certificates to trust.
    pub ca_pem: Option<Vec<u8>>,
}

fn text(data: &BTreeMap<String, ByteString>, key: &str) -> Option<String> {
    data.get(key).map(|b| String::from_utf8_lossy(&b.0).trim().to_string()).filter(|s| !s.is_empty())
}

impl SmtpSettings {
    /// Reads the settings from a Secret's data; the error names the Secret and key, never a
    /// value.
    pub fn from_secret(name: &str, data: &BTreeMap<String, ByteString>) -> Result<Self, SendError> {
        let missing = |key: &str| SendError::Config(format!("Secret {name:?} has no key {key:?}"));
        let host = text(data, "host").ok_or_else(|| missing("host"))?;
        let from = text(data, "from").ok_or_else(|| missing("from"))?;
        let port = match text(data, "port") {
            None => DEFAULT_PORT,
            Some(p) => p.parse().map_err(|_| SendError::Config(format!("Secret {name:?} key \"port\" is not a port number")))?,
        };
        Ok(SmtpSettings {
            host,
            port,
            from,
            username: text(data, "username"),
            password: text(data, "password").map(SecretString::new),
            ca_pem: data.get("ca.crt").map(|b| b.0.clone()),
        })
    }
}

/// Sends the notice to `recipients` (nothing is sent when there are none).
pub async fn send(settings: &SmtpSettings, recipients: &[String], message: &Message) -> Result<(), SendError> {
    if recipients.is_empty() {
        return Err(SendError::Config("no email recipients: set the owner annotation or the policy's recipients".into()));
    }
    let from: Mailbox = settings.from.parse().map_err(|_| SendError::Config("the sender address (from) is not an email address".into()))?;
    let mut builder = Email::builder().from(from).subject(message.subject.clone()).header(ContentType::TEXT_PLAIN);
    for r in recipients {
        let to: Mailbox = r.parse().map_err(|_| SendError::Config(format!("{r:?} is not an email address")))?;
        builder = builder.to(to);
    }
    let email = builder.body(message.text.clone()).map_err(|e| SendError::Permanent(format!("building the email failed: {e}")))?;

    let mut tls = TlsParameters::builder(settings.host.clone());
    if let Some(pem) = &settings.ca_pem {
        let cert = Certificate::from_pem(pem).map_err(|_| SendError::Config("ca.crt is not a PEM certificate".into()))?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build_rustls().map_err(|e| SendError::Config(format!("TLS settings: {e}")))?;
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.as_str())
        .port(settings.port)
        .tls(Tls::Required(tls))
        .timeout(Some(Duration::from_secs(20)));
    if let (Some(user), Some(pass)) = (&settings.username, &settings.password) {
        transport = transport.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
    }
    match transport.build().send(email).await {
        Ok(_) => Ok(()),
        // Permanent SMTP answers (5xx) will not change on retry; everything else might.
        Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("the mail server refused the message: {e}"))),
        Err(e) => Err(SendError::Transient(format!("sending the email failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()
    }

    #[test]
    fn settings_need_host_and_sender_and_default_to_the_submission_port() {
        let s = SmtpSettings::from_secret("mail", &data(&[("host", "smtp.example.com"), ("from", "ops@example.com")])).unwrap();
        assert_eq!((s.host.as_str(), s.port, s.username), ("smtp.example.com", 587, None));
        let e = SmtpSettings::from_secret("mail", &data(&[("from", "ops@example.com")])).unwrap_err();
        assert_eq!(e.to_string(), "receiver configuration: Secret \"mail\" has no key \"host\"");
        let e = SmtpSettings::from_secret("mail", &data(&[("host", "h"), ("from", "f@x"), ("port", "smtp")])).unwrap_err();
        assert!(e.to_string().contains("not a port number"));
    }

    #[test]
    fn a_password_is_kept_secret_in_debug_output() {
        let s = SmtpSettings::from_secret("mail", &data(&[("host", "h"), ("from", "f@x"), ("username", "u"), ("password", "hunter2")]))
            .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}

//! Webhooks: where a report's events are POSTed (a [`NotifyUrl`]), the secret they are signed
//! with (a [`WebhookSecret`]), the event's JSON payload and how its delivery stands.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::Zeroize;

use crate::{Error, Report, Result};

/// Longest notify URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// The prefix of a secret in the Standard Webhooks form.
pub const SECRET_PREFIX: &str = "whsec_";
/// Fewest and most bytes a secret decodes to.
pub const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// A URL events may be POSTed to: `https://` to any host, or `http://` to a loopback host
/// (127.0.0.0/8, `::1`, `localhost`); no credentials, no fragment, at most [`MAX_URL_LEN`].
#[derive(Clone, PartialEq, Eq)]
pub struct NotifyUrl(String);

impl NotifyUrl {
    /// Parses a URL, naming `field` in errors (without echoing the whole value back).
    pub fn parse(value: &str, field: &str) -> Result<NotifyUrl> {
        let value = value.trim();
        let bad = |message: &str| Error::invalid(field, message);
        if value.is_empty() {
            return Err(bad("is required"));
        }
        if value.len() > MAX_URL_LEN {
            return Err(bad(&format!("is longer than {MAX_URL_LEN} bytes")));
        }
        let url = url::Url::parse(value).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not carry credentials (userinfo before @); receivers check the signature instead"));
        }
        if url.fragment().is_some() {
            return Err(bad("must not have a fragment (#…)"));
        }
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => return Err(bad("must name a host")),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err(bad("must be https:// (http:// only to a loopback host)")),
            other => return Err(bad(&format!("scheme {} is not allowed; use https://", crate::quote(other)))),
        }
        Ok(NotifyUrl(url.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NotifyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NotifyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NotifyUrl({:?})", self.0)
    }
}

/// A signing secret: `whsec_` and the base64 of 24 to 64 bytes (the Standard Webhooks form).
/// Its `Debug` never shows it; its bytes are zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// Parses `whsec_<base64>`, naming `field` in errors (never quoting the value).
    pub fn parse(value: &str, field: &str) -> Result<WebhookSecret> {
        let value = value.trim();
        if value.is_empty() {
            return Err(Error::invalid(field, "is required"));
        }
        let Some(b64) = value.strip_prefix(SECRET_PREFIX) else {
            return Err(Error::invalid(field, format!("must start with {SECRET_PREFIX}")));
        };
        let bytes = BASE64
            .decode(b64)
            .map_err(|_| Error::invalid(field, format!("is not {SECRET_PREFIX} followed by base64")))?;
        WebhookSecret::from_bytes(bytes, field)
    }

    /// A secret of these bytes (24 to 64 of them).
    pub fn from_bytes(mut bytes: Vec<u8>, field: &str) -> Result<WebhookSecret> {
        if !SECRET_BYTES.contains(&bytes.len()) {
            let n = bytes.len();
            bytes.zeroize();
            return Err(Error::invalid(
                field,
                format!("decodes to {n} bytes; it must be {} to {}", SECRET_BYTES.start(), SECRET_BYTES.end()),
            ));
        }
        Ok(WebhookSecret(bytes))
    }

    /// The decoded bytes: the HMAC key.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret in its `whsec_…` form (for the one who made it; never for a log).
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.0))
    }
}

impl Drop for WebhookSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

/// What happened to a report that its notify URL is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Succeeded,
    Failed,
    Issued,
}

impl EventKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Succeeded => "report.succeeded",
            EventKind::Failed => "report.failed",
            EventKind::Issued => "report.issued",
        }
    }
}

impl FromStr for EventKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "report.succeeded" => Ok(EventKind::Succeeded),
            "report.failed" => Ok(EventKind::Failed),
            "report.issued" => Ok(EventKind::Issued),
            other => Err(Error::invalid("event_type", format!("{} is not an event type", crate::quote(other)))),
        }
    }
}

/// How the delivery of an event stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; a retry sends it again.
    GivenUp,
}

impl DeliveryState {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryState::Pending => "PENDING",
            DeliveryState::Delivered => "DELIVERED",
            DeliveryState::GivenUp => "GIVEN_UP",
        }
    }
}

impl FromStr for DeliveryState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "PENDING" => Ok(DeliveryState::Pending),
            "DELIVERED" => Ok(DeliveryState::Delivered),
            "GIVEN_UP" => Ok(DeliveryState::GivenUp),
            other => Err(Error::invalid("state", format!("{} is not a delivery state", crate::quote(other)))),
        }
    }
}

/// A report's notify URL and how its newest event's delivery stands (none before the first event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub url: NotifyUrl,
    pub delivery: Option<Delivery>,
}

/// The delivery of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The `webhook-id`: stable across attempts, for receivers to deduplicate.
    pub event_id: uuid::Uuid,
    pub kind: EventKind,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<jiff::Timestamp>,
    pub delivered_at: Option<jiff::Timestamp>,
}

/// The JSON body of an event about `report`, made at `at`.
pub fn payload(report: &Report, kind: EventKind, at: jiff::Timestamp) -> serde_json::Value {
    let pdf = report.pdf.as_ref();
    let mut data = serde_json::json!({
        "id": report.id.to_string(),
        "name": format!("reports/{}", report.id),
        "programme": report.programme,
        "period": report.period.to_string(),
        "lang": report.lang.code(),
        "state": report.state.as_str(),
        "attempt": report.attempt,
        "error": report.error,
        "sha256": pdf.map(|p| p.sha256.as_str()),
        "data_hash": pdf.map(|p| p.data_hash.as_str()),
        "schedule": report.schedule.map(|s| format!("schedules/{s}")),
        "download_path": format!("/#/reports/{}", report.id),
    });
    if kind == EventKind::Issued
        && let (Some(issued), Some(map)) = (&report.issued, data.as_object_mut())
    {
        map.insert("issued_number".into(), issued.number.to_string().into());
    }
    serde_json::json!({ "type": kind.as_str(), "timestamp": at.to_string(), "data": data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_urls_are_https_or_loopback_http_without_credentials() {
        for ok in [
            "https://example.org/hooks",
            "https://example.org:8443/h?x=1",
            "http://127.0.0.1:9000/h",
            "http://127.9.9.9/h",
            "http://[::1]:80/h",
            "http://localhost:1234/",
        ] {
            assert!(NotifyUrl::parse(ok, "notify.url").is_ok(), "{ok}");
        }
        for bad in [
            "file:///etc/passwd",
            "ftp://example.org/x",
            "http://example.org/h",
            "http://10.0.0.1/h",
            "https://user:pw@example.org/h",
            "https://user@example.org/h",
            "https://example.org/h#frag",
            "not a url",
            "",
        ] {
            let e = NotifyUrl::parse(bad, "notify.url").expect_err(bad);
            assert_eq!(e.field(), Some("notify.url"), "{bad}");
            assert!(bad.len() < 12 || !e.to_string().contains(bad), "{e}");
        }
        let long = format!("https://example.org/{}", "a".repeat(MAX_URL_LEN));
        assert!(NotifyUrl::parse(&long, "notify.url").is_err());
    }

    #[test]
    fn secrets_are_whsec_base64_of_24_to_64_bytes_and_never_shown() {
        let secret = format!("whsec_{}", BASE64.encode([7u8; 32]));
        let s = WebhookSecret::parse(&secret, "notify.secret").expect("valid");
        assert_eq!(s.bytes(), &[7u8; 32]);
        assert_eq!(s.expose(), secret);
        assert_eq!(format!("{s:?}"), "WebhookSecret(***)");
        for bad in [
            String::new(),
            "nope".into(),
            "whsec_***".into(),
            format!("whsec_{}", BASE64.encode([1u8; 16])),
            format!("whsec_{}", BASE64.encode([1u8; 65])),
        ] {
            let e = WebhookSecret::parse(&bad, "notify.secret").expect_err(&bad);
            assert_eq!(e.field(), Some("notify.secret"));
            assert!(bad.len() < 8 || !e.to_string().contains(&bad[6..]), "{e}");
        }
    }
}

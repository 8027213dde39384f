//! Webhooks: the key that seals notify secrets at rest, and the sender that POSTs each event of
//! the deliveries outbox to its report's notify URL, signed per Standard Webhooks.
//!
//! Any replica's sender claims due deliveries with a lease (two replicas never send one attempt
//! at once), sends a batch with bounded concurrency, and records the outcome: 2xx DELIVERED;
//! anything else one more attempt, the next after an exponential backoff with jitter (capped),
//! GIVEN_UP after the last. At least once: a sender that dies after the receiver took the event
//! but before recording it sends it again once the lease is out, with the same `webhook-id`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use coopbrief_domain::webhook::{NotifyUrl, WebhookSecret};
use coopbrief_store::{DueDelivery, SealedTarget, Store};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing::{info, warn};
use zeroize::Zeroizing;

/// Associated data of every sealed secret: a ciphertext made for something else does not open.
const AAD: &[u8] = b"coopbrief webhook secret v1";
/// The prefix of a sealed secret as stored.
const SEALED_PREFIX: &str = "v1.";
/// Deliveries one sender claims per pass.
const BATCH: u32 = 32;
/// Deliveries one sender sends at once.
const CONCURRENCY: usize = 8;
/// How long a claimed delivery is held: well past one attempt's timeout.
const LEASE: Duration = Duration::from_secs(60);
/// Connect and total timeout of one attempt.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The setting every error about the key names.
pub const KEY_SETTING: &str = "--webhook-key-file (COOPBRIEF_WEBHOOK_KEY)";

/// Webhook settings of the data service.
#[derive(Clone, clap::Args)]
pub struct WebhookArgs {
    /// The key that seals notify secrets in the database (AES-256-GCM): 32 bytes as 64 hex
    /// digits (`openssl rand -hex 32`). Without it, a request naming a notify target is refused
    /// and no event is sent.
    #[arg(long, env = "COOPBRIEF_WEBHOOK_KEY", hide_env_values = true)]
    pub webhook_key: Option<String>,
    /// A file holding the webhook key (as --webhook-key).
    #[arg(long, conflicts_with = "webhook_key")]
    pub webhook_key_file: Option<PathBuf>,
    /// Attempts at delivering one event before it is given up.
    #[arg(long, env = "COOPBRIEF_WEBHOOK_MAX_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub webhook_max_attempts: u32,
    /// Seconds before the second attempt; each later one waits twice as long (with jitter).
    #[arg(long, env = "COOPBRIEF_WEBHOOK_BASE_DELAY", default_value_t = 10.0)]
    pub webhook_base_delay: f64,
    /// Longest wait, in seconds, between two attempts.
    #[arg(long, env = "COOPBRIEF_WEBHOOK_MAX_DELAY", default_value_t = 3600.0)]
    pub webhook_max_delay: f64,
}

impl Default for WebhookArgs {
    fn default() -> Self {
        WebhookArgs {
            webhook_key: None,
            webhook_key_file: None,
            webhook_max_attempts: 10,
            webhook_base_delay: 10.0,
            webhook_max_delay: 3600.0,
        }
    }
}

impl std::fmt::Debug for WebhookArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookArgs")
            .field("webhook_key", &self.webhook_key.as_ref().map(|_| "***"))
            .field("webhook_key_file", &self.webhook_key_file)
            .field("webhook_max_attempts", &self.webhook_max_attempts)
            .field("webhook_base_delay", &self.webhook_base_delay)
            .field("webhook_max_delay", &self.webhook_max_delay)
            .finish()
    }
}

impl WebhookArgs {
    /// The key, read from its file or setting (none when neither is set).
    pub fn key(&self) -> anyhow::Result<Option<WebhookKey>> {
        let text = match (&self.webhook_key, &self.webhook_key_file) {
            (Some(_), Some(_)) => anyhow::bail!("{KEY_SETTING}: give the key one way"),
            (Some(key), None) => Zeroizing::new(key.clone()),
            (None, Some(path)) => Zeroizing::new(
                coopbrief_runtime::secrets::read_secret(path)
                    .map_err(|e| anyhow::anyhow!("{KEY_SETTING}: cannot read {}: {e}", path.display()))?,
            ),
            (None, None) => return Ok(None),
        };
        Ok(Some(WebhookKey::from_hex(&text)?))
    }

    /// How the sender paces its attempts.
    pub fn sender(&self) -> SenderConfig {
        // Not a number counts as the shortest wait (clamp keeps NaN, and a NaN Duration panics).
        let secs = |s: f64| Duration::from_secs_f64(if s.is_nan() { 0.01 } else { s.clamp(0.01, 7.0 * 86_400.0) });
        SenderConfig {
            max_attempts: self.webhook_max_attempts.max(1),
            base_delay: secs(self.webhook_base_delay),
            max_delay: secs(self.webhook_max_delay.max(self.webhook_base_delay)),
        }
    }
}

/// How the sender paces its attempts.
#[derive(Clone, Copy, Debug)]
pub struct SenderConfig {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        WebhookArgs::default().sender()
    }
}

impl SenderConfig {
    /// The wait before the next attempt after `attempts` failed ones (`None`: give up): the base
    /// doubled each time, capped, then between half of it and all of it (jitter, so that the
    /// events of one outage do not come back all at once).
    pub fn next_delay(&self, attempts: u32, random: u64) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let doubled = self.base_delay.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        let delay = doubled.min(self.max_delay);
        let jitter = (random % 1_000) as f64 / 1_000.0;
        Some(delay.mul_f64(0.5 + 0.5 * jitter))
    }
}

/// The key that seals notify secrets: 32 bytes, zeroed when dropped, never shown.
pub struct WebhookKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey(***)")
    }
}

/// A sealed secret that does not open with this key (another key, or an edited row).
#[derive(Debug, thiserror::Error)]
#[error("the notify secret cannot be unsealed with this webhook key")]
pub struct Unsealable;

impl WebhookKey {
    /// The key from 64 hex digits (surrounding white space ignored).
    pub fn from_hex(text: &str) -> anyhow::Result<WebhookKey> {
        let bytes = Zeroizing::new(
            hex::decode(text.trim()).map_err(|_| anyhow::anyhow!("{KEY_SETTING}: the key is not hex digits"))?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != key.len() {
            anyhow::bail!("{KEY_SETTING}: the key is {} bytes; it must be 32 (64 hex digits)", bytes.len());
        }
        key.copy_from_slice(&bytes);
        Ok(WebhookKey(key))
    }

    fn cipher(&self) -> Option<Aes256Gcm> {
        Aes256Gcm::new_from_slice(self.0.as_slice()).ok()
    }

    /// Seals `secret` for the database: `v1.` and the base64 of a random nonce and the ciphertext.
    pub fn seal(&self, secret: &WebhookSecret) -> crate::error::Result<String> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| crate::error::Error::Internal(format!("no random nonce: {e}")))?;
        let failed = || crate::error::Error::Internal("sealing the notify secret failed".into());
        let sealed = self
            .cipher()
            .ok_or_else(failed)?
            .encrypt(&nonce.into(), Payload { msg: secret.bytes(), aad: AAD })
            .map_err(|_| failed())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", BASE64.encode(out)))
    }

    /// Opens a secret [`WebhookKey::seal`] made.
    pub fn open(&self, sealed: &str) -> Result<WebhookSecret, Unsealable> {
        let bytes = sealed.strip_prefix(SEALED_PREFIX).and_then(|b| BASE64.decode(b).ok()).ok_or(Unsealable)?;
        if bytes.len() < 12 {
            return Err(Unsealable);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce = aes_gcm::aead::Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| Unsealable)?;
        let cipher = self.cipher().ok_or(Unsealable)?;
        let plain = cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: AAD }).map_err(|_| Unsealable)?;
        WebhookSecret::from_bytes(plain, "notify_secret").map_err(|_| Unsealable)
    }

    /// A notify target as stored: the URL and the secret sealed.
    pub fn seal_target(&self, url: NotifyUrl, secret: &WebhookSecret) -> crate::error::Result<SealedTarget> {
        Ok(SealedTarget { url, secret: self.seal(secret)? })
    }
}

/// The `webhook-signature` header of a message: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` keyed with the secret's bytes (Standard Webhooks).
pub fn signature(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.bytes()) {
        Ok(mac) => mac,
        // HMAC takes a key of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// Sends due deliveries until `shutdown` resolves: a batch per pass, then a short wait when
/// there was less than a batch.
pub async fn run(store: Store, key: Arc<WebhookKey>, config: SenderConfig, shutdown: impl Future<Output = ()>) {
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(TIMEOUT)
        .timeout(TIMEOUT)
        .user_agent(concat!("Coopbrief-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "the webhook sender cannot start; no event will be sent");
            return;
        }
    };
    let poll = config.base_delay.clamp(Duration::from_millis(50), Duration::from_secs(1));
    tokio::pin!(shutdown);
    loop {
        let due = match store.claim_deliveries(BATCH, LEASE).await {
            Ok(due) => due,
            Err(e) => {
                warn!(error = %e, "could not claim webhook deliveries");
                Vec::new()
            }
        };
        let full = due.len() == BATCH as usize;
        futures::stream::iter(due)
            .for_each_concurrent(CONCURRENCY, |d| deliver(&store, &client, &key, config, d))
            .await;
        let wait = if full { Duration::ZERO } else { poll };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One attempt at one delivery, and its outcome recorded.
async fn deliver(store: &Store, client: &reqwest::Client, key: &WebhookKey, config: SenderConfig, d: DueDelivery) {
    let outcome = match key.open(&d.target.secret) {
        Ok(secret) => post(client, &secret, &d).await,
        Err(e) => Err(e.to_string()),
    };
    let recorded = match &outcome {
        Ok(()) => store.delivery_delivered(&d.event_id, d.claimed_until).await,
        Err(error) => {
            let mut random = [0u8; 8];
            let _ = getrandom::fill(&mut random);
            let next = config
                .next_delay(d.attempts + 1, u64::from_le_bytes(random))
                .and_then(|wait| jiff::Timestamp::now().checked_add(wait).ok());
            store.delivery_failed(&d.event_id, d.claimed_until, error, next).await
        }
    };
    let attempt = d.attempts + 1;
    match (&outcome, recorded) {
        (Ok(()), Ok(true)) => {
            info!(event_id = %d.event_id, report_id = %d.report_id, event = d.kind.as_str(), attempt, "webhook delivered")
        }
        (Err(error), Ok(true)) => {
            warn!(event_id = %d.event_id, report_id = %d.report_id, event = d.kind.as_str(), attempt, error, "webhook attempt failed")
        }
        (_, Ok(false)) => {
            warn!(event_id = %d.event_id, report_id = %d.report_id, "webhook outcome not recorded: the lease ran out")
        }
        (_, Err(e)) => {
            warn!(event_id = %d.event_id, report_id = %d.report_id, error = %e, "webhook outcome not recorded")
        }
    }
}

/// POSTs the event; `Err` says why the receiver did not take it.
async fn post(client: &reqwest::Client, secret: &WebhookSecret, d: &DueDelivery) -> Result<(), String> {
    let id = d.event_id.to_string();
    let timestamp = jiff::Timestamp::now().as_second();
    let mut request = client
        .post(d.target.url.as_str())
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature(secret, &id, timestamp, d.payload.as_bytes()))
        .body(d.payload.clone());
    if let Some(traceparent) = &d.traceparent {
        request = request.header("traceparent", traceparent);
    }
    match request.send().await {
        // The answer's body is not read: only its status counts.
        Ok(answer) if answer.status().is_success() => Ok(()),
        Ok(answer) => Err(format!("HTTP {}", answer.status().as_u16())),
        Err(e) => Err(describe(&e)),
    }
}

/// Why a request failed, in a few words: never the URL (its query may hold a token).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => "connection reset".into(),
                kind => format!("connection failed ({kind})"),
            };
        }
        source = s.source();
    }
    if e.is_connect() {
        "connection failed".into()
    } else if e.is_redirect() {
        "redirects are not followed".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(&format!("whsec_{}", BASE64.encode([9u8; 32])), "s").unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_only_and_differs_each_time() {
        let key = WebhookKey::from_hex(&"ab".repeat(32)).unwrap();
        let a = key.seal(&secret()).unwrap();
        let b = key.seal(&secret()).unwrap();
        assert_ne!(a, b, "a random nonce each time");
        assert!(!a.contains(&secret().expose()[6..]));
        assert_eq!(key.open(&a).unwrap(), secret());
        let other = WebhookKey::from_hex(&"cd".repeat(32)).unwrap();
        assert!(other.open(&a).is_err());
        assert!(WebhookKey::from_hex("abcd").is_err());
        assert_eq!(format!("{key:?}"), "WebhookKey(***)");
    }

    #[test]
    fn the_signature_is_standard_webhooks() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "s").unwrap();
        let sig = signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn backoff_doubles_is_capped_jittered_and_gives_up() {
        let c =
            SenderConfig { max_attempts: 5, base_delay: Duration::from_secs(10), max_delay: Duration::from_secs(30) };
        assert_eq!(c.next_delay(1, 999), Some(Duration::from_secs(10).mul_f64(0.5 + 0.5 * 0.999)));
        assert_eq!(c.next_delay(2, 0), Some(Duration::from_secs(10)));
        assert_eq!(c.next_delay(4, 0), Some(Duration::from_secs(15)));
        assert_eq!(c.next_delay(5, 0), None);
    }
}

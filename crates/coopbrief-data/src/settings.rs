//! The data service's settings: each one a flag and a `COOPBRIEF_<NAME>` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use coopbrief_domain::Role;

pub use crate::auth::AuthMode;

/// Settings of `coopbrief-data`.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "coopbrief-data", version, about = "The Coopbrief data service (gRPC)")]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "COOPBRIEF_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Database URL; the default is an embedded SQLite file.
    #[arg(long, env = "COOPBRIEF_DATABASE_URL", default_value = "sqlite://var/coopbrief.db", hide_env_values = true)]
    pub database_url: String,
    /// The database password, put into --database-url (which then names the user but no password).
    #[arg(long, env = "COOPBRIEF_DATABASE_PASSWORD", hide_env_values = true)]
    pub database_password: Option<String>,
    #[command(flatten)]
    pub broker: coopbrief_runtime::BrokerArgs,
    /// Where finished PDFs are kept: a directory, or `s3://bucket/prefix` for S3 and
    /// S3-compatible stores (credentials and endpoint from the `AWS_*` environment variables).
    #[arg(long, alias = "artifact-dir", env = "COOPBRIEF_ARTIFACTS", default_value = "var/pdf")]
    pub artifacts: String,
    /// Load this dataset file or directory at start (upsert by codes), or `none`: load
    /// nothing. Without it, an empty database is seeded with the bundled Hà Nội–Hà Nam dataset
    /// (demo data: deployments say `none`).
    #[arg(long, env = "COOPBRIEF_SEED")]
    pub seed: Option<Seed>,
    /// Seconds between two passes of the report scheduler over the schedules.
    #[arg(long, env = "COOPBRIEF_SCHEDULER_INTERVAL", default_value_t = 30.0)]
    pub scheduler_interval: f64,
    /// Most reports one schedule makes in one pass when catching up after downtime.
    #[arg(long, env = "COOPBRIEF_SCHEDULER_CATCH_UP", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..))]
    pub scheduler_catch_up: u32,
    /// Log format: `text` or `json`.
    #[arg(long, env = "COOPBRIEF_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    #[command(flatten)]
    pub metrics: coopbrief_runtime::MetricsArgs,
    /// Serve the web page, and gRPC-Web for it, on this address too (`0.0.0.0:8080`); off by
    /// default. Same services, same access rules, same TLS as --listen.
    #[arg(long, env = "COOPBRIEF_WEB_LISTEN")]
    pub web_listen: Option<SocketAddr>,
    /// Access control: `tokens` (every call but health and reflection needs a bearer token)
    /// or `off` (no checks; refused unless --listen is a loopback address).
    #[arg(long, env = "COOPBRIEF_AUTH", value_enum, default_value_t = AuthMode::Tokens)]
    pub auth: AuthMode,
    /// PEM certificate chain for TLS; with --tls-key the service speaks only TLS.
    #[arg(long, env = "COOPBRIEF_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "COOPBRIEF_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The office's key for issuing briefings: PEM (PKCS#8, encrypted or not; it may hold the
    /// certificate chain too) or PKCS#12 (.p12/.pfx). Read at each issuance, never stored or
    /// logged. Without it, IssueReport is refused.
    #[arg(long, env = "COOPBRIEF_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// PEM certificate chain of --signing-key (not needed for PKCS#12, or a PEM key file
    /// holding it).
    #[arg(long, env = "COOPBRIEF_SIGNING_CERT", requires = "signing_key")]
    pub signing_cert: Option<PathBuf>,
    /// A file holding the password of --signing-key (a password is never a flag's value).
    #[arg(long, env = "COOPBRIEF_SIGNING_KEY_PASSWORD_FILE", requires = "signing_key")]
    pub signing_key_password_file: Option<PathBuf>,
    /// An RFC 3161 time-stamp authority (http://): issued briefings get PAdES B-T signatures.
    #[arg(long, env = "COOPBRIEF_TSA_URL", requires = "signing_key")]
    pub tsa_url: Option<String>,
    /// Which finished reports are deleted, and when (off by default).
    #[command(flatten)]
    pub retention: crate::retention::RetentionArgs,
    /// Webhooks: the key that seals notify secrets, and the pace of the attempts.
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookArgs,
    /// Tokens registered at start, from files.
    #[command(flatten)]
    pub bootstrap: crate::bootstrap::BootstrapArgs,
    /// The operator's template directory, as the workers have it: issuing renders again.
    #[arg(long, env = "COOPBRIEF_TEMPLATE_DIR")]
    pub template_dir: Option<PathBuf>,
    /// Without a command: run the service.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What is loaded into the database at start (`--seed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seed {
    /// `none`: nothing, not even the bundled dataset into an empty database.
    Nothing,
    /// A dataset file or directory, upserted by codes.
    Dataset(PathBuf),
}

impl std::str::FromStr for Seed {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Seed, Self::Err> {
        Ok(if s == "none" { Seed::Nothing } else { Seed::Dataset(PathBuf::from(s)) })
    }
}

/// What `coopbrief-data` does besides serving.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Tokens, made directly in the database (for the first admin's token).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Exit 0 if the data service at --listen answers SERVING to a gRPC health check, else 1
    /// (for container health checks).
    Healthcheck(HealthcheckArgs),
}

/// `coopbrief-data token …`.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it once (only its SHA-256 is stored).
    Create {
        /// Who holds it: letters, digits, '.', '_', '-' and '@'.
        #[arg(long)]
        name: String,
        /// viewer, editor, admin or worker.
        #[arg(long)]
        role: Role,
    },
    /// List tokens (never the tokens themselves).
    List {
        /// Revoked tokens too.
        #[arg(long)]
        all: bool,
    },
    /// Revoke the live token of this name.
    Revoke { name: String },
}

/// `coopbrief-data healthcheck`.
#[derive(Clone, Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// Endpoint to check. Default: the --listen port on loopback — `https://localhost:PORT`
    /// with --tls-cert, else `http://127.0.0.1:PORT`.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// CA that signed the certificate; default: --tls-cert itself (right when self-signed).
    #[arg(long, env = "COOPBRIEF_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
}

impl Settings {
    /// The endpoint `healthcheck` calls by default: this service's port on loopback.
    pub fn loopback_endpoint(&self) -> String {
        let port = self.listen.port();
        if self.tls_cert.is_some() {
            return format!("https://localhost:{port}");
        }
        match self.listen.ip() {
            ip if ip.is_unspecified() && ip.is_ipv6() => format!("http://[::1]:{port}"),
            ip if ip.is_unspecified() => format!("http://127.0.0.1:{port}"),
            std::net::IpAddr::V6(ip) => format!("http://[{ip}]:{port}"),
            ip => format!("http://{ip}:{port}"),
        }
    }

    /// Checks what can be checked without touching anything (no database opened, no directory
    /// made, no port bound), so that a bad setting stops the start before any side effect.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.auth == AuthMode::Off {
            crate::auth::refuse_off_unless_loopback(self.listen)?;
            if let Some(web) = self.web_listen {
                crate::auth::refuse_off_unless_loopback(web)?;
            }
        }
        coopbrief_store::Backend::of(&self.database_url)
            .map_err(|e| anyhow::anyhow!("--database-url (COOPBRIEF_DATABASE_URL): {e}"))?;
        self.database()?;
        self.amqp()?;
        if let Some((scheme, _)) = self.artifacts.split_once("://")
            && !["file", "s3", "memory"].contains(&scheme)
        {
            anyhow::bail!(
                "--artifacts (COOPBRIEF_ARTIFACTS): unknown scheme {} (use a directory, file://, s3:// or memory://)",
                coopbrief_domain::quote(scheme)
            );
        }
        if let Some(Seed::Dataset(seed)) = &self.seed
            && !seed.exists()
        {
            anyhow::bail!("--seed (COOPBRIEF_SEED): {} does not exist", seed.display());
        }
        // The key itself is read (and its password tried) at each issuance, so that a bad
        // key fails the issuance, clearly, rather than the service; a missing file stops it here.
        for (path, flag) in [
            (&self.signing_key, "--signing-key (COOPBRIEF_SIGNING_KEY)"),
            (&self.signing_cert, "--signing-cert (COOPBRIEF_SIGNING_CERT)"),
            (&self.signing_key_password_file, "--signing-key-password-file (COOPBRIEF_SIGNING_KEY_PASSWORD_FILE)"),
            (&self.template_dir, "--template-dir (COOPBRIEF_TEMPLATE_DIR)"),
        ] {
            if let Some(path) = path
                && !path.exists()
            {
                anyhow::bail!("{flag}: {} does not exist", path.display());
            }
        }
        Ok(())
    }

    /// The TLS certificate chain and key, read (and their pairing checked) before anything else
    /// is opened; `None` without --tls-cert.
    pub fn tls(&self) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else { return Ok(None) };
        let read = |path: &std::path::Path, flag: &str| {
            std::fs::read(path).with_context(|| format!("{flag}: failed to read {}", path.display()))
        };
        Ok(Some(crate::tls_config(&read(cert, "--tls-cert")?, &read(key, "--tls-key")?)?))
    }

    /// What these settings say about issuing briefings.
    pub fn issuer(&self) -> crate::issuance::IssuerSettings {
        crate::issuance::IssuerSettings {
            key: self.signing_key.clone(),
            cert: self.signing_cert.clone(),
            password_file: self.signing_key_password_file.clone(),
            tsa_url: self.tsa_url.clone(),
            template_dir: self.template_dir.clone(),
        }
    }

    /// The database URL, with --database-password in it when given.
    pub fn database(&self) -> anyhow::Result<String> {
        let password = self.database_password.as_deref();
        Ok(coopbrief_runtime::secrets::with_password(&self.database_url, password, "COOPBRIEF_DATABASE_PASSWORD")?)
    }

    /// The broker settings these make.
    pub fn amqp(&self) -> anyhow::Result<coopbrief_queue::AmqpSettings> {
        Ok(self.broker.settings(1)?)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The error of `check` for these flags, which names the setting.
    fn refused(args: &[&str]) -> String {
        let settings = Settings::try_parse_from([&["coopbrief-data"], args].concat()).unwrap();
        format!("{:#}", settings.check().unwrap_err())
    }

    #[test]
    fn settings_are_checked_before_anything_is_touched() {
        assert!(refused(&["--listen", "0.0.0.0:0", "--auth", "off"]).contains("--auth off"));
        assert!(refused(&["--database-url", "mysql://db/x"]).contains("--database-url"));
        assert!(refused(&["--artifacts", "ftp://host/pdf"]).contains("--artifacts"));
        assert!(refused(&["--seed", "/nonexistent/dataset.yaml"]).contains("--seed"));
        let sqlite_password = refused(&["--database-password", "x"]);
        assert!(sqlite_password.contains("COOPBRIEF_DATABASE_PASSWORD is set, but the URL"), "{sqlite_password}");
        assert!(!sqlite_password.contains("x\""), "{sqlite_password}");
        let twice = refused(&["--amqp-url", "amqp://u:p@h/%2f", "--amqp-password", "secret"]);
        assert!(twice.contains("COOPBRIEF_AMQP_PASSWORD") && !twice.contains("secret"), "{twice}");
        let none = Settings::try_parse_from(["coopbrief-data", "--seed", "none"]).unwrap();
        assert_eq!(none.seed, Some(Seed::Nothing));
        let ok = Settings::try_parse_from(["coopbrief-data", "--listen", "127.0.0.1:0", "--auth", "off"]).unwrap();
        assert!(ok.check().is_ok());
    }
}

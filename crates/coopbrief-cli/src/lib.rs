//! The `coopbrief` command: a gRPC client for people, and the one-process demo.

mod access;
mod connection;
mod demo;
mod escape;
mod output;
mod reports;
mod resources;
mod schedules;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use connection::Client;
pub use escape::escape;
pub use output::Output;
pub use reports::{PdfCopy, ReportEnded};

/// What `coopbrief` exits with, for scripts (also in `--help` and the README).
pub const EXIT_CODES: &str = "Exit codes: 0 done; 1 an error (the message says which); 2 a usage error \
(a flag or argument the command does not take); 3 a report followed with --wait or `report watch` \
ended FAILED; 4 it ended CANCELLED.";

/// Records inter-provincial cooperation and turns it into briefing PDFs.
#[derive(Debug, Parser)]
#[command(name = "coopbrief", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// How to print results: `table` for people; `json` or `yaml`, the service's messages as
    /// they are (proto3 JSON mapping), for scripts.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// gRPC endpoint of the data service.
    #[arg(long, global = true, env = "COOPBRIEF_ENDPOINT", default_value = "http://127.0.0.1:50051")]
    pub endpoint: String,
    /// The bearer token and the CA file.
    #[command(flatten)]
    pub connection: coopbrief_runtime::ClientArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Request, follow and download briefings.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Schedules that make each month's, quarter's … briefing once the period has closed.
    #[command(subcommand)]
    Schedule(schedules::ScheduleCommand),
    /// Cooperation data: partners, programmes, sectors and their records.
    #[command(flatten)]
    Resource(resources::ResourceCommand),
    /// Bearer tokens: create, list, revoke (admins).
    #[command(subcommand)]
    Token(access::TokenCommand),
    /// The audit log of changes (admins).
    #[command(subcommand)]
    Audit(access::AuditCommand),
    /// Run the whole product in this process on embedded defaults and write one briefing.
    Demo(DemoArgs),
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Request a briefing of a programme for a period.
    Create(CreateArgs),
    /// Show one report.
    Get { id: String },
    /// List reports, newest first.
    List {
        #[arg(long)]
        programme: Option<String>,
        /// Only reports in this state: queued, running, succeeded, failed or cancelled.
        #[arg(long)]
        state: Option<String>,
        /// Only reports made by this schedule (its id).
        #[arg(long)]
        schedule: Option<String>,
        #[command(flatten)]
        limit: connection::Limit,
    },
    /// Follow a report: a line for it now and for each change of its state, attempt or failure
    /// reason, until it is finished (exit 3 if it ends FAILED, 4 if CANCELLED).
    Watch {
        id: String,
        /// Give up after this many seconds (exit 1); without it, wait as long as it takes.
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Delete a finished report and its PDFs (admins). A queued or running one must be
    /// cancelled first.
    Delete {
        id: String,
        /// Delete an issued report too (its number stays used in the register).
        #[arg(long)]
        allow_issued: bool,
    },
    /// Show the newest finished (SUCCEEDED) briefing of a programme.
    Latest {
        #[arg(long)]
        programme: String,
        /// Only briefings made by this schedule (its id).
        #[arg(long)]
        schedule: Option<String>,
    },
    /// Cancel a queued or running report.
    Cancel { id: String },
    /// Queue a failed or cancelled report again (replays a dead-lettered job).
    Retry {
        id: String,
        /// Follow the report until it is done (exit 3 if it fails again).
        #[arg(long)]
        wait: bool,
    },
    /// Download a finished report's PDF (checked against its sha256).
    Download {
        id: String,
        #[arg(long)]
        out: PathBuf,
        /// The issued, signed copy instead of the draft.
        #[arg(long)]
        issued: bool,
    },
    /// Issue a succeeded draft (approvers): the next number of its office's register, the
    /// signer's block, a digital signature (PAdES); the issued copy is kept beside the draft.
    Issue {
        id: String,
        /// Download the issued PDF here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Send a report's newest event to its notify URL again (same event id), e.g. after it was
    /// given up.
    NotifyRetry { id: String },
    /// Check a signed briefing: whether its signature is valid, whether it was changed after
    /// signing, who signed it, its number, date and data hash. Exits 1 unless valid.
    Verify {
        /// The PDF to check, offline (nothing is sent anywhere).
        #[arg(required_unless_present = "report", conflicts_with = "report")]
        file: Option<PathBuf>,
        /// Check this report's issued PDF on the data service instead.
        #[arg(long)]
        report: Option<String>,
    },
}

#[derive(Clone, Debug, Args)]
pub struct ReportOptions {
    /// Programme code.
    #[arg(long, default_value = "hanoi-hanam")]
    pub programme: String,
    /// 2019, 2019-H1, 2019-Q3, 2019-07, 2015..2018 or 2019-01-15..2019-03-31.
    #[arg(long, default_value = "2019")]
    pub period: String,
    /// Language of the briefing: vi or en.
    #[arg(long, default_value = "vi")]
    pub lang: String,
    /// PDF standard: a-2b (PDF/A-2b, for archiving), a-2b,ua-1 (also tagged for assistive
    /// technology, PDF/UA-1) or a-3b (with the briefing's data attached); plain PDF when left out.
    #[arg(long, default_value = "")]
    pub pdf_standard: String,
    /// A YAML file of letterhead parts (office, signer, recipients) that replace the
    /// programme's for this report.
    #[arg(long)]
    pub letterhead: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub report: ReportOptions,
    /// Follow the report until it is done: each change on stderr (with -o json, each as a
    /// JSON line on stdout); exit 3 if it fails, 4 if it is cancelled.
    #[arg(long)]
    pub wait: bool,
    /// Once it has succeeded, download the PDF here (implies --wait).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// How long --wait waits, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Idempotency key, a UUID: sending the same request again returns the first report.
    #[arg(long)]
    pub request_id: Option<String>,
    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// Where a report's events are POSTed (webhooks).
#[derive(Clone, Debug, Default, Args)]
pub struct NotifyArgs {
    /// POST the report's events (succeeded, failed, issued) here, signed (Standard Webhooks):
    /// https://…, or http:// on loopback.
    #[arg(long)]
    pub notify_url: Option<String>,
    /// A file holding the signing secret, `whsec_` and base64 (else COOPBRIEF_NOTIFY_SECRET).
    #[arg(long)]
    pub notify_secret_file: Option<PathBuf>,
}

impl NotifyArgs {
    /// The target these flags name, the secret read from its file or COOPBRIEF_NOTIFY_SECRET.
    pub fn target(&self) -> anyhow::Result<Option<coopbrief_proto::v1::NotifyTarget>> {
        use anyhow::Context;
        let Some(url) = &self.notify_url else {
            if self.notify_secret_file.is_some() {
                anyhow::bail!("--notify-secret-file needs --notify-url");
            }
            return Ok(None);
        };
        let secret = match &self.notify_secret_file {
            Some(path) => coopbrief_runtime::secrets::read_secret(path)
                .with_context(|| format!("--notify-secret-file: cannot read {}", path.display()))?,
            None => std::env::var("COOPBRIEF_NOTIFY_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
                .context("--notify-url needs a secret: --notify-secret-file or COOPBRIEF_NOTIFY_SECRET")?,
        };
        Ok(Some(coopbrief_proto::v1::NotifyTarget { url: url.clone(), secret }))
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub report: ReportOptions,
    /// Where to write the PDF.
    #[arg(long, default_value = "briefing.pdf")]
    pub out: PathBuf,
    /// Directory for the demo's SQLite database and PDFs (kept across runs).
    #[arg(long, default_value = "var/demo")]
    pub dir: PathBuf,
    /// Use this RabbitMQ instead of the in-process job channel.
    #[arg(long)]
    pub amqp: Option<String>,
    /// Queue name when --amqp is given.
    #[arg(long, default_value = coopbrief_queue::DEFAULT_QUEUE)]
    pub queue: String,
    /// Issue the briefing too: numbered and signed with a throwaway self-signed demo
    /// certificate made on the spot; --out then gets the signed PDF (else the draft).
    #[arg(long)]
    pub issue: bool,
    /// Serve the web page at this loopback address too (`127.0.0.1:8080`) and, once the PDF
    /// is written, keep serving it until Ctrl-C.
    #[arg(long, value_name = "ADDR")]
    pub web: Option<std::net::SocketAddr>,
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = cli.output;
    match cli.command {
        Command::Demo(args) => demo::run(args).await.map(|_| ()),
        Command::Report(ReportCommand::Verify { file: Some(file), report: None }) => reports::verify_file(&file),
        Command::Report(cmd) => {
            let client = Client::connect_with(&cli.endpoint, &cli.connection).await?;
            match cmd {
                ReportCommand::Create(args) => client.create(&args, out).await,
                ReportCommand::Get { id } => client.get(&id, out).await,
                ReportCommand::List { programme, state, schedule, limit } => {
                    client.list(programme, state, schedule, limit, out).await
                }
                ReportCommand::Latest { programme, schedule } => client.latest(&programme, schedule, out).await,
                ReportCommand::Watch { id, timeout } => client.watch_command(&id, timeout, out).await,
                ReportCommand::Cancel { id } => client.cancel(&id, out).await,
                ReportCommand::Delete { id, allow_issued } => client.delete(&id, allow_issued, out).await,
                ReportCommand::Retry { id, wait } => client.retry(&id, wait, out).await,
                ReportCommand::Download { id, out: file, issued } => {
                    let copy = if issued { PdfCopy::Issued } else { PdfCopy::Draft };
                    let report = client.download(&id, &file, copy).await?;
                    output::print(&report, out, |r| reports::wrote(&file, r, copy))
                }
                ReportCommand::Issue { id, out: file } => client.issue(&id, file.as_deref(), out).await,
                ReportCommand::NotifyRetry { id } => client.notify_retry(&id, out).await,
                ReportCommand::Verify { report: Some(id), .. } => client.verify_report(&id, out).await,
                ReportCommand::Verify { file, .. } => reports::verify_file(&file.unwrap_or_default()),
            }
        }
        Command::Schedule(cmd) => {
            schedules::run(cmd, &Client::connect_with(&cli.endpoint, &cli.connection).await?, out).await
        }
        Command::Resource(cmd) => {
            resources::run(cmd, &Client::connect_with(&cli.endpoint, &cli.connection).await?, out).await
        }
        Command::Token(cmd) => {
            access::token(cmd, &Client::connect_with(&cli.endpoint, &cli.connection).await?, out).await
        }
        Command::Audit(cmd) => {
            access::audit(cmd, &Client::connect_with(&cli.endpoint, &cli.connection).await?, out).await
        }
    }
}

/// The exit code of a command that failed: 3 for a followed report that ended FAILED, 4 for
/// one that ended CANCELLED, else 1 (clap exits 2 itself on a usage error).
pub fn exit_code(error: &anyhow::Error) -> u8 {
    match error.downcast_ref::<ReportEnded>() {
        Some(ended) if ended.state == coopbrief_proto::v1::ReportState::Cancelled => 4,
        Some(_) => 3,
        None => 1,
    }
}

pub use demo::run as demo;

//! `coopbrief schedule create|get|list|update|delete|pause|resume`: report schedules that make
//! each closed period's briefing once.

use clap::{Args, Subcommand};
use coopbrief_domain::schedule::{format_grace, parse_grace};
use coopbrief_proto::v1;
use prost_types::FieldMask;

use crate::connection::{Client, Limit, pages, status};
use crate::escape::escape;
use crate::output::{self, Output};

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Create a schedule: one briefing per closed period, from --first-period on.
    Create(CreateArgs),
    /// Show one schedule and where it stands.
    Get { id: String },
    /// List schedules, oldest first.
    List {
        #[arg(long)]
        programme: Option<String>,
        #[command(flatten)]
        limit: Limit,
    },
    /// Change the given fields of a schedule.
    Update {
        id: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Delete a schedule; the reports it made stay.
    Delete { id: String },
    /// Stop making reports (periods that close meanwhile are made on resume).
    Pause { id: String },
    /// Start making reports again, catching up missed periods oldest first.
    Resume { id: String },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Programme code.
    #[arg(long)]
    programme: String,
    /// monthly, quarterly, half-yearly, yearly, or cron:<expression> (see --cron).
    #[arg(long, required_unless_present = "cron")]
    cadence: Option<String>,
    /// A five-field cron expression instead of --cadence, e.g. "0 0 * * MON" (weekly, Monday
    /// 00:00 in --time-zone); it may fire at most once a day.
    #[arg(long, conflicts_with = "cadence")]
    cron: Option<String>,
    /// The first period to brief, of the cadence's kind: 2026-01, 2026-Q1, 2026-H1, 2026, or for
    /// a cron cadence a range from a firing's day to the day before the next (2026-11-02..2026-11-08).
    #[arg(long)]
    first_period: String,
    /// IANA time zone in which periods close (at midnight, or at a cron cadence's firing time).
    #[arg(long, default_value = coopbrief_domain::schedule::DEFAULT_TIME_ZONE)]
    time_zone: String,
    /// Language of the briefings: vi or en.
    #[arg(long, default_value = "vi")]
    lang: String,
    /// Template name.
    #[arg(long, default_value = "")]
    template: String,
    /// PDF standard: a-2b, a-2b,ua-1 or a-3b, or plain PDF when left out.
    #[arg(long, default_value = "")]
    pdf_standard: String,
    /// Wait after a period closes before making its briefing: 0, 30m, 12h, 3d …
    #[arg(long, default_value = "0")]
    grace: String,
    /// Create it paused.
    #[arg(long)]
    paused: bool,
    /// draft (each briefing waits for an approver to issue it) or auto (issued, numbered and
    /// signed as soon as it succeeds; the data service needs the office's key).
    #[arg(long, default_value = "draft")]
    issue: String,
    /// A YAML file of letterhead parts (office, signer, recipients) in place of the programme's.
    #[arg(long)]
    letterhead: Option<std::path::PathBuf>,
    /// Where its briefings' events are POSTed (each report inherits it).
    #[command(flatten)]
    notify: crate::NotifyArgs,
}

/// Fields to change; only those given are sent (in the update mask).
#[derive(Debug, Args)]
pub struct Fields {
    #[arg(long)]
    programme: Option<String>,
    #[arg(long)]
    cadence: Option<String>,
    /// A cron expression as the new cadence (the same as --cadence "cron:EXPRESSION").
    #[arg(long, conflicts_with = "cadence")]
    cron: Option<String>,
    #[arg(long)]
    first_period: Option<String>,
    #[arg(long)]
    time_zone: Option<String>,
    #[arg(long)]
    lang: Option<String>,
    #[arg(long)]
    template: Option<String>,
    #[arg(long)]
    pdf_standard: Option<String>,
    #[arg(long)]
    grace: Option<String>,
    /// draft or auto.
    #[arg(long)]
    issue: Option<String>,
    /// A YAML file of letterhead parts in place of the programme's.
    #[arg(long)]
    letterhead: Option<std::path::PathBuf>,
}

/// `--cron EXPR` is `--cadence cron:EXPR`.
fn cadence(cadence: Option<String>, cron: Option<String>) -> Option<String> {
    cron.map(|expression| format!("cron:{expression}")).or(cadence)
}

fn letterhead(path: Option<&std::path::Path>) -> anyhow::Result<Option<v1::Letterhead>> {
    Ok(path.map(crate::reports::read_letterhead).transpose()?.as_ref().map(coopbrief_proto::convert::letterhead))
}

fn grace(s: &str) -> anyhow::Result<prost_types::Duration> {
    Ok(prost_types::Duration { seconds: parse_grace(s)?.as_secs() as i64, nanos: 0 })
}

pub async fn run(cmd: ScheduleCommand, client: &Client, out: Output) -> anyhow::Result<()> {
    let mut api = client.schedules.clone();
    match cmd {
        ScheduleCommand::Create(a) => {
            let schedule = v1::ReportSchedule {
                programme: a.programme,
                cadence: cadence(a.cadence, a.cron).unwrap_or_default(),
                first_period: a.first_period,
                time_zone: a.time_zone,
                lang: a.lang,
                template: a.template,
                pdf_standard: a.pdf_standard,
                grace: Some(grace(&a.grace)?),
                enabled: Some(!a.paused),
                issue: a.issue,
                letterhead: letterhead(a.letterhead.as_deref())?,
                notify: a.notify.target()?,
                ..Default::default()
            };
            let req = v1::CreateScheduleRequest { schedule: Some(schedule) };
            show(out, &api.create_schedule(req).await.map_err(status)?.into_inner())?;
        }
        ScheduleCommand::Get { id } => {
            show(out, &api.get_schedule(v1::GetScheduleRequest { id }).await.map_err(status)?.into_inner())?;
        }
        ScheduleCommand::List { programme, limit } => {
            let programme = programme.unwrap_or_default();
            let schedules = pages(limit, |page_size, page_token| {
                let (mut api, programme) = (api.clone(), programme.clone());
                async move {
                    let req = v1::ListSchedulesRequest { programme, page_size, page_token };
                    let r = api.list_schedules(req).await?.into_inner();
                    Ok::<_, tonic::Status>((r.schedules, r.next_page_token))
                }
            })
            .await?;
            output::print_list(&schedules, out, table)?;
        }
        ScheduleCommand::Update { id, fields: f } => {
            let mut schedule = v1::ReportSchedule { id, ..Default::default() };
            let mut paths = Vec::new();
            let mut set = |path: &str, value: Option<String>, slot: &mut String| {
                if let Some(v) = value {
                    *slot = v;
                    paths.push(path.to_owned());
                }
            };
            set("programme", f.programme, &mut schedule.programme);
            set("cadence", cadence(f.cadence, f.cron), &mut schedule.cadence);
            set("first_period", f.first_period, &mut schedule.first_period);
            set("time_zone", f.time_zone, &mut schedule.time_zone);
            set("lang", f.lang, &mut schedule.lang);
            set("template", f.template, &mut schedule.template);
            set("pdf_standard", f.pdf_standard, &mut schedule.pdf_standard);
            set("issue", f.issue, &mut schedule.issue);
            if f.letterhead.is_some() {
                schedule.letterhead = letterhead(f.letterhead.as_deref())?;
                paths.push("letterhead".to_owned());
            }
            if let Some(g) = f.grace {
                schedule.grace = Some(grace(&g)?);
                paths.push("grace".to_owned());
            }
            if paths.is_empty() {
                anyhow::bail!(
                    "nothing to update; give at least one of --programme, --cadence, --cron, --first-period, --time-zone, --lang, --template, --pdf-standard, --grace, --issue, --letterhead"
                );
            }
            let req = v1::UpdateScheduleRequest { schedule: Some(schedule), update_mask: Some(FieldMask { paths }) };
            show(out, &api.update_schedule(req).await.map_err(status)?.into_inner())?;
        }
        ScheduleCommand::Delete { id } => {
            api.delete_schedule(v1::DeleteScheduleRequest { id: id.clone() }).await.map_err(status)?;
            if out == Output::Table {
                println!("deleted schedules/{}", escape(id.trim_start_matches("schedules/")));
            }
        }
        ScheduleCommand::Pause { id } => {
            show(out, &api.pause_schedule(v1::PauseScheduleRequest { id }).await.map_err(status)?.into_inner())?;
        }
        ScheduleCommand::Resume { id } => {
            show(out, &api.resume_schedule(v1::ResumeScheduleRequest { id }).await.map_err(status)?.into_inner())?;
        }
    }
    Ok(())
}

fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.map(|t| t.to_string()).unwrap_or_else(|| "-".to_owned())
}

fn show(out: Output, s: &v1::ReportSchedule) -> anyhow::Result<()> {
    output::print(s, out, print)
}

/// Schedules as a table.
fn table(schedules: &[v1::ReportSchedule]) {
    // Cron cadences and their date-range periods are wider than "monthly" and "2026-01".
    let width = |f: fn(&v1::ReportSchedule) -> &str, min: usize| {
        schedules.iter().map(|s| escape(f(s)).chars().count()).chain([min]).max().unwrap_or(min)
    };
    let (wc, wn, wl) = (width(|s| &s.cadence, 11), width(|s| &s.next_period, 8), width(|s| &s.last_run_period, 8));
    println!(
        "{:<36}  {:<12}  {:<wc$}  {:<wn$}  {:<wl$}  {:<8}  {:>9}",
        "ID", "PROGRAMME", "CADENCE", "NEXT", "LAST", "ENABLED", "CAUGHT_UP"
    );
    for s in schedules {
        println!(
            "{:<36}  {:<12}  {:<wc$}  {:<wn$}  {:<wl$}  {:<8}  {:>9}",
            escape(&s.id),
            escape(&s.programme),
            escape(&s.cadence),
            escape(&s.next_period),
            if s.last_run_period.is_empty() { "-".into() } else { escape(&s.last_run_period) },
            if s.enabled.unwrap_or(true) { "yes" } else { "paused" },
            s.caught_up
        );
    }
}

fn print(s: &v1::ReportSchedule) {
    let grace = std::time::Duration::from_secs(s.grace.map_or(0, |g| g.seconds.max(0) as u64));
    println!("id:           {}", escape(&s.id));
    println!("programme:    {}", escape(&s.programme));
    println!("cadence:      {}", escape(&s.cadence));
    println!("first period: {}", escape(&s.first_period));
    println!("time zone:    {}", escape(&s.time_zone));
    println!("lang:         {}", escape(&s.lang));
    if !s.template.is_empty() {
        println!("template:     {}", escape(&s.template));
    }
    if !s.pdf_standard.is_empty() {
        println!("pdf standard: {}", escape(&s.pdf_standard));
    }
    println!("grace:        {}", format_grace(grace));
    println!(
        "issue:        {}",
        if s.issue == "auto" { "auto (numbered and signed once it succeeds)" } else { "draft (an approver issues it)" }
    );
    if let Some(n) = &s.notify {
        println!("notify:       {}", escape(&n.url));
    }
    println!("enabled:      {}", if s.enabled.unwrap_or(true) { "yes" } else { "no (paused)" });
    println!("next period:  {} (due {})", escape(&s.next_period), time(s.next_run_time.as_ref()));
    let last = if s.last_run_period.is_empty() { "-".into() } else { escape(&s.last_run_period) };
    println!("last run:     {} at {}", last, time(s.last_run_time.as_ref()));
    println!("caught up:    {}", s.caught_up);
    if s.backlog > 0 {
        println!("backlog:      {}", s.backlog);
    }
}

//! `coopbrief report …`: request, follow, list and download briefings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use coopbrief_proto::v1::{self, ReportState};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tonic::Status;

use crate::connection::{Client, Limit, pages, retrying, status};
use crate::escape::escape;
use crate::output::{self, Output};
use crate::{CreateArgs, ReportOptions};

impl Client {
    /// Requests a report and returns it as created.
    pub async fn request(&self, programme: &str, period: &str, lang: &str) -> anyhow::Result<v1::Report> {
        self.request_with_id(programme, period, lang, None).await
    }

    /// Requests a report with an idempotency key: the same key again returns the same report.
    pub async fn request_with_id(
        &self,
        programme: &str,
        period: &str,
        lang: &str,
        request_id: Option<&str>,
    ) -> anyhow::Result<v1::Report> {
        let options = ReportOptions {
            programme: programme.into(),
            period: period.into(),
            lang: lang.into(),
            pdf_standard: String::new(),
            letterhead: None,
        };
        self.create_report(&options, request_id).await
    }

    /// Requests a report with every option.
    pub async fn create_report(&self, o: &ReportOptions, request_id: Option<&str>) -> anyhow::Result<v1::Report> {
        self.create_report_notifying(o, request_id, None).await
    }

    /// Requests a report whose events are POSTed to `notify`.
    pub async fn create_report_notifying(
        &self,
        o: &ReportOptions,
        request_id: Option<&str>,
        notify: Option<v1::NotifyTarget>,
    ) -> anyhow::Result<v1::Report> {
        let letterhead = o.letterhead.as_deref().map(read_letterhead).transpose()?;
        // A request id of our own when none is given, so that a create retried after
        // UNAVAILABLE (which may have been committed all the same) makes one report, not two.
        let request_id = request_id.map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
        let req = v1::CreateReportRequest {
            programme: o.programme.clone(),
            period: o.period.clone(),
            lang: o.lang.clone(),
            request_id,
            pdf_standard: o.pdf_standard.clone(),
            letterhead: letterhead.as_ref().map(coopbrief_proto::convert::letterhead),
            notify,
        };
        let created = retrying(|| {
            let (mut reports, req) = (self.reports.clone(), req.clone());
            async move { reports.create_report(req).await }
        })
        .await;
        Ok(created.map_err(status)?.into_inner())
    }

    pub async fn report(&self, id: &str) -> anyhow::Result<v1::Report> {
        let req = v1::GetReportRequest { id: id.into() };
        let report = retrying(|| {
            let (mut reports, req) = (self.reports.clone(), req.clone());
            async move { reports.get_report(req).await }
        })
        .await;
        Ok(report.map_err(status)?.into_inner())
    }

    /// Follows a report until it has succeeded or failed; prints each new state on stderr.
    pub async fn wait(&self, id: &str, timeout: Duration) -> anyhow::Result<v1::Report> {
        let started = Instant::now();
        self.watch(id, timeout, |r| {
            eprintln!("{}", change_line(started, r));
            Ok(())
        })
        .await
    }

    /// Follows a report with `WatchReport` until it is finished (or `timeout` has passed):
    /// calls `changed` with the report as it is at first and at each change of its state,
    /// attempt or failure reason, and returns it as it ended. A stream broken by the data
    /// service going away is opened again (it starts with the report as it is then).
    pub async fn watch(
        &self,
        id: &str,
        timeout: Duration,
        mut changed: impl FnMut(&v1::Report) -> anyhow::Result<()>,
    ) -> anyhow::Result<v1::Report> {
        let follow = async {
            let mut last: Option<v1::Report> = None;
            let mut breaks = 0u32;
            let mut pause = Duration::from_millis(250);
            loop {
                let opened = self.reports.clone().watch_report(v1::WatchReportRequest { id: id.into() }).await;
                let broke = match opened {
                    Ok(stream) => {
                        let mut stream = stream.into_inner();
                        loop {
                            match stream.message().await {
                                Ok(Some(r)) => {
                                    breaks = 0;
                                    let new = last.as_ref().is_none_or(|l| {
                                        (l.state, l.attempt, &l.error) != (r.state, r.attempt, &r.error)
                                    });
                                    if new {
                                        changed(&r)?;
                                    }
                                    if is_finished(r.state) {
                                        return Ok(r);
                                    }
                                    last = Some(r);
                                }
                                // Ended before a terminal state: the service is going away.
                                Ok(None) => break Status::unavailable("the watch ended early"),
                                Err(s) if s.code() == tonic::Code::Unavailable => break s,
                                Err(s) => return Err(status(s)),
                            }
                        }
                    }
                    Err(s) if s.code() == tonic::Code::Unavailable => s,
                    Err(s) => return Err(status(s)),
                };
                breaks += 1;
                if breaks > 5 {
                    return Err(status(broke));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(4));
            }
        };
        match tokio::time::timeout(timeout, follow).await {
            Ok(ended) => ended,
            Err(_) => bail!("report {} is not finished after {}s", escape(id), timeout.as_secs()),
        }
    }

    /// Downloads a finished report's PDF (its draft, or its issued copy) to `out`, checking
    /// its size and sha256 before the file appears under its name.
    pub async fn download(&self, id: &str, out: &Path, copy: PdfCopy) -> anyhow::Result<v1::Report> {
        let issued = copy == PdfCopy::Issued;
        let mut stream = self
            .reports
            .clone()
            .download_report(v1::DownloadReportRequest { id: id.into(), issued })
            .await
            .map_err(status)?
            .into_inner();
        let tmp = PathBuf::from(format!("{}.part", out.display()));
        let mut file =
            tokio::fs::File::create(&tmp).await.with_context(|| format!("cannot write {}", tmp.display()))?;
        let mut hasher = Sha256::new();
        let mut report = None;
        let mut size = 0u64;
        let result: anyhow::Result<()> = async {
            while let Some(msg) = stream.message().await.map_err(status)? {
                if report.is_none() {
                    report = msg.report;
                }
                hasher.update(&msg.data);
                size += msg.data.len() as u64;
                file.write_all(&msg.data).await?;
            }
            file.flush().await?;
            Ok(())
        }
        .await;
        let check = result.and_then(|()| {
            let report = report.clone().context("the download carried no report header")?;
            let sha = hex::encode(hasher.finalize());
            let (want_size, want_sha) = match (&report.issued, issued) {
                (Some(i), true) => (i.byte_size, i.sha256.as_str()),
                (None, true) => bail!("the download carried no issued facts"),
                (_, false) => (report.byte_size, report.sha256.as_str()),
            };
            if sha != want_sha || size != want_size {
                bail!(
                    "download corrupt: got {size} bytes with sha256 {sha}, expected {want_size} bytes with {want_sha}"
                );
            }
            Ok(report)
        });
        match check {
            Ok(report) => {
                tokio::fs::rename(&tmp, out).await.with_context(|| format!("cannot write {}", out.display()))?;
                Ok(report)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    pub(crate) async fn create(&self, args: &CreateArgs, out: Output) -> anyhow::Result<()> {
        let o = &args.report;
        let notify = args.notify.target()?;
        let report = self.create_report_notifying(o, args.request_id.as_deref(), notify).await?;
        if !(args.wait || args.out.is_some()) {
            return output::print(&report, out, print_report);
        }
        let report = self.follow(report, Duration::from_secs(args.timeout), out).await?;
        finish(self, &report, args.out.as_deref(), out).await
    }

    /// `report watch ID`: each change as a line (or a JSON line), until the report is finished.
    pub(crate) async fn watch_command(&self, id: &str, timeout: Option<u64>, out: Output) -> anyhow::Result<()> {
        // No timeout: a watch lasts as long as the report does (a century is as good as never).
        let timeout = Duration::from_secs(timeout.unwrap_or(100 * 365 * 86_400));
        let started = Instant::now();
        let report = self.watch(id, timeout, |r| print_change(started, r, out)).await?;
        ended(&report)
    }

    /// After a create or a retry with --wait: the report as it is now, then its changes (on
    /// stderr for people; JSON lines or YAML documents on stdout otherwise) until it is finished.
    async fn follow(&self, report: v1::Report, timeout: Duration, out: Output) -> anyhow::Result<v1::Report> {
        let started = Instant::now();
        if out == Output::Table {
            print_report(&report);
        }
        self.watch(&report.id, timeout, |r| match out {
            Output::Table => {
                eprintln!("{}", change_line(started, r));
                Ok(())
            }
            _ => print_change(started, r, out),
        })
        .await
    }

    pub(crate) async fn get(&self, id: &str, out: Output) -> anyhow::Result<()> {
        output::print(&self.report(id).await?, out, print_report)
    }

    /// Sends the report's newest event again, with the same event id.
    pub(crate) async fn notify_retry(&self, id: &str, out: Output) -> anyhow::Result<()> {
        let req = v1::RetryNotificationRequest { id: id.into() };
        let report = self.reports.clone().retry_notification(req).await.map_err(status)?.into_inner();
        output::print(&report, out, print_report)
    }

    pub(crate) async fn cancel(&self, id: &str, out: Output) -> anyhow::Result<()> {
        let req = v1::CancelReportRequest { id: id.into() };
        output::print(&self.reports.clone().cancel_report(req).await.map_err(status)?.into_inner(), out, print_report)
    }

    pub(crate) async fn delete(&self, id: &str, allow_issued: bool, out: Output) -> anyhow::Result<()> {
        let req = v1::DeleteReportRequest { id: id.into(), allow_issued };
        self.reports.clone().delete_report(req).await.map_err(status)?;
        if out == Output::Table {
            println!("deleted reports/{}", escape(id.trim_start_matches("reports/")));
        }
        Ok(())
    }

    pub(crate) async fn retry(&self, id: &str, wait: bool, out: Output) -> anyhow::Result<()> {
        let req = v1::RetryReportRequest { id: id.into() };
        let report = self.reports.clone().retry_report(req).await.map_err(status)?.into_inner();
        if !wait {
            return output::print(&report, out, print_report);
        }
        let report = self.follow(report, Duration::from_secs(300), out).await?;
        finish(self, &report, None, out).await
    }

    pub(crate) async fn list(
        &self,
        programme: Option<String>,
        state: Option<String>,
        schedule: Option<String>,
        limit: Limit,
        out: Output,
    ) -> anyhow::Result<()> {
        let state = match state.as_deref().map(str::to_ascii_uppercase) {
            None => 0,
            Some(s) => v1::ReportState::from_str_name(&format!("REPORT_STATE_{s}"))
                .with_context(|| format!("state: {s:?} is not one of queued, running, succeeded, failed, cancelled"))?
                as i32,
        };
        let (programme, schedule) = (programme.unwrap_or_default(), schedule.unwrap_or_default());
        let reports = pages(limit, |page_size, page_token| {
            let req = v1::ListReportsRequest {
                programme: programme.clone(),
                page_size,
                state,
                schedule: schedule.clone(),
                page_token,
            };
            let mut api = self.reports.clone();
            async move {
                let r = api.list_reports(req).await?.into_inner();
                Ok::<_, Status>((r.reports, r.next_page_token))
            }
        })
        .await?;
        output::print_list(&reports, out, |reports| {
            println!(
                "{:<36}  {:<12}  {:<22}  {:<4}  {:>5}  {:>9}",
                "ID", "PROGRAMME", "PERIOD", "LANG", "PAGES", "STATE"
            );
            for r in reports {
                println!(
                    "{:<36}  {:<12}  {:<22}  {:<4}  {:>5}  {:>9}",
                    escape(&r.id),
                    escape(&r.programme),
                    escape(&r.period),
                    escape(&r.lang),
                    r.page_count,
                    state_name(r.state)
                );
            }
        })
    }
}

impl Client {
    /// The newest SUCCEEDED briefing of a programme (of one schedule, if given).
    pub(crate) async fn latest(&self, programme: &str, schedule: Option<String>, out: Output) -> anyhow::Result<()> {
        let req = v1::GetLatestReportRequest { programme: programme.into(), schedule: schedule.unwrap_or_default() };
        let report = self.reports.clone().get_latest_report(req).await.map_err(status)?.into_inner();
        output::print(&report, out, print_report)
    }
}

/// After waiting: the report that failed or was cancelled as an error (its own exit code),
/// else the PDF downloaded when asked to, or the report shown.
pub(crate) async fn finish(
    client: &Client,
    report: &v1::Report,
    out: Option<&Path>,
    format: Output,
) -> anyhow::Result<()> {
    ended(report)?;
    match out {
        Some(out) => {
            client.download(&report.id, out, PdfCopy::Draft).await?;
            // With -o json|yaml, stdout holds only documents.
            if format == Output::Table {
                wrote(out, report, PdfCopy::Draft);
            } else {
                eprintln!("wrote {}", out.display());
            }
        }
        None if format == Output::Table => print_report(report),
        None => {}
    }
    Ok(())
}

/// A finished report that did not succeed, as the error that gives its exit code.
pub(crate) fn ended(report: &v1::Report) -> anyhow::Result<()> {
    let state = ReportState::try_from(report.state).unwrap_or(ReportState::Unspecified);
    match state {
        ReportState::Failed | ReportState::Cancelled => {
            Err(ReportEnded { id: report.id.clone(), state, reason: report.error.clone() }.into())
        }
        _ => Ok(()),
    }
}

/// A followed report ended FAILED or CANCELLED: `coopbrief` exits 3 or 4 (README, `--help`).
#[derive(Debug)]
pub struct ReportEnded {
    pub id: String,
    pub state: ReportState,
    pub reason: String,
}

impl std::fmt::Display for ReportEnded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.state {
            ReportState::Cancelled => write!(f, "report {} was cancelled", self.id),
            _ => write!(f, "report {} failed: {}", self.id, self.reason),
        }
    }
}

impl std::error::Error for ReportEnded {}

fn is_finished(state: i32) -> bool {
    [ReportState::Succeeded, ReportState::Failed, ReportState::Cancelled].map(|s| s as i32).contains(&state)
}

/// A change as people read it: time since the watch began, state, attempt, reason.
fn change_line(started: Instant, r: &v1::Report) -> String {
    let mut line = format!("{:>7.1}s  {}", started.elapsed().as_secs_f64(), state_name(r.state));
    if r.attempt > 0 {
        line += &format!("  attempt {}", r.attempt);
    }
    if !r.error.is_empty() {
        line += &format!("  {}", escape(&r.error));
    }
    line
}

/// One change on stdout: a line, a JSON line, or a YAML document.
fn print_change(started: Instant, r: &v1::Report, out: Output) -> anyhow::Result<()> {
    match out {
        Output::Table => println!("{}", change_line(started, r)),
        Output::Json => println!("{}", output::json_line(r)?),
        Output::Yaml => print!("---\n{}", output::document(r, out)?.unwrap_or_default()),
    }
    Ok(())
}

pub(crate) fn state_name(state: i32) -> &'static str {
    match ReportState::try_from(state) {
        Ok(ReportState::Queued) => "QUEUED",
        Ok(ReportState::Running) => "RUNNING",
        Ok(ReportState::Succeeded) => "SUCCEEDED",
        Ok(ReportState::Failed) => "FAILED",
        Ok(ReportState::Cancelled) => "CANCELLED",
        _ => "UNSPECIFIED",
    }
}

/// An ISO date as a Vietnamese document writes it (26/11/2026); escaped as it came otherwise.
fn vi_date(iso: &str) -> String {
    match iso.parse::<jiff::civil::Date>() {
        Ok(d) => coopbrief_domain::format::date(d, coopbrief_domain::Lang::Vi),
        Err(_) => escape(iso).into_owned(),
    }
}

/// Which copy of a report's PDF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdfCopy {
    /// The draft a worker rendered.
    Draft,
    /// The issued, numbered and signed copy.
    Issued,
}

/// Says what was written.
pub(crate) fn wrote(out: &Path, r: &v1::Report, copy: PdfCopy) {
    let (pages, bytes, sha) = match (&r.issued, copy) {
        (Some(i), PdfCopy::Issued) => (i.page_count, i.byte_size, i.sha256.as_str()),
        _ => (r.page_count, r.byte_size, r.sha256.as_str()),
    };
    println!("wrote {} ({pages} pages, {bytes} bytes, sha256 {})", out.display(), escape(sha));
}

/// A letterhead file: YAML (or JSON) as a programme's `letterhead:` is written.
pub(crate) fn read_letterhead(path: &Path) -> anyhow::Result<coopbrief_domain::Letterhead> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let letterhead: coopbrief_domain::Letterhead =
        serde_yaml_ng::from_str(&text).with_context(|| format!("{}: not a letterhead", path.display()))?;
    letterhead.check("letterhead").with_context(|| path.display().to_string())?;
    Ok(letterhead)
}

fn print_report(r: &v1::Report) {
    println!("id:        {}", escape(&r.id));
    println!("programme: {}", escape(&r.programme));
    println!("period:    {}", escape(&r.period));
    println!("lang:      {}", escape(&r.lang));
    println!("state:     {}", state_name(r.state));
    if !r.schedule.is_empty() {
        println!("schedule:  {}", escape(&r.schedule));
    }
    if r.attempt > 0 {
        println!("attempt:   {}", r.attempt);
    }
    if !r.error.is_empty() {
        println!("error:     {}", escape(&r.error));
    }
    if r.state == ReportState::Succeeded as i32 {
        println!("pages:     {}", r.page_count);
        println!("bytes:     {}", r.byte_size);
        println!("sha256:    {}", escape(&r.sha256));
        println!("data hash: {}", escape(&r.data_hash));
        println!("template:  {}", escape(&r.template_version));
    }
    match &r.issued {
        Some(i) => {
            println!("issued:    Số {} ngày {}", escape(&i.number), vi_date(&i.issue_date));
            println!("signer:    {}", escape(&i.signer));
            println!("signed by: {}", escape(&i.certificate_subject));
            println!("issued pdf: {} pages, {} bytes, sha256 {}", i.page_count, i.byte_size, escape(&i.sha256));
        }
        None if r.state == ReportState::Succeeded as i32 => println!("issued:    no (a draft)"),
        None => {}
    }
    if let Some(n) = &r.notification {
        print_notification(n);
    }
}

fn print_notification(n: &v1::Notification) {
    println!("notify:    {}", escape(&n.url));
    let state = match v1::NotificationState::try_from(n.state) {
        Ok(v1::NotificationState::Pending) => "PENDING",
        Ok(v1::NotificationState::Delivered) => "DELIVERED",
        Ok(v1::NotificationState::GivenUp) => "GIVEN_UP",
        _ => {
            println!("delivery:  no event yet");
            return;
        }
    };
    let plural = if n.attempts == 1 { "" } else { "s" };
    println!(
        "delivery:  {state} ({}, event {}, {} attempt{plural})",
        escape(&n.event_type),
        escape(&n.event_id),
        n.attempts
    );
    if !n.last_error.is_empty() {
        println!("last error: {}", escape(&n.last_error));
    }
    let time = |t: &prost_types::Timestamp| {
        jiff::Timestamp::new(t.seconds, t.nanos).map(|t| t.to_string()).unwrap_or_default()
    };
    if let Some(t) = &n.next_attempt_time {
        println!("next attempt: {}", time(t));
    }
    if let Some(t) = &n.delivered_time {
        println!("delivered: {}", time(t));
    }
}

impl Client {
    /// Issues a succeeded draft: numbered, signed; downloads the issued PDF to `out` if given.
    pub(crate) async fn issue(&self, id: &str, out: Option<&Path>, format: Output) -> anyhow::Result<()> {
        let req = v1::IssueReportRequest { id: id.into() };
        let report = self.reports.clone().issue_report(req).await.map_err(status)?.into_inner();
        output::print(&report, format, print_report)?;
        if let Some(out) = out {
            self.download(&report.id, out, PdfCopy::Issued).await?;
            if format == Output::Table {
                wrote(out, &report, PdfCopy::Issued);
            } else {
                eprintln!("wrote {}", out.display());
            }
        }
        Ok(())
    }

    /// Verifies the issued PDF of a report on the data service.
    pub(crate) async fn verify_report(&self, id: &str, out: Output) -> anyhow::Result<()> {
        let req =
            v1::VerifyDocumentRequest { document: Some(v1::verify_document_request::Document::ReportId(id.into())) };
        let r = self.reports.clone().verify_document(req).await.map_err(status)?.into_inner();
        if let Some(doc) = output::document(&r, out)? {
            print!("{doc}");
            if !r.valid {
                bail!("the signature of report {id}'s issued pdf is not valid: {}", escape(&r.problem));
            }
            return Ok(());
        }
        let check = coopbrief_data::issuance::BriefingCheck {
            valid: r.valid,
            problem: Some(r.problem).filter(|p| !p.is_empty()),
            modified_after_signing: r.modified_after_signing,
            covers_whole_document: r.covers_whole_document,
            signer_subject: r.signer_subject,
            certificate_sha256: r.certificate_sha256,
            certificate_serial: r.certificate_serial,
            signing_time: r.signing_time.and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok()),
            certificate_not_after: r.certificate_not_after.and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok()),
            number: Some(r.number).filter(|n| !n.is_empty()),
            issue_date: Some(r.issue_date).filter(|d| !d.is_empty()),
            data_hash: Some(r.data_hash).filter(|d| !d.is_empty()),
        };
        print_check(&check);
        if !check.valid {
            bail!("the signature of report {id}'s issued pdf is not valid: {}", check.problem.unwrap_or_default());
        }
        Ok(())
    }
}

/// `coopbrief report verify FILE`: offline, with nothing but the file.
pub(crate) fn verify_file(path: &Path) -> anyhow::Result<()> {
    let pdf = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let check = coopbrief_data::issuance::check_briefing(&pdf).with_context(|| format!("{}", path.display()))?;
    print_check(&check);
    if !check.valid {
        bail!("{}: {}", path.display(), check.problem.unwrap_or_else(|| "the signature is not valid".into()));
    }
    Ok(())
}

fn print_check(c: &coopbrief_data::issuance::BriefingCheck) {
    let verdict = if c.valid {
        "VALID: signed, and not changed since"
    } else if c.modified_after_signing {
        "INVALID: modified after signing"
    } else {
        "INVALID"
    };
    println!("signature:   {verdict}");
    if let Some(problem) = &c.problem {
        println!("problem:     {}", escape(problem));
    }
    if !c.signer_subject.is_empty() {
        println!("signed by:   {}", escape(&c.signer_subject));
        println!("certificate: sha256 {}, serial {}", escape(&c.certificate_sha256), escape(&c.certificate_serial));
    }
    if let Some(t) = c.certificate_not_after {
        println!("valid until: {t}");
    }
    if let Some(t) = c.signing_time {
        println!("signed at:   {t}");
    }
    let or_none = |v: &Option<String>| -> String {
        v.as_deref().map(|s| escape(s).into_owned()).unwrap_or_else(|| "(none)".into())
    };
    println!("number:      {}", or_none(&c.number));
    println!("issued on:   {}", c.issue_date.as_deref().map(vi_date).unwrap_or_else(|| "(none)".into()));
    println!("data hash:   {}", or_none(&c.data_hash));
}

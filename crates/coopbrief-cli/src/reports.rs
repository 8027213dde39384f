//! `coopbrief report …`: request, follow, list and download briefings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use coopbrief_proto::v1::{self, ReportState};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::connection::{Client, status};
use crate::escape::escape;
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
        };
        self.create_report(&options, request_id).await
    }

    /// Requests a report with every option.
    pub async fn create_report(&self, o: &ReportOptions, request_id: Option<&str>) -> anyhow::Result<v1::Report> {
        let req = v1::CreateReportRequest {
            programme: o.programme.clone(),
            period: o.period.clone(),
            lang: o.lang.clone(),
            request_id: request_id.unwrap_or_default().into(),
            pdf_standard: o.pdf_standard.clone(),
        };
        Ok(self.reports.clone().create_report(req).await.map_err(status)?.into_inner())
    }

    pub async fn report(&self, id: &str) -> anyhow::Result<v1::Report> {
        Ok(self.reports.clone().get_report(v1::GetReportRequest { id: id.into() }).await.map_err(status)?.into_inner())
    }

    /// Follows a report until it has succeeded or failed; prints each new state on stderr.
    pub async fn wait(&self, id: &str, timeout: Duration) -> anyhow::Result<v1::Report> {
        let started = Instant::now();
        let mut last = None;
        loop {
            let r = self.report(id).await?;
            if last != Some(r.state) {
                eprintln!("{:>7.1}s  {}", started.elapsed().as_secs_f64(), state_name(r.state));
                last = Some(r.state);
            }
            if [ReportState::Succeeded, ReportState::Failed, ReportState::Cancelled]
                .map(|s| s as i32)
                .contains(&r.state)
            {
                return Ok(r);
            }
            if started.elapsed() > timeout {
                bail!("report {id} is still {} after {}s", state_name(r.state), timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Downloads a finished report's PDF to `out`, checking its size and sha256 before the
    /// file appears under its name.
    pub async fn download(&self, id: &str, out: &Path) -> anyhow::Result<v1::Report> {
        let mut stream = self
            .reports
            .clone()
            .download_report(v1::DownloadReportRequest { id: id.into() })
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
            if sha != report.sha256 || size != report.byte_size {
                bail!(
                    "download corrupt: got {size} bytes with sha256 {sha}, expected {} bytes with {}",
                    report.byte_size,
                    report.sha256
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

    pub(crate) async fn create(&self, args: &CreateArgs) -> anyhow::Result<()> {
        let o = &args.report;
        let report = self.create_report(o, args.request_id.as_deref()).await?;
        print_report(&report);
        if !(args.wait || args.out.is_some()) {
            return Ok(());
        }
        let report = self.wait(&report.id, Duration::from_secs(args.timeout)).await?;
        finish(self, &report, args.out.as_deref()).await
    }

    pub(crate) async fn get(&self, id: &str) -> anyhow::Result<()> {
        print_report(&self.report(id).await?);
        Ok(())
    }

    pub(crate) async fn cancel(&self, id: &str) -> anyhow::Result<()> {
        let req = v1::CancelReportRequest { id: id.into() };
        print_report(&self.reports.clone().cancel_report(req).await.map_err(status)?.into_inner());
        Ok(())
    }

    pub(crate) async fn retry(&self, id: &str, wait: bool) -> anyhow::Result<()> {
        let req = v1::RetryReportRequest { id: id.into() };
        let report = self.reports.clone().retry_report(req).await.map_err(status)?.into_inner();
        print_report(&report);
        if wait {
            let report = self.wait(&report.id, Duration::from_secs(300)).await?;
            finish(self, &report, None).await?;
        }
        Ok(())
    }

    pub(crate) async fn list(
        &self,
        programme: Option<String>,
        state: Option<String>,
        schedule: Option<String>,
        limit: i32,
    ) -> anyhow::Result<()> {
        let state = match state.as_deref().map(str::to_ascii_uppercase) {
            None => 0,
            Some(s) => v1::ReportState::from_str_name(&format!("REPORT_STATE_{s}"))
                .with_context(|| format!("state: {s:?} is not one of queued, running, succeeded, failed, cancelled"))?
                as i32,
        };
        let req = v1::ListReportsRequest {
            programme: programme.unwrap_or_default(),
            page_size: limit,
            state,
            schedule: schedule.unwrap_or_default(),
        };
        let reports = self.reports.clone().list_reports(req).await.map_err(status)?.into_inner().reports;
        println!("{:<36}  {:<12}  {:<22}  {:<4}  {:>5}  {:>9}", "ID", "PROGRAMME", "PERIOD", "LANG", "PAGES", "STATE");
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
        Ok(())
    }
}

impl Client {
    /// The newest SUCCEEDED briefing of a programme (of one schedule, if given).
    pub(crate) async fn latest(&self, programme: &str, schedule: Option<String>) -> anyhow::Result<()> {
        let req = v1::GetLatestReportRequest { programme: programme.into(), schedule: schedule.unwrap_or_default() };
        print_report(&self.reports.clone().get_latest_report(req).await.map_err(status)?.into_inner());
        Ok(())
    }
}

/// After waiting: report the failure, or download the PDF when asked to.
pub(crate) async fn finish(client: &Client, report: &v1::Report, out: Option<&Path>) -> anyhow::Result<()> {
    if report.state == ReportState::Cancelled as i32 {
        bail!("report {} was cancelled", report.id);
    }
    if report.state != ReportState::Succeeded as i32 {
        bail!("report {} failed: {}", report.id, report.error);
    }
    match out {
        Some(out) => {
            let r = client.download(&report.id, out).await?;
            println!(
                "wrote {} ({} pages, {} bytes, sha256 {})",
                out.display(),
                r.page_count,
                r.byte_size,
                escape(&r.sha256)
            );
        }
        None => print_report(report),
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
}

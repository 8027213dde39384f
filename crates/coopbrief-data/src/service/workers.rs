//! `WorkerService`: the RPCs only workers call — start a report, hand back its PDF or failure.

use coopbrief_domain::schedule::{IssueMode, ScheduleId};
use coopbrief_domain::{PdfInfo, ReportId};
use coopbrief_proto::report;
use coopbrief_proto::v1;
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, warn};

use super::{App, invalid, report_id, required};
use crate::auth::Caller;
use crate::error::Error;

/// Largest PDF a worker may upload.
pub const MAX_PDF_BYTES: u64 = 256 * 1024 * 1024;

#[tonic::async_trait]
impl coopbrief_proto::WorkerService for App {
    async fn check_in(&self, _req: Request<v1::CheckInRequest>) -> Result<Response<v1::CheckInResponse>, Status> {
        // The access layer has already said yes: only a live worker token gets here.
        Ok(Response::new(v1::CheckInResponse { version: env!("CARGO_PKG_VERSION").to_owned() }))
    }

    async fn start_report(
        &self,
        req: Request<v1::StartReportRequest>,
    ) -> Result<Response<v1::StartReportResponse>, Status> {
        let id = report_id(&req.get_ref().id)?;
        let (report, proceed) = self.store.start_report(id).await.map_err(Error::from)?;
        info!(report_id = %id, attempt = report.attempt, proceed, "report started");
        Ok(Response::new(v1::StartReportResponse { report: Some(report::report(&report)), proceed }))
    }

    async fn complete_report(
        &self,
        req: Request<Streaming<v1::CompleteReportRequest>>,
    ) -> Result<Response<v1::Report>, Status> {
        use v1::complete_report_request::Part;
        let mut stream = req.into_inner();
        let header = match stream.next().await.transpose()?.and_then(|m| m.part) {
            Some(Part::Header(h)) => h,
            _ => return Err(invalid("header", "the first message must be the header")),
        };
        let id = report_id(&header.id)?;
        if header.byte_size > MAX_PDF_BYTES {
            return Err(invalid(
                "header.byte_size",
                format!("{} bytes is over the limit of {MAX_PDF_BYTES}", header.byte_size),
            ));
        }
        let mut pdf = Vec::with_capacity(header.byte_size as usize);
        while let Some(msg) = stream.next().await.transpose()? {
            match msg.part {
                Some(Part::Chunk(c)) if pdf.len() as u64 + c.len() as u64 <= header.byte_size => {
                    pdf.extend_from_slice(&c)
                }
                Some(Part::Chunk(_)) => return Err(invalid("chunk", "more bytes than header.byte_size")),
                _ => return Err(invalid("header", "only the first message may be a header")),
            }
        }
        if pdf.len() as u64 != header.byte_size {
            let msg = format!("received {} bytes, header said {}", pdf.len(), header.byte_size);
            return Err(invalid("header.byte_size", &msg));
        }
        let sha256 = hex::encode(Sha256::digest(&pdf));
        if !sha256.eq_ignore_ascii_case(&header.sha256) {
            return Err(invalid("header.sha256", format!("the pdf's sha256 is {sha256}, not {}", header.sha256)));
        }
        let info = PdfInfo {
            pages: header.page_count,
            bytes: header.byte_size,
            sha256,
            template_version: header.template_version,
            data_hash: header.data_hash,
        };
        let current = self.store.report(id).await.map_err(Error::from)?;
        if current.state.is_done() {
            // A duplicate job, or a report cancelled meanwhile: the upload is counted and
            // the stored state (and PDF) stay as they are.
            let (current, _) = self.store.complete_report(id, &info).await.map_err(Error::from)?;
            info!(report_id = %id, state = %current.state, "report already finished; upload ignored");
            return Ok(Response::new(report::report(&current)));
        }
        self.artifacts.put(id, coopbrief_store::PdfCopy::Draft, pdf).await.map_err(Error::from)?;
        let (report, finished) = self.store.complete_report(id, &info).await.map_err(Error::from)?;
        if finished {
            crate::metrics::report_finished(&report);
        }
        info!(report_id = %id, pages = info.pages, bytes = info.bytes, "report succeeded");
        if let Some(schedule) = report.schedule {
            self.issue_if_scheduled(id, schedule);
        }
        Ok(Response::new(report::report(&report)))
    }

    async fn fail_report(&self, req: Request<v1::FailReportRequest>) -> Result<Response<v1::Report>, Status> {
        let req = req.into_inner();
        let id = report_id(&req.id)?;
        let error = required(&req.error, "error")?;
        let (report, failed) = self.store.fail_report(id, error).await.map_err(Error::from)?;
        if failed {
            crate::metrics::report_finished(&report);
        }
        warn!(report_id = %id, error, "report failed");
        Ok(Response::new(report::report(&report)))
    }
}

impl App {
    /// A schedule that issues automatically gets its succeeded briefing issued now, off the
    /// worker's call; should that fail, the briefing stays a draft for an approver, and the
    /// log says why.
    fn issue_if_scheduled(&self, id: ReportId, schedule: ScheduleId) {
        let app = self.clone();
        tokio::spawn(async move {
            let auto = match app.store.schedule(schedule).await {
                Ok(s) => s.spec.issue() == IssueMode::Auto,
                Err(e) => {
                    warn!(report_id = %id, %schedule, error = %e, "could not read the report's schedule");
                    false
                }
            };
            if !auto {
                return;
            }
            let caller = Caller { name: "scheduler".into(), role: None, method: "IssueReport".into() };
            if let Err(e) = app.issue(id, &caller).await {
                warn!(report_id = %id, %schedule, error = %e, "the schedule's briefing could not be issued; it stays a draft");
            }
        });
    }
}

//! `ReportService`: people request, follow and download briefings.

use std::pin::Pin;

use coopbrief_domain::{ReportId, ReportState};
use coopbrief_proto::v1;
use coopbrief_proto::{convert, report};
use std::str::FromStr;

use coopbrief_domain::schedule::ScheduleId;
use coopbrief_runtime::telemetry;
use coopbrief_store::{NewReport, PdfCopy, ReportFilter};
use futures::Stream;
use futures::StreamExt;
use tonic::{Request, Response, Status};
use tracing::info;

use super::{App, caller, invalid, page, report_id, request_id, required};
use crate::error::Error;

/// A domain error about `id` renamed to the request's field.
fn rename(e: coopbrief_domain::Error, field: &str) -> coopbrief_domain::Error {
    match e {
        coopbrief_domain::Error::Invalid { message, .. } => coopbrief_domain::Error::invalid(field, message),
        other => other,
    }
}

type DownloadStream = Pin<Box<dyn Stream<Item = Result<v1::DownloadReportResponse, Status>> + Send>>;
type WatchStream = Pin<Box<dyn Stream<Item = Result<v1::Report, Status>> + Send>>;

#[tonic::async_trait]
impl coopbrief_proto::ReportService for App {
    async fn create_report(&self, req: Request<v1::CreateReportRequest>) -> Result<Response<v1::Report>, Status> {
        let req = req.into_inner();
        let programme = required(&req.programme, "programme")?;
        let period = convert::period(required(&req.period, "period")?, "period").map_err(Error::from)?;
        let lang = report::lang(&req.lang).map_err(Error::from)?;
        let request_id = request_id(&req.request_id)?;
        let request_id = request_id.as_deref();
        // The report and its job are committed together; the relay publishes the job.
        let pdf_standard = report::pdf_standard(&req.pdf_standard).map_err(Error::from)?;
        let letterhead = convert::to_letterhead(req.letterhead, "letterhead").map_err(Error::from)?;
        let notify = self.notify_target(req.notify.as_ref())?;
        // The job continues this request's trace (when traces are on).
        let traceparent = telemetry::traceparent(&tracing::Span::current());
        let new = NewReport {
            programme,
            period,
            lang,
            pdf_standard,
            letterhead: &letterhead,
            traceparent: traceparent.as_deref(),
            notify: notify.as_ref(),
        };
        let (report, job) = self.store.create_report_claimed(&new, request_id).await.map_err(Error::from)?;
        if let Some(job) = job {
            self.relay.claimed(job);
            info!(report_id = %report.id, programme, %period, %lang, notify = notify.is_some(), "report queued");
        } else {
            info!(report_id = %report.id, request_id, "repeated request; returning the first report");
        }
        Ok(Response::new(report::report(&report)))
    }

    async fn get_report(&self, req: Request<v1::GetReportRequest>) -> Result<Response<v1::Report>, Status> {
        let id = report_id(&req.get_ref().id)?;
        let report = self.store.report(id).await.map_err(Error::from)?;
        Ok(Response::new(report::report(&report)))
    }

    async fn get_latest_report(
        &self,
        req: Request<v1::GetLatestReportRequest>,
    ) -> Result<Response<v1::Report>, Status> {
        let req = req.into_inner();
        let programme = required(&req.programme, "programme")?;
        let schedule = Some(req.schedule.trim())
            .filter(|s| !s.is_empty())
            .map(|s| ScheduleId::from_str(s).map_err(|e| Error::from(rename(e, "schedule"))))
            .transpose()?;
        let report = self.store.latest_report(programme, schedule).await.map_err(Error::from)?;
        Ok(Response::new(report::report(&report)))
    }

    async fn list_reports(
        &self,
        req: Request<v1::ListReportsRequest>,
    ) -> Result<Response<v1::ListReportsResponse>, Status> {
        let req = req.into_inner();
        let page = page(req.page_size, &req.page_token)?;
        let programme = Some(req.programme.trim()).filter(|p| !p.is_empty());
        let state = match req.state {
            0 => None,
            s => Some(report::to_report_state(s, "state").map_err(Error::from)?),
        };
        let schedule = Some(req.schedule.trim())
            .filter(|s| !s.is_empty())
            .map(|s| ScheduleId::from_str(s).map_err(|e| Error::from(rename(e, "schedule"))))
            .transpose()?;
        let filter = ReportFilter { programme, state, schedule };
        let listed = self.store.list_reports_page(&filter, &page).await.map_err(Error::from)?;
        Ok(Response::new(v1::ListReportsResponse {
            reports: listed.items.iter().map(report::report).collect(),
            next_page_token: listed.next_page_token,
        }))
    }

    type DownloadReportStream = DownloadStream;

    async fn download_report(
        &self,
        req: Request<v1::DownloadReportRequest>,
    ) -> Result<Response<Self::DownloadReportStream>, Status> {
        let id = report_id(&req.get_ref().id)?;
        let report = self.store.report(id).await.map_err(Error::from)?;
        if report.state != ReportState::Succeeded {
            let msg = format!("report {id} is {}; it can be downloaded once it has SUCCEEDED", report.state);
            return Err(Error::FailedPrecondition(msg).into());
        }
        let copy = if req.get_ref().issued {
            if report.issued.is_none() {
                let msg = format!("report {id} is a draft; its issued copy exists once it is issued (IssueReport)");
                return Err(Error::FailedPrecondition(msg).into());
            }
            PdfCopy::Issued
        } else {
            PdfCopy::Draft
        };
        let mut pieces = self.artifacts.open(id, copy).await.map_err(Error::from)?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let first = report::report(&report);
        tokio::spawn(async move {
            // Re-cut whatever pieces the artifact store hands out into chunks of CHUNK_SIZE;
            // the first message carries the report, even for an empty file.
            let mut header = Some(first);
            let mut buf: Vec<u8> = Vec::with_capacity(coopbrief_proto::CHUNK_SIZE);
            let mut done = false;
            while !done {
                match pieces.next().await {
                    Some(Ok(piece)) => buf.extend_from_slice(&piece),
                    Some(Err(e)) => {
                        tracing::error!(report_id = %id, error = %e, "reading the pdf failed");
                        let _ = tx.send(Err(Status::internal(format!("reading the pdf failed: {e}")))).await;
                        return;
                    }
                    None => done = true,
                }
                while buf.len() >= coopbrief_proto::CHUNK_SIZE || (done && (!buf.is_empty() || header.is_some())) {
                    let rest = buf.split_off(buf.len().min(coopbrief_proto::CHUNK_SIZE));
                    let data = std::mem::replace(&mut buf, rest);
                    if tx.send(Ok(v1::DownloadReportResponse { report: header.take(), data })).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn cancel_report(&self, req: Request<v1::CancelReportRequest>) -> Result<Response<v1::Report>, Status> {
        let id = report_id(&req.get_ref().id)?;
        let (report, cancelled) = self.store.cancel_report(id).await.map_err(Error::from)?;
        if cancelled {
            crate::metrics::report_finished(&report);
        }
        info!(report_id = %id, "report cancelled");
        self.audit(&caller(&req), &format!("reports/{id}"), serde_json::json!({ "state": report.state })).await;
        Ok(Response::new(report::report(&report)))
    }

    async fn issue_report(&self, req: Request<v1::IssueReportRequest>) -> Result<Response<v1::Report>, Status> {
        let id = report_id(&req.get_ref().id)?;
        let caller = caller(&req);
        let report = self.issue(id, &caller).await?;
        Ok(Response::new(report::report(&report)))
    }

    async fn verify_document(
        &self,
        req: Request<v1::VerifyDocumentRequest>,
    ) -> Result<Response<v1::VerifyDocumentResponse>, Status> {
        use v1::verify_document_request::Document;
        let pdf = match req.into_inner().document {
            Some(Document::ReportId(id)) => {
                let id =
                    ReportId::from_str(required(&id, "report_id")?).map_err(|e| Error::from(rename(e, "report_id")))?;
                let report = self.store.report(id).await.map_err(Error::from)?;
                if report.issued.is_none() {
                    return Err(
                        Error::FailedPrecondition(format!("report {id} is not issued; a draft is not signed")).into()
                    );
                }
                self.artifacts.read(id, PdfCopy::Issued, coopbrief_sign::MAX_PDF_BYTES).await.map_err(Error::from)?
            }
            Some(Document::Pdf(bytes)) => bytes,
            None => return Err(invalid("document", "give report_id or pdf")),
        };
        let checked = tokio::task::spawn_blocking(move || crate::issuance::verify(&pdf))
            .await
            .map_err(|e| Error::Internal(format!("verifying panicked: {e}")))??;
        Ok(Response::new(checked))
    }

    type WatchReportStream = WatchStream;

    async fn watch_report(
        &self,
        req: Request<v1::WatchReportRequest>,
    ) -> Result<Response<Self::WatchReportStream>, Status> {
        let id = report_id(&req.get_ref().id)?;
        let changes = self.watch.subscribe(&self.store, id).await?;
        let hub = self.watch.clone();
        // The report now, then at each change; the stream ends after a terminal state, when
        // the report is deleted (NOT_FOUND) or when shutdown begins (UNAVAILABLE: watch again).
        // Nothing runs for it but this stream.
        let stream = futures::stream::unfold(Some((changes, true)), move |state| {
            let hub = hub.clone();
            async move {
                let (mut changes, first) = state?;
                if !first && changes.changed().await.is_err() {
                    let ended = if hub.is_closed() {
                        Error::ShuttingDown
                    } else {
                        Error::Store(coopbrief_store::Error::NotFound { what: "report", key: id.to_string() })
                    };
                    return Some((Err(Status::from(ended)), None));
                }
                let report = changes.borrow_and_update().clone();
                let next = (!report.state.is_done()).then_some((changes, false));
                Some((Ok(report::report(&report)), next))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn delete_report(&self, req: Request<v1::DeleteReportRequest>) -> Result<Response<()>, Status> {
        let id = report_id(&req.get_ref().id)?;
        let allow_issued = req.get_ref().allow_issued;
        let report = self.store.delete_report(id, allow_issued).await.map_err(Error::from)?;
        // The row is gone for good; its files follow (one left behind is an orphan, not an error).
        crate::retention::remove_pdfs(&self.artifacts, id).await;
        info!(report_id = %id, issued = report.issued.is_some(), "report deleted");
        let changes = serde_json::json!({ "deleted": true, "state": report.state, "issued": report.issued.is_some() });
        self.audit(&caller(&req), &format!("reports/{id}"), changes).await;
        Ok(Response::new(()))
    }

    async fn retry_notification(
        &self,
        req: Request<v1::RetryNotificationRequest>,
    ) -> Result<Response<v1::Report>, Status> {
        let id = report_id(&req.get_ref().id)?;
        let report = self.store.retry_notification(id).await.map_err(Error::from)?;
        let event_id = report.notification.as_ref().and_then(|n| n.delivery.as_ref()).map(|d| d.event_id.to_string());
        info!(report_id = %id, event_id, "notification queued again");
        self.audit(
            &caller(&req),
            &format!("reports/{id}"),
            serde_json::json!({ "notification": "retried", "event_id": event_id }),
        )
        .await;
        Ok(Response::new(report::report(&report)))
    }

    async fn retry_report(&self, req: Request<v1::RetryReportRequest>) -> Result<Response<v1::Report>, Status> {
        let id = report_id(&req.get_ref().id)?;
        let traceparent = telemetry::traceparent(&tracing::Span::current());
        let report = self.store.retry_report(id, traceparent.as_deref()).await.map_err(Error::from)?;
        self.relay.notify();
        info!(report_id = %id, "report queued again");
        self.audit(&caller(&req), &format!("reports/{id}"), serde_json::json!({ "state": report.state })).await;
        Ok(Response::new(report::report(&report)))
    }
}

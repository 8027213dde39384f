//! The gRPC services: cooperation data, reports for people, and the worker-facing RPCs.
//!
//! Each handler parses its request into domain types first (errors name the field), then
//! calls the store; store errors become gRPC codes in `error.rs`, nowhere else.

use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use coopbrief_domain::{PdfInfo, ReportId, ReportState};
use coopbrief_proto::convert;
use coopbrief_proto::v1;
use coopbrief_queue::{Job, JobQueue};
use coopbrief_store::{ArtifactStore, Store};
use futures::Stream;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, warn};

use crate::error::{Error, Result};

/// Largest PDF a worker may upload.
pub const MAX_PDF_BYTES: u64 = 256 * 1024 * 1024;
const DEFAULT_PAGE: i32 = 50;

/// State shared by every service.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub artifacts: ArtifactStore,
    pub queue: Arc<dyn JobQueue>,
}

fn required<'a>(value: &'a str, field: &str) -> Result<&'a str> {
    let v = value.trim();
    if v.is_empty() { Err(coopbrief_domain::Error::invalid(field, "is required").into()) } else { Ok(v) }
}

fn report_id(value: &str) -> Result<ReportId> {
    Ok(ReportId::from_str(required(value, "id")?)?)
}

#[tonic::async_trait]
impl coopbrief_proto::CooperationService for App {
    async fn list_programmes(
        &self,
        _: Request<v1::ListProgrammesRequest>,
    ) -> Result<Response<v1::ListProgrammesResponse>, Status> {
        let programmes = self.store.programmes().await.map_err(Error::from)?;
        let programmes = programmes
            .iter()
            .map(|p| v1::ProgrammeSummary {
                code: p.code.clone(),
                title: Some(convert::text(&p.title)),
                short_name: Some(convert::text(&p.short_name)),
                status: convert::programme_status(p.status),
                partners: p.partners.iter().map(|x| x.partner.clone()).collect(),
            })
            .collect();
        Ok(Response::new(v1::ListProgrammesResponse { programmes }))
    }

    async fn get_programme(&self, req: Request<v1::GetProgrammeRequest>) -> Result<Response<v1::Programme>, Status> {
        let code = required(&req.get_ref().code, "code")?;
        let p = self.store.programme(code).await.map_err(Error::from)?;
        Ok(Response::new(convert::programme(&p)))
    }

    async fn list_partners(
        &self,
        _: Request<v1::ListPartnersRequest>,
    ) -> Result<Response<v1::ListPartnersResponse>, Status> {
        let partners = self.store.partners().await.map_err(Error::from)?;
        Ok(Response::new(v1::ListPartnersResponse { partners: partners.iter().map(convert::partner).collect() }))
    }

    async fn list_sectors(
        &self,
        _: Request<v1::ListSectorsRequest>,
    ) -> Result<Response<v1::ListSectorsResponse>, Status> {
        let sectors = self.store.sectors().await.map_err(Error::from)?;
        Ok(Response::new(v1::ListSectorsResponse { sectors: sectors.iter().map(convert::sector).collect() }))
    }

    async fn get_briefing_data(
        &self,
        req: Request<v1::GetBriefingDataRequest>,
    ) -> Result<Response<v1::BriefingData>, Status> {
        let req = req.into_inner();
        let programme = required(&req.programme, "programme")?;
        let period = convert::period(required(&req.period, "period")?, "period").map_err(Error::from)?;
        let data = self.store.briefing_data(programme, period).await.map_err(Error::from)?;
        Ok(Response::new(convert::briefing(&data)))
    }
}

type DownloadStream = Pin<Box<dyn Stream<Item = Result<v1::DownloadReportResponse, Status>> + Send>>;

#[tonic::async_trait]
impl coopbrief_proto::ReportService for App {
    async fn create_report(&self, req: Request<v1::CreateReportRequest>) -> Result<Response<v1::Report>, Status> {
        let req = req.into_inner();
        let programme = required(&req.programme, "programme")?;
        let period = convert::period(required(&req.period, "period")?, "period").map_err(Error::from)?;
        let lang = convert::lang(&req.lang).map_err(Error::from)?;
        let report = self.store.create_report(programme, period, lang).await.map_err(Error::from)?;
        if let Err(e) = self.queue.publish(Job { report_id: report.id.to_string() }).await {
            // Without a job nothing would ever pick the report up: say so rather than leave it QUEUED.
            warn!(report_id = %report.id, error = %e, "could not queue the report job");
            self.store.fail_report(report.id, &format!("could not queue the job: {e}")).await.map_err(Error::from)?;
            return Err(Error::from(e).into());
        }
        info!(report_id = %report.id, programme, %period, %lang, "report queued");
        Ok(Response::new(convert::report(&report)))
    }

    async fn get_report(&self, req: Request<v1::GetReportRequest>) -> Result<Response<v1::Report>, Status> {
        let id = report_id(&req.get_ref().id)?;
        let report = self.store.report(id).await.map_err(Error::from)?;
        Ok(Response::new(convert::report(&report)))
    }

    async fn list_reports(
        &self,
        req: Request<v1::ListReportsRequest>,
    ) -> Result<Response<v1::ListReportsResponse>, Status> {
        let req = req.into_inner();
        let size = match req.page_size {
            n if n < 0 => {
                return Err(Error::from(coopbrief_domain::Error::invalid("page_size", "must not be negative")).into());
            }
            0 => DEFAULT_PAGE,
            n => n,
        };
        let programme = Some(req.programme.trim()).filter(|p| !p.is_empty());
        let reports = self.store.list_reports(programme, size as u32).await.map_err(Error::from)?;
        Ok(Response::new(v1::ListReportsResponse { reports: reports.iter().map(convert::report).collect() }))
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
        let mut file = self.artifacts.open(id).await.map_err(Error::from)?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let first = convert::report(&report);
        tokio::spawn(async move {
            let mut header = Some(first);
            let mut buf = vec![0u8; coopbrief_proto::CHUNK_SIZE];
            loop {
                let n = match file.read(&mut buf).await {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.send(Err(Status::internal(format!("reading the pdf failed: {e}")))).await;
                        return;
                    }
                };
                if n == 0 && header.is_none() {
                    return;
                }
                let msg = v1::DownloadReportResponse { report: header.take(), data: buf[..n].to_vec() };
                if tx.send(Ok(msg)).await.is_err() || n == 0 {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

#[tonic::async_trait]
impl coopbrief_proto::WorkerService for App {
    async fn start_report(
        &self,
        req: Request<v1::StartReportRequest>,
    ) -> Result<Response<v1::StartReportResponse>, Status> {
        let id = report_id(&req.get_ref().id)?;
        let (report, proceed) = self.store.start_report(id).await.map_err(Error::from)?;
        info!(report_id = %id, attempt = report.attempt, proceed, "report started");
        Ok(Response::new(v1::StartReportResponse { report: Some(convert::report(&report)), proceed }))
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
                &format!("{} bytes is over the limit of {MAX_PDF_BYTES}", header.byte_size),
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
            return Err(invalid("header.sha256", &format!("the pdf's sha256 is {sha256}, not {}", header.sha256)));
        }
        let current = self.store.report(id).await.map_err(Error::from)?;
        if current.state == ReportState::Succeeded {
            info!(report_id = %id, "report already succeeded; duplicate upload ignored");
            return Ok(Response::new(convert::report(&current)));
        }
        self.artifacts.put(id, &pdf).await.map_err(Error::from)?;
        let info = PdfInfo {
            pages: header.page_count,
            bytes: header.byte_size,
            sha256,
            template_version: header.template_version,
        };
        let report = self.store.complete_report(id, &info).await.map_err(Error::from)?;
        info!(report_id = %id, pages = info.pages, bytes = info.bytes, "report succeeded");
        Ok(Response::new(convert::report(&report)))
    }

    async fn fail_report(&self, req: Request<v1::FailReportRequest>) -> Result<Response<v1::Report>, Status> {
        let req = req.into_inner();
        let id = report_id(&req.id)?;
        let error = required(&req.error, "error")?;
        let report = self.store.fail_report(id, error).await.map_err(Error::from)?;
        warn!(report_id = %id, error, "report failed");
        Ok(Response::new(convert::report(&report)))
    }
}

fn invalid(field: &str, message: &str) -> Status {
    Error::from(coopbrief_domain::Error::invalid(field, message)).into()
}

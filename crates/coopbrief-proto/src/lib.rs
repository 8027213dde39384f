//! The gRPC wire types of Coopbrief and their conversion to and from domain types.
//!
//! Only this crate holds generated types' definitions; everything else converts at the boundary
//! with the functions in [`convert`], which reject invalid input with an error naming the field.

#[allow(clippy::all, clippy::pedantic, reason = "generated code")]
pub mod v1 {
    tonic::include_proto!("coopbrief.v1");
}

pub mod convert;
pub mod report;

/// The encoded file descriptor set of every Coopbrief service, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/coopbrief_descriptor.bin"));

pub use v1::cooperation_service_client::CooperationServiceClient;
pub use v1::cooperation_service_server::{CooperationService, CooperationServiceServer};
pub use v1::diagnostics_service_client::DiagnosticsServiceClient;
pub use v1::diagnostics_service_server::{DiagnosticsService, DiagnosticsServiceServer};
pub use v1::report_service_client::ReportServiceClient;
pub use v1::report_service_server::{ReportService, ReportServiceServer};
pub use v1::schedule_service_client::ScheduleServiceClient;
pub use v1::schedule_service_server::{ScheduleService, ScheduleServiceServer};
pub use v1::worker_service_client::WorkerServiceClient;
pub use v1::worker_service_server::{WorkerService, WorkerServiceServer};

/// Largest chunk of a PDF in one streamed message.
pub const CHUNK_SIZE: usize = 64 * 1024;

//! The gRPC wire types of Coopbrief and their conversion to and from domain types.
//!
//! Only this crate holds generated types' definitions; everything else converts at the boundary
//! with the functions in [`convert`], which reject invalid input with an error naming the field.

#[allow(clippy::all, clippy::pedantic, reason = "generated code")]
pub mod v1 {
    tonic::include_proto!("coopbrief.v1");

    /// Never shows the secret, so that no log or error can carry it.
    impl std::fmt::Debug for NotifyTarget {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let secret = if self.secret.is_empty() { "" } else { "<hidden>" };
            f.debug_struct("NotifyTarget").field("url", &self.url).field("secret", &secret).finish()
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn a_notify_targets_debug_hides_its_secret() {
            let target =
                super::NotifyTarget { url: "https://example.org/hook".into(), secret: "whsec_c2VjcmV0".into() };
            let shown = format!("{:?}", super::CreateReportRequest { notify: Some(target), ..Default::default() });
            assert!(shown.contains("https://example.org/hook") && shown.contains("<hidden>"), "{shown}");
            assert!(!shown.contains("whsec_"), "{shown}");
        }
    }
}

pub mod convert;
pub mod report;
pub mod resource;

/// The encoded file descriptor set of every Coopbrief service, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/coopbrief_descriptor.bin"));

pub use v1::access_service_client::AccessServiceClient;
pub use v1::access_service_server::{AccessService, AccessServiceServer};
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

/// The path of every RPC of every Coopbrief service, as a server sees it
/// (`/coopbrief.v1.CooperationService/GetPartner`), read from [`FILE_DESCRIPTOR_SET`].
pub fn method_paths() -> Result<Vec<String>, prost::DecodeError> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)?;
    let mut paths = Vec::new();
    for file in &set.file {
        let package = file.package();
        for service in &file.service {
            for method in &service.method {
                paths.push(format!("/{package}.{}/{}", service.name(), method.name()));
            }
        }
    }
    Ok(paths)
}

/// Largest chunk of a PDF in one streamed message.
pub const CHUNK_SIZE: usize = 64 * 1024;

//! Conversions of report resources between wire and domain types.

use std::str::FromStr;

use coopbrief_domain::webhook::{DeliveryState, Notification, NotifyUrl, WebhookSecret};
use coopbrief_domain::{Error, Issued, Lang, PdfStandard, Report, ReportState, Result};

use crate::v1;

pub fn report_state(state: ReportState) -> i32 {
    let wire = match state {
        ReportState::Queued => v1::ReportState::Queued,
        ReportState::Running => v1::ReportState::Running,
        ReportState::Succeeded => v1::ReportState::Succeeded,
        ReportState::Failed => v1::ReportState::Failed,
        ReportState::Cancelled => v1::ReportState::Cancelled,
    };
    wire as i32
}

pub fn to_report_state(value: i32, field: &str) -> Result<ReportState> {
    match v1::ReportState::try_from(value) {
        Ok(v1::ReportState::Queued) => Ok(ReportState::Queued),
        Ok(v1::ReportState::Running) => Ok(ReportState::Running),
        Ok(v1::ReportState::Succeeded) => Ok(ReportState::Succeeded),
        Ok(v1::ReportState::Failed) => Ok(ReportState::Failed),
        Ok(v1::ReportState::Cancelled) => Ok(ReportState::Cancelled),
        _ => Err(Error::invalid(field, format!("{value} is not a report state"))),
    }
}

pub fn report(r: &Report) -> v1::Report {
    let pdf = r.pdf.as_ref();
    v1::Report {
        name: format!("reports/{}", r.id),
        id: r.id.to_string(),
        programme: r.programme.clone(),
        period: r.period.to_string(),
        lang: r.lang.code().to_owned(),
        state: report_state(r.state),
        create_time: Some(timestamp(r.created_at)),
        update_time: Some(timestamp(r.updated_at)),
        attempt: r.attempt,
        error: r.error.clone().unwrap_or_default(),
        page_count: pdf.map_or(0, |p| p.pages),
        byte_size: pdf.map_or(0, |p| p.bytes),
        sha256: pdf.map(|p| p.sha256.clone()).unwrap_or_default(),
        template_version: pdf.map(|p| p.template_version.clone()).unwrap_or_default(),
        data_hash: pdf.map(|p| p.data_hash.clone()).unwrap_or_default(),
        pdf_standard: r.pdf_standard.code().to_owned(),
        schedule: r.schedule.map(|s| format!("schedules/{s}")).unwrap_or_default(),
        letterhead: (!r.letterhead.is_empty()).then(|| crate::convert::letterhead(&r.letterhead)),
        issued: r.issued.as_ref().map(issuance),
        notification: r.notification.as_ref().map(notification),
    }
}

/// A notification as answered: the URL (never the secret) and the newest delivery.
pub fn notification(n: &Notification) -> v1::Notification {
    let Some(d) = &n.delivery else {
        return v1::Notification { url: n.url.to_string(), ..v1::Notification::default() };
    };
    let state = match d.state {
        DeliveryState::Pending => v1::NotificationState::Pending,
        DeliveryState::Delivered => v1::NotificationState::Delivered,
        DeliveryState::GivenUp => v1::NotificationState::GivenUp,
    };
    v1::Notification {
        url: n.url.to_string(),
        state: state as i32,
        event_id: d.event_id.to_string(),
        event_type: d.kind.as_str().to_owned(),
        attempts: d.attempts,
        last_error: d.last_error.clone().unwrap_or_default(),
        next_attempt_time: d.next_attempt_at.filter(|_| d.state == DeliveryState::Pending).map(timestamp),
        delivered_time: d.delivered_at.map(timestamp),
    }
}

/// Parses a notify target: `notify.url` and `notify.secret`, both required.
pub fn notify_target(t: &v1::NotifyTarget) -> Result<(NotifyUrl, WebhookSecret)> {
    Ok((NotifyUrl::parse(&t.url, "notify.url")?, WebhookSecret::parse(&t.secret, "notify.secret")?))
}

fn issuance(i: &Issued) -> v1::Issuance {
    v1::Issuance {
        number: i.number.to_string(),
        office: i.office.to_string(),
        issue_date: i.date.to_string(),
        issue_time: Some(timestamp(i.at)),
        signer: i.signer.clone(),
        certificate_subject: i.certificate.clone(),
        page_count: i.pdf.pages,
        byte_size: i.pdf.bytes,
        sha256: i.pdf.sha256.clone(),
    }
}

pub fn timestamp(t: jiff::Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.as_second(), nanos: t.subsec_nanosecond() }
}

/// Parses a PDF standard field; empty means plain PDF.
pub fn pdf_standard(s: &str) -> Result<PdfStandard> {
    PdfStandard::from_str(s)
}

/// Parses a language field; empty means Vietnamese.
pub fn lang(s: &str) -> Result<Lang> {
    Lang::from_str(s)
}

//! Reports and schedules in keyset pages: the same opaque token as the cooperation resources
//! ([`crate::resources::Token`]), bound to the list and its filters, and stable under inserts
//! (a page starts after the last id of the one before, whatever was written meanwhile).

use coopbrief_domain::Report;
use coopbrief_domain::schedule::Schedule;

use crate::reports::report_from_row;
use crate::resources::{Token, decode_token, fingerprint};
use crate::schedules::schedule_from_row;
use crate::sql::Sql;
use crate::{PageRequest, Paged, ReportFilter, Result, Store};

impl Store {
    /// Reports newest first (by id: ids are UUIDv7, so creation order), filtered by
    /// programme, state and schedule; one page.
    pub async fn list_reports_page(&self, filter: &ReportFilter<'_>, page: &PageRequest) -> Result<Paged<Report>> {
        let query = fingerprint("reports", filter);
        let mut q = Sql::new("SELECT * FROM reports WHERE 1 = 1");
        if let Some(p) = filter.programme {
            q.push(" AND programme = ").bind(p.to_owned());
        }
        if let Some(s) = filter.state {
            q.push(" AND state = ").bind(s.as_str());
        }
        if let Some(s) = filter.schedule {
            q.push(" AND schedule_id = ").bind(s.to_string());
        }
        if let Some(token) = &page.token {
            q.push(" AND id < ").bind(decode_token(token, &query)?.code);
        }
        q.push(" ORDER BY id DESC LIMIT ").bind(page.probe());
        let rows = q.query().fetch_all(&self.pool).await?;
        let reports = rows.iter().map(report_from_row).collect::<Result<Vec<_>>>()?;
        // Each report's delivery state too, as a single report shows it.
        let reports = self.with_deliveries(reports).await?;
        page.cut(reports, |r| Token { q: query.clone(), code: r.id.to_string(), ..Token::default() })
    }

    /// Schedules oldest first, optionally of one programme; one page.
    pub async fn list_schedules_page(&self, programme: Option<&str>, page: &PageRequest) -> Result<Paged<Schedule>> {
        let query = fingerprint("schedules", &programme);
        let mut q = Sql::new("SELECT * FROM report_schedules WHERE 1 = 1");
        if let Some(p) = programme {
            q.push(" AND programme = ").bind(p.to_owned());
        }
        if let Some(token) = &page.token {
            q.push(" AND id > ").bind(decode_token(token, &query)?.code);
        }
        q.push(" ORDER BY id LIMIT ").bind(page.probe());
        let rows = q.query().fetch_all(&self.pool).await?;
        let schedules = rows.iter().map(schedule_from_row).collect::<Result<Vec<_>>>()?;
        page.cut(schedules, |s| Token { q: query.clone(), code: s.id.to_string(), ..Token::default() })
    }
}

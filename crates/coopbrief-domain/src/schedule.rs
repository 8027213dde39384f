//! Report schedules: a programme's briefing made once per closed period (month, quarter …),
//! the clock that says when, and when a period is due.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use jiff::Timestamp;
use jiff::tz::TimeZone;
use uuid::Uuid;

use crate::{Error, Lang, PdfStandard, Period, Result};

/// The time zone a schedule closes its periods in unless told otherwise.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Ho_Chi_Minh";

/// Longest grace delay after a period closes: a year of late data is already a lot.
pub const MAX_GRACE: Duration = Duration::from_secs(366 * 24 * 3600);

/// The id of a schedule: a UUIDv7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScheduleId(Uuid);

impl ScheduleId {
    pub fn new() -> Self {
        ScheduleId(Uuid::now_v7())
    }
}

impl Default for ScheduleId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ScheduleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ScheduleId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let s = s.strip_prefix("schedules/").unwrap_or(s);
        Uuid::parse_str(s).map(ScheduleId).map_err(|_| {
            Error::invalid("id", format!("{s:?} is not a schedule id (a UUID, optionally as schedules/<uuid>)"))
        })
    }
}

/// How often a schedule produces a briefing: one per calendar period of this kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cadence {
    Monthly,
    Quarterly,
    HalfYearly,
    Yearly,
}

impl Cadence {
    pub fn as_str(&self) -> &'static str {
        match self {
            Cadence::Monthly => "monthly",
            Cadence::Quarterly => "quarterly",
            Cadence::HalfYearly => "half-yearly",
            Cadence::Yearly => "yearly",
        }
    }

    /// Whether `period` is one period of this cadence (a month for monthly …).
    pub fn fits(&self, period: &Period) -> bool {
        matches!(
            (self, period),
            (Cadence::Monthly, Period::Month(..))
                | (Cadence::Quarterly, Period::Quarter(..))
                | (Cadence::HalfYearly, Period::Half(..))
                | (Cadence::Yearly, Period::Year(..))
        )
    }

    /// The period of this cadence that holds `date`.
    pub fn period_of(&self, date: jiff::civil::Date) -> Period {
        let (y, m) = (date.year(), date.month() as u8);
        match self {
            Cadence::Monthly => Period::Month(y, m),
            Cadence::Quarterly => Period::Quarter(y, (m - 1) / 3 + 1),
            Cadence::HalfYearly => Period::Half(y, (m - 1) / 6 + 1),
            Cadence::Yearly => Period::Year(y),
        }
    }
}

impl FromStr for Cadence {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "monthly" | "month" => Ok(Cadence::Monthly),
            "quarterly" | "quarter" => Ok(Cadence::Quarterly),
            "half-yearly" | "halfyearly" | "half-year" | "semiannual" => Ok(Cadence::HalfYearly),
            "yearly" | "year" | "annual" => Ok(Cadence::Yearly),
            "" => Err(Error::invalid("cadence", "is required; use monthly, quarterly, half-yearly or yearly")),
            other => Err(Error::invalid(
                "cadence",
                format!("{other:?} is not a cadence; use monthly, quarterly, half-yearly or yearly"),
            )),
        }
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The period after `period`, of the same kind (`None` past the last supported year).
pub fn next_period(period: &Period) -> Option<Period> {
    let p = match *period {
        Period::Year(y) => Period::year(y + 1).ok()?,
        Period::Half(y, 1) => Period::Half(y, 2),
        Period::Half(y, _) => Period::year(y + 1).ok().map(|_| Period::Half(y + 1, 1))?,
        Period::Quarter(y, 4) => Period::quarter(y + 1, 1).ok()?,
        Period::Quarter(y, q) => Period::Quarter(y, q + 1),
        Period::Month(y, 12) => Period::month(y + 1, 1).ok()?,
        Period::Month(y, m) => Period::Month(y, m + 1),
        Period::Years(a, b) => {
            let n = b - a + 1;
            Period::year(b + n).ok()?;
            Period::Years(b + 1, b + n)
        }
        Period::Range(s, e) => {
            let days = s.until(e).ok()?.get_days();
            let start = e.tomorrow().ok()?;
            Period::range(start, start.checked_add(jiff::Span::new().days(days)).ok()?).ok()?
        }
    };
    Some(p)
}

/// A named time zone, checked against the time-zone database when parsed.
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Default for Zone {
    fn default() -> Self {
        Zone { name: DEFAULT_TIME_ZONE.to_owned(), tz: vietnam() }
    }
}

/// Asia/Ho_Chi_Minh; Việt Nam has kept UTC+7 without daylight saving since 1975, so a
/// container without a time-zone database still gets it right.
fn vietnam() -> TimeZone {
    TimeZone::get(DEFAULT_TIME_ZONE).unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(7)))
}

impl FromStr for Zone {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() || s == DEFAULT_TIME_ZONE {
            return Ok(Zone::default());
        }
        let tz = TimeZone::get(s).map_err(|e| {
            Error::invalid("time_zone", format!("{s:?} is not a known IANA time zone (e.g. Asia/Ho_Chi_Minh): {e}"))
        })?;
        Ok(Zone { name: s.to_owned(), tz })
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Reads a grace delay: `0`, seconds (`3600`), or a number with a unit (`90s`, `30m`, `12h`, `3d`).
pub fn parse_grace(s: &str) -> Result<Duration> {
    let s = s.trim();
    let bad = || Error::invalid("grace", format!("{s:?} is not a delay; write e.g. 0, 30m, 12h or 3d"));
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "" | "s" => n,
        "m" | "min" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(bad()),
    };
    grace(Duration::from_secs(seconds))
}

/// A grace delay, at most [`MAX_GRACE`].
pub fn grace(d: Duration) -> Result<Duration> {
    if d > MAX_GRACE {
        return Err(Error::invalid("grace", format!("{}s is longer than a year", d.as_secs())));
    }
    Ok(d)
}

/// Formats a delay as the shortest of `3d`, `12h`, `30m` or `90s`.
pub fn format_grace(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// What a person sets on a schedule; valid by construction through [`ScheduleSpec::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleSpec {
    pub programme: String,
    pub cadence: Cadence,
    pub time_zone: Zone,
    pub lang: Lang,
    /// The template's name, stored for the render step (the renderer has one template today).
    pub template: String,
    pub pdf_standard: PdfStandard,
    /// The first period to brief; earlier ones are never made.
    pub first_period: Period,
    /// Waited after a period closes before its briefing is made, so late data can land.
    pub grace: Duration,
    pub enabled: bool,
}

impl ScheduleSpec {
    /// Checks what ties fields together: the first period must be one of the cadence's.
    pub fn check(self) -> Result<ScheduleSpec> {
        if self.programme.trim().is_empty() {
            return Err(Error::invalid("programme", "is required"));
        }
        if !self.cadence.fits(&self.first_period) {
            return Err(Error::invalid(
                "first_period",
                format!(
                    "{} is not a {} period; write e.g. {}",
                    self.first_period,
                    self.cadence,
                    self.cadence.period_of(self.first_period.start())
                ),
            ));
        }
        if self.template.len() > 100 {
            return Err(Error::invalid("template", "is longer than 100 characters"));
        }
        grace(self.grace)?;
        Ok(self)
    }

    /// The instant `period` closes: midnight, in the schedule's time zone, after its last day.
    pub fn closes_at(&self, period: &Period) -> Result<Timestamp> {
        let bad = |e: jiff::Error| Error::invalid("period", format!("{period} has no end in {}: {e}", self.time_zone));
        let day_after = period.end().tomorrow().map_err(bad)?;
        let midnight = day_after.to_datetime(jiff::civil::Time::midnight());
        self.time_zone.tz().to_timestamp(midnight).map_err(bad)
    }

    /// The instant the briefing of `period` is due: its close plus the grace delay.
    pub fn due_at(&self, period: &Period) -> Result<Timestamp> {
        let grace = jiff::SignedDuration::try_from(self.grace)
            .map_err(|e| Error::invalid("grace", format!("{}s: {e}", self.grace.as_secs())))?;
        self.closes_at(period)?
            .checked_add(grace)
            .map_err(|e| Error::invalid("grace", format!("{}s after {period}: {e}", self.grace.as_secs())))
    }
}

/// A schedule as stored: what was asked for, and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub id: ScheduleId,
    pub spec: ScheduleSpec,
    /// The next period to brief: the cursor the scheduler moves forward.
    pub next_period: Period,
    /// The newest period whose briefing the scheduler has made (or found made).
    pub last_run_period: Option<Period>,
    pub last_run_at: Option<Timestamp>,
    /// Periods briefed late, after downtime or a pause (their successor had closed too).
    pub caught_up: u64,
    /// Periods due but not made at the last tick because of the per-tick catch-up limit.
    pub backlog: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where time comes from: the system in production, a hand-moved clock in tests.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to; clones share the time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    pub fn new(now: Timestamp) -> Self {
        ManualClock(Arc::new(Mutex::new(now)))
    }

    pub fn set(&self, now: Timestamp) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }

    pub fn advance(&self, by: jiff::SignedDuration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t = t.checked_add(by).unwrap_or(*t);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cadence: Cadence, first: &str) -> ScheduleSpec {
        ScheduleSpec {
            programme: "hanoi-hanam".into(),
            cadence,
            time_zone: Zone::default(),
            lang: Lang::Vi,
            template: String::new(),
            pdf_standard: PdfStandard::None,
            first_period: first.parse().unwrap(),
            grace: Duration::ZERO,
            enabled: true,
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_month_closes_at_midnight_in_hanoi() {
        let s = spec(Cadence::Monthly, "2026-01");
        assert_eq!(s.closes_at(&"2026-01".parse().unwrap()).unwrap(), ts("2026-01-31T17:00:00Z"));
    }

    #[test]
    fn february_of_a_leap_year_closes_after_the_29th() {
        let s = spec(Cadence::Monthly, "2024-02");
        assert_eq!(s.closes_at(&"2024-02".parse().unwrap()).unwrap(), ts("2024-02-29T17:00:00Z"));
        assert_eq!(s.closes_at(&"2025-02".parse().unwrap()).unwrap(), ts("2025-02-28T17:00:00Z"));
    }

    #[test]
    fn grace_delays_the_due_time() {
        let mut s = spec(Cadence::Quarterly, "2026-Q1");
        s.grace = parse_grace("3d").unwrap();
        assert_eq!(s.due_at(&"2026-Q1".parse().unwrap()).unwrap(), ts("2026-04-03T17:00:00Z"));
    }

    #[test]
    fn other_time_zones_close_at_their_own_midnight() {
        let mut s = spec(Cadence::Yearly, "2026");
        s.time_zone = "Europe/Paris".parse().unwrap();
        assert_eq!(s.closes_at(&"2026".parse().unwrap()).unwrap(), ts("2026-12-31T23:00:00Z"));
        let err = "Mars/Olympus".parse::<Zone>().unwrap_err();
        assert_eq!(err.field(), Some("time_zone"));
    }

    #[test]
    fn a_zone_with_daylight_saving_closes_at_its_local_midnight_either_side_of_the_switch() {
        let mut s = spec(Cadence::Monthly, "2026-02");
        s.time_zone = "Europe/Paris".parse().unwrap();
        // UTC+1 in winter, UTC+2 from 29 March 2026.
        assert_eq!(s.closes_at(&"2026-02".parse().unwrap()).unwrap(), ts("2026-02-28T23:00:00Z"));
        assert_eq!(s.closes_at(&"2026-03".parse().unwrap()).unwrap(), ts("2026-03-31T22:00:00Z"));
    }

    #[test]
    fn next_periods_roll_over_years() {
        let next = |s: &str| next_period(&s.parse().unwrap()).unwrap().to_string();
        assert_eq!(next("2026-12"), "2027-01");
        assert_eq!(next("2026-Q4"), "2027-Q1");
        assert_eq!(next("2026-H2"), "2027-H1");
        assert_eq!(next("2026-H1"), "2026-H2");
        assert_eq!(next("2026"), "2027");
        assert_eq!(next_period(&Period::Year(2200)), None);
    }

    #[test]
    fn the_first_period_must_fit_the_cadence() {
        let err = spec(Cadence::Quarterly, "2026-01").check().unwrap_err();
        assert_eq!(err.field(), Some("first_period"));
        assert!(err.to_string().contains("2026-Q1"), "{err}");
        assert!(spec(Cadence::HalfYearly, "2026-H2").check().is_ok());
    }

    #[test]
    fn cadences_and_graces_parse() {
        assert_eq!("Half_Yearly".parse::<Cadence>().unwrap(), Cadence::HalfYearly);
        assert_eq!("weekly".parse::<Cadence>().unwrap_err().field(), Some("cadence"));
        assert_eq!(parse_grace("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(parse_grace("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_grace("2w").unwrap_err().field(), Some("grace"));
        assert_eq!(format_grace(Duration::from_secs(3 * 86_400)), "3d");
    }
}

//! Report schedules: a programme's briefing made once per closed period (month, quarter …),
//! the clock that says when, and when a period is due.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use jiff::Timestamp;
use jiff::tz::TimeZone;
use uuid::Uuid;

use crate::{Code, Error, Lang, PdfStandard, Period, PeriodKind, Result};

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

/// How often a schedule produces a briefing: one per calendar period of this kind, or one per
/// firing of a cron expression (`cron:0 0 * * MON`, weekly) for the unusual.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Cadence {
    Monthly,
    Quarterly,
    HalfYearly,
    Yearly,
    Cron(CronCadence),
}

/// What the cadence error messages offer.
const CADENCES: &str = "monthly, quarterly, half-yearly, yearly or cron:<expression> (e.g. cron:0 0 * * MON)";

impl Cadence {
    /// The stored and shown form, which `FromStr` reads back.
    pub fn as_str(&self) -> &str {
        match self {
            Cadence::Monthly => "monthly",
            Cadence::Quarterly => "quarterly",
            Cadence::HalfYearly => "half-yearly",
            Cadence::Yearly => "yearly",
            Cadence::Cron(c) => c.as_str(),
        }
    }

    /// Whether `period` is one period of this cadence (a month for monthly, for a cron
    /// expression a range of days from one firing's day to the day before the next).
    pub fn fits(&self, period: &Period) -> bool {
        let kind = match self {
            // A range from a firing day is never equal to a month, a quarter …
            Cadence::Cron(c) => return c.period_from(period.start()).as_ref() == Some(period),
            Cadence::Monthly => PeriodKind::Month,
            Cadence::Quarterly => PeriodKind::Quarter,
            Cadence::HalfYearly => PeriodKind::Half,
            Cadence::Yearly => PeriodKind::Year,
        };
        period.kind() == kind
    }

    /// The period of this cadence that holds `date` (`None` for a cron expression that has
    /// not fired in the years before `date`, or whose period would pass the last supported year).
    pub fn period_of(&self, date: jiff::civil::Date) -> Option<Period> {
        let (y, m) = (date.year(), date.month() as u8);
        match self {
            Cadence::Monthly => Period::month(y, m),
            Cadence::Quarterly => Period::quarter(y, (m - 1) / 3 + 1),
            Cadence::HalfYearly => Period::half(y, (m - 1) / 6 + 1),
            Cadence::Yearly => Period::year(y),
            Cadence::Cron(c) => return c.period_from(c.last_firing_day(date)?),
        }
        .ok()
    }

    /// The period after `period` (`None` past the last supported year, or when a cron
    /// expression fires no more).
    pub fn next_period(&self, period: &Period) -> Option<Period> {
        match self {
            Cadence::Cron(c) => c.period_from(c.next_firing_day(period.end().tomorrow().ok()?)?),
            _ => period.next(),
        }
    }

    /// The time of day, in the schedule's zone, at which a period closes after its last day:
    /// midnight for the calendar cadences, the firing time for a cron expression.
    pub fn close_time(&self) -> jiff::civil::Time {
        match self {
            Cadence::Cron(c) => c.at,
            _ => jiff::civil::Time::midnight(),
        }
    }

    /// A period of this cadence to offer when `period` does not fit: the one holding its first
    /// day, or for a cron expression the one starting at the first firing from that day on.
    fn suggest(&self, period: &Period) -> Option<Period> {
        match self {
            Cadence::Cron(c) => c.period_from(c.next_firing_day(period.start())?),
            _ => self.period_of(period.start()),
        }
    }
}

impl FromStr for Cadence {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let trimmed = s.trim();
        if let Some(expression) = trimmed.get(..5).filter(|p| p.eq_ignore_ascii_case("cron:")).map(|_| &trimmed[5..]) {
            return CronCadence::parse(expression).map(Cadence::Cron);
        }
        match trimmed.to_ascii_lowercase().replace('_', "-").as_str() {
            "monthly" | "month" => Ok(Cadence::Monthly),
            "quarterly" | "quarter" => Ok(Cadence::Quarterly),
            "half-yearly" | "halfyearly" | "half-year" | "semiannual" => Ok(Cadence::HalfYearly),
            "yearly" | "year" | "annual" => Ok(Cadence::Yearly),
            "" => Err(Error::invalid("cadence", format!("is required; use {CADENCES}"))),
            "cron" => Err(Error::invalid("cadence", "needs an expression after \"cron:\", e.g. cron:0 0 * * MON")),
            other => Err(Error::invalid("cadence", format!("{other:?} is not a cadence; use {CADENCES}"))),
        }
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest cron expression kept; a real one is a few dozen characters.
const MAX_CRON_LEN: usize = 200;

/// Days searched for the next (or last) firing of a cron expression: the rarest day a
/// five-field expression can name is 29 February, eight years apart around 2100.
const CRON_HORIZON_DAYS: usize = 9 * 366;

/// A cron expression as a cadence: fires on some days, at one time of day, in the schedule's
/// time zone. Each firing closes the period that began at the one before.
///
/// Five fields (minute hour day-of-month month day-of-week), read by `croner` with Vixie cron
/// rules (when both day fields are restricted, either one matching is enough; `L`, `W` and
/// `#` work as in croner). An expression that fires more than once a day, or never, is refused:
/// a period is a whole number of days. Days are walked with `jiff`; croner only matches them.
#[derive(Clone, Debug)]
pub struct CronCadence {
    /// `cron:` and the expression with its whitespace collapsed: the stored and shown form.
    text: String,
    /// Boxed: a parsed pattern is several hundred bytes, and most cadences are calendar ones.
    cron: Box<croner::Cron>,
    /// The one time of day it fires.
    at: jiff::civil::Time,
}

impl CronCadence {
    /// Parses an expression (without the `cron:` prefix); errors name the `cadence` field.
    pub fn parse(expression: &str) -> Result<CronCadence> {
        let expression = expression.split_whitespace().collect::<Vec<_>>().join(" ");
        let bad = |why: String| Error::invalid("cadence", format!("cron expression {expression:?} {why}"));
        if expression.is_empty() {
            return Err(Error::invalid("cadence", "needs an expression after \"cron:\", e.g. cron:0 0 * * MON"));
        }
        if expression.len() > MAX_CRON_LEN {
            return Err(bad(format!("is longer than {MAX_CRON_LEN} characters")));
        }
        let cron = croner::Cron::new(&expression).parse().map_err(|e| {
            bad(format!(
                "does not parse ({}); write five fields, minute hour day-of-month month day-of-week, e.g. 0 0 * * MON",
                e.to_string().trim_end_matches('.')
            ))
        })?;
        let count = |n: u32, matches: &dyn Fn(u32) -> bool| (0..n).filter(|&v| matches(v)).collect::<Vec<u32>>();
        let pattern = &cron.pattern;
        let hours = count(24, &|h| pattern.hour_match(h).unwrap_or(false));
        let minutes = count(60, &|m| pattern.minute_match(m).unwrap_or(false));
        let seconds = count(60, &|s| pattern.second_match(s).unwrap_or(false));
        let per_day = hours.len() * minutes.len() * seconds.len();
        let (&[h], &[m], &[s]) = (hours.as_slice(), minutes.as_slice(), seconds.as_slice()) else {
            return Err(bad(if per_day == 0 {
                "never fires".to_owned()
            } else {
                format!(
                    "fires {per_day} times a day; a schedule makes one briefing per period of whole days, \
                     so fire at most once a day (one minute and one hour, e.g. 0 0 * * MON)"
                )
            }));
        };
        let at = jiff::civil::Time::new(h as i8, m as i8, s as i8, 0).map_err(|e| bad(e.to_string()))?;
        let c = CronCadence { text: format!("cron:{expression}"), cron: Box::new(cron), at };
        if c.next_firing_day(jiff::civil::date(2000, 1, 1)).is_none() {
            return Err(bad("never fires (no such day in any year)".to_owned()));
        }
        Ok(c)
    }

    /// `cron:<expression>`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The expression, without the `cron:` prefix.
    pub fn expression(&self) -> &str {
        &self.text[5..]
    }

    /// The time of day it fires, in the schedule's time zone.
    pub fn at(&self) -> jiff::civil::Time {
        self.at
    }

    /// Whether it fires on `date` (at [`CronCadence::at`]).
    pub fn fires_on(&self, date: jiff::civil::Date) -> bool {
        let (y, m, d) = (i32::from(date.year()), date.month() as u32, date.day() as u32);
        let p = &self.cron.pattern;
        p.month_match(m).unwrap_or(false) && p.day_match(y, m, d).unwrap_or(false)
    }

    /// The first day from `from` on that it fires.
    pub fn next_firing_day(&self, from: jiff::civil::Date) -> Option<jiff::civil::Date> {
        from.series(jiff::Span::new().days(1)).take(CRON_HORIZON_DAYS).find(|d| self.fires_on(*d))
    }

    /// The last day up to `until` that it fires.
    pub fn last_firing_day(&self, until: jiff::civil::Date) -> Option<jiff::civil::Date> {
        until.series(jiff::Span::new().days(-1)).take(CRON_HORIZON_DAYS).find(|d| self.fires_on(*d))
    }

    /// The period that starts on `start`, a firing day: up to the day before the next firing.
    fn period_from(&self, start: jiff::civil::Date) -> Option<Period> {
        if !self.fires_on(start) {
            return None;
        }
        let next = self.next_firing_day(start.tomorrow().ok()?)?;
        Period::range(start, next.yesterday().ok()?).ok()
    }
}

impl PartialEq for CronCadence {
    fn eq(&self, other: &CronCadence) -> bool {
        self.text == other.text
    }
}

impl Eq for CronCadence {}

impl std::hash::Hash for CronCadence {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
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
        Zone { name: DEFAULT_TIME_ZONE.to_owned(), tz: default_time_zone() }
    }
}

/// The office's zone, [`DEFAULT_TIME_ZONE`]: Việt Nam has kept UTC+7 without daylight saving
/// since 1975, so a container without a time-zone database still gets it right.
pub fn default_time_zone() -> TimeZone {
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

/// A schedule's template name as written: empty for the default, else a code (it will name a
/// file, so `../x` is refused).
pub fn template_name(name: &str) -> Result<Option<Code>> {
    let name = name.trim();
    if name.is_empty() { Ok(None) } else { Code::parse(name, "template").map(Some) }
}

/// What a person sets on a schedule, not yet checked: [`ScheduleSpec::new`] checks it whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleDraft {
    pub programme: String,
    pub cadence: Cadence,
    pub time_zone: Zone,
    pub lang: Lang,
    /// The template's name, stored for the render step (the renderer has one template today);
    /// a code, since it will name a file.
    pub template: Option<Code>,
    pub pdf_standard: PdfStandard,
    /// The first period to brief; earlier ones are never made.
    pub first_period: Period,
    /// Waited after a period closes before its briefing is made, so late data can land.
    pub grace: Duration,
    pub enabled: bool,
    /// Parts that replace the programme's letterhead in the reports the schedule makes.
    pub letterhead: crate::Letterhead,
    /// Whether each period's briefing is issued as soon as it succeeds.
    pub issue: IssueMode,
}

/// What becomes of a schedule's briefing once it succeeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IssueMode {
    /// It stays a draft for an approver to issue.
    #[default]
    Draft,
    /// It is issued at once: numbered, signed.
    Auto,
}

impl IssueMode {
    /// `"draft"` or `"auto"`, as stored and sent.
    pub fn code(&self) -> &'static str {
        match self {
            IssueMode::Draft => "draft",
            IssueMode::Auto => "auto",
        }
    }
}

impl FromStr for IssueMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<IssueMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "draft" | "manual" => Ok(IssueMode::Draft),
            "auto" => Ok(IssueMode::Auto),
            _ => Err(Error::invalid("issue", format!("{} is not draft or auto", crate::quote(s)))),
        }
    }
}

impl ScheduleDraft {
    /// A draft with the defaults of the fields a person may leave out.
    pub fn new(programme: impl Into<String>, cadence: Cadence, first_period: Period) -> ScheduleDraft {
        ScheduleDraft {
            programme: programme.into(),
            cadence,
            time_zone: Zone::default(),
            lang: Lang::default(),
            template: None,
            pdf_standard: PdfStandard::None,
            first_period,
            grace: Duration::ZERO,
            enabled: true,
            letterhead: crate::Letterhead::default(),
            issue: IssueMode::Draft,
        }
    }
}

/// What a person sets on a schedule, valid by construction through [`ScheduleSpec::new`]: the
/// programme is named, the first period is one of the cadence's, the grace at most [`MAX_GRACE`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleSpec(ScheduleDraft);

impl ScheduleSpec {
    /// Checks the draft, the fields that tie together too; errors name the field.
    pub fn new(draft: ScheduleDraft) -> Result<ScheduleSpec> {
        if draft.programme.trim().is_empty() {
            return Err(Error::invalid("programme", "is required"));
        }
        if !draft.cadence.fits(&draft.first_period) {
            let kind = match &draft.cadence {
                Cadence::Cron(_) => {
                    format!("period of {} (from one firing's day to the day before the next)", draft.cadence)
                }
                other => format!("{other} period"),
            };
            let example = match draft.cadence.suggest(&draft.first_period) {
                Some(p) => format!("; write e.g. {p}"),
                None => String::new(),
            };
            return Err(Error::invalid("first_period", format!("{} is not a {kind}{example}", draft.first_period)));
        }
        grace(draft.grace)?;
        draft.letterhead.check("letterhead")?;
        Ok(ScheduleSpec(draft))
    }

    /// The fields, to change and check again.
    pub fn into_draft(self) -> ScheduleDraft {
        self.0
    }

    pub fn programme(&self) -> &str {
        &self.0.programme
    }

    pub fn cadence(&self) -> &Cadence {
        &self.0.cadence
    }

    pub fn time_zone(&self) -> &Zone {
        &self.0.time_zone
    }

    pub fn lang(&self) -> Lang {
        self.0.lang
    }

    /// The template's name; empty for the default template.
    pub fn template(&self) -> &str {
        self.0.template.as_deref().unwrap_or_default()
    }

    pub fn pdf_standard(&self) -> PdfStandard {
        self.0.pdf_standard
    }

    pub fn first_period(&self) -> Period {
        self.0.first_period
    }

    pub fn grace(&self) -> Duration {
        self.0.grace
    }

    pub fn enabled(&self) -> bool {
        self.0.enabled
    }

    pub fn letterhead(&self) -> &crate::Letterhead {
        &self.0.letterhead
    }

    pub fn issue(&self) -> IssueMode {
        self.0.issue
    }

    /// The instant `period` closes, in the schedule's time zone, on the day after its last:
    /// at midnight, or for a cron cadence at its firing time (the next firing).
    pub fn closes_at(&self, period: &Period) -> Result<Timestamp> {
        let bad =
            |e: jiff::Error| Error::invalid("period", format!("{period} has no end in {}: {e}", self.0.time_zone));
        let day_after = period.end().tomorrow().map_err(bad)?;
        let close = day_after.to_datetime(self.0.cadence.close_time());
        // A close inside a daylight-saving gap moves to the first instant after it.
        self.0.time_zone.tz().to_timestamp(close).map_err(bad)
    }

    /// The instant the briefing of `period` is due: its close plus the grace delay.
    pub fn due_at(&self, period: &Period) -> Result<Timestamp> {
        let grace = jiff::SignedDuration::try_from(self.0.grace)
            .map_err(|e| Error::invalid("grace", format!("{}s: {e}", self.0.grace.as_secs())))?;
        self.closes_at(period)?
            .checked_add(grace)
            .map_err(|e| Error::invalid("grace", format!("{}s after {period}: {e}", self.0.grace.as_secs())))
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
    /// Where its reports' events are POSTed (the secret is kept sealed by the store, never here).
    pub notify_url: Option<crate::webhook::NotifyUrl>,
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

    fn draft(cadence: Cadence, first: &str) -> ScheduleDraft {
        ScheduleDraft::new("hanoi-hanam", cadence, first.parse().unwrap())
    }

    fn spec(cadence: Cadence, first: &str) -> ScheduleSpec {
        ScheduleSpec::new(draft(cadence, first)).unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_template_name_is_a_code_or_empty() {
        assert_eq!(template_name("  ").unwrap(), None);
        assert_eq!(template_name("standard").unwrap().as_deref(), Some("standard"));
        for bad in ["../../etc/passwd", "Standard", "a/b", "x\u{1b}", &"a".repeat(65)] {
            let e = template_name(bad).unwrap_err();
            assert_eq!(e.field(), Some("template"), "{bad:?}: {e}");
        }
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
        let s = ScheduleSpec::new(ScheduleDraft {
            grace: parse_grace("3d").unwrap(),
            ..draft(Cadence::Quarterly, "2026-Q1")
        })
        .unwrap();
        assert_eq!(s.due_at(&"2026-Q1".parse().unwrap()).unwrap(), ts("2026-04-03T17:00:00Z"));
    }

    #[test]
    fn other_time_zones_close_at_their_own_midnight() {
        let paris = "Europe/Paris".parse().unwrap();
        let s = ScheduleSpec::new(ScheduleDraft { time_zone: paris, ..draft(Cadence::Yearly, "2026") }).unwrap();
        assert_eq!(s.closes_at(&"2026".parse().unwrap()).unwrap(), ts("2026-12-31T23:00:00Z"));
        let err = "Mars/Olympus".parse::<Zone>().unwrap_err();
        assert_eq!(err.field(), Some("time_zone"));
    }

    #[test]
    fn a_zone_with_daylight_saving_closes_at_its_local_midnight_either_side_of_the_switch() {
        let paris = "Europe/Paris".parse().unwrap();
        let s = ScheduleSpec::new(ScheduleDraft { time_zone: paris, ..draft(Cadence::Monthly, "2026-02") }).unwrap();
        // UTC+1 in winter, UTC+2 from 29 March 2026.
        assert_eq!(s.closes_at(&"2026-02".parse().unwrap()).unwrap(), ts("2026-02-28T23:00:00Z"));
        assert_eq!(s.closes_at(&"2026-03".parse().unwrap()).unwrap(), ts("2026-03-31T22:00:00Z"));
    }

    #[test]
    fn next_periods_roll_over_years() {
        let next = |s: &str| s.parse::<Period>().unwrap().next().unwrap().to_string();
        assert_eq!(next("2026-12"), "2027-01");
        assert_eq!(next("2026-Q4"), "2027-Q1");
        assert_eq!(next("2026-H2"), "2027-H1");
        assert_eq!(next("2026-H1"), "2026-H2");
        assert_eq!(next("2026"), "2027");
        assert_eq!(Period::year(2200).unwrap().next(), None);
    }

    #[test]
    fn the_first_period_must_fit_the_cadence() {
        let err = ScheduleSpec::new(draft(Cadence::Quarterly, "2026-01")).unwrap_err();
        assert_eq!(err.field(), Some("first_period"));
        assert!(err.to_string().contains("2026-Q1"), "{err}");
        assert!(ScheduleSpec::new(draft(Cadence::HalfYearly, "2026-H2")).is_ok());
        let nameless = ScheduleDraft { programme: " ".into(), ..draft(Cadence::Monthly, "2026-01") };
        assert_eq!(ScheduleSpec::new(nameless).unwrap_err().field(), Some("programme"));
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

    fn cron(expression: &str) -> Cadence {
        format!("cron:{expression}").parse().unwrap_or_else(|e| panic!("{expression}: {e}"))
    }

    fn period(s: &str) -> Period {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// The periods of `cadence` from `first` on, as text.
    fn periods_from(cadence: &Cadence, first: &str, n: usize) -> Vec<String> {
        let mut out = vec![first.to_owned()];
        let mut p = period(first);
        while out.len() < n {
            p = cadence.next_period(&p).unwrap_or_else(|| panic!("no period after {p}"));
            out.push(p.to_string());
        }
        out
    }

    #[test]
    fn a_weekly_cron_runs_monday_to_sunday_across_the_new_year() {
        let weekly = cron("0 0 * * MON");
        assert_eq!(
            periods_from(&weekly, "2026-12-21..2026-12-27", 4),
            ["2026-12-21..2026-12-27", "2026-12-28..2027-01-03", "2027-01-04..2027-01-10", "2027-01-11..2027-01-17"]
        );
        let s = spec(weekly, "2026-12-28..2027-01-03");
        // Closes at the next firing: Monday 4 January 00:00 in Hà Nội.
        assert_eq!(s.closes_at(&period("2026-12-28..2027-01-03")).unwrap(), ts("2027-01-03T17:00:00Z"));
        assert_eq!(s.cadence().period_of("2027-01-01".parse().unwrap()), Some(period("2026-12-28..2027-01-03")));
    }

    #[test]
    fn a_cron_at_midnight_in_hanoi_closes_at_17_utc_the_day_before() {
        let s = spec(cron("0 0 * * MON"), "2026-11-02..2026-11-08");
        assert_eq!(s.closes_at(&period("2026-11-02..2026-11-08")).unwrap(), ts("2026-11-08T17:00:00Z"));
        let s = ScheduleSpec::new(ScheduleDraft { grace: parse_grace("12h").unwrap(), ..s.into_draft() }).unwrap();
        assert_eq!(s.due_at(&period("2026-11-02..2026-11-08")).unwrap(), ts("2026-11-09T05:00:00Z"));
        // Firing at 06:30 closes the same week at 06:30 on Monday, Hà Nội time.
        let s = spec(cron("30 6 * * 1"), "2026-11-02..2026-11-08");
        assert_eq!(s.closes_at(&period("2026-11-02..2026-11-08")).unwrap(), ts("2026-11-08T23:30:00Z"));
    }

    #[test]
    fn a_cron_firing_in_a_daylight_saving_gap_closes_just_after_it() {
        // Paris skips 02:00–03:00 on Sunday 29 March 2026: the 02:00 firing happens at 03:00 CEST.
        let paris = "Europe/Paris".parse().unwrap();
        let s = ScheduleSpec::new(ScheduleDraft {
            time_zone: paris,
            ..draft(cron("0 2 * * SUN"), "2026-03-22..2026-03-28")
        })
        .unwrap();
        assert_eq!(s.closes_at(&period("2026-03-22..2026-03-28")).unwrap(), ts("2026-03-29T01:00:00Z"));
        assert_eq!(s.closes_at(&period("2026-03-29..2026-04-04")).unwrap(), ts("2026-04-05T00:00:00Z"));
    }

    #[test]
    fn a_leap_day_cron_jumps_to_the_next_leap_year_and_skips_2100() {
        let leap = cron("0 0 29 2 *");
        assert_eq!(leap.period_of("2025-06-01".parse().unwrap()), Some(period("2024-02-29..2028-02-28")));
        assert_eq!(
            periods_from(&leap, "2024-02-29..2028-02-28", 2),
            ["2024-02-29..2028-02-28", "2028-02-29..2032-02-28"]
        );
        // 2100 is not a leap year: eight years between two firings.
        assert_eq!(leap.next_period(&period("2092-02-29..2096-02-28")), Some(period("2096-02-29..2104-02-28")));
        let s = spec(leap, "2024-02-29..2028-02-28");
        assert_eq!(s.closes_at(&period("2024-02-29..2028-02-28")).unwrap(), ts("2028-02-28T17:00:00Z"));
        // Past the last supported year there is no next period: the schedule ends.
        assert_eq!(s.cadence().next_period(&period("2196-02-29..2200-02-28")), None);
    }

    #[test]
    fn a_month_end_cron_follows_the_last_day_of_each_month() {
        let month_end = cron("0 0 L * *");
        assert_eq!(
            periods_from(&month_end, "2024-01-31..2024-02-28", 4),
            ["2024-01-31..2024-02-28", "2024-02-29..2024-03-30", "2024-03-31..2024-04-29", "2024-04-30..2024-05-30"]
        );
        assert_eq!(
            month_end.next_period(&period("2025-01-31..2025-02-27")),
            Some(period("2025-02-28..2025-03-30")),
            "28 February in a common year"
        );
    }

    #[test]
    fn a_daily_cron_makes_one_day_periods() {
        assert_eq!(
            periods_from(&cron("0 0 * * *"), "2026-12-31..2026-12-31", 2),
            ["2026-12-31..2026-12-31", "2027-01-01..2027-01-01"]
        );
    }

    #[test]
    fn cron_cadences_read_back_their_stored_form() {
        let c: Cadence = " CRON:0  0 *  * MON ".parse().unwrap();
        assert_eq!(c.as_str(), "cron:0 0 * * MON");
        assert_eq!(c.to_string().parse::<Cadence>().unwrap(), c);
        assert_eq!(c, cron("0 0 * * MON"));
        assert_ne!(c, cron("0 0 * * 1"), "compared as written");
        let Cadence::Cron(inner) = &c else { panic!("{c:?} is not a cron cadence") };
        assert_eq!((inner.expression(), inner.at()), ("0 0 * * MON", jiff::civil::Time::midnight()));
        assert_eq!(cron("@weekly").as_str(), "cron:@weekly");
    }

    #[test]
    fn sub_daily_cron_expressions_are_refused_naming_the_cadence() {
        for sub_daily in ["cron:*/15 0 * * *", "cron:0 * * * *", "cron:0 0,12 * * *", "cron:@hourly", "cron:* * * * *"]
        {
            let err = sub_daily.parse::<Cadence>().unwrap_err();
            assert_eq!(err.field(), Some("cadence"), "{sub_daily}: {err}");
            assert!(err.to_string().contains("times a day"), "{sub_daily}: {err}");
        }
        let err = "cron:0 * * * *".parse::<Cadence>().unwrap_err();
        assert!(err.to_string().contains("fires 24 times a day"), "{err}");
    }

    #[test]
    fn bad_or_never_firing_cron_expressions_are_refused_naming_the_cadence() {
        for bad in [
            "cron:",
            "cron",
            "cron:0 0 * *",
            "cron:0 0 0 * * MON",
            "cron:61 0 * * *",
            "cron:0 25 * * *",
            "cron:0 0 * * FUNDAY",
            "cron:banana",
            "cron:0 0 30 2 *",
            "cron:0 0 31 4,6,9,11 *",
        ] {
            let err = bad.parse::<Cadence>().unwrap_err();
            assert_eq!(err.field(), Some("cadence"), "{bad}: {err}");
        }
        let err = "cron:0 0 30 2 *".parse::<Cadence>().unwrap_err();
        assert!(err.to_string().contains("never fires"), "{err}");
        let err = format!("cron:0 0 * * {}", "1,".repeat(150)).parse::<Cadence>().unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
    }

    #[test]
    fn the_first_period_of_a_cron_cadence_runs_from_one_firing_to_the_day_before_the_next() {
        let weekly = || cron("0 0 * * MON");
        for (misfit, offered) in [
            ("2026-11-03..2026-11-09", "2026-11-09..2026-11-15"),
            ("2026-11-02..2026-11-15", "2026-11-02..2026-11-08"),
            ("2026-11", "2026-11-02..2026-11-08"),
        ] {
            let err = ScheduleSpec::new(draft(weekly(), misfit)).unwrap_err();
            assert_eq!(err.field(), Some("first_period"), "{misfit}: {err}");
            assert!(err.to_string().contains(offered), "{misfit}: {err}");
        }
        assert!(ScheduleSpec::new(draft(weekly(), "2026-11-02..2026-11-08")).is_ok());
        assert!(!Cadence::Monthly.fits(&period("2026-11-02..2026-11-08")));
        assert_eq!(Cadence::Monthly.next_period(&period("2026-12")), Some(period("2027-01")));
    }
}

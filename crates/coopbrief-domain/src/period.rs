//! Reporting periods: a year, a half, a quarter, a month or an explicit date range.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Lang, Result};

/// A closed range of calendar days that a briefing or a figure covers.
///
/// Always valid: `start <= end`, and the named forms (year, quarter …) are canonical, so
/// `"2019-07".parse()` and `Period::month(2019, 7)` compare equal. The representation is
/// private: a period is made only by the checking constructors, `FromStr` or serde.
///
/// ```compile_fail
/// let thirteenth = coopbrief_domain::Period::Month(2019, 13);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Period(Repr);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Repr {
    Year(i16),
    /// Half-year 1 or 2.
    Half(i16, u8),
    /// Quarter 1 to 4.
    Quarter(i16, u8),
    /// Month 1 to 12.
    Month(i16, u8),
    /// Whole years from the first to the last, inclusive (`2015..2018`); never just one.
    Years(i16, i16),
    /// Any range of days (`2019-01-15..2019-03-31`).
    Range(Date, Date),
}

/// Which form a [`Period`] has, without its numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeriodKind {
    Year,
    Half,
    Quarter,
    Month,
    Years,
    Range,
}

const MIN_YEAR: i16 = 1900;
const MAX_YEAR: i16 = 2200;

impl Period {
    pub fn year(year: i16) -> Result<Self> {
        check_year(year)?;
        Ok(Period(Repr::Year(year)))
    }

    /// Half-year 1 or 2.
    pub fn half(year: i16, half: u8) -> Result<Self> {
        check_year(year)?;
        if !(1..=2).contains(&half) {
            return Err(Error::invalid("period", format!("half {half} is not 1 or 2")));
        }
        Ok(Period(Repr::Half(year, half)))
    }

    pub fn quarter(year: i16, quarter: u8) -> Result<Self> {
        check_year(year)?;
        if !(1..=4).contains(&quarter) {
            return Err(Error::invalid("period", format!("quarter {quarter} is not between 1 and 4")));
        }
        Ok(Period(Repr::Quarter(year, quarter)))
    }

    pub fn month(year: i16, month: u8) -> Result<Self> {
        check_year(year)?;
        if !(1..=12).contains(&month) {
            return Err(Error::invalid("period", format!("month {month} is not between 1 and 12")));
        }
        Ok(Period(Repr::Month(year, month)))
    }

    /// Whole years from `first` to `last`, inclusive; one year is [`Period::year`].
    pub fn years(first: i16, last: i16) -> Result<Self> {
        check_year(first)?;
        check_year(last)?;
        match first.cmp(&last) {
            Ordering::Less => Ok(Period(Repr::Years(first, last))),
            Ordering::Equal => Ok(Period(Repr::Year(first))),
            Ordering::Greater => Err(Error::invalid("period", format!("years {first}..{last} run backwards"))),
        }
    }

    pub fn range(start: Date, end: Date) -> Result<Self> {
        check_year(start.year())?;
        check_year(end.year())?;
        if start > end {
            return Err(Error::invalid("period", format!("range starts on {start}, after its end {end}")));
        }
        Ok(Period(Repr::Range(start, end)))
    }

    /// Which form the period has.
    pub fn kind(&self) -> PeriodKind {
        match self.0 {
            Repr::Year(_) => PeriodKind::Year,
            Repr::Half(..) => PeriodKind::Half,
            Repr::Quarter(..) => PeriodKind::Quarter,
            Repr::Month(..) => PeriodKind::Month,
            Repr::Years(..) => PeriodKind::Years,
            Repr::Range(..) => PeriodKind::Range,
        }
    }

    /// First day of the period.
    pub fn start(&self) -> Date {
        match self.0 {
            Repr::Year(y) | Repr::Years(y, _) => date(y, 1, 1),
            Repr::Half(y, h) => date(y, (h as i8 - 1) * 6 + 1, 1),
            Repr::Quarter(y, q) => date(y, (q as i8 - 1) * 3 + 1, 1),
            Repr::Month(y, m) => date(y, m as i8, 1),
            Repr::Range(s, _) => s,
        }
    }

    /// Last day of the period (inclusive).
    pub fn end(&self) -> Date {
        match self.0 {
            Repr::Year(y) | Repr::Years(_, y) => date(y, 12, 31),
            Repr::Half(y, h) => last_day(y, h as i8 * 6),
            Repr::Quarter(y, q) => last_day(y, q as i8 * 3),
            Repr::Month(y, m) => last_day(y, m as i8),
            Repr::Range(_, e) => e,
        }
    }

    /// Whether the two periods share at least one day.
    pub fn overlaps(&self, other: &Period) -> bool {
        self.start() <= other.end() && other.start() <= self.end()
    }

    /// Whether `other` lies wholly inside `self`.
    pub fn contains(&self, other: &Period) -> bool {
        self.start() <= other.start() && other.end() <= self.end()
    }

    /// The period of the same kind just before this one (a range: the same number of days).
    pub fn previous(&self) -> Period {
        Period(match self.0 {
            Repr::Year(y) => Repr::Year(y - 1),
            Repr::Half(y, 1) => Repr::Half(y - 1, 2),
            Repr::Half(y, h) => Repr::Half(y, h - 1),
            Repr::Quarter(y, 1) => Repr::Quarter(y - 1, 4),
            Repr::Quarter(y, q) => Repr::Quarter(y, q - 1),
            Repr::Month(y, 1) => Repr::Month(y - 1, 12),
            Repr::Month(y, m) => Repr::Month(y, m - 1),
            Repr::Years(a, b) => Repr::Years(a - (b - a + 1), a - 1),
            Repr::Range(s, e) => {
                let days = s.until(e).map(|span| span.get_days()).unwrap_or(0) as i64;
                let new_end = s.yesterday().unwrap_or(s);
                let new_start = new_end.checked_sub(jiff::Span::new().days(days)).unwrap_or(new_end);
                Repr::Range(new_start, new_end)
            }
        })
    }

    /// The period of the same kind just after this one (a range: the same number of days;
    /// `None` past the last supported year).
    pub fn next(&self) -> Option<Period> {
        match self.0 {
            Repr::Year(y) => Period::year(y + 1),
            Repr::Half(y, 2) => Period::half(y + 1, 1),
            Repr::Half(y, h) => Period::half(y, h + 1),
            Repr::Quarter(y, 4) => Period::quarter(y + 1, 1),
            Repr::Quarter(y, q) => Period::quarter(y, q + 1),
            Repr::Month(y, 12) => Period::month(y + 1, 1),
            Repr::Month(y, m) => Period::month(y, m + 1),
            Repr::Years(a, b) => Period::years(b + 1, b + (b - a + 1)),
            Repr::Range(s, e) => {
                let days = s.until(e).ok()?.get_days();
                let start = e.tomorrow().ok()?;
                Period::range(start, start.checked_add(jiff::Span::new().days(days)).ok()?)
            }
        }
        .ok()
    }

    /// How a person names the period, e.g. "Năm 2019", "Quý III/2019", "Q3 2019".
    pub fn label(&self, lang: Lang) -> String {
        match (lang, self.0) {
            (Lang::Vi, Repr::Year(y)) => format!("Năm {y}"),
            (Lang::Vi, Repr::Half(y, 1)) => format!("6 tháng đầu năm {y}"),
            (Lang::Vi, Repr::Half(y, _)) => format!("6 tháng cuối năm {y}"),
            (Lang::Vi, Repr::Quarter(y, q)) => format!("Quý {}/{y}", roman(q)),
            (Lang::Vi, Repr::Month(y, m)) => format!("Tháng {m}/{y}"),
            (Lang::Vi, Repr::Years(a, b)) => format!("Giai đoạn {a}–{b}"),
            (Lang::Vi, Repr::Range(s, e)) => {
                format!("Từ {} đến {}", crate::format::date(s, Lang::Vi), crate::format::date(e, Lang::Vi))
            }
            (Lang::En, Repr::Year(y)) => format!("Year {y}"),
            (Lang::En, Repr::Half(y, h)) => format!("H{h} {y}"),
            (Lang::En, Repr::Quarter(y, q)) => format!("Q{q} {y}"),
            (Lang::En, Repr::Month(y, m)) => {
                format!("{} {y}", crate::format::MONTHS_EN[usize::from(m - 1)])
            }
            (Lang::En, Repr::Years(a, b)) => format!("{a}–{b}"),
            (Lang::En, Repr::Range(s, e)) => {
                format!("{} to {}", crate::format::date(s, Lang::En), crate::format::date(e, Lang::En))
            }
        }
    }
}

fn check_year(year: i16) -> Result<()> {
    if (MIN_YEAR..=MAX_YEAR).contains(&year) {
        Ok(())
    } else {
        Err(Error::invalid("period", format!("year {year} is not between {MIN_YEAR} and {MAX_YEAR}")))
    }
}

fn date(y: i16, m: i8, d: i8) -> Date {
    // Callers pass checked years, months 1–12 and day 1, which always exist.
    Date::new(y, m, d).unwrap_or(Date::MIN)
}

fn last_day(y: i16, m: i8) -> Date {
    date(y, m, 1).last_of_month()
}

fn roman(q: u8) -> &'static str {
    ["I", "II", "III", "IV"][usize::from(q.clamp(1, 4) - 1)]
}

impl fmt::Display for Period {
    /// The canonical text form, which `FromStr` reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Year(y) => write!(f, "{y}"),
            Repr::Half(y, h) => write!(f, "{y}-H{h}"),
            Repr::Quarter(y, q) => write!(f, "{y}-Q{q}"),
            Repr::Month(y, m) => write!(f, "{y}-{m:02}"),
            Repr::Years(a, b) => write!(f, "{a}..{b}"),
            Repr::Range(s, e) => write!(f, "{s}..{e}"),
        }
    }
}

impl FromStr for Period {
    type Err = Error;

    /// Reads `2019`, `2019-H1`, `2019-Q3`, `2019-07`, `2015..2018` or `2019-01-15..2019-03-31`.
    fn from_str(text: &str) -> Result<Self> {
        let s = text.trim();
        let bad = || {
            Error::invalid(
                "period",
                format!(
                    "{text:?} is not a period; write a year (2019), a half (2019-H1), a quarter (2019-Q3), \
                     a month (2019-07), years (2015..2018) or a date range (2019-01-15..2019-03-31)"
                ),
            )
        };
        if s.is_empty() {
            return Err(Error::invalid("period", "is empty; write e.g. 2019, 2019-Q3 or 2019-07"));
        }
        if let Some((a, b)) = s.split_once("..") {
            let (a, b) = (a.trim(), b.trim());
            if is_year(a) && is_year(b) {
                return Period::years(a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            }
            let start: Date = a.parse().map_err(|_| bad())?;
            let end: Date = b.parse().map_err(|_| bad())?;
            return Period::range(start, end);
        }
        if is_year(s) {
            return Period::year(s.parse().map_err(|_| bad())?);
        }
        let (y, rest) = s.split_once('-').ok_or_else(bad)?;
        if !is_year(y) {
            return Err(bad());
        }
        let y: i16 = y.parse().map_err(|_| bad())?;
        let number = |digits: &str| -> Result<u8> {
            if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            digits.parse().map_err(|_| bad())
        };
        if let Some(q) = rest.strip_prefix(['Q', 'q']) {
            return Period::quarter(y, number(q)?);
        }
        if let Some(h) = rest.strip_prefix(['H', 'h']) {
            return Period::half(y, number(h)?);
        }
        if rest.len() == 2 {
            return Period::month(y, number(rest)?);
        }
        Err(bad())
    }
}

fn is_year(s: &str) -> bool {
    s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        // Accept a bare YAML integer (`period: 2019`) as well as a string.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Str(String),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Int(i) => i.to_string(),
            Raw::Str(s) => s,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, canonical: &str, start: &str, end: &str) {
        let p: Period = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(p.to_string(), canonical, "canonical form of {input}");
        assert_eq!(p.start().to_string(), start, "start of {input}");
        assert_eq!(p.end().to_string(), end, "end of {input}");
        assert_eq!(p.to_string().parse::<Period>().ok(), Some(p), "round trip of {input}");
    }

    #[test]
    fn parses_every_form() {
        check("2019", "2019", "2019-01-01", "2019-12-31");
        check(" 2019-Q3 ", "2019-Q3", "2019-07-01", "2019-09-30");
        check("2019-q1", "2019-Q1", "2019-01-01", "2019-03-31");
        check("2020-02", "2020-02", "2020-02-01", "2020-02-29");
        check("2019-02", "2019-02", "2019-02-01", "2019-02-28");
        check("2019-H2", "2019-H2", "2019-07-01", "2019-12-31");
        check("2015..2018", "2015..2018", "2015-01-01", "2018-12-31");
        check("2019..2019", "2019", "2019-01-01", "2019-12-31");
        check("2019-01-15..2019-03-31", "2019-01-15..2019-03-31", "2019-01-15", "2019-03-31");
    }

    #[test]
    fn rejects_malformed_periods_naming_the_field() {
        for bad in [
            "",
            "19",
            "2019-13",
            "2019-00",
            "2019-Q5",
            "2019-Q0",
            "2019-H3",
            "2019-7x",
            "abcd",
            "2019-",
            "2019-Q",
            "2019-03-31..2019-01-01",
            "2018..2015",
            "2019-02-30..2019-03-01",
            "0000",
            "9999",
            "2019-123",
        ] {
            let err = bad.parse::<Period>().expect_err(bad);
            assert_eq!(err.field(), Some("period"), "{bad}: {err}");
        }
    }

    #[test]
    fn previous_periods() {
        let prev = |s: &str| s.parse::<Period>().map(|p| p.previous().to_string()).unwrap_or_default();
        assert_eq!(prev("2019"), "2018");
        assert_eq!(prev("2019-Q1"), "2018-Q4");
        assert_eq!(prev("2019-Q3"), "2019-Q2");
        assert_eq!(prev("2019-01"), "2018-12");
        assert_eq!(prev("2019-H1"), "2018-H2");
        assert_eq!(prev("2019..2020"), "2017..2018");
        assert_eq!(prev("2019-03-01..2019-03-10"), "2019-02-19..2019-02-28");
    }

    #[test]
    fn labels_in_both_languages() {
        let label = |s: &str, l| s.parse::<Period>().map(|p| p.label(l)).unwrap_or_default();
        assert_eq!(label("2019", Lang::Vi), "Năm 2019");
        assert_eq!(label("2019-Q3", Lang::Vi), "Quý III/2019");
        assert_eq!(label("2019-07", Lang::Vi), "Tháng 7/2019");
        assert_eq!(label("2015..2018", Lang::Vi), "Giai đoạn 2015–2018");
        assert_eq!(label("2019-01-15..2019-03-31", Lang::Vi), "Từ 15/01/2019 đến 31/03/2019");
        assert_eq!(label("2019-Q3", Lang::En), "Q3 2019");
        assert_eq!(label("2019-07", Lang::En), "July 2019");
    }

    #[test]
    fn overlap_and_containment() {
        let p = |s: &str| s.parse::<Period>().unwrap();
        assert!(p("2015..2019").overlaps(&p("2019")));
        assert!(!p("2015..2018").overlaps(&p("2019")));
        assert!(p("2019").contains(&p("2019-Q3")));
        assert!(!p("2019-Q3").contains(&p("2019")));
    }

    #[test]
    fn invalid_months_quarters_and_halves_cannot_be_built() {
        for bad in [
            Period::month(2019, 0),
            Period::month(2019, 13),
            Period::quarter(2019, 0),
            Period::quarter(2019, 5),
            Period::half(2019, 0),
            Period::half(2019, 3),
            Period::year(1899),
            Period::years(2018, 2015),
        ] {
            assert_eq!(bad.expect_err("invalid period").field(), Some("period"));
        }
        assert_eq!(Period::years(2019, 2019).unwrap(), Period::year(2019).unwrap(), "one year is a year");
        assert_eq!(Period::half(2019, 2).unwrap().kind(), PeriodKind::Half);
        assert_eq!(Period::month(2200, 12).unwrap().next(), None, "past the last supported year");
    }
}

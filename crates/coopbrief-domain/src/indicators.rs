//! An indicator's figures for a briefing's period: its value, the previous period's, the change,
//! the running total and how far the target is reached.
//!
//! Expects the values as [`BriefingData::select`](crate::BriefingData::select) leaves them:
//! limited to the briefing's end and sorted by end date.

use rust_decimal::Decimal;

use crate::Period;
use crate::dataset::{Aggregation, Indicator, IndicatorValue};

/// The numbers a key figure shows; formatting is the renderer's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    pub current: Option<Decimal>,
    /// The period of `current`: the briefing's, or a longer span that ends with it (2015..2019 in
    /// a 2019 briefing), which stands in for it.
    pub current_period: Period,
    /// The value in the period before `current_period`.
    pub previous: Option<Decimal>,
    pub change: Option<Change>,
    /// The running total since the base date.
    pub cumulative: Option<Decimal>,
    pub attainment: Option<Attainment>,
}

/// How a value moved from the previous period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Current minus previous.
    pub diff: Decimal,
    /// `|diff|` in percent of `|previous|`; `None` when the previous value is zero.
    pub percent: Option<Decimal>,
    /// Whether the move is the way `higher_is_better` wants; `None` when there was none.
    pub good: Option<bool>,
}

/// How far the target is reached, by the running total or else the current value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attainment {
    /// Percent of the target, not clamped, when higher is better.
    Percent(Decimal),
    /// Whether the value stays at or under the target, when lower is better.
    Met(bool),
}

impl Figures {
    pub fn new(i: &Indicator, period: Period) -> Figures {
        let (current, current_period) = match value_for(i, period) {
            Some(v) => (Some(v), period),
            None => match i.values.last() {
                Some(v) if v.period.end() == period.end() => (Some(v.value), v.period),
                _ => (None, period),
            },
        };
        let previous = value_for(i, current_period.previous());
        let change = previous.zip(current).map(|(p, c)| Change::between(p, c, i.higher_is_better));
        let cumulative = match i.aggregation {
            Aggregation::Cumulative => i.values.last().map(|v| v.value),
            Aggregation::Sum => i.base_date.and_then(|base| {
                let since = non_overlapping(i.values.iter().filter(|v| v.period.start() >= base));
                if since.is_empty() { None } else { sum(&since) }
            }),
            Aggregation::Latest => None,
        };
        let attainment = i.target.zip(cumulative.or(current)).and_then(|(t, basis)| {
            if !i.higher_is_better {
                return Some(Attainment::Met(basis <= t));
            }
            let pct = basis.checked_mul(Decimal::ONE_HUNDRED).and_then(|x| x.checked_div(t));
            pct.filter(|_| t > Decimal::ZERO).map(Attainment::Percent)
        });
        Figures { current, current_period, previous, change, cumulative, attainment }
    }
}

/// The values that do not overlap an earlier one: a yearly total and its quarters are not added twice.
fn non_overlapping<'a>(values: impl Iterator<Item = &'a IndicatorValue>) -> Vec<&'a IndicatorValue> {
    let mut taken: Vec<&IndicatorValue> = Vec::new();
    for v in values {
        if !taken.iter().any(|t| t.period.overlaps(&v.period)) {
            taken.push(v);
        }
    }
    taken
}

fn sum(values: &[&IndicatorValue]) -> Option<Decimal> {
    values.iter().try_fold(Decimal::ZERO, |acc, v| acc.checked_add(v.value))
}

/// The value of `i` for `period`: one recorded for exactly that period, else what the values inside
/// it add up to (`Sum`) or the last of them (`Latest`, `Cumulative`).
fn value_for(i: &Indicator, period: Period) -> Option<Decimal> {
    if let Some(v) = i.values.iter().rev().find(|v| v.period == period) {
        return Some(v.value);
    }
    let inside: Vec<&IndicatorValue> = i.values.iter().filter(|v| period.contains(&v.period)).collect();
    match i.aggregation {
        _ if inside.is_empty() => None,
        Aggregation::Sum => sum(&non_overlapping(inside.into_iter())),
        Aggregation::Latest | Aggregation::Cumulative => inside.last().map(|v| v.value),
    }
}

impl Change {
    pub fn between(previous: Decimal, current: Decimal, higher_is_better: bool) -> Change {
        let diff = current.checked_sub(previous).unwrap_or(Decimal::ZERO);
        let percent = (!previous.is_zero())
            .then(|| diff.abs().checked_mul(Decimal::ONE_HUNDRED).and_then(|x| x.checked_div(previous.abs())))
            .flatten();
        let good = (!diff.is_zero()).then(|| (diff > Decimal::ZERO) == higher_is_better);
        Change { diff, percent, good }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn indicator(aggregation: &str, values: &[(&str, &str)]) -> Indicator {
        let values: Vec<serde_json::Value> =
            values.iter().map(|(p, v)| serde_json::json!({ "period": p, "value": v })).collect();
        serde_json::from_value(serde_json::json!({
            "code": "x", "name": "X", "unit": "u", "aggregation": aggregation, "values": values,
        }))
        .unwrap()
    }

    #[test]
    fn the_change_is_judged_by_whether_higher_is_better() {
        let check = |c: Change| (c.diff.to_string(), c.percent.map(|p| p.normalize().to_string()), c.good);
        assert_eq!(check(Change::between(dec("100"), dec("125"), true)), ("25".into(), Some("25".into()), Some(true)));
        assert_eq!(
            check(Change::between(dec("100"), dec("125"), false)),
            ("25".into(), Some("25".into()), Some(false))
        );
        assert_eq!(check(Change::between(dec("120"), dec("90"), false)), ("-30".into(), Some("25".into()), Some(true)));
        assert_eq!(check(Change::between(dec("0"), dec("3.5"), true)), ("3.5".into(), None, Some(true)));
        assert_eq!(Change::between(dec("7"), dec("7"), true).good, None);
    }

    #[test]
    fn a_period_sums_its_parts_without_counting_twice() {
        let year: Period = "2019".parse().unwrap();
        // A yearly total recorded beside its quarters is not added to them.
        let i = indicator("sum", &[("2019-Q1", "1"), ("2019-Q2", "2"), ("2019", "10"), ("2019-Q3", "3")]);
        assert_eq!(value_for(&i, year), Some(dec("10")));
        let i = indicator("sum", &[("2019-Q1", "1"), ("2019-Q2", "2"), ("2019-Q3", "3")]);
        assert_eq!(value_for(&i, year), Some(dec("6")));
        let i = indicator("latest", &[("2019-Q1", "1"), ("2019-Q2", "2")]);
        assert_eq!(value_for(&i, year), Some(dec("2")));
        assert_eq!(value_for(&i, "2018".parse().unwrap()), None);
    }
}

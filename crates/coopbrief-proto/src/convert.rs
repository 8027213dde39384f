//! Conversions between wire types (`v1::*`) and domain types.
//!
//! Domain → wire never fails. Wire → domain parses every field (periods, decimals, dates,
//! enums) and rejects what is invalid with a [`coopbrief_domain::Error`] naming the field path.

use std::str::FromStr;

use coopbrief_domain::dataset as d;
use coopbrief_domain::{BriefingData, Error, Period, Result, Text};
use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::v1;

// ---- small pieces -------------------------------------------------------------------------

pub fn text(t: &Text) -> v1::LocalizedText {
    v1::LocalizedText { vi: t.vi.clone(), en: t.en.clone() }
}

fn opt_text(t: &Option<Text>) -> Option<v1::LocalizedText> {
    t.as_ref().map(text)
}

fn to_text(t: Option<v1::LocalizedText>, field: &str) -> Result<Text> {
    let t = t.ok_or_else(|| Error::invalid(field, "is required"))?;
    if t.vi.trim().is_empty() {
        return Err(Error::invalid(format!("{field}.vi"), "must not be empty"));
    }
    Ok(Text { vi: t.vi, en: t.en.filter(|e| !e.is_empty()) })
}

fn to_opt_text(t: Option<v1::LocalizedText>, field: &str) -> Result<Option<Text>> {
    t.map(|t| to_text(Some(t), field)).transpose()
}

pub fn period(s: &str, field: &str) -> Result<Period> {
    Period::from_str(s).map_err(|e| rename(e, field))
}

fn opt_period(s: Option<String>, field: &str) -> Result<Option<Period>> {
    s.filter(|s| !s.is_empty()).map(|s| period(&s, field)).transpose()
}

fn decimal(s: &str, field: &str) -> Result<Decimal> {
    Decimal::from_str(s.trim()).map_err(|_| Error::invalid(field, format!("{s:?} is not a decimal number")))
}

fn opt_decimal(s: Option<String>, field: &str) -> Result<Option<Decimal>> {
    s.filter(|s| !s.is_empty()).map(|s| decimal(&s, field)).transpose()
}

fn opt_date(s: Option<String>, field: &str) -> Result<Option<Date>> {
    s.filter(|s| !s.is_empty())
        .map(|s| Date::from_str(&s).map_err(|_| Error::invalid(field, format!("{s:?} is not a date (YYYY-MM-DD)"))))
        .transpose()
}

fn rename(e: Error, field: &str) -> Error {
    match e {
        Error::Invalid { message, .. } => Error::invalid(field, message),
        other => other,
    }
}

/// Maps each domain enum to its wire enum and back; `UNSPECIFIED` or an unknown number is an error.
macro_rules! enum_map {
    ($to_wire:ident, $from_wire:ident, $dom:ty, $wire:ty, { $($d:ident => $w:ident),* $(,)? }) => {
        pub fn $to_wire(v: $dom) -> i32 {
            match v { $(<$dom>::$d => <$wire>::$w as i32),* }
        }
        pub fn $from_wire(v: i32, field: &str) -> Result<$dom> {
            match <$wire>::try_from(v) {
                $(Ok(<$wire>::$w) => Ok(<$dom>::$d),)*
                _ => Err(Error::invalid(field, format!("{v} is not a valid value"))),
            }
        }
    };
}

enum_map!(partner_kind, to_partner_kind, d::PartnerKind, v1::PartnerKind, {
    City => City, Province => Province, CentralAgency => CentralAgency, Other => Other,
});
enum_map!(programme_status, to_programme_status, d::ProgrammeStatus, v1::ProgrammeStatus, {
    Planned => Planned, Active => Active, Completed => Completed, Suspended => Suspended,
});
enum_map!(aggregation, to_aggregation, d::Aggregation, v1::Aggregation, {
    Sum => Sum, Latest => Latest, Cumulative => Cumulative,
});
enum_map!(activity_kind, to_activity_kind, d::ActivityKind, v1::ActivityKind, {
    Fair => Fair, TradeDelegation => TradeDelegation, Conference => Conference, Forum => Forum,
    Workshop => Workshop, ExchangeVisit => ExchangeVisit, Training => Training, Other => Other,
});
enum_map!(project_status, to_project_status, d::ProjectStatus, v1::ProjectStatus, {
    Planned => Planned, InProgress => InProgress, Completed => Completed, Suspended => Suspended,
});
enum_map!(assessment_kind, to_assessment_kind, d::AssessmentKind, v1::AssessmentKind, {
    Achievement => Achievement, Limitation => Limitation, Lesson => Lesson,
});

// ---- domain → wire ------------------------------------------------------------------------

pub fn partner(p: &d::Partner) -> v1::Partner {
    v1::Partner { code: p.code.clone(), name: Some(text(&p.name)), kind: partner_kind(p.kind) }
}

pub fn sector(s: &d::Sector) -> v1::Sector {
    v1::Sector { code: s.code.clone(), name: Some(text(&s.name)) }
}

pub fn programme(p: &d::Programme) -> v1::Programme {
    v1::Programme {
        code: p.code.clone(),
        title: Some(text(&p.title)),
        short_name: Some(text(&p.short_name)),
        status: programme_status(p.status),
        partners: p
            .partners
            .iter()
            .map(|x| v1::ProgrammePartner { partner: x.partner.clone(), role: Some(text(&x.role)) })
            .collect(),
        phases: p
            .phases
            .iter()
            .map(|x| v1::Phase {
                period: x.period.to_string(),
                title: Some(text(&x.title)),
                agreed_by: opt_text(&x.agreed_by),
                agreed_on: x.agreed_on.map(|d| d.to_string()),
            })
            .collect(),
        issuer: opt_text(&p.issuer),
        place: opt_text(&p.place),
        notes: opt_text(&p.notes),
        source: p.source.clone(),
        indicators: p.indicators.iter().map(indicator).collect(),
        activities: p.activities.iter().map(activity).collect(),
        projects: p.projects.iter().map(project).collect(),
        contributions: p.contributions.iter().map(contribution).collect(),
        assessments: p
            .assessments
            .iter()
            .map(|a| v1::Assessment {
                period: a.period.to_string(),
                kind: assessment_kind(a.kind),
                sector: a.sector.clone(),
                text: Some(text(&a.text)),
            })
            .collect(),
        directions: p
            .directions
            .iter()
            .map(|x| v1::Direction {
                period: x.period.to_string(),
                sector: x.sector.clone(),
                text: Some(text(&x.text)),
            })
            .collect(),
    }
}

fn indicator(i: &d::Indicator) -> v1::Indicator {
    v1::Indicator {
        code: i.code.clone(),
        name: Some(text(&i.name)),
        unit: Some(text(&i.unit)),
        sector: i.sector.clone(),
        aggregation: aggregation(i.aggregation),
        base_date: i.base_date.map(|d| d.to_string()),
        higher_is_better: i.higher_is_better,
        headline: i.headline,
        baseline: i.baseline.map(|x| x.to_string()),
        target: i.target.map(|x| x.to_string()),
        values: i
            .values
            .iter()
            .map(|v| v1::IndicatorValue {
                period: v.period.to_string(),
                value: v.value.to_string(),
                source: v.source.clone(),
                note: opt_text(&v.note),
            })
            .collect(),
    }
}

fn activity(a: &d::Activity) -> v1::Activity {
    v1::Activity {
        code: a.code.clone(),
        sector: a.sector.clone(),
        period: a.period.to_string(),
        kind: activity_kind(a.kind),
        title: Some(text(&a.title)),
        description: opt_text(&a.description),
        location: opt_text(&a.location),
        organiser: a.organiser.clone(),
        occurrences: a.occurrences,
        participants: a.participants,
        enterprises: a.enterprises,
        products: a.products,
    }
}

fn project(p: &d::Project) -> v1::Project {
    v1::Project {
        code: p.code.clone(),
        sector: p.sector.clone(),
        name: Some(text(&p.name)),
        partners: p.partners.clone(),
        location: opt_text(&p.location),
        status: project_status(p.status),
        progress: p.progress.map(u32::from),
        budget_vnd: p.budget_vnd,
        period: p.period.map(|x| x.to_string()),
        description: opt_text(&p.description),
    }
}

fn contribution(c: &d::Contribution) -> v1::Contribution {
    v1::Contribution {
        code: c.code.clone(),
        from: c.from.clone(),
        to: c.to.clone(),
        amount_vnd: c.amount_vnd,
        sector: c.sector.clone(),
        purpose: Some(text(&c.purpose)),
        period: c.period.to_string(),
        date: c.date.map(|d| d.to_string()),
    }
}

pub fn briefing(b: &BriefingData) -> v1::BriefingData {
    v1::BriefingData {
        period: b.period.to_string(),
        programme: Some(programme(&b.programme)),
        partners: b.partners.iter().map(partner).collect(),
        sectors: b.sectors.iter().map(sector).collect(),
    }
}

// ---- wire → domain ------------------------------------------------------------------------

pub fn to_partner(p: v1::Partner, at: &str) -> Result<d::Partner> {
    d::check_code(&p.code, &format!("{at}.code"))?;
    Ok(d::Partner {
        name: to_text(p.name, &format!("{at}.name"))?,
        kind: to_partner_kind(p.kind, &format!("{at}.kind"))?,
        code: p.code,
    })
}

pub fn to_sector(s: v1::Sector, at: &str) -> Result<d::Sector> {
    d::check_code(&s.code, &format!("{at}.code"))?;
    Ok(d::Sector { name: to_text(s.name, &format!("{at}.name"))?, code: s.code })
}

pub fn to_programme(p: v1::Programme, at: &str) -> Result<d::Programme> {
    let f = |name: &str| format!("{at}.{name}");
    let fi = |name: &str, i: usize| format!("{at}.{name}[{i}]");
    Ok(d::Programme {
        title: to_text(p.title, &f("title"))?,
        short_name: to_text(p.short_name, &f("short_name"))?,
        status: to_programme_status(p.status, &f("status"))?,
        partners: p
            .partners
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                Ok(d::ProgrammePartner {
                    role: to_text(x.role, &format!("{}.role", fi("partners", i)))?,
                    partner: x.partner,
                })
            })
            .collect::<Result<_>>()?,
        phases: p
            .phases
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                let at = fi("phases", i);
                Ok(d::Phase {
                    period: period(&x.period, &format!("{at}.period"))?,
                    title: to_text(x.title, &format!("{at}.title"))?,
                    agreed_by: to_opt_text(x.agreed_by, &format!("{at}.agreed_by"))?,
                    agreed_on: opt_date(x.agreed_on, &format!("{at}.agreed_on"))?,
                })
            })
            .collect::<Result<_>>()?,
        issuer: to_opt_text(p.issuer, &f("issuer"))?,
        place: to_opt_text(p.place, &f("place"))?,
        notes: to_opt_text(p.notes, &f("notes"))?,
        source: p.source,
        indicators: p
            .indicators
            .into_iter()
            .enumerate()
            .map(|(i, x)| to_indicator(x, &fi("indicators", i)))
            .collect::<Result<_>>()?,
        activities: p
            .activities
            .into_iter()
            .enumerate()
            .map(|(i, x)| to_activity(x, &fi("activities", i)))
            .collect::<Result<_>>()?,
        projects: p
            .projects
            .into_iter()
            .enumerate()
            .map(|(i, x)| to_project(x, &fi("projects", i)))
            .collect::<Result<_>>()?,
        contributions: p
            .contributions
            .into_iter()
            .enumerate()
            .map(|(i, x)| to_contribution(x, &fi("contributions", i)))
            .collect::<Result<_>>()?,
        assessments: p
            .assessments
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                let at = fi("assessments", i);
                Ok(d::Assessment {
                    period: period(&x.period, &format!("{at}.period"))?,
                    kind: to_assessment_kind(x.kind, &format!("{at}.kind"))?,
                    sector: x.sector,
                    text: to_text(x.text, &format!("{at}.text"))?,
                })
            })
            .collect::<Result<_>>()?,
        directions: p
            .directions
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                let at = fi("directions", i);
                Ok(d::Direction {
                    period: period(&x.period, &format!("{at}.period"))?,
                    sector: x.sector,
                    text: to_text(x.text, &format!("{at}.text"))?,
                })
            })
            .collect::<Result<_>>()?,
        code: p.code,
    })
}

fn to_indicator(i: v1::Indicator, at: &str) -> Result<d::Indicator> {
    let f = |name: &str| format!("{at}.{name}");
    Ok(d::Indicator {
        name: to_text(i.name, &f("name"))?,
        unit: to_text(i.unit, &f("unit"))?,
        sector: i.sector,
        aggregation: to_aggregation(i.aggregation, &f("aggregation"))?,
        base_date: opt_date(i.base_date, &f("base_date"))?,
        higher_is_better: i.higher_is_better,
        headline: i.headline,
        baseline: opt_decimal(i.baseline, &f("baseline"))?,
        target: opt_decimal(i.target, &f("target"))?,
        values: i
            .values
            .into_iter()
            .enumerate()
            .map(|(k, v)| {
                let at = format!("{at}.values[{k}]");
                Ok(d::IndicatorValue {
                    period: period(&v.period, &format!("{at}.period"))?,
                    value: decimal(&v.value, &format!("{at}.value"))?,
                    source: v.source,
                    note: to_opt_text(v.note, &format!("{at}.note"))?,
                })
            })
            .collect::<Result<_>>()?,
        code: i.code,
    })
}

fn to_activity(a: v1::Activity, at: &str) -> Result<d::Activity> {
    let f = |name: &str| format!("{at}.{name}");
    Ok(d::Activity {
        sector: a.sector,
        period: period(&a.period, &f("period"))?,
        kind: to_activity_kind(a.kind, &f("kind"))?,
        title: to_text(a.title, &f("title"))?,
        description: to_opt_text(a.description, &f("description"))?,
        location: to_opt_text(a.location, &f("location"))?,
        organiser: a.organiser,
        occurrences: a.occurrences,
        participants: a.participants,
        enterprises: a.enterprises,
        products: a.products,
        code: a.code,
    })
}

fn to_project(p: v1::Project, at: &str) -> Result<d::Project> {
    let f = |name: &str| format!("{at}.{name}");
    let progress = match p.progress {
        Some(x) if x > 100 => return Err(Error::invalid(f("progress"), format!("{x} is not a percentage 0–100"))),
        Some(x) => Some(x as u8),
        None => None,
    };
    Ok(d::Project {
        sector: p.sector,
        name: to_text(p.name, &f("name"))?,
        partners: p.partners,
        location: to_opt_text(p.location, &f("location"))?,
        status: to_project_status(p.status, &f("status"))?,
        progress,
        budget_vnd: p.budget_vnd,
        period: opt_period(p.period, &f("period"))?,
        description: to_opt_text(p.description, &f("description"))?,
        code: p.code,
    })
}

fn to_contribution(c: v1::Contribution, at: &str) -> Result<d::Contribution> {
    let f = |name: &str| format!("{at}.{name}");
    Ok(d::Contribution {
        from: c.from,
        to: c.to,
        amount_vnd: c.amount_vnd,
        sector: c.sector,
        purpose: to_text(c.purpose, &f("purpose"))?,
        period: period(&c.period, &f("period"))?,
        date: opt_date(c.date, &f("date"))?,
        code: c.code,
    })
}

/// Parses briefing data received from the data service.
pub fn to_briefing(b: v1::BriefingData) -> Result<BriefingData> {
    let programme = b.programme.ok_or_else(|| Error::invalid("programme", "is required"))?;
    Ok(BriefingData {
        period: period(&b.period, "period")?,
        programme: to_programme(programme, "programme")?,
        partners: b
            .partners
            .into_iter()
            .enumerate()
            .map(|(i, p)| to_partner(p, &format!("partners[{i}]")))
            .collect::<Result<_>>()?,
        sectors: b
            .sectors
            .into_iter()
            .enumerate()
            .map(|(i, s)| to_sector(s, &format!("sectors[{i}]")))
            .collect::<Result<_>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn briefing_round_trips_through_the_wire() {
        let ds = d::Dataset::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")).unwrap();
        let b = BriefingData::select(&ds.programmes[0], "2019".parse().unwrap(), &ds.partners, &ds.sectors);
        assert_eq!(to_briefing(briefing(&b)).unwrap(), b);
    }

    #[test]
    fn invalid_wire_values_name_the_field() {
        let ds = d::Dataset::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")).unwrap();
        let b = BriefingData::select(&ds.programmes[0], "2019".parse().unwrap(), &ds.partners, &ds.sectors);
        let mut wire = briefing(&b);
        if let Some(p) = wire.programme.as_mut() {
            p.indicators[1].values[0].value = "ten".into();
        }
        let err = to_briefing(wire).unwrap_err();
        assert_eq!(err.field(), Some("programme.indicators[1].values[0].value"), "{err}");

        let mut wire = briefing(&b);
        if let Some(p) = wire.programme.as_mut() {
            p.activities[0].kind = 0;
        }
        let err = to_briefing(wire).unwrap_err();
        assert_eq!(err.field(), Some("programme.activities[0].kind"), "{err}");

        let mut wire = briefing(&b);
        wire.period = "2019-13".into();
        assert_eq!(to_briefing(wire).unwrap_err().field(), Some("period"));
    }
}

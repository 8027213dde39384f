//! Conversions between wire types (`v1::*`) and domain types.
//!
//! Domain → wire never fails. Wire → domain parses every field (periods, decimals, dates,
//! enums) and rejects what is invalid with a [`coopbrief_domain::Error`] naming the field path.

use std::str::FromStr;

use coopbrief_domain::dataset as d;
use coopbrief_domain::{
    Authority, BriefingData, Code, Error, Letterhead, Office, Period, Result, Signer, Symbol, Text,
};
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
    v1::Partner { code: p.code.to_string(), name: Some(text(&p.name)), kind: partner_kind(p.kind), etag: String::new() }
}

pub fn sector(s: &d::Sector) -> v1::Sector {
    v1::Sector {
        code: s.code.to_string(),
        name: Some(text(&s.name)),
        programme: opt_string(&s.programme),
        etag: String::new(),
    }
}

// ---- letterhead ---------------------------------------------------------------------------

pub fn letterhead(l: &Letterhead) -> v1::Letterhead {
    v1::Letterhead {
        office: l.office.as_ref().map(|o| v1::Office {
            code: o.code.to_string(),
            name: Some(text(&o.name)),
            parent: opt_text(&o.parent),
            symbol: o.symbol.to_string(),
            place: Some(text(&o.place)),
        }),
        signer: l.signer.as_ref().map(|s| v1::Signer {
            authority: s.authority.code().to_owned(),
            on_behalf_of: opt_text(&s.on_behalf_of),
            title: Some(text(&s.title)),
            name: s.name.clone(),
        }),
        recipients: l.recipients.iter().map(text).collect(),
    }
}

/// A letterhead off the wire; absent is empty. Checked whole (`Letterhead::check`).
pub fn to_letterhead(l: Option<v1::Letterhead>, at: &str) -> Result<Letterhead> {
    let Some(l) = l else { return Ok(Letterhead::default()) };
    let f = |name: &str| join(at, name);
    let office = l
        .office
        .map(|o| {
            let at = f("office");
            Ok::<_, Error>(Office {
                code: Code::parse(o.code, &join(&at, "code"))?,
                name: to_text(o.name, &join(&at, "name"))?,
                parent: to_opt_text(o.parent, &join(&at, "parent"))?,
                symbol: Symbol::parse(o.symbol, &join(&at, "symbol"))?,
                place: to_text(o.place, &join(&at, "place"))?,
            })
        })
        .transpose()?;
    let signer = l
        .signer
        .map(|s| {
            let at = f("signer");
            Ok::<_, Error>(Signer {
                authority: Authority::parse(&s.authority, &join(&at, "authority"))?,
                on_behalf_of: to_opt_text(s.on_behalf_of, &join(&at, "on_behalf_of"))?,
                title: to_text(s.title, &join(&at, "title"))?,
                name: s.name,
            })
        })
        .transpose()?;
    let recipients = l
        .recipients
        .into_iter()
        .enumerate()
        .map(|(i, x)| to_text(Some(x), &format!("{}[{i}]", f("recipients"))))
        .collect::<Result<_>>()?;
    let letterhead = Letterhead { office, signer, recipients };
    letterhead.check(at)?;
    Ok(letterhead)
}

pub fn programme(p: &d::Programme) -> v1::Programme {
    v1::Programme {
        code: p.code.to_string(),
        title: Some(text(&p.title)),
        short_name: Some(text(&p.short_name)),
        status: programme_status(p.status),
        partners: p
            .partners
            .iter()
            .map(|x| v1::ProgrammePartner { partner: x.partner.to_string(), role: Some(text(&x.role)) })
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
        letterhead: Some(letterhead(&p.letterhead)),
        notes: opt_text(&p.notes),
        agreed_on: p.agreed_on.map(|d| d.to_string()),
        signatories: p.signatories.iter().map(text).collect(),
        valid: p.valid.map(|x| x.to_string()),
        etag: String::new(),
        source: p.source.clone(),
        indicators: p.indicators.iter().map(indicator).collect(),
        activities: p.activities.iter().map(activity).collect(),
        projects: p.projects.iter().map(project).collect(),
        contributions: p.contributions.iter().map(contribution).collect(),
        assessments: p.assessments.iter().enumerate().map(|(i, a)| assessment(a, &a.key(i))).collect(),
        directions: p.directions.iter().enumerate().map(|(i, x)| direction(x, &x.key(i))).collect(),
    }
}

/// An assessment on the wire, under its key (its code, or its place in the programme).
pub fn assessment(a: &d::Assessment, key: &str) -> v1::Assessment {
    v1::Assessment {
        code: key.to_owned(),
        period: a.period.to_string(),
        kind: assessment_kind(a.kind),
        sector: opt_string(&a.sector),
        text: Some(text(&a.text)),
        programme: String::new(),
        etag: String::new(),
    }
}

pub fn direction(x: &d::Direction, key: &str) -> v1::Direction {
    v1::Direction {
        code: key.to_owned(),
        period: x.period.to_string(),
        sector: opt_string(&x.sector),
        text: Some(text(&x.text)),
        programme: String::new(),
        etag: String::new(),
    }
}

pub fn indicator(i: &d::Indicator) -> v1::Indicator {
    v1::Indicator {
        code: i.code.to_string(),
        name: Some(text(&i.name)),
        unit: Some(text(&i.unit)),
        sector: opt_string(&i.sector),
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
        programme: String::new(),
        etag: String::new(),
    }
}

pub fn activity(a: &d::Activity) -> v1::Activity {
    v1::Activity {
        code: a.code.to_string(),
        sector: opt_string(&a.sector),
        period: a.period.to_string(),
        kind: activity_kind(a.kind),
        title: Some(text(&a.title)),
        description: opt_text(&a.description),
        location: opt_text(&a.location),
        organiser: opt_string(&a.organiser),
        occurrences: a.occurrences,
        participants: a.participants,
        enterprises: a.enterprises,
        products: a.products,
        programme: String::new(),
        etag: String::new(),
    }
}

pub fn project(p: &d::Project) -> v1::Project {
    v1::Project {
        code: p.code.to_string(),
        sector: opt_string(&p.sector),
        name: Some(text(&p.name)),
        partners: p.partners.iter().map(Code::to_string).collect(),
        location: opt_text(&p.location),
        status: project_status(p.status),
        progress: p.progress.map(u32::from),
        budget_vnd: p.budget_vnd,
        period: p.period.map(|x| x.to_string()),
        description: opt_text(&p.description),
        milestones: p
            .milestones
            .iter()
            .map(|m| v1::Milestone { date: m.date.to_string(), text: Some(text(&m.text)), done: m.done })
            .collect(),
        programme: String::new(),
        etag: String::new(),
    }
}

pub fn contribution(c: &d::Contribution) -> v1::Contribution {
    v1::Contribution {
        code: c.code.to_string(),
        from: c.from.to_string(),
        to: c.to.to_string(),
        amount_vnd: c.amount_vnd,
        sector: opt_string(&c.sector),
        purpose: Some(text(&c.purpose)),
        period: c.period.to_string(),
        date: c.date.map(|d| d.to_string()),
        currency: c.currency.clone(),
        amount: c.amount.map(|a| a.to_string()),
        programme: String::new(),
        etag: String::new(),
    }
}

pub fn briefing(b: &BriefingData) -> v1::BriefingData {
    v1::BriefingData {
        period: b.period.to_string(),
        programme: Some(programme(&b.programme)),
        partners: b.partners.iter().map(partner).collect(),
        sectors: b.sectors.iter().map(sector).collect(),
        as_of: b.as_of.map(|d| d.to_string()).unwrap_or_default(),
    }
}

// ---- wire → domain ------------------------------------------------------------------------

/// Joins a field path: `at("", "code")` is `code`, `at("partner", "code")` is `partner.code`.
fn join(at: &str, name: &str) -> String {
    if at.is_empty() { name.to_owned() } else { format!("{at}.{name}") }
}

pub fn to_partner(p: v1::Partner, at: &str) -> Result<d::Partner> {
    Ok(d::Partner {
        code: Code::parse(p.code, &join(at, "code"))?,
        name: to_text(p.name, &join(at, "name"))?,
        kind: to_partner_kind(p.kind, &join(at, "kind"))?,
    })
}

pub fn to_sector(s: v1::Sector, at: &str) -> Result<d::Sector> {
    Ok(d::Sector {
        code: Code::parse(s.code, &join(at, "code"))?,
        name: to_text(s.name, &join(at, "name"))?,
        programme: opt_code(s.programme.unwrap_or_default(), &join(at, "programme"))?,
    })
}

pub fn to_programme(p: v1::Programme, at: &str) -> Result<d::Programme> {
    let f = |name: &str| join(at, name);
    let fi = |name: &str, i: usize| format!("{}[{i}]", join(at, name));
    Ok(d::Programme {
        code: Code::parse(p.code, &f("code"))?,
        title: to_text(p.title, &f("title"))?,
        short_name: to_text(p.short_name, &f("short_name"))?,
        status: to_programme_status(p.status, &f("status"))?,
        partners: p
            .partners
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                Ok(d::ProgrammePartner {
                    partner: Code::parse(x.partner, &format!("{}.partner", fi("partners", i)))?,
                    role: to_text(x.role, &format!("{}.role", fi("partners", i)))?,
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
        letterhead: to_letterhead(p.letterhead, &f("letterhead"))?,
        notes: to_opt_text(p.notes, &f("notes"))?,
        agreed_on: opt_date(p.agreed_on, &f("agreed_on"))?,
        signatories: p
            .signatories
            .into_iter()
            .enumerate()
            .map(|(i, x)| to_text(Some(x), &fi("signatories", i)))
            .collect::<Result<_>>()?,
        valid: opt_period(p.valid, &f("valid"))?,
        source: p.source.filter(|s| !s.is_empty()),
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
                // Inside a programme a positional key (`assessment-3`) stands for "no code".
                let positional = x.code == format!("assessment-{}", i + 1);
                let mut a = to_assessment(x, &fi("assessments", i))?;
                if positional {
                    a.code = None;
                }
                Ok(a)
            })
            .collect::<Result<_>>()?,
        directions: p
            .directions
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                let positional = x.code == format!("direction-{}", i + 1);
                let mut d = to_direction(x, &fi("directions", i))?;
                if positional {
                    d.code = None;
                }
                Ok(d)
            })
            .collect::<Result<_>>()?,
    })
}

/// An empty code means none: the store then keys the record by its place.
fn opt_code(code: String, field: &str) -> Result<Option<Code>> {
    if code.is_empty() { Ok(None) } else { Code::parse(code, field).map(Some) }
}

fn opt_string(code: &Option<Code>) -> Option<String> {
    code.as_ref().map(Code::to_string)
}

fn opt_sector(s: Option<String>, field: &str) -> Result<Option<Code>> {
    opt_code(s.unwrap_or_default(), field)
}

pub fn to_assessment(x: v1::Assessment, at: &str) -> Result<d::Assessment> {
    let f = |name: &str| join(at, name);
    Ok(d::Assessment {
        code: opt_code(x.code, &f("code"))?,
        period: period(&x.period, &f("period"))?,
        kind: to_assessment_kind(x.kind, &f("kind"))?,
        sector: opt_sector(x.sector, &f("sector"))?,
        text: to_text(x.text, &f("text"))?,
    })
}

pub fn to_direction(x: v1::Direction, at: &str) -> Result<d::Direction> {
    let f = |name: &str| join(at, name);
    Ok(d::Direction {
        code: opt_code(x.code, &f("code"))?,
        period: period(&x.period, &f("period"))?,
        sector: opt_sector(x.sector, &f("sector"))?,
        text: to_text(x.text, &f("text"))?,
    })
}

pub fn to_indicator(i: v1::Indicator, at: &str) -> Result<d::Indicator> {
    let f = |name: &str| join(at, name);
    Ok(d::Indicator {
        code: Code::parse(i.code, &f("code"))?,
        name: to_text(i.name, &f("name"))?,
        unit: to_text(i.unit, &f("unit"))?,
        sector: opt_sector(i.sector, &f("sector"))?,
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
                let at = format!("{}[{k}]", f("values"));
                Ok(d::IndicatorValue {
                    period: period(&v.period, &format!("{at}.period"))?,
                    value: decimal(&v.value, &format!("{at}.value"))?,
                    source: v.source,
                    note: to_opt_text(v.note, &format!("{at}.note"))?,
                })
            })
            .collect::<Result<_>>()?,
    })
    .and_then(|x: d::Indicator| x.check(at).map(|()| x))
}

pub fn to_activity(a: v1::Activity, at: &str) -> Result<d::Activity> {
    let f = |name: &str| join(at, name);
    Ok(d::Activity {
        code: Code::parse(a.code, &f("code"))?,
        sector: opt_sector(a.sector, &f("sector"))?,
        period: period(&a.period, &f("period"))?,
        kind: to_activity_kind(a.kind, &f("kind"))?,
        title: to_text(a.title, &f("title"))?,
        description: to_opt_text(a.description, &f("description"))?,
        location: to_opt_text(a.location, &f("location"))?,
        organiser: opt_code(a.organiser.unwrap_or_default(), &f("organiser"))?,
        occurrences: a.occurrences,
        participants: a.participants,
        enterprises: a.enterprises,
        products: a.products,
    })
    .and_then(|x: d::Activity| x.check(at).map(|()| x))
}

pub fn to_project(p: v1::Project, at: &str) -> Result<d::Project> {
    let f = |name: &str| join(at, name);
    let progress = match p.progress {
        Some(x) if x > 100 => return Err(Error::invalid(f("progress"), format!("{x} is not a percentage 0–100"))),
        Some(x) => Some(x as u8),
        None => None,
    };
    Ok(d::Project {
        code: Code::parse(p.code, &f("code"))?,
        sector: opt_sector(p.sector, &f("sector"))?,
        name: to_text(p.name, &f("name"))?,
        partners: p
            .partners
            .into_iter()
            .enumerate()
            .map(|(k, x)| Code::parse(x, &format!("{}[{k}]", f("partners"))))
            .collect::<Result<_>>()?,
        location: to_opt_text(p.location, &f("location"))?,
        status: to_project_status(p.status, &f("status"))?,
        progress,
        budget_vnd: p.budget_vnd,
        period: opt_period(p.period, &f("period"))?,
        description: to_opt_text(p.description, &f("description"))?,
        milestones: p
            .milestones
            .into_iter()
            .enumerate()
            .map(|(k, m)| {
                let at = format!("{}[{k}]", f("milestones"));
                let date = opt_date(Some(m.date), &format!("{at}.date"))?
                    .ok_or_else(|| Error::invalid(format!("{at}.date"), "is required"))?;
                Ok(d::Milestone { date, text: to_text(m.text, &format!("{at}.text"))?, done: m.done })
            })
            .collect::<Result<_>>()?,
    })
    .and_then(|x: d::Project| x.check(at).map(|()| x))
}

pub fn to_contribution(c: v1::Contribution, at: &str) -> Result<d::Contribution> {
    let f = |name: &str| join(at, name);
    Ok(d::Contribution {
        code: Code::parse(c.code, &f("code"))?,
        from: Code::parse(c.from, &f("from"))?,
        to: Code::parse(c.to, &f("to"))?,
        amount_vnd: c.amount_vnd,
        sector: opt_sector(c.sector, &f("sector"))?,
        purpose: to_text(c.purpose, &f("purpose"))?,
        period: period(&c.period, &f("period"))?,
        date: opt_date(c.date, &f("date"))?,
        currency: c.currency.filter(|s| !s.is_empty()),
        amount: opt_decimal(c.amount, &f("amount"))?,
    })
    .and_then(|x: d::Contribution| x.check(at).map(|()| x))
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
        as_of: opt_date(Some(b.as_of), "as_of")?,
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

    #[test]
    fn new_fields_round_trip_and_bad_ones_name_their_field() {
        let p = d::Project {
            code: "road".parse().unwrap(),
            sector: None,
            name: Text::vi("Đường"),
            partners: vec!["a".parse().unwrap()],
            location: None,
            status: d::ProjectStatus::InProgress,
            progress: Some(60),
            budget_vnd: None,
            period: None,
            description: None,
            milestones: vec![d::Milestone {
                date: Date::new(2019, 12, 1).unwrap(),
                text: Text::vi("Thông xe"),
                done: true,
            }],
        };
        assert_eq!(to_project(project(&p), "project").unwrap(), p);
        let c = d::Contribution {
            code: "gift".parse().unwrap(),
            from: "a".parse().unwrap(),
            to: "b".parse().unwrap(),
            amount_vnd: 230_000_000,
            sector: None,
            purpose: Text::vi("Sách"),
            period: "2020".parse().unwrap(),
            date: None,
            currency: Some("USD".into()),
            amount: Some(Decimal::new(1_000_050, 2)),
        };
        let wire = contribution(&c);
        assert_eq!(wire.amount.as_deref(), Some("10000.50"), "exact, trailing zero kept");
        assert_eq!(to_contribution(wire.clone(), "contribution").unwrap(), c);
        type Break = fn(&mut v1::Contribution);
        let cases: [(Break, &str); 4] = [
            (|w| w.currency = Some("usd".into()), "contribution.currency"),
            (|w| w.amount = Some("ten".into()), "contribution.amount"),
            (|w| w.from = "Hà Nội".into(), "contribution.from"),
            (|w| w.sector = Some("Bad Sector".into()), "contribution.sector"),
        ];
        for (breaks, field) in cases {
            let mut w = wire.clone();
            breaks(&mut w);
            assert_eq!(to_contribution(w, "contribution").unwrap_err().field(), Some(field));
        }
        let mut w = project(&p);
        w.milestones[0].date = "December".into();
        assert_eq!(to_project(w, "project").unwrap_err().field(), Some("project.milestones[0].date"));
    }
}

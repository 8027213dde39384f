//! The cooperation dataset as people write it in `data/`: partners, sectors and programmes
//! with everything recorded about them. Loaded from YAML (or JSON) and checked as a whole.

use std::collections::HashSet;
use std::path::Path;

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::letterhead::Letterhead;
use crate::limits;
use crate::resource::{Kind, Resource};
use crate::{Code, Error, Period, Result, Text};

/// A whole dataset: the partners and sectors it refers to and the programmes between them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<Partner>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors: Vec<Sector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub programmes: Vec<Programme>,
}

/// A locality that takes part in programmes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    pub code: Code,
    pub name: Text,
    pub kind: PartnerKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerKind {
    City,
    Province,
    CentralAgency,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sector {
    pub code: Code,
    pub name: Text,
    /// The programme a programme-specific sector belongs to; none for the shared taxonomy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme: Option<Code>,
}

/// A cooperation programme between two or more partners.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Programme {
    pub code: Code,
    pub title: Text,
    /// Used in running heads and footers, e.g. "Hà Nội – Hà Nam".
    pub short_name: Text,
    #[serde(default = "default_programme_status")]
    pub status: ProgrammeStatus,
    pub partners: Vec<ProgrammePartner>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
    /// Who issues its briefings, who signs them, who receives them.
    #[serde(default, skip_serializing_if = "Letterhead::is_empty")]
    pub letterhead: Letterhead,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Text>,
    /// When the cooperation agreement was signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreed_on: Option<Date>,
    /// Who signed it, e.g. the secretaries of the two Party Committees.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatories: Vec<Text>,
    /// The period the agreement is valid for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<Period>,
    /// Where the facts come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<Indicator>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<Activity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<Project>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contributions: Vec<Contribution>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assessments: Vec<Assessment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directions: Vec<Direction>,
}

fn default_programme_status() -> ProgrammeStatus {
    ProgrammeStatus::Active
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgrammeStatus {
    Planned,
    Active,
    Completed,
    Suspended,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgrammePartner {
    pub partner: Code,
    pub role: Text,
}

/// A phase of a programme, such as the 2019–2020 renewal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub period: Period,
    pub title: Text,
    /// Who agreed the phase, e.g. the two Standing Committees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreed_by: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreed_on: Option<Date>,
}

/// A measured quantity, with values per period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    pub code: Code,
    pub name: Text,
    pub unit: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<Code>,
    #[serde(default = "default_aggregation")]
    pub aggregation: Aggregation,
    /// For cumulative indicators: the date counting started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_date: Option<Date>,
    #[serde(default = "yes")]
    pub higher_is_better: bool,
    /// Shown among the key figures at the top of a briefing.
    #[serde(default)]
    pub headline: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<IndicatorValue>,
}

fn default_aggregation() -> Aggregation {
    Aggregation::Sum
}

fn yes() -> bool {
    true
}

/// How the values of an indicator combine over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Each value counts what happened in its period; a longer period is the sum.
    Sum,
    /// Each value is a level at the end of its period; the latest one stands.
    Latest,
    /// Each value is a running total since the indicator's base date.
    Cumulative,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorValue {
    pub period: Period,
    pub value: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

/// Something the partners did together: a fair, a delegation, a conference …
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    pub code: Code,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<Code>,
    pub period: Period,
    pub kind: ActivityKind,
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organiser: Option<Code>,
    /// How many times it took place, when one record stands for a series (15 fairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprises: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Fair,
    TradeDelegation,
    Conference,
    Forum,
    Workshop,
    ExchangeVisit,
    Training,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub code: Code,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<Code>,
    pub name: Text,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<Code>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Text>,
    pub status: ProjectStatus,
    /// Percent complete, 0–100, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_vnd: Option<i64>,
    /// When the project runs; absent when the source does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub milestones: Vec<Milestone>,
}

/// A dated step of a project: approval, groundbreaking, opening …
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    pub date: Date,
    pub text: Text,
    #[serde(default, skip_serializing_if = "is_false")]
    pub done: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    Planned,
    InProgress,
    Completed,
    Suspended,
}

/// Money or goods given by one partner to another. Amounts are whole đồng, never floats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contribution {
    pub code: Code,
    pub from: Code,
    pub to: Code,
    pub amount_vnd: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<Code>,
    pub purpose: Text,
    pub period: Period,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Date>,
    /// ISO 4217 code of `amount` when the gift was not in đồng; none means VND.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The exact amount in `currency`; `amount_vnd` is its value in đồng.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assessment {
    /// Unique among the programme's assessments; when absent its place stands in (`assessment-3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    pub period: Period,
    pub kind: AssessmentKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<Code>,
    pub text: Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssessmentKind {
    Achievement,
    Limitation,
    Lesson,
}

/// The plan for a coming period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Direction {
    /// Unique among the programme's directions; when absent its place stands in (`direction-2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    pub period: Period,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<Code>,
    pub text: Text,
}

impl Dataset {
    /// Reads a dataset from a `.yaml`/`.yml`/`.json` file, or from every such file in a
    /// directory (in name order, merged), and checks it.
    pub fn load(path: &Path) -> Result<Dataset> {
        let mut files = Vec::new();
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| io_error(path, e))?;
            for entry in entries {
                let p = entry.map_err(|e| io_error(path, e))?.path();
                if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
                    files.push(p);
                }
            }
            files.sort();
            if files.is_empty() {
                return Err(Error::Dataset {
                    path: path.display().to_string(),
                    message: "directory holds no .yaml, .yml or .json file".into(),
                });
            }
        } else {
            files.push(path.to_path_buf());
        }
        let mut all = Dataset::default();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| io_error(&file, e))?;
            let part = Dataset::parse(&text).map_err(|e| match e {
                Error::Dataset { message, .. } => Error::Dataset { path: file.display().to_string(), message },
                other => other,
            })?;
            all.partners.extend(part.partners);
            all.sectors.extend(part.sectors);
            all.programmes.extend(part.programmes);
        }
        all.validate()?;
        Ok(all)
    }

    /// Parses one YAML (or JSON, which is YAML) document, without the cross-file checks.
    pub fn parse(text: &str) -> Result<Dataset> {
        crate::yaml::check(text)?;
        serde_yaml_ng::from_str(text)
            .map_err(|e| Error::Dataset { path: "<input>".into(), message: in_words(&e.to_string()) })
    }

    /// Checks what serde cannot: unique codes, references that resolve, numbers in range,
    /// no empty text. Each error names the path of the offending field.
    ///
    /// It also refuses what the renderer or the wire would refuse later: a list longer than its
    /// cap or a text longer than [`limits::MAX_STRING_CHARS`] (see [`crate::limits`]).
    pub fn validate(&self) -> Result<()> {
        self.check_sizes()?;
        let known = Known { partners: self.partners.iter().map(|p| p.code.as_str()).collect(), sectors: &self.sectors };
        known.check_all(&self.partners, "partners", "")?;
        known.check_all(&self.sectors, "sectors", "")?;
        known.check_all(&self.programmes, "programmes", "")?;
        for (i, p) in self.programmes.iter().enumerate() {
            let at = |list: &str| format!("programmes[{i}].{list}");
            known.check_all(&p.indicators, &at("indicators"), &p.code)?;
            known.check_all(&p.activities, &at("activities"), &p.code)?;
            known.check_all(&p.projects, &at("projects"), &p.code)?;
            known.check_all(&p.contributions, &at("contributions"), &p.code)?;
            known.check_all(&p.assessments, &at("assessments"), &p.code)?;
            known.check_all(&p.directions, &at("directions"), &p.code)?;
        }
        Ok(())
    }
}

impl Dataset {
    /// The lists with a cap of their own that are not resources, counted before anything is
    /// walked; a list of resources is counted against its description's `MAX_COUNT`, and every
    /// value's strings and other lists are walked with its own checks, in [`Known::check_all`].
    fn check_sizes(&self) -> Result<()> {
        for (i, p) in self.programmes.iter().enumerate() {
            let at = |list: &str| format!("programmes[{i}].{list}");
            limits::check_items(p.partners.len(), limits::MAX_PROGRAMME_PARTNERS, &at("partners"))?;
            limits::check_items(p.phases.len(), limits::MAX_PHASES, &at("phases"))?;
            for (k, x) in p.indicators.iter().enumerate() {
                let field = || at(&format!("indicators[{k}].values"));
                if x.values.len() > limits::MAX_INDICATOR_VALUES {
                    limits::check_items(x.values.len(), limits::MAX_INDICATOR_VALUES, &field())?;
                }
            }
        }
        Ok(())
    }
}

/// What the references of a dataset may name.
struct Known<'a> {
    partners: HashSet<&'a str>,
    sectors: &'a [Sector],
}

impl Known<'_> {
    /// Checks each resource of a list by itself, that its code is new in the list (a record's:
    /// in its programme; an indicator and an activity may share one) and that the partners and
    /// sectors it names exist (a programme-specific sector only for its own programme).
    fn check_all<R: Resource>(&self, items: &[R], at: &str, programme: &str) -> Result<()> {
        limits::check_items(items.len(), R::MAX_COUNT, at)?;
        let mut seen = HashSet::new();
        for (j, x) in items.iter().enumerate() {
            let at = format!("{at}[{j}]");
            let code = x.code().map_or_else(|| format!("{}-{}", R::NAME, j + 1), str::to_owned);
            if !seen.insert(code.clone()) {
                let message = match R::KIND {
                    Kind::Record => format!("{} code {code:?} is used twice in the programme", R::NAME),
                    _ => format!("{} {code:?} is listed twice", R::NAME),
                };
                return Err(invalid(format!("{at}.code"), message));
            }
            // A programme's records are lists with caps of their own, counted already.
            limits::check_value(&*x.header(), &at)?;
            x.check(&at)?;
            for r in x.refs() {
                let (field, c) = (format!("{at}.{}", r.field), r.code);
                match r.to {
                    Kind::Partner if !self.partners.contains(c) => {
                        return Err(invalid(field, format!("no partner has code {c:?}")));
                    }
                    Kind::Sector => match self.sectors.iter().find(|s| s.code == c) {
                        None => return Err(invalid(field, format!("no sector has code {c:?}"))),
                        Some(Sector { programme: Some(owner), .. }) if !programme.is_empty() && owner != programme => {
                            return Err(invalid(field, format!("sector {c:?} belongs to programme {owner:?}")));
                        }
                        Some(_) => {}
                    },
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

impl Programme {
    /// Checks what the programme's header says by itself (not its references or records).
    pub fn check(&self, at: &str) -> Result<()> {
        check_text(&self.title, &format!("{at}.title"))?;
        check_text(&self.short_name, &format!("{at}.short_name"))?;
        if self.partners.len() < 2 {
            return Err(invalid(format!("{at}.partners"), "a programme needs at least two partners"));
        }
        let mut seen = HashSet::new();
        for (j, pp) in self.partners.iter().enumerate() {
            check_text(&pp.role, &format!("{at}.partners[{j}].role"))?;
            if !seen.insert(pp.partner.as_str()) {
                return Err(invalid(
                    format!("{at}.partners[{j}].partner"),
                    format!("partner {:?} is listed twice", pp.partner),
                ));
            }
        }
        for (j, s) in self.signatories.iter().enumerate() {
            check_text(s, &format!("{at}.signatories[{j}]"))?;
        }
        self.letterhead.check(&format!("{at}.letterhead"))
    }

    /// Whether any record mentions the partner (programme partners aside).
    pub fn mentions_partner(&self, code: &str) -> bool {
        self.partners.iter().any(|p| p.partner == code)
            || self.activities.iter().any(|a| a.organiser.as_deref() == Some(code))
            || self.projects.iter().any(|p| p.partners.iter().any(|x| x == code))
            || self.contributions.iter().any(|c| c.from == code || c.to == code)
    }
}

impl Indicator {
    pub fn check(&self, at: &str) -> Result<()> {
        check_text(&self.name, &format!("{at}.name"))?;
        check_text(&self.unit, &format!("{at}.unit"))?;
        let mut seen = HashSet::new();
        for (k, v) in self.values.iter().enumerate() {
            if !seen.insert(v.period) {
                return Err(invalid(
                    format!("{at}.values[{k}].period"),
                    format!("a value for {} is already given", v.period),
                ));
            }
        }
        Ok(())
    }
}

impl Activity {
    pub fn check(&self, at: &str) -> Result<()> {
        check_text(&self.title, &format!("{at}.title"))
    }
}

impl Project {
    pub fn check(&self, at: &str) -> Result<()> {
        check_text(&self.name, &format!("{at}.name"))?;
        if let Some(x) = self.progress.filter(|x| *x > 100) {
            return Err(invalid(format!("{at}.progress"), format!("{x} is not a percentage, 0 to 100")));
        }
        if let Some(x) = self.budget_vnd.filter(|x| *x < 0) {
            return Err(invalid(format!("{at}.budget_vnd"), format!("{x}: a budget cannot be negative")));
        }
        for (k, m) in self.milestones.iter().enumerate() {
            check_text(&m.text, &format!("{at}.milestones[{k}].text"))?;
        }
        Ok(())
    }
}

impl Contribution {
    pub fn check(&self, at: &str) -> Result<()> {
        check_text(&self.purpose, &format!("{at}.purpose"))?;
        if self.amount_vnd <= 0 {
            return Err(invalid(
                format!("{at}.amount_vnd"),
                format!("{}: an amount must be more than 0 đồng", self.amount_vnd),
            ));
        }
        if let Some(c) = &self.currency
            && !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(invalid(format!("{at}.currency"), format!("{c:?} is not an ISO 4217 code such as \"USD\"")));
        }
        if let Some(a) = self.amount.filter(|a| a.is_sign_negative() || a.is_zero()) {
            return Err(invalid(format!("{at}.amount"), format!("{a}: an amount must be more than 0")));
        }
        Ok(())
    }
}

impl Assessment {
    /// The assessment's code, or its place in the programme (`assessment-1` for the first).
    pub fn key(&self, index: usize) -> String {
        self.code.as_ref().map_or_else(|| format!("assessment-{}", index + 1), Code::to_string)
    }

    pub fn check(&self, at: &str) -> Result<()> {
        check_text(&self.text, &format!("{at}.text"))
    }
}

impl Direction {
    /// The direction's code, or its place in the programme (`direction-1` for the first).
    pub fn key(&self, index: usize) -> String {
        self.code.as_ref().map_or_else(|| format!("direction-{}", index + 1), Code::to_string)
    }

    pub fn check(&self, at: &str) -> Result<()> {
        check_text(&self.text, &format!("{at}.text"))
    }
}

impl Partner {
    pub fn check(&self, at: &str) -> Result<()> {
        check_text(&self.name, &format!("{at}.name"))
    }
}

impl Sector {
    pub fn check(&self, at: &str) -> Result<()> {
        check_text(&self.name, &format!("{at}.name"))
    }
}

fn invalid(field: String, message: impl Into<String>) -> Error {
    Error::Invalid { field, message: message.into() }
}

/// serde's message with Rust's type names put in words ("expected struct ProgrammePartner" →
/// "expected a programme partner"): people read the document's words, not the program's.
fn in_words(message: &str) -> String {
    let mut out = Vec::new();
    let mut words = message.split(' ').peekable();
    while let Some(word) = words.next() {
        let named = words.peek().is_some_and(|n| n.starts_with(char::is_uppercase));
        match words.next_if(|_| named && matches!(word, "struct" | "enum")) {
            Some(name) => {
                let end = name.find(|c: char| !c.is_alphanumeric()).unwrap_or(name.len());
                let spaced = name[..end].chars().fold(String::new(), |mut s, c| {
                    if c.is_uppercase() {
                        s.push(' ');
                    }
                    s.push(c.to_ascii_lowercase());
                    s
                });
                out.push(format!("a{spaced}{}", &name[end..]));
            }
            None => out.push(word.to_owned()),
        }
    }
    out.join(" ")
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Dataset { path: path.display().to_string(), message: e.to_string() }
}

fn check_text(text: &Text, field: &str) -> Result<()> {
    if text.is_empty() { Err(invalid(field.to_owned(), "must not be empty")) } else { Ok(()) }
}

/// The Hà Nội–Hà Nam dataset shipped in `data/`, built into the binaries so that a bare
/// machine can run the product from any directory.
pub const BUNDLED: &str = include_str!("../../../data/hanoi-hanam.yaml");

impl Dataset {
    /// The bundled dataset, parsed and checked.
    pub fn bundled() -> Result<Dataset> {
        let d = Dataset::parse(BUNDLED)?;
        d.validate()?;
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
partners:
  - { code: hanoi, name: { vi: "Hà Nội", en: "Hanoi" }, kind: city }
  - { code: hanam, name: "Hà Nam", kind: province }
sectors:
  - { code: trade, name: { vi: "Công thương", en: "Industry and trade" } }
programmes:
  - code: hanoi-hanam
    title: "Hợp tác Hà Nội – Hà Nam"
    short_name: "Hà Nội – Hà Nam"
    partners:
      - { partner: hanoi, role: "Thành phố" }
      - { partner: hanam, role: "Tỉnh" }
    indicators:
      - code: fairs
        name: "Hội chợ"
        unit: "đợt"
        sector: trade
        values:
          - { period: 2015..2019, value: 15 }
          - { period: 2020, value: "3.5" }
    contributions:
      - { code: gift, from: hanoi, to: hanam, amount_vnd: 3000000000, purpose: "An sinh", period: 2019 }
"#;

    #[test]
    fn parses_and_validates_a_small_dataset() {
        let d = Dataset::parse(SMALL).unwrap();
        d.validate().unwrap();
        assert_eq!(d.partners[0].name.get(crate::Lang::En), "Hanoi");
        assert_eq!(d.partners[1].name.get(crate::Lang::En), "Hà Nam", "falls back to Vietnamese");
        let values = &d.programmes[0].indicators[0].values;
        assert_eq!(values[0].period.to_string(), "2015..2019");
        assert_eq!(values[0].value, Decimal::from(15));
        assert_eq!(values[1].value, Decimal::new(35, 1));
        assert_eq!(d.programmes[0].contributions[0].amount_vnd, 3_000_000_000);
    }

    #[test]
    fn broken_references_name_the_field() {
        let broken = SMALL.replace("sector: trade", "sector: nowhere");
        let err = Dataset::parse(&broken).unwrap().validate().unwrap_err();
        assert_eq!(err.field(), Some("programmes[0].indicators[0].sector"), "{err}");
        let broken = SMALL.replace("to: hanam", "to: hue");
        let err = Dataset::parse(&broken).unwrap().validate().unwrap_err();
        assert_eq!(err.field(), Some("programmes[0].contributions[0].to"), "{err}");
        let broken = SMALL.replace("amount_vnd: 3000000000", "amount_vnd: -1");
        let err = Dataset::parse(&broken).unwrap().validate().unwrap_err();
        assert_eq!(err.field(), Some("programmes[0].contributions[0].amount_vnd"), "{err}");
    }

    #[test]
    fn syntax_errors_name_no_rust_type() {
        let err = Dataset::parse("\"just a string\"").unwrap_err().to_string();
        assert!(err.contains("expected a dataset") && !err.contains("struct"), "{err}");
        assert_eq!(in_words("expected enum PartnerKind, at"), "expected a partner kind, at");
    }

    #[test]
    fn lists_and_texts_past_their_caps_are_refused_by_name() {
        let mut d = Dataset::parse(SMALL).unwrap();
        let activity = |j: usize| Activity {
            code: format!("a{j}").parse().unwrap(),
            sector: None,
            period: "2019".parse().unwrap(),
            kind: ActivityKind::Fair,
            title: Text::vi("Hội chợ"),
            description: None,
            location: None,
            organiser: None,
            occurrences: None,
            participants: None,
            enterprises: None,
            products: None,
        };
        d.programmes[0].activities = (0..limits::MAX_ACTIVITIES).map(activity).collect();
        d.validate().unwrap();
        d.programmes[0].activities.push(activity(limits::MAX_ACTIVITIES));
        let err = d.validate().unwrap_err();
        assert_eq!(err.field(), Some("programmes[0].activities"), "{err}");
        assert!(err.to_string().ends_with("has 20001 items; the limit is 20000"), "{err}");
        d.programmes[0].activities.truncate(4);

        // Characters, not bytes: 20,000 Vietnamese letters are fine, one more is not.
        d.programmes[0].activities[3].title = Text::vi("ệ".repeat(limits::MAX_STRING_CHARS));
        d.validate().unwrap();
        d.programmes[0].activities[3].title = Text::new("ok", "x".repeat(limits::MAX_STRING_CHARS + 1));
        let err = d.validate().unwrap_err();
        assert_eq!(err.field(), Some("programmes[0].activities[3].title.en"), "{err}");
        assert!(err.to_string().ends_with("is 20001 characters long; the limit is 20000"), "{err}");
        d.programmes[0].activities[3].title = Text::vi("ok");

        // Every string is walked, not only the ones a check looks at.
        d.programmes[0].source = Some("s".repeat(limits::MAX_STRING_CHARS + 1));
        assert_eq!(d.validate().unwrap_err().field(), Some("programmes[0].source"));
        d.programmes[0].source = None;
        d.partners[0].name = Text::vi("p".repeat(limits::MAX_STRING_CHARS + 1));
        assert_eq!(d.validate().unwrap_err().field(), Some("partners[0].name.vi"));
        d.partners[0].name = Text::vi("Hà Nội");

        let value = d.programmes[0].indicators[0].values[0].clone();
        d.programmes[0].indicators[0].values = vec![value; limits::MAX_INDICATOR_VALUES + 1];
        assert_eq!(d.validate().unwrap_err().field(), Some("programmes[0].indicators[0].values"));
        d.programmes[0].indicators[0].values.truncate(1);
        let phase = Phase { period: "2019".parse().unwrap(), title: Text::vi("x"), agreed_by: None, agreed_on: None };
        d.programmes[0].phases = vec![phase; limits::MAX_PHASES + 1];
        let err = d.validate().unwrap_err();
        assert_eq!(err.to_string(), "programmes[0].phases: has 201 items; the limit is 200");
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = Dataset::parse("partners:\n  - { code: x, name: y, kind: planet }\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("planet") && text.contains("line 2"), "{text}");
        let err = Dataset::parse("partners:\n  - { code: x, name: y, kind: city, colour: red }\n").unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn loads_the_bundled_seed_dataset() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
        let d = Dataset::load(&path).unwrap();
        let p = d.programmes.iter().find(|p| p.code == "hanoi-hanam").expect("the programme hanoi-hanam");
        assert_eq!(d.sectors.len(), 12, "the twelve sectors the article names");
        let value =
            |code: &str| p.indicators.iter().find(|i| i.code == code).and_then(|i| i.values.first()).map(|v| v.value);
        assert_eq!(value("enterprises-introduced"), Some(Decimal::from(87)));
        assert_eq!(value("registered-capital"), Some(Decimal::from(10_900)));
        assert_eq!(value("fairs"), Some(Decimal::from(15)));
        assert_eq!(value("trade-delegations"), Some(Decimal::from(5)));
        assert!(p.contributions.iter().any(|c| c.amount_vnd == 3_000_000_000 && c.from == "hanoi"));
        assert!(p.projects.iter().any(|x| x.name.vi.contains("Vành đai 5")));
        assert!(p.projects.iter().any(|x| x.location.as_ref().is_some_and(|l| l.vi.contains("Hòa Bình"))));
    }

    #[test]
    fn loads_a_directory_and_reports_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), SMALL).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        assert_eq!(Dataset::load(dir.path()).unwrap().programmes.len(), 1);
        std::fs::write(dir.path().join("b.yaml"), "partners: [ {").unwrap();
        let err = Dataset::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("b.yaml"), "{err}");
    }
}

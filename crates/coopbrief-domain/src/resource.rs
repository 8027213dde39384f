//! One description of each cooperation resource — its names, where it lives, what it refers to
//! and how it is listed — from which the store, the gRPC service, the CLI and the access rules
//! all follow. Adding a resource is an `impl Resource` here plus its wire row and its SQL.

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::dataset::{Activity, Assessment, Contribution, Direction, Indicator, Partner, Programme, Project, Sector};
use crate::{Code, Error, Period, Result, limits};

/// Where a resource is kept: a table of its own, or among the records of a programme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Partner,
    Sector,
    Programme,
    /// A record of a programme (indicator, activity …): every one belongs to a programme.
    Record,
}

/// A reference from one resource to another: the field that holds it, what it names, the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref<'a> {
    pub field: String,
    pub to: Kind,
    pub code: &'a str,
}

impl<'a> Ref<'a> {
    fn new(field: impl Into<String>, to: Kind, code: &'a str) -> Self {
        Ref { field: field.into(), to, code }
    }
}

/// A cooperation resource with standard methods (AIP-131..135).
pub trait Resource: Serialize + DeserializeOwned + Clone + PartialEq + Send + Sync + 'static {
    /// Singular and lowercase (`activity`): messages, field paths, audit and `records.kind`.
    const NAME: &'static str;
    /// Plural (`activities`): collection in resource names, and the table of a top-level one.
    const PLURAL: &'static str;
    const KIND: Kind;
    /// The most there may be: of a record, in its programme; of the others, in all (see
    /// [`crate::limits`]: what the renderer takes).
    const MAX_COUNT: usize;
    /// The fields a list shows as columns, named as in `data/`.
    const COLUMNS: &'static [&'static str];
    /// Values of the list's `status` filter; empty: it has none.
    const STATUSES: &'static [&'static str] = &[];
    /// Values of the list's `kind` filter; empty: it has none.
    const KINDS: &'static [&'static str] = &[];

    /// The code it is stored under, when the value carries one.
    fn code(&self) -> Option<&str>;
    /// What it names, for the store to check inside the write.
    fn refs(&self) -> Vec<Ref<'_>> {
        Vec::new()
    }
    /// The days it covers, for the period filter.
    fn period(&self) -> Option<Period> {
        None
    }
    /// Its status, for the status filter.
    fn status(&self) -> Option<&'static str> {
        None
    }
    /// The programme a programme-specific resource belongs to (a sector); fixed once created.
    fn owner(&self) -> Option<&str> {
        None
    }
    /// What is stored of it: a programme without its records (they are resources of their own).
    fn header(&self) -> Cow<'_, Self> {
        Cow::Borrowed(self)
    }
    /// Checks what the value says by itself; errors name fields under `at`.
    fn check(&self, at: &str) -> Result<()>;
    /// Checks a value about to be created (a programme comes without records).
    fn check_new(&self) -> Result<()> {
        Ok(())
    }
}

/// Fills in a resource's description: its names, where it is kept, how many there may be, the
/// columns of its list, the values of its filters; its own check (`T::check`) and its code. What
/// differs (references, period, status …) follows as items.
macro_rules! describe {
    ($T:ident: $name:literal / $plural:literal, $kind:ident, at most $max:expr, [$($col:literal),*] $(, $konst:ident = [$($v:literal),*])*; $($item:item)*) => {
        impl Resource for $T {
            const NAME: &'static str = $name;
            const PLURAL: &'static str = $plural;
            const KIND: Kind = Kind::$kind;
            const MAX_COUNT: usize = $max;
            const COLUMNS: &'static [&'static str] = &[$($col),*];
            $(const $konst: &'static [&'static str] = &[$($v),*];)*
            fn code(&self) -> Option<&str> {
                CodeField::get(&self.code)
            }
            fn check(&self, at: &str) -> Result<()> {
                $T::check(self, at)
            }
            $($item)*
        }
    };
}

/// A code that every value has, or one that it may lack (an assessment keyed by its place).
trait CodeField {
    fn get(&self) -> Option<&str>;
}

impl CodeField for Code {
    fn get(&self) -> Option<&str> {
        Some(self.as_str())
    }
}

impl CodeField for Option<Code> {
    fn get(&self) -> Option<&str> {
        self.as_deref()
    }
}

/// A status as `data/` writes it (its serde name), one of `statuses`.
fn status_name<T: Serialize>(status: &T, statuses: &[&'static str]) -> Option<&'static str> {
    let name = serde_json::to_value(status).ok()?;
    statuses.iter().copied().find(|s| name == *s)
}

/// The records' sector reference, the same for every kind of record.
fn sector(code: &Option<Code>) -> Option<Ref<'_>> {
    code.as_deref().map(|c| Ref::new("sector", Kind::Sector, c))
}

describe! {
    Partner: "partner" / "partners", Partner, at most limits::MAX_PARTNERS, ["code", "kind", "name"],
    KINDS = ["city", "province", "central_agency", "other"];
}

describe! {
    Sector: "sector" / "sectors", Sector, at most limits::MAX_SECTORS, ["code", "programme", "name"];
    fn refs(&self) -> Vec<Ref<'_>> {
        self.programme.iter().map(|p| Ref::new("programme", Kind::Programme, p)).collect()
    }
    fn owner(&self) -> Option<&str> {
        self.programme.as_deref()
    }
}

/// A programme's records, as its fields name them.
pub const PROGRAMME_RECORDS: &[&str] =
    &["indicators", "activities", "projects", "contributions", "assessments", "directions"];

describe! {
    Programme: "programme" / "programmes", Programme, at most usize::MAX, ["code", "status", "partners", "title"],
    STATUSES = ["planned", "active", "completed", "suspended"];
    fn refs(&self) -> Vec<Ref<'_>> {
        let at = |j| format!("partners[{j}].partner");
        self.partners.iter().enumerate().map(|(j, p)| Ref::new(at(j), Kind::Partner, &p.partner)).collect()
    }
    fn status(&self) -> Option<&'static str> {
        status_name(&self.status, Self::STATUSES)
    }
    fn header(&self) -> Cow<'_, Self> {
        Cow::Owned(Programme {
            indicators: Vec::new(),
            activities: Vec::new(),
            projects: Vec::new(),
            contributions: Vec::new(),
            assessments: Vec::new(),
            directions: Vec::new(),
            ..self.clone()
        })
    }
    fn check_new(&self) -> Result<()> {
        let has = [
            !self.indicators.is_empty(),
            !self.activities.is_empty(),
            !self.projects.is_empty(),
            !self.contributions.is_empty(),
            !self.assessments.is_empty(),
            !self.directions.is_empty(),
        ];
        match PROGRAMME_RECORDS.iter().zip(has).find(|(_, has)| *has) {
            Some((field, _)) => Err(Error::invalid(
                format!("programme.{field}"),
                "records are created one by one (CreateActivity …) or imported with ImportProgramme",
            )),
            None => Ok(()),
        }
    }
}

describe! {
    Indicator: "indicator" / "indicators", Record, at most limits::MAX_INDICATORS, ["code", "unit", "aggregation", "sector", "name"];
    fn refs(&self) -> Vec<Ref<'_>> {
        sector(&self.sector).into_iter().collect()
    }
    /// From its first value to its last.
    fn period(&self) -> Option<Period> {
        let start = self.values.iter().map(|v| v.period.start()).min()?;
        let end = self.values.iter().map(|v| v.period.end()).max()?;
        Period::range(start, end).ok()
    }
}

describe! {
    Activity: "activity" / "activities", Record, at most limits::MAX_ACTIVITIES, ["code", "period", "kind", "sector", "occurrences", "title"];
    fn refs(&self) -> Vec<Ref<'_>> {
        let organiser = self.organiser.iter().map(|o| Ref::new("organiser", Kind::Partner, o));
        organiser.chain(sector(&self.sector)).collect()
    }
    fn period(&self) -> Option<Period> {
        Some(self.period)
    }
}

describe! {
    Project: "project" / "projects", Record, at most limits::MAX_PROJECTS, ["code", "status", "progress", "sector", "period", "name"],
    STATUSES = ["planned", "in_progress", "completed", "suspended"];
    fn refs(&self) -> Vec<Ref<'_>> {
        let partners = self.partners.iter().enumerate();
        let partners = partners.map(|(i, p)| Ref::new(format!("partners[{i}]"), Kind::Partner, p));
        partners.chain(sector(&self.sector)).collect()
    }
    fn period(&self) -> Option<Period> {
        self.period
    }
    fn status(&self) -> Option<&'static str> {
        status_name(&self.status, Self::STATUSES)
    }
}

describe! {
    Contribution: "contribution" / "contributions", Record, at most limits::MAX_CONTRIBUTIONS, ["code", "period", "from", "to", "amount_vnd", "purpose"];
    fn refs(&self) -> Vec<Ref<'_>> {
        let ends = [Ref::new("from", Kind::Partner, &self.from), Ref::new("to", Kind::Partner, &self.to)];
        ends.into_iter().chain(sector(&self.sector)).collect()
    }
    fn period(&self) -> Option<Period> {
        Some(self.period)
    }
}

describe! {
    Assessment: "assessment" / "assessments", Record, at most limits::MAX_ASSESSMENTS, ["code", "period", "kind", "sector", "text"];
    fn refs(&self) -> Vec<Ref<'_>> {
        sector(&self.sector).into_iter().collect()
    }
    fn period(&self) -> Option<Period> {
        Some(self.period)
    }
}

describe! {
    Direction: "direction" / "directions", Record, at most limits::MAX_DIRECTIONS, ["code", "period", "sector", "text"];
    fn refs(&self) -> Vec<Ref<'_>> {
        sector(&self.sector).into_iter().collect()
    }
    fn period(&self) -> Option<Period> {
        Some(self.period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;

    #[test]
    fn a_programme_is_stored_without_its_records_and_created_without_them() {
        let seed = Dataset::bundled().unwrap();
        let p = &seed.programmes[0];
        let err = p.check_new().unwrap_err();
        assert_eq!(err.field(), Some("programme.indicators"), "{err}");
        let head = p.header();
        assert!(PROGRAMME_RECORDS.iter().all(|f| !serde_json::to_value(&*head).unwrap()[f].is_array()));
        head.check_new().unwrap();
        assert_eq!(head.title, p.title);
    }

    #[test]
    fn statuses_are_named_as_data_writes_them() {
        let seed = Dataset::bundled().unwrap();
        let p = &seed.programmes[0];
        assert_eq!(p.status(), Some("active"));
        let mut project = p.projects[0].clone();
        project.status = crate::dataset::ProjectStatus::InProgress;
        assert_eq!(project.status(), Some("in_progress"));
        assert_eq!(p.activities[0].status(), None);
    }

    #[test]
    fn references_name_their_fields() {
        let seed = Dataset::bundled().unwrap();
        let c = &seed.programmes[0].contributions[0];
        let fields: Vec<String> = c.refs().into_iter().map(|r| r.field).collect();
        assert_eq!(&fields[..2], ["from", "to"]);
        let p = &seed.programmes[0];
        assert_eq!(p.refs()[1].field, "partners[1].partner");
        assert_eq!(p.refs()[1].to, Kind::Partner);
    }
}

//! Everything one briefing needs: a programme's data selected for a period.
//!
//! The data service builds it (`GetBriefingData`), the worker receives it over gRPC and the
//! renderer turns it into a PDF. It is plain data: the selection rules live in
//! [`BriefingData::select`] so that the store and the tests agree on them.

use serde::{Deserialize, Serialize};

use crate::dataset::{Partner, Programme, Sector};
use crate::{Code, Period};

/// A programme's data for one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BriefingData {
    /// The period the briefing covers.
    pub period: Period,
    /// The programme, its nested lists already narrowed to what the period needs:
    /// activities, contributions, assessments and directions that overlap the period;
    /// projects that had started by its end (or whose dates are unknown); every indicator with its values
    /// that end on or before the period's end, so the renderer can show the previous period
    /// and cumulative totals.
    pub programme: Programme,
    /// Every partner the programme or its records mention, programme partners first.
    pub partners: Vec<Partner>,
    /// The sectors in taxonomy order, only those that the period's records use.
    pub sectors: Vec<Sector>,
    /// The day this data snapshot was first seen by the data service: the briefing's date,
    /// so equal data gives an equal document. Not part of the data (nor of its hash).
    #[serde(skip)]
    pub as_of: Option<jiff::civil::Date>,
}

/// The hex sha256 of the canonical JSON of a value: object keys sorted, no whitespace. The
/// data service keys its snapshots by it and the renderer prints it, so both agree.
pub fn data_hash(value: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(canonical_json(value).as_bytes()))
}

/// The canonical JSON of a value: object keys sorted, no whitespace — the bytes whose sha256
/// is [`data_hash`] (and which a PDF/A-3b briefing attaches).
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    canonical
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (n, key) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

impl BriefingData {
    /// Puts the parts of the letterhead that `over` sets (a request's or its schedule's) in place
    /// of the programme's: the data a report is rendered from, hashed, and issued from again.
    pub fn override_letterhead(&mut self, over: &crate::Letterhead) {
        if !over.is_empty() {
            self.programme.letterhead = self.programme.letterhead.overridden_by(over);
        }
    }

    /// The hash of this data snapshot: equal data, equal hash.
    pub fn data_hash(&self) -> String {
        // Serializing plain data structures cannot fail; an empty value hashes all the same.
        data_hash(&serde_json::to_value(self).unwrap_or_default())
    }

    /// Narrows a whole programme to what a briefing of `period` shows.
    pub fn select(programme: &Programme, period: Period, all_partners: &[Partner], all_sectors: &[Sector]) -> Self {
        let mut p = programme.clone();
        p.activities.retain(|a| a.period.overlaps(&period));
        p.projects.retain(|x| x.period.is_none_or(|pp| pp.start() <= period.end()));
        p.contributions.retain(|c| c.period.overlaps(&period));
        p.assessments.retain(|a| a.period.overlaps(&period));
        p.directions.retain(|d| d.period.overlaps(&period));
        for ind in &mut p.indicators {
            ind.values.retain(|v| v.period.end() <= period.end());
            ind.values.sort_by_key(|v| (v.period.end(), v.period.start()));
        }

        let mut partner_codes: Vec<&str> = p.partners.iter().map(|x| x.partner.as_str()).collect();
        let mentioned = p
            .activities
            .iter()
            .filter_map(|a| a.organiser.as_deref())
            .chain(p.projects.iter().flat_map(|x| x.partners.iter().map(Code::as_str)))
            .chain(p.contributions.iter().flat_map(|c| [c.from.as_str(), c.to.as_str()]));
        for code in mentioned {
            if !partner_codes.contains(&code) {
                partner_codes.push(code);
            }
        }
        let partners =
            partner_codes.iter().filter_map(|code| all_partners.iter().find(|x| x.code == *code).cloned()).collect();

        let used: Vec<&str> = p
            .indicators
            .iter()
            .filter_map(|i| i.sector.as_deref())
            .chain(p.activities.iter().filter_map(|a| a.sector.as_deref()))
            .chain(p.projects.iter().filter_map(|x| x.sector.as_deref()))
            .chain(p.contributions.iter().filter_map(|c| c.sector.as_deref()))
            .chain(p.assessments.iter().filter_map(|a| a.sector.as_deref()))
            .chain(p.directions.iter().filter_map(|d| d.sector.as_deref()))
            .collect();
        let sectors = all_sectors.iter().filter(|s| used.contains(&s.code.as_str())).cloned().collect();

        BriefingData { period, programme: p, partners, sectors, as_of: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use std::path::Path;

    #[test]
    fn selects_the_seed_programme_for_2019() {
        let d = Dataset::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")).unwrap();
        let p = &d.programmes[0];
        let b = BriefingData::select(p, "2019".parse().unwrap(), &d.partners, &d.sectors);
        assert_eq!(b.partners.iter().map(|x| x.code.as_str()).collect::<Vec<_>>(), ["hanoi", "hanam", "hoabinh"]);
        assert!(b.programme.contributions.iter().any(|c| c.amount_vnd == 3_000_000_000));
        assert_eq!(b.programme.projects.len(), 4);
        assert!(b.sectors.iter().any(|s| s.code == "transport"));

        let b = BriefingData::select(p, "2014".parse().unwrap(), &d.partners, &d.sectors);
        assert!(b.programme.activities.is_empty());
        assert!(b.programme.indicators.iter().all(|i| i.values.is_empty()));
        assert!(b.programme.contributions.is_empty());
    }
}

//! What the renderer checks about its input before it lays anything out: size caps and the
//! snapshot's canonical JSON (whose sha256 is the data hash), both computed on the data's JSON
//! form so that they see every field.

use std::fmt::Write as _;

use serde_json::Value;

use coopbrief_domain::BriefingData;
use coopbrief_domain::limits;

use crate::{Error, Result};

/// The longest string, in characters, any field may hold (the domain's limit, which the import
/// keeps too).
pub const MAX_STRING_CHARS: usize = limits::MAX_STRING_CHARS;

/// The most items each list may hold, by its path in the data (`[]` stands for any index): the
/// domain's limits, which the import keeps too. Beyond these a briefing is no longer a briefing,
/// and typst's layout time grows with them.
pub const MAX_ITEMS: &[(&str, usize)] = &[
    ("programme.activities", limits::MAX_ACTIVITIES),
    ("programme.projects", limits::MAX_PROJECTS),
    ("programme.contributions", limits::MAX_CONTRIBUTIONS),
    ("programme.indicators", limits::MAX_INDICATORS),
    ("programme.indicators[].values", limits::MAX_INDICATOR_VALUES),
    ("programme.assessments", limits::MAX_ASSESSMENTS),
    ("programme.directions", limits::MAX_DIRECTIONS),
    ("programme.phases", limits::MAX_PHASES),
    ("programme.partners", limits::MAX_PROGRAMME_PARTNERS),
    ("partners", limits::MAX_PARTNERS),
    ("sectors", limits::MAX_SECTORS),
];

/// Any other list (project partners …).
const MAX_OTHER_ITEMS: usize = limits::MAX_OTHER_ITEMS;

/// The briefing data as JSON, checked against the caps.
pub(crate) fn checked_json(data: &BriefingData) -> Result<Value> {
    let value = serde_json::to_value(data).map_err(|e| Error::Data { message: e.to_string() })?;
    check(&value, &mut String::new(), &mut String::new())?;
    Ok(value)
}

/// `path` names the field for errors (`programme.activities[3].title.vi`); `pattern` is the same
/// path with indices erased, to look the list up in [`MAX_ITEMS`].
fn check(value: &Value, path: &mut String, pattern: &mut String) -> Result<()> {
    match value {
        Value::String(s) => {
            // Count characters only when the byte length says it might matter.
            if s.len() > MAX_STRING_CHARS && s.chars().count() > MAX_STRING_CHARS {
                return Err(Error::TooLarge { what: path.clone(), limit: MAX_STRING_CHARS });
            }
        }
        Value::Array(items) => {
            let limit = MAX_ITEMS.iter().find(|(p, _)| *p == pattern.as_str()).map_or(MAX_OTHER_ITEMS, |(_, l)| *l);
            if items.len() > limit {
                return Err(Error::TooLarge { what: path.clone(), limit });
            }
            let (len, plen) = (path.len(), pattern.len());
            pattern.push_str("[]");
            for (i, item) in items.iter().enumerate() {
                let _ = write!(path, "[{i}]");
                check(item, path, pattern)?;
                path.truncate(len);
            }
            pattern.truncate(plen);
        }
        Value::Object(map) => {
            let (len, plen) = (path.len(), pattern.len());
            for (key, item) in map {
                for p in [&mut *path, &mut *pattern] {
                    if !p.is_empty() {
                        p.push('.');
                    }
                    p.push_str(key);
                }
                check(item, path, pattern)?;
                path.truncate(len);
                pattern.truncate(plen);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

pub(crate) use coopbrief_domain::briefing::canonical_json;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn caps_name_the_field_and_the_limit() {
        let mut v = json!({ "programme": { "activities": [ { "title": { "vi": "ok" } } ] } });
        check(&v, &mut String::new(), &mut String::new()).unwrap();
        v["programme"]["activities"][0]["title"]["vi"] = json!("x".repeat(MAX_STRING_CHARS + 1));
        let e = check(&v, &mut String::new(), &mut String::new()).unwrap_err();
        assert!(
            matches!(&e, Error::TooLarge { what, limit } if what == "programme.activities[0].title.vi" && *limit == MAX_STRING_CHARS),
            "{e}"
        );
        // Characters, not bytes: 20,000 Vietnamese letters are fine.
        v["programme"]["activities"][0]["title"]["vi"] = json!("ệ".repeat(MAX_STRING_CHARS));
        check(&v, &mut String::new(), &mut String::new()).unwrap();
        let values: Vec<Value> = (0..1_001).map(|_| json!(1)).collect();
        let v = json!({ "programme": { "indicators": [ { "values": values } ] } });
        let e = check(&v, &mut String::new(), &mut String::new()).unwrap_err();
        assert!(
            matches!(&e, Error::TooLarge { what, limit: 1_000 } if what == "programme.indicators[0].values"),
            "{e}"
        );
    }

    fn sha256(text: &str) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    #[test]
    fn canonical_json_sorts_keys_and_hashes_as_the_domain_does() {
        let a = canonical_json(&json!({ "b": [1, "x", { "z": null, "y": 2.5 }], "a": "é\"\n" }));
        assert_eq!(a, r#"{"a":"é\"\n","b":[1,"x",{"y":2.5,"z":null}]}"#);
        let b =
            canonical_json(&serde_json::from_str::<Value>(r#"{"a":"é\"\n","b":[1,"x",{"y":2.5,"z":null}]}"#).unwrap());
        assert_eq!(a, b);
        let value =
            json!({ "programme": { "title": { "vi": "Hà Nội – Hà Nam" }, "values": [1, 2.50, -3] }, "period": "2019" });
        assert_eq!(sha256(&canonical_json(&value)), coopbrief_domain::briefing::data_hash(&value));
        assert_ne!(sha256(&a), sha256(&canonical_json(&json!({ "a": 2 }))));
    }

    #[test]
    fn a_briefings_canonical_json_hashes_to_its_data_hash() {
        let yaml = "partners: [ { code: a, name: A, kind: city } ]\nprogrammes: [ { code: p, title: P, short_name: P, partners: [ { partner: a, role: x } ] } ]\n";
        let ds = coopbrief_domain::dataset::Dataset::parse(yaml).unwrap();
        let data = BriefingData::select(&ds.programmes[0], "2019".parse().unwrap(), &ds.partners, &ds.sectors);
        assert_eq!(sha256(&canonical_json(&checked_json(&data).unwrap())), data.data_hash());
    }
}

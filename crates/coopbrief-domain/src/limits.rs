//! How much data the system takes, in one place: the longest text, the most items of each list,
//! the largest document and the largest gRPC message.
//!
//! The import refuses what goes past these ([`crate::dataset::Dataset::validate`]), the renderer
//! checks its input against the same numbers, and the data service and its clients size their
//! gRPC messages by [`MAX_MESSAGE_BYTES`]. So whatever was imported can be briefed and exported.

use serde::Serialize;
use std::fmt::Write as _;

use crate::{Error, Result};

/// The longest string, in characters, any field may hold.
pub const MAX_STRING_CHARS: usize = 20_000;

// The most items of each list. Beyond these a briefing is no longer a briefing, and typst's
// layout time grows with them.

/// A programme's activities.
pub const MAX_ACTIVITIES: usize = 20_000;
/// A programme's projects.
pub const MAX_PROJECTS: usize = 5_000;
/// A programme's contributions.
pub const MAX_CONTRIBUTIONS: usize = 20_000;
/// A programme's indicators.
pub const MAX_INDICATORS: usize = 1_000;
/// The values of one indicator.
pub const MAX_INDICATOR_VALUES: usize = 1_000;
/// A programme's assessments.
pub const MAX_ASSESSMENTS: usize = 5_000;
/// A programme's directions.
pub const MAX_DIRECTIONS: usize = 5_000;
/// A programme's phases.
pub const MAX_PHASES: usize = 200;
/// The partners of one programme.
pub const MAX_PROGRAMME_PARTNERS: usize = 1_000;
/// The partners of a dataset (or of a briefing).
pub const MAX_PARTNERS: usize = 1_000;
/// The sectors of a dataset (or of a briefing).
pub const MAX_SECTORS: usize = 1_000;
/// The recipients (nơi nhận) of a briefing: they fit the first page's foot.
pub const MAX_RECIPIENTS: usize = 40;
/// Any other list (a project's partners, its milestones, a programme's signatories …).
pub const MAX_OTHER_ITEMS: usize = 1_000;

const MIB: usize = 1024 * 1024;

/// The largest import document (YAML text): a programme with 20,000 records of a kilobyte each
/// fits. An import whose export would be larger is refused too.
pub const MAX_DOCUMENT_BYTES: usize = 48 * MIB;

/// The largest gRPC message of the cooperation service, both ways: an import document or an
/// export plus the rest of its message, or the briefing data of a programme that was imported.
/// The data service and every client that reads those answers use this one number.
pub const MAX_MESSAGE_BYTES: usize = 64 * MIB;

// A document must fit in a message with room for the message's other fields (and for the
// briefing data's computed figures and partners, which the document does not hold).
const _: () = assert!(MAX_DOCUMENT_BYTES + 16 * MIB <= MAX_MESSAGE_BYTES);

/// Refuses a list of `len` items at `field` when it holds more than `limit`.
pub fn check_items(len: usize, limit: usize, field: &str) -> Result<()> {
    if len > limit {
        return Err(Error::invalid(field, format!("has {len} items; the limit is {limit}")));
    }
    Ok(())
}

/// Refuses a string at `field` longer than [`MAX_STRING_CHARS`] characters.
pub fn check_string(s: &str, field: &str) -> Result<()> {
    // Count characters only when the byte length says it might matter.
    if s.len() > MAX_STRING_CHARS {
        let chars = s.chars().count();
        if chars > MAX_STRING_CHARS {
            return Err(Error::invalid(field, format!("is {chars} characters long; the limit is {MAX_STRING_CHARS}")));
        }
    }
    Ok(())
}

/// Checks every string in `value` against [`MAX_STRING_CHARS`] and [`crate::check_chars`], and
/// every list in it against [`MAX_OTHER_ITEMS`], naming fields under `at`
/// (`programmes[0].activities[3].title.vi`). It walks the value's JSON form, so no field is
/// forgotten. Lists with a cap of their own (a programme's activities …) are the caller's to check
/// first; pass one resource at a time without them (a programme's header), so that the copy
/// walked stays small.
pub fn check_value<T: Serialize + ?Sized>(value: &T, at: &str) -> Result<()> {
    let json = serde_json::to_value(value).map_err(|e| Error::invalid(at, e.to_string()))?;
    walk(&json, &mut at.to_owned())
}

fn walk(value: &serde_json::Value, path: &mut String) -> Result<()> {
    use serde_json::Value;
    let inside = |path: &mut String, step: std::fmt::Arguments<'_>, v: &Value| {
        let len = path.len();
        let _ = path.write_fmt(step);
        walk(v, path)?;
        path.truncate(len);
        Ok(())
    };
    match value {
        Value::String(s) => check_string(s, path).and_then(|()| crate::check_chars(s, path)),
        Value::Array(items) => {
            check_items(items.len(), MAX_OTHER_ITEMS, path)?;
            items.iter().enumerate().try_for_each(|(i, v)| inside(path, format_args!("[{i}]"), v))
        }
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let dot = if path.is_empty() { "" } else { "." };
            inside(path, format_args!("{dot}{k}"), v)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Record {
        title: crate::Text,
        notes: Option<String>,
        tags: Vec<String>,
    }

    #[test]
    fn strings_and_lists_are_named_by_their_path() {
        let mut r = Record { title: crate::Text::vi("ok"), notes: Some("x".into()), tags: vec!["a".into()] };
        check_value(&r, "programmes[0].activities[3]").unwrap();
        r.title.vi = "x".repeat(MAX_STRING_CHARS + 1);
        let e = check_value(&r, "programmes[0].activities[3]").unwrap_err();
        assert_eq!(e.field(), Some("programmes[0].activities[3].title.vi"));
        assert_eq!(e.to_string(), "programmes[0].activities[3].title.vi: is 20001 characters long; the limit is 20000");
        // Characters, not bytes: 20,000 Vietnamese letters are fine.
        r.title.vi = "ệ".repeat(MAX_STRING_CHARS);
        check_value(&r, "a").unwrap();
        r.tags = vec![String::new(); MAX_OTHER_ITEMS + 1];
        let e = check_value(&r, "a").unwrap_err();
        assert_eq!(e.to_string(), "a.tags: has 1001 items; the limit is 1000");
        r.tags = vec![String::new(), "y".repeat(MAX_STRING_CHARS + 1)];
        assert_eq!(check_value(&r, "a").unwrap_err().field(), Some("a.tags[1]"));
    }
}

//! How much data the system takes, in one place: the longest text, the most items of each list,
//! the largest document and the largest gRPC message.
//!
//! The import refuses what goes past these ([`crate::dataset::Dataset::validate`]), the renderer
//! checks its input against the same numbers, and the data service and its clients size their
//! gRPC messages by [`MAX_MESSAGE_BYTES`]. So whatever was imported can be briefed and exported.

use serde::Serialize;
use std::fmt::Write as _;

use serde::ser;

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

/// Checks every string in `value` against [`MAX_STRING_CHARS`] and [`crate::check_chars`], and every list in it against
/// [`MAX_OTHER_ITEMS`], naming fields under `at` (`programmes[0].activities[3].title.vi`).
///
/// It walks the value's `Serialize` form, so no field is forgotten and nothing is copied.
/// Lists with a cap of their own (a programme's activities …) are the caller's to check first;
/// pass a value without them (a programme's header).
pub fn check_value<T: Serialize + ?Sized>(value: &T, at: &str) -> Result<()> {
    let mut walk = Walk { path: at.to_owned() };
    value.serialize(&mut walk).map_err(|Refusal(e)| e)
}

/// The path of the value being walked.
struct Walk {
    path: String,
}

impl Walk {
    fn enter(&mut self, key: &str) -> usize {
        let len = self.path.len();
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(key);
        len
    }
}

/// A limit the walked value goes past (or a value that could not be walked).
#[derive(Debug)]
struct Refusal(Error);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Refusal {}

impl ser::Error for Refusal {
    fn custom<M: std::fmt::Display>(message: M) -> Self {
        Refusal(Error::invalid("", message.to_string()))
    }
}

type Walked = std::result::Result<(), Refusal>;

impl<'w> ser::Serializer for &'w mut Walk {
    type Ok = ();
    type Error = Refusal;
    type SerializeSeq = Items<'w>;
    type SerializeTuple = Items<'w>;
    type SerializeTupleStruct = Items<'w>;
    type SerializeTupleVariant = Items<'w>;
    type SerializeMap = Fields<'w>;
    type SerializeStruct = Fields<'w>;
    type SerializeStructVariant = Fields<'w>;

    fn serialize_str(self, v: &str) -> Walked {
        check_string(v, &self.path).and_then(|()| crate::check_chars(v, &self.path)).map_err(Refusal)
    }
    fn serialize_bool(self, _: bool) -> Walked {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Walked {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Walked {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Walked {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Walked {
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> Walked {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Walked {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Walked {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Walked {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Walked {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Walked {
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Walked {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Walked {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Walked {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Walked {
        Ok(())
    }
    fn serialize_none(self) -> Walked {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Walked {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Walked {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Walked {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Walked {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Walked {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Walked {
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> std::result::Result<Items<'w>, Refusal> {
        if let Some(len) = len {
            check_items(len, MAX_OTHER_ITEMS, &self.path).map_err(Refusal)?;
        }
        Ok(Items { walk: self, next: 0 })
    }
    fn serialize_tuple(self, len: usize) -> std::result::Result<Items<'w>, Refusal> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> std::result::Result<Items<'w>, Refusal> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> std::result::Result<Items<'w>, Refusal> {
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, _: Option<usize>) -> std::result::Result<Fields<'w>, Refusal> {
        Ok(Fields { walk: self })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> std::result::Result<Fields<'w>, Refusal> {
        Ok(Fields { walk: self })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Fields<'w>, Refusal> {
        Ok(Fields { walk: self })
    }
}

/// The items of a list being walked, each named by its index.
struct Items<'w> {
    walk: &'w mut Walk,
    next: usize,
}

impl Items<'_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Walked {
        // A list that did not say its length up front is counted as it goes.
        check_items(self.next + 1, MAX_OTHER_ITEMS, &self.walk.path).map_err(Refusal)?;
        let len = self.walk.path.len();
        let _ = write!(self.walk.path, "[{}]", self.next);
        self.next += 1;
        value.serialize(&mut *self.walk)?;
        self.walk.path.truncate(len);
        Ok(())
    }
}

impl ser::SerializeSeq for Items<'_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Walked {
        self.item(value)
    }
    fn end(self) -> Walked {
        Ok(())
    }
}

impl ser::SerializeTuple for Items<'_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Walked {
        self.item(value)
    }
    fn end(self) -> Walked {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Items<'_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Walked {
        self.item(value)
    }
    fn end(self) -> Walked {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Items<'_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Walked {
        self.item(value)
    }
    fn end(self) -> Walked {
        Ok(())
    }
}

/// The fields of a struct (or the entries of a map) being walked, each named by its key.
struct Fields<'w> {
    walk: &'w mut Walk,
}

impl Fields<'_> {
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Walked {
        let len = self.walk.enter(key);
        value.serialize(&mut *self.walk)?;
        self.walk.path.truncate(len);
        Ok(())
    }
}

impl ser::SerializeStruct for Fields<'_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Walked {
        self.field(key, value)
    }
    fn end(self) -> Walked {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Fields<'_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Walked {
        self.field(key, value)
    }
    fn end(self) -> Walked {
        Ok(())
    }
}

impl ser::SerializeMap for Fields<'_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Walked {
        // A key is text like any other: it goes through the same check, under the map's path.
        key.serialize(&mut *self.walk)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Walked {
        value.serialize(&mut *self.walk)
    }
    fn end(self) -> Walked {
        Ok(())
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

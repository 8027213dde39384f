//! A small, defensive PDF reader and object writer: the last trailer, the cross-reference sections (tables and
//! streams, with object streams), and the few objects signing and verifying need; nothing is parsed eagerly.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::ops::Range;
use std::rc::Rc;

use crate::error::{Result, pdf_err};

/// The largest PDF this crate reads.
pub const MAX_PDF_BYTES: usize = 256 * 1024 * 1024;
/// The most a compressed stream may expand to.
const MAX_DECODED: usize = 64 * 1024 * 1024;
/// How deep arrays and dictionaries may nest.
const MAX_DEPTH: usize = 64;
/// How many cross-reference sections (revisions) are followed.
const MAX_SECTIONS: usize = 4096;
/// The largest object number accepted.
pub const MAX_OBJECTS: u32 = 8_388_607;

/// A PDF object. Reals keep their text so that rewriting an object does not change them.
#[derive(Clone, Debug, PartialEq)]
pub enum Obj {
    Null,
    Bool(bool),
    Int(i64),
    Real(String),
    Str(Vec<u8>),
    Name(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Dict),
    Ref(u32, u16),
    /// A stream: its dictionary and where its (still encoded) data lies in the buffer it was read from.
    Stream(Dict, Range<usize>),
}

impl Obj {
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Obj::Dict(d) | Obj::Stream(d, _) => Some(d),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Obj::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_name(&self) -> Option<&[u8]> {
        match self {
            Obj::Name(n) => Some(n),
            _ => None,
        }
    }
    pub fn as_ref_id(&self) -> Option<(u32, u16)> {
        match self {
            Obj::Ref(n, g) => Some((*n, *g)),
            _ => None,
        }
    }
    pub fn name(n: &str) -> Obj {
        Obj::Name(n.as_bytes().to_vec())
    }
}

/// A dictionary that keeps its keys in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dict(pub Vec<(Vec<u8>, Obj)>);

impl Dict {
    pub fn get(&self, key: &str) -> Option<&Obj> {
        self.0.iter().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v)
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Obj> {
        self.0.iter_mut().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v)
    }
    pub fn set(&mut self, key: &str, value: Obj) {
        match self.get_mut(key) {
            Some(v) => *v = value,
            None => self.0.push((key.as_bytes().to_vec(), value)),
        }
    }
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key.as_bytes());
    }
    pub fn has_name(&self, key: &str, value: &str) -> bool {
        self.get(key).and_then(Obj::as_name) == Some(value.as_bytes())
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

fn is_delim(b: u8) -> bool {
    matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

fn is_regular(b: u8) -> bool {
    !is_ws(b) && !is_delim(b)
}

/// A parser over one buffer (the file, or the decoded data of an object stream).
pub struct Parser<'a> {
    pub data: &'a [u8],
    pub pos: usize,
}

impl<'a> Parser<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Parser<'a> {
        Parser { data, pos }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    pub fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if is_ws(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// The next run of regular characters (a keyword or number), without consuming it.
    fn word_at(&self, mut pos: usize) -> &'a [u8] {
        if pos >= self.data.len() {
            return &[];
        }
        let start = pos;
        while pos < self.data.len() && is_regular(self.data[pos]) {
            pos += 1;
        }
        &self.data[start..pos]
    }

    pub fn keyword(&mut self, kw: &[u8]) -> bool {
        self.skip_ws();
        if self.word_at(self.pos) == kw {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    pub fn expect_keyword(&mut self, kw: &str) -> Result<()> {
        if self.keyword(kw.as_bytes()) { Ok(()) } else { Err(pdf_err(format!("expected `{kw}` at byte {}", self.pos))) }
    }

    /// An unsigned integer token.
    pub fn uint(&mut self) -> Result<u64> {
        self.skip_ws();
        let w = self.word_at(self.pos);
        if w.is_empty() || w.len() > 19 || !w.iter().all(u8::is_ascii_digit) {
            return Err(pdf_err(format!("expected a number at byte {}", self.pos)));
        }
        self.pos += w.len();
        let mut n: u64 = 0;
        for d in w {
            n = n * 10 + u64::from(d - b'0');
        }
        Ok(n)
    }

    pub fn object(&mut self) -> Result<Obj> {
        self.object_at_depth(0, None)
    }

    /// Parses an object; for a top-level dictionary, also records the byte span of each value.
    pub fn object_with_spans(&mut self, spans: &mut Vec<(Vec<u8>, Range<usize>)>) -> Result<Obj> {
        self.object_at_depth(0, Some(spans))
    }

    fn object_at_depth(&mut self, depth: usize, spans: Option<&mut Vec<(Vec<u8>, Range<usize>)>>) -> Result<Obj> {
        if depth > MAX_DEPTH {
            return Err(pdf_err("objects nest too deeply"));
        }
        self.skip_ws();
        let start = self.pos;
        let Some(b) = self.peek() else { return Err(pdf_err("unexpected end of file")) };
        match b {
            b'/' => {
                self.pos += 1;
                Ok(Obj::Name(self.name_body()))
            }
            b'(' => self.literal_string(),
            b'<' if self.data.get(self.pos + 1) == Some(&b'<') => {
                self.pos += 2;
                let mut dict = Dict::default();
                let mut spans = spans;
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b'>') if self.data.get(self.pos + 1) == Some(&b'>') => {
                            self.pos += 2;
                            return Ok(Obj::Dict(dict));
                        }
                        Some(b'/') => {
                            self.pos += 1;
                            let key = self.name_body();
                            self.skip_ws();
                            let vstart = self.pos;
                            let value = self.object_at_depth(depth + 1, None)?;
                            if let Some(s) = spans.as_deref_mut() {
                                s.push((key.clone(), vstart..self.pos));
                            }
                            // A duplicated key: the first one counts.
                            if dict.get_bytes(&key).is_none() {
                                dict.0.push((key, value));
                            }
                        }
                        _ => return Err(pdf_err(format!("bad dictionary at byte {start}"))),
                    }
                }
            }
            b'<' => self.hex_string(),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Obj::Array(items));
                        }
                        None => return Err(pdf_err("unterminated array")),
                        _ => items.push(self.object_at_depth(depth + 1, None)?),
                    }
                }
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => self.number_or_ref(),
            _ => {
                let w = self.word_at(self.pos);
                let obj = match w {
                    b"true" => Obj::Bool(true),
                    b"false" => Obj::Bool(false),
                    b"null" => Obj::Null,
                    _ => return Err(pdf_err(format!("unexpected token at byte {start}"))),
                };
                self.pos += w.len();
                Ok(obj)
            }
        }
    }

    fn name_body(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            if !is_regular(b) {
                break;
            }
            self.pos += 1;
            if b == b'#' {
                let h = self.data.get(self.pos..self.pos + 2).and_then(|h| std::str::from_utf8(h).ok());
                if let Some(v) = h.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(v);
                    self.pos += 2;
                    continue;
                }
            }
            out.push(b);
        }
        out
    }

    fn literal_string(&mut self) -> Result<Obj> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut depth = 1usize;
        loop {
            let Some(b) = self.peek() else { return Err(pdf_err("unterminated string")) };
            self.pos += 1;
            match b {
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(Obj::Str(out));
                    }
                    out.push(b);
                }
                b'\\' => {
                    let Some(e) = self.peek() else { return Err(pdf_err("unterminated string")) };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        other => out.push(other),
                    }
                }
                b'\r' => {
                    // An end of line in a string reads as \n.
                    if self.peek() == Some(b'\n') {
                        self.pos += 1;
                    }
                    out.push(b'\n');
                }
                _ => out.push(b),
            }
        }
    }

    fn hex_string(&mut self) -> Result<Obj> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        loop {
            let Some(b) = self.peek() else { return Err(pdf_err("unterminated hex string")) };
            self.pos += 1;
            let v = match b {
                b'>' => break,
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ if is_ws(b) => continue,
                _ => return Err(pdf_err("bad hex string")),
            };
            match high.take() {
                Some(h) => out.push(h << 4 | v),
                None => high = Some(v),
            }
        }
        if let Some(h) = high {
            out.push(h << 4);
        }
        Ok(Obj::Str(out))
    }

    fn number_or_ref(&mut self) -> Result<Obj> {
        let w = self.word_at(self.pos);
        let start = self.pos;
        self.pos += w.len();
        let text = std::str::from_utf8(w).map_err(|_| pdf_err("bad number"))?;
        if let Ok(i) = text.parse::<i64>() {
            // `n g R`?
            if i >= 0 && !text.starts_with('+') {
                let save = self.pos;
                self.skip_ws();
                let g = self.word_at(self.pos);
                if !g.is_empty() && g.len() <= 5 && g.iter().all(u8::is_ascii_digit) {
                    let after_g = self.pos + g.len();
                    let mut p = Parser { data: self.data, pos: after_g };
                    p.skip_ws();
                    if p.word_at(p.pos) == b"R" {
                        let gen_text = std::str::from_utf8(g).map_err(|_| pdf_err("bad number"))?;
                        let gen_no: u16 = gen_text.parse().map_err(|_| pdf_err("bad generation number"))?;
                        let num = u32::try_from(i).ok().filter(|n| *n <= MAX_OBJECTS);
                        let num = num.ok_or_else(|| pdf_err("object number out of range"))?;
                        self.pos = p.pos + 1;
                        return Ok(Obj::Ref(num, gen_no));
                    }
                }
                self.pos = save;
            }
            return Ok(Obj::Int(i));
        }
        let valid = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'))
            && text.bytes().filter(|b| *b == b'.').count() <= 1;
        if valid { Ok(Obj::Real(text.to_string())) } else { Err(pdf_err(format!("bad number at byte {start}"))) }
    }
}

impl Dict {
    pub fn get_bytes(&self, key: &[u8]) -> Option<&Obj> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Where the newest version of an object is.
#[derive(Clone, Copy, Debug)]
enum Entry {
    Free,
    At { offset: usize },
    InStream { stream: u32, index: u32 },
}

/// One cross-reference section as found in the file.
#[derive(Clone, Debug)]
pub struct Section {
    /// Where it starts (what `startxref` or `/Prev` points at).
    pub offset: usize,
    /// The object numbers it lists as in use.
    pub objects: Vec<u32>,
}

/// A PDF opened for reading: the newest trailer and a cross-reference index over every revision.
pub struct Doc<'a> {
    pub data: &'a [u8],
    xref: HashMap<u32, Entry>,
    /// The newest trailer (for a cross-reference stream, its dictionary).
    pub trailer: Dict,
    /// Where the newest cross-reference section starts.
    pub startxref: usize,
    /// Whether the newest section is a cross-reference stream.
    pub xref_is_stream: bool,
    /// The trailer's /Size: the next free object number.
    pub size: u32,
    /// The sections, newest first.
    pub sections: Vec<Section>,
    objstm_cache: RefCell<HashMap<u32, Rc<ObjStm>>>,
}

impl std::fmt::Debug for Doc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Doc").field("len", &self.data.len()).field("size", &self.size).finish()
    }
}

struct ObjStm {
    data: Vec<u8>,
    offsets: Vec<(u32, usize)>,
}

/// Finds the offset given after the last `startxref` keyword.
fn find_startxref(data: &[u8]) -> Result<usize> {
    let tail_start = data.len().saturating_sub(2048);
    let tail = &data[tail_start..];
    let at = rfind(tail, b"startxref").ok_or_else(|| pdf_err("no startxref: this is not a complete pdf"))?;
    let mut p = Parser::new(data, tail_start + at + b"startxref".len());
    let off = p.uint().map_err(|_| pdf_err("bad startxref"))?;
    usize::try_from(off).ok().filter(|o| *o < data.len()).ok_or_else(|| pdf_err("startxref points outside the file"))
}

pub fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).rev().find(|&i| &hay[i..i + needle.len()] == needle)
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

impl<'a> Doc<'a> {
    /// Opens a PDF: reads every cross-reference section, newest first.
    pub fn load(data: &'a [u8]) -> Result<Doc<'a>> {
        if data.len() > MAX_PDF_BYTES {
            return Err(pdf_err(format!("the file is larger than {} MiB", MAX_PDF_BYTES >> 20)));
        }
        if find(&data[..data.len().min(1024)], b"%PDF-").is_none() {
            return Err(pdf_err("not a pdf file (no %PDF- header)"));
        }
        let startxref = find_startxref(data)?;
        let mut doc = Doc {
            data,
            xref: HashMap::new(),
            trailer: Dict::default(),
            startxref,
            xref_is_stream: false,
            size: 0,
            sections: Vec::new(),
            objstm_cache: RefCell::new(HashMap::new()),
        };
        let mut seen = HashSet::new();
        let mut next = Some(startxref);
        while let Some(off) = next {
            if !seen.insert(off) || seen.len() > MAX_SECTIONS {
                return Err(pdf_err("the cross-reference sections loop"));
            }
            let (trailer, is_stream) = doc.read_section(off)?;
            if doc.sections.len() == 1 {
                doc.trailer = trailer.clone();
                doc.xref_is_stream = is_stream;
            }
            next = match trailer.get("Prev") {
                None => None,
                Some(Obj::Int(p)) => Some(
                    usize::try_from(*p).ok().filter(|p| *p < data.len()).ok_or_else(|| pdf_err("bad /Prev offset"))?,
                ),
                Some(_) => return Err(pdf_err("bad /Prev")),
            };
        }
        let size = doc.trailer.get("Size").and_then(Obj::as_int).ok_or_else(|| pdf_err("the trailer has no /Size"))?;
        doc.size =
            u32::try_from(size).ok().filter(|s| *s <= MAX_OBJECTS).ok_or_else(|| pdf_err("bad trailer /Size"))?;
        Ok(doc)
    }

    /// Reads the section at `off` into the index (older entries never override newer ones); returns its trailer.
    fn read_section(&mut self, off: usize) -> Result<(Dict, bool)> {
        let mut p = Parser::new(self.data, off);
        p.skip_ws();
        if p.keyword(b"xref") {
            let mut entries = Vec::new();
            loop {
                p.skip_ws();
                if p.keyword(b"trailer") {
                    break;
                }
                let first = p.uint()?;
                let count = p.uint()?;
                if first.saturating_add(count) > u64::from(MAX_OBJECTS) + 1 {
                    return Err(pdf_err("cross-reference table out of range"));
                }
                for i in 0..count {
                    let o = p.uint()?;
                    let g = p.uint()?;
                    p.skip_ws();
                    let kind = p.peek();
                    p.pos += 1;
                    let num = u32::try_from(first + i).map_err(|_| pdf_err("object number out of range"))?;
                    let entry = match kind {
                        Some(b'n') if g <= u64::from(u16::MAX) => {
                            Entry::At { offset: usize::try_from(o).map_err(|_| pdf_err("bad offset"))? }
                        }
                        Some(b'f') => Entry::Free,
                        _ => return Err(pdf_err("bad cross-reference entry")),
                    };
                    entries.push((num, entry));
                }
            }
            let trailer = match p.object()? {
                Obj::Dict(d) => d,
                _ => return Err(pdf_err("bad trailer")),
            };
            // A hybrid file: the stream's entries first, the table's then only fill gaps.
            if let Some(Obj::Int(x)) = trailer.get("XRefStm")
                && let Some(x) = usize::try_from(*x).ok().filter(|x| *x < self.data.len())
            {
                let objects = self.read_xref_stream(x)?.1;
                self.sections.push(Section { offset: x, objects });
            }
            let mut objects = Vec::new();
            for (num, entry) in entries {
                if matches!(entry, Entry::At { .. }) {
                    objects.push(num);
                }
                self.xref.entry(num).or_insert(entry);
            }
            self.sections.push(Section { offset: off, objects });
            Ok((trailer, false))
        } else {
            let (dict, objects) = self.read_xref_stream(off)?;
            self.sections.push(Section { offset: off, objects });
            Ok((dict, true))
        }
    }

    fn read_xref_stream(&mut self, off: usize) -> Result<(Dict, Vec<u32>)> {
        let (_, _, obj) = self.parse_indirect_at(off, None)?;
        let Obj::Stream(dict, range) = obj else {
            return Err(pdf_err("startxref does not point at a cross-reference"));
        };
        if !dict.has_name("Type", "XRef") {
            return Err(pdf_err("startxref does not point at a cross-reference stream"));
        }
        let data = decode_stream(&dict, &self.data[range])?;
        let w: Vec<usize> = match dict.get("W") {
            Some(Obj::Array(a)) if a.len() == 3 => a
                .iter()
                .map(|o| o.as_int().and_then(|i| usize::try_from(i).ok()).filter(|i| *i <= 8))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| pdf_err("bad /W"))?,
            _ => return Err(pdf_err("bad /W")),
        };
        let row = w[0] + w[1] + w[2];
        if row == 0 {
            return Err(pdf_err("bad /W"));
        }
        let size = dict.get("Size").and_then(Obj::as_int).ok_or_else(|| pdf_err("no /Size"))?;
        let index: Vec<i64> = match dict.get("Index") {
            Some(Obj::Array(a)) => {
                a.iter().map(Obj::as_int).collect::<Option<Vec<_>>>().ok_or_else(|| pdf_err("bad /Index"))?
            }
            None => vec![0, size],
            Some(_) => return Err(pdf_err("bad /Index")),
        };
        let field = |bytes: &[u8]| bytes.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
        let mut rows = data.chunks_exact(row);
        let mut objects = Vec::new();
        for pair in index.chunks(2) {
            let [first, count] = pair else { return Err(pdf_err("bad /Index")) };
            if *first < 0 || *count < 0 || first.saturating_add(*count) > i64::from(MAX_OBJECTS) + 1 {
                return Err(pdf_err("bad /Index"));
            }
            for i in 0..*count {
                let Some(r) = rows.next() else { return Err(pdf_err("cross-reference stream too short")) };
                let kind = if w[0] == 0 { 1 } else { field(&r[..w[0]]) };
                let a = field(&r[w[0]..w[0] + w[1]]);
                let b = field(&r[w[0] + w[1]..]);
                let num = u32::try_from(first + i).map_err(|_| pdf_err("bad /Index"))?;
                let entry = match kind {
                    0 => Entry::Free,
                    1 => {
                        objects.push(num);
                        Entry::At { offset: usize::try_from(a).map_err(|_| pdf_err("bad offset"))? }
                    }
                    2 => {
                        objects.push(num);
                        Entry::InStream {
                            stream: u32::try_from(a).map_err(|_| pdf_err("bad object stream"))?,
                            index: u32::try_from(b).map_err(|_| pdf_err("bad object stream index"))?,
                        }
                    }
                    _ => continue,
                };
                self.xref.entry(num).or_insert(entry);
            }
        }
        Ok((dict, objects))
    }

    /// Parses `n g obj ... endobj` at `off` (streams included); `spans` gets the byte span of each top-level
    /// dictionary value.
    pub fn parse_indirect_at(
        &self,
        off: usize,
        spans: Option<&mut Vec<(Vec<u8>, Range<usize>)>>,
    ) -> Result<(u32, u16, Obj)> {
        let mut p = Parser::new(self.data, off);
        let num = p.uint()?;
        let generation = p.uint()?;
        p.expect_keyword("obj")?;
        let obj = match spans {
            Some(s) => p.object_with_spans(s)?,
            None => p.object()?,
        };
        let num = u32::try_from(num).ok().filter(|n| *n <= MAX_OBJECTS).ok_or_else(|| pdf_err("bad object number"))?;
        let generation = u16::try_from(generation).map_err(|_| pdf_err("bad generation number"))?;
        if let Obj::Dict(dict) = obj {
            if p.keyword(b"stream") {
                // The data begins after CRLF or LF.
                if p.data.get(p.pos) == Some(&b'\r') {
                    p.pos += 1;
                }
                if p.data.get(p.pos) == Some(&b'\n') {
                    p.pos += 1;
                }
                let start = p.pos;
                let declared = match dict.get("Length") {
                    Some(Obj::Int(l)) => usize::try_from(*l).ok(),
                    Some(Obj::Ref(n, _)) if *n != num => {
                        self.get_plain(*n).ok().and_then(|o| o.as_int()).and_then(|l| usize::try_from(l).ok())
                    }
                    _ => None,
                };
                let end = declared.and_then(|l| start.checked_add(l)).filter(|e| {
                    *e <= self.data.len() && {
                        let mut q = Parser::new(self.data, *e);
                        q.keyword(b"endstream")
                    }
                });
                let end = match end {
                    Some(e) => e,
                    None => {
                        let rel = find(&self.data[start..], b"endstream")
                            .ok_or_else(|| pdf_err("stream without endstream"))?;
                        let mut e = start + rel;
                        if e > start && self.data[e - 1] == b'\n' {
                            e -= 1;
                        }
                        if e > start && self.data[e - 1] == b'\r' {
                            e -= 1;
                        }
                        e
                    }
                };
                return Ok((num, generation, Obj::Stream(dict, start..end)));
            }
            return Ok((num, generation, Obj::Dict(dict)));
        }
        Ok((num, generation, obj))
    }

    /// The byte offset of an object stored directly in the file.
    pub fn offset_of(&self, num: u32) -> Option<usize> {
        match self.xref.get(&num) {
            Some(Entry::At { offset }) => Some(*offset),
            _ => None,
        }
    }

    /// The newest version of object `num` (a missing object reads as null, as the standard says).
    pub fn get(&self, num: u32) -> Result<Obj> {
        match self.xref.get(&num) {
            None | Some(Entry::Free) => Ok(Obj::Null),
            Some(Entry::At { offset }) => {
                let (n, _, obj) = self.parse_indirect_at(*offset, None)?;
                if n != num {
                    return Err(pdf_err(format!("the cross-reference entry of object {num} is wrong")));
                }
                Ok(obj)
            }
            Some(Entry::InStream { stream, index }) => {
                let stm = self.object_stream(*stream)?;
                let (n, off) = *stm.offsets.get(*index as usize).ok_or_else(|| pdf_err("bad object stream index"))?;
                if n != num {
                    return Err(pdf_err(format!("object {num} is not where its object stream says")));
                }
                let mut p = Parser::new(&stm.data, off);
                let obj = p.object()?;
                // A stream inside an object stream cannot be; its data range would not mean anything here.
                Ok(obj)
            }
        }
    }

    /// `get` for an object that must not be a stream inside an object stream (used for /Length).
    fn get_plain(&self, num: u32) -> Result<Obj> {
        match self.xref.get(&num) {
            Some(Entry::At { offset }) => {
                let mut p = Parser::new(self.data, *offset);
                p.uint()?;
                p.uint()?;
                p.expect_keyword("obj")?;
                p.object()
            }
            _ => self.get(num),
        }
    }

    fn object_stream(&self, num: u32) -> Result<Rc<ObjStm>> {
        if let Some(s) = self.objstm_cache.borrow().get(&num) {
            return Ok(Rc::clone(s));
        }
        let Some(Entry::At { offset }) = self.xref.get(&num) else {
            return Err(pdf_err("an object stream is missing"));
        };
        let (_, _, obj) = self.parse_indirect_at(*offset, None)?;
        let Obj::Stream(dict, range) = obj else { return Err(pdf_err("bad object stream")) };
        let data = decode_stream(&dict, &self.data[range])?;
        let n = dict
            .get("N")
            .and_then(Obj::as_int)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| pdf_err("bad /N"))?;
        let first = dict
            .get("First")
            .and_then(Obj::as_int)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| pdf_err("bad /First"))?;
        let mut p = Parser::new(&data, 0);
        let mut offsets = Vec::with_capacity(n.min(100_000));
        for _ in 0..n {
            let onum = u32::try_from(p.uint()?).map_err(|_| pdf_err("bad object stream"))?;
            let ooff = usize::try_from(p.uint()?).map_err(|_| pdf_err("bad object stream"))?;
            offsets.push((onum, first.checked_add(ooff).ok_or_else(|| pdf_err("bad object stream"))?));
        }
        let stm = Rc::new(ObjStm { data, offsets });
        self.objstm_cache.borrow_mut().insert(num, Rc::clone(&stm));
        Ok(stm)
    }

    /// Follows a reference (chains of references included).
    pub fn resolve(&self, obj: &Obj) -> Result<Obj> {
        let mut cur = obj.clone();
        for _ in 0..16 {
            match cur {
                Obj::Ref(n, _) => cur = self.get(n)?,
                other => return Ok(other),
            }
        }
        Err(pdf_err("references loop"))
    }

    /// The object a reference points at, which must be a dictionary.
    pub fn dict_of(&self, obj: &Obj, what: &str) -> Result<Dict> {
        match self.resolve(obj)? {
            Obj::Dict(d) | Obj::Stream(d, _) => Ok(d),
            _ => Err(pdf_err(format!("the {what} is not a dictionary"))),
        }
    }
}

/// Decodes a stream's data (FlateDecode with PNG predictors, or no filter).
pub fn decode_stream(dict: &Dict, raw: &[u8]) -> Result<Vec<u8>> {
    let filters: Vec<&[u8]> = match dict.get("Filter") {
        None => Vec::new(),
        Some(Obj::Name(n)) => vec![n.as_slice()],
        Some(Obj::Array(a)) => a.iter().filter_map(Obj::as_name).collect(),
        Some(_) => return Err(pdf_err("bad /Filter")),
    };
    let mut data = raw.to_vec();
    for (i, f) in filters.iter().enumerate() {
        if *f != b"FlateDecode" && *f != b"Fl" {
            return Err(pdf_err(format!("unsupported stream filter /{}", String::from_utf8_lossy(f))));
        }
        data = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&data, MAX_DECODED)
            .map_err(|_| pdf_err("a compressed stream cannot be decoded"))?;
        let parms = match dict.get("DecodeParms") {
            Some(Obj::Array(a)) => a.get(i).and_then(Obj::as_dict),
            Some(other) => other.as_dict(),
            None => None,
        };
        if let Some(parms) = parms {
            data = unpredict(parms, &data)?;
        }
    }
    Ok(data)
}

/// Undoes a PNG predictor (the only kind cross-reference streams use).
fn unpredict(parms: &Dict, data: &[u8]) -> Result<Vec<u8>> {
    let predictor = parms.get("Predictor").and_then(Obj::as_int).unwrap_or(1);
    if predictor < 10 {
        if predictor == 1 {
            return Ok(data.to_vec());
        }
        return Err(pdf_err("unsupported stream predictor"));
    }
    let columns = parms.get("Columns").and_then(Obj::as_int).unwrap_or(1);
    let colors = parms.get("Colors").and_then(Obj::as_int).unwrap_or(1);
    let bpc = parms.get("BitsPerComponent").and_then(Obj::as_int).unwrap_or(8);
    if !(1..=1 << 16).contains(&columns) || !(1..=4).contains(&colors) || !matches!(bpc, 1 | 2 | 4 | 8 | 16) {
        return Err(pdf_err("bad predictor parameters"));
    }
    let bpp = usize::try_from((colors * bpc + 7) / 8).map_err(|_| pdf_err("bad predictor"))?;
    let width = usize::try_from((columns * colors * bpc + 7) / 8).map_err(|_| pdf_err("bad predictor"))?;
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; width];
    for chunk in data.chunks(width + 1) {
        let (kind, row) = chunk.split_first().ok_or_else(|| pdf_err("bad predictor data"))?;
        let mut cur = vec![0u8; width];
        for i in 0..row.len() {
            let left = if i >= bpp { cur[i - bpp] } else { 0 };
            let up = prev[i];
            let up_left = if i >= bpp { prev[i - bpp] } else { 0 };
            let x = row[i];
            cur[i] = match kind {
                0 => x,
                1 => x.wrapping_add(left),
                2 => x.wrapping_add(up),
                3 => x.wrapping_add(((u16::from(left) + u16::from(up)) / 2) as u8),
                4 => {
                    let p = i16::from(left) + i16::from(up) - i16::from(up_left);
                    let (pa, pb, pc) =
                        ((p - i16::from(left)).abs(), (p - i16::from(up)).abs(), (p - i16::from(up_left)).abs());
                    let pred = if pa <= pb && pa <= pc {
                        left
                    } else if pb <= pc {
                        up
                    } else {
                        up_left
                    };
                    x.wrapping_add(pred)
                }
                _ => return Err(pdf_err("bad png predictor")),
            };
        }
        out.extend_from_slice(&cur[..row.len()]);
        prev = cur;
    }
    Ok(out)
}

/// Serialises an object (never a stream) the way the file will hold it.
pub fn write_obj(out: &mut Vec<u8>, obj: &Obj) {
    match obj {
        Obj::Null => out.extend_from_slice(b"null"),
        Obj::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Obj::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Obj::Real(r) => out.extend_from_slice(r.as_bytes()),
        Obj::Str(s) => write_string(out, s),
        Obj::Name(n) => write_name(out, n),
        Obj::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_obj(out, item);
            }
            out.push(b']');
        }
        Obj::Dict(d) | Obj::Stream(d, _) => write_dict(out, d),
        Obj::Ref(n, g) => out.extend_from_slice(format!("{n} {g} R").as_bytes()),
    }
}

pub fn write_dict(out: &mut Vec<u8>, d: &Dict) {
    out.extend_from_slice(b"<<");
    for (k, v) in &d.0 {
        write_name(out, k);
        out.push(b' ');
        write_obj(out, v);
    }
    out.extend_from_slice(b">>");
}

fn write_name(out: &mut Vec<u8>, n: &[u8]) {
    out.push(b'/');
    for &b in n {
        if (0x21..=0x7e).contains(&b) && !is_delim(b) && b != b'#' {
            out.push(b);
        } else {
            let _ = write!(HexPush(out), "#{b:02X}");
        }
    }
}

struct HexPush<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for HexPush<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.iter().all(|b| (0x20..=0x7e).contains(b)) {
        out.push(b'(');
        for &b in s {
            if matches!(b, b'(' | b')' | b'\\') {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b')');
    } else {
        out.push(b'<');
        out.extend_from_slice(hex::encode_upper(s).as_bytes());
        out.push(b'>');
    }
}

/// A PDF text string: printable ASCII as is, anything else as UTF-16BE with a byte order mark.
pub fn text_string(s: &str) -> Obj {
    if s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        Obj::Str(s.as_bytes().to_vec())
    } else {
        let mut v = vec![0xfe, 0xff];
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_be_bytes());
        }
        Obj::Str(v)
    }
}

/// Reads a PDF text string: UTF-16BE (with its BOM), UTF-8 (with its BOM) or PDFDocEncoding.
pub fn decode_text(b: &[u8]) -> String {
    if let Some(rest) = b.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = rest.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        // Language escapes (U+001B ... U+001B) are dropped.
        let mut s = String::new();
        let mut in_escape = false;
        for c in char::decode_utf16(units.iter().copied()) {
            let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
            if c == '\u{1b}' {
                in_escape = !in_escape;
            } else if !in_escape {
                s.push(c);
            }
        }
        return s;
    }
    if let Some(rest) = b.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    b.iter().map(|&c| pdfdoc_char(c)).collect()
}

fn pdfdoc_char(c: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{2022}', '\u{2020}', '\u{2021}', '\u{2026}', '\u{2014}', '\u{2013}', '\u{0192}', '\u{2044}', '\u{2039}',
        '\u{203a}', '\u{2212}', '\u{2030}', '\u{201e}', '\u{201c}', '\u{201d}', '\u{2018}', '\u{2019}', '\u{201a}',
        '\u{2122}', '\u{fb01}', '\u{fb02}', '\u{0141}', '\u{0152}', '\u{0160}', '\u{0178}', '\u{017d}', '\u{0131}',
        '\u{0142}', '\u{0153}', '\u{0161}', '\u{017e}', '\u{fffd}',
    ];
    const LOW: [char; 8] =
        ['\u{02d8}', '\u{02c7}', '\u{02c6}', '\u{02d9}', '\u{02dd}', '\u{02db}', '\u{02da}', '\u{02dc}'];
    match c {
        0x18..=0x1f => LOW[usize::from(c - 0x18)],
        0x80..=0x9f => HIGH[usize::from(c - 0x80)],
        0xa0 => '\u{20ac}',
        0xad => '\u{fffd}',
        _ => char::from(c),
    }
}

/// A date as PDF writes it: `D:YYYYMMDDHHmmSSZ`, in UTC.
pub fn pdf_date(t: jiff::Timestamp) -> String {
    t.strftime("D:%Y%m%d%H%M%SZ").to_string()
}

/// Reads a PDF date (`D:YYYYMMDDHHmmSS` with an optional `Z` or `+HH'mm'`); missing parts default.
pub fn parse_pdf_date(s: &str) -> Option<jiff::Timestamp> {
    let s = s.strip_prefix("D:").unwrap_or(s);
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return None;
    }
    let part = |from: usize, len: usize, default: i32| -> Option<i32> {
        digits.get(from..from + len).map_or(Some(default), |p| p.parse().ok())
    };
    let year = i16::try_from(part(0, 4, 0)?).ok()?;
    let month = i8::try_from(part(4, 2, 1)?).ok()?;
    let day = i8::try_from(part(6, 2, 1)?).ok()?;
    let hour = i8::try_from(part(8, 2, 0)?).ok()?;
    let minute = i8::try_from(part(10, 2, 0)?).ok()?;
    let second = i8::try_from(part(12, 2, 0)?).ok()?;
    let dt = jiff::civil::DateTime::new(year, month, day, hour, minute, second, 0).ok()?;
    let rest = &s[digits.len()..];
    let offset_secs: i32 = match rest.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let nums: Vec<i32> = rest[1..]
                .split(|c: char| !c.is_ascii_digit())
                .filter(|p| !p.is_empty())
                .map(|p| p.parse().unwrap_or(0))
                .collect();
            let h = nums.first().copied().unwrap_or(0);
            let m = nums.get(1).copied().unwrap_or(0);
            let v = h * 3600 + m * 60;
            if sign == '-' { -v } else { v }
        }
        _ => 0,
    };
    let offset = jiff::tz::Offset::from_seconds(offset_secs).ok()?;
    offset.to_timestamp(dt).ok()
}

/// Object numbers and offsets of new or rewritten objects, written as a cross-reference table or stream.
pub fn write_xref_table(out: &mut Vec<u8>, entries: &mut [(u32, u16, usize)]) {
    entries.sort_unstable_by_key(|e| e.0);
    out.extend_from_slice(b"xref\n");
    let mut i = 0;
    while i < entries.len() {
        let mut j = i + 1;
        while j < entries.len() && entries[j].0 == entries[j - 1].0 + 1 {
            j += 1;
        }
        out.extend_from_slice(format!("{} {}\n", entries[i].0, j - i).as_bytes());
        for e in &entries[i..j] {
            out.extend_from_slice(format!("{:010} {:05} n\r\n", e.2, e.1).as_bytes());
        }
        i = j;
    }
}

/// The /Index array and binary rows (/W [1 4 2]) of a cross-reference stream over `entries`.
pub fn xref_stream_rows(entries: &mut [(u32, u16, usize)]) -> Result<(Vec<Obj>, Vec<u8>)> {
    entries.sort_unstable_by_key(|e| e.0);
    let mut index = Vec::new();
    let mut rows = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let mut j = i + 1;
        while j < entries.len() && entries[j].0 == entries[j - 1].0 + 1 {
            j += 1;
        }
        index.push(Obj::Int(i64::from(entries[i].0)));
        index.push(Obj::Int(i64::try_from(j - i).map_err(|_| pdf_err("too many objects"))?));
        for e in &entries[i..j] {
            let off = u32::try_from(e.2).map_err(|_| pdf_err("offset too large for the cross-reference stream"))?;
            rows.push(1);
            rows.extend_from_slice(&off.to_be_bytes());
            rows.extend_from_slice(&e.1.to_be_bytes());
        }
        i = j;
    }
    Ok((index, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects() {
        let mut p = Parser::new(b"<</A 1 0 R/B[1 2.5 (x\\)y) <4142>]/C /N#20x/D true>>", 0);
        let o = p.object().expect("object");
        let d = o.as_dict().expect("dict");
        assert_eq!(d.get("A"), Some(&Obj::Ref(1, 0)));
        assert_eq!(
            d.get("B"),
            Some(&Obj::Array(vec![
                Obj::Int(1),
                Obj::Real("2.5".into()),
                Obj::Str(b"x)y".to_vec()),
                Obj::Str(b"AB".to_vec())
            ]))
        );
        assert_eq!(d.get("C"), Some(&Obj::Name(b"N x".to_vec())));
        let mut out = Vec::new();
        write_obj(&mut out, &o);
        assert_eq!(out, b"<</A 1 0 R/B [1 2.5 (x\\)y) (AB)]/C /N#20x/D true>>");
    }

    #[test]
    fn text_round_trip() {
        let Obj::Str(s) = text_string("Hà Nội") else { panic!("string") };
        assert_eq!(decode_text(&s), "Hà Nội");
        assert_eq!(decode_text(b"abc\x84"), "abc\u{2014}");
    }

    #[test]
    fn dates() {
        let t: jiff::Timestamp = "2026-11-26T09:30:00Z".parse().expect("ts");
        assert_eq!(pdf_date(t), "D:20261126093000Z");
        assert_eq!(parse_pdf_date("D:20261126093000Z"), Some(t));
        assert_eq!(parse_pdf_date("D:20261126163000+07'00'"), Some(t));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let data = vec![b'['; 10_000];
        assert!(Parser::new(&data, 0).object().is_err());
    }
}

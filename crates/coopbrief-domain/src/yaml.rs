//! A linear look at YAML text before it is parsed, so that hostile documents are refused in
//! bounded time and memory: the YAML parser's work grows with the square of the nesting depth,
//! and aliases expand before anything is checked (a small document can ask for gigabytes).
//!
//! The dataset needs neither: it nests a handful of levels and never repeats a node. So a
//! document may nest flow collections at most [`MAX_FLOW_DEPTH`] deep and be indented at most
//! [`MAX_INDENT`] columns, may not use anchors or aliases, and may be at most [`MAX_BYTES`] long.

use crate::{Error, Result};

/// The largest document: a programme with 20,000 records of a kilobyte each fits. The gRPC
/// messages that carry a document are sized from the same limit (see [`crate::limits`]).
pub const MAX_BYTES: usize = crate::limits::MAX_DOCUMENT_BYTES;
/// How deep `{` and `[` may nest.
pub const MAX_FLOW_DEPTH: usize = 32;
/// How far a line may be indented (block nesting).
pub const MAX_INDENT: usize = 128;

fn refuse(line: usize, message: String) -> Error {
    Error::Dataset { path: "<input>".into(), message: format!("line {line}: {message}") }
}

/// Checks the shape of a YAML document in one pass over its bytes.
pub fn check(text: &str) -> Result<()> {
    if text.len() > MAX_BYTES {
        return Err(Error::Dataset {
            path: "<input>".into(),
            message: format!("the document is {} bytes; the limit is {MAX_BYTES}", text.len()),
        });
    }
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    // Inside a block scalar (`|`, `>`): lines indented more than this are its text.
    let mut block: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let bytes = line.as_bytes();
        let indent = bytes.iter().take_while(|b| **b == b' ').count();
        if let Some(parent) = block {
            if indent > parent || line.trim().is_empty() {
                continue;
            }
            block = None;
        }
        if quote.is_none() && indent > MAX_INDENT {
            return Err(refuse(n, format!("indented {indent} columns; the limit is {MAX_INDENT}")));
        }
        // The last significant byte before the current one, outside quotes: a node starts after
        // one of `: - [ { , ?` or at the start of a line.
        let mut before = b'\n';
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if let Some(q) = quote {
                match b {
                    b'\\' if q == b'"' => i += 1,
                    b'\'' if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 1,
                    _ if b == q => {
                        quote = None;
                        before = b;
                    }
                    _ => {}
                }
                i += 1;
                continue;
            }
            let spaced = i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t';
            let after_flow = i > 0 && matches!(bytes[i - 1], b'[' | b'{' | b',');
            let node_start = matches!(before, b'\n' | b':' | b'-' | b'[' | b'{' | b',' | b'?');
            match b {
                b'#' if spaced => break,
                b'"' | b'\'' if node_start => quote = Some(b),
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Err(refuse(n, format!("nested more than {MAX_FLOW_DEPTH} levels deep")));
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                b'&' | b'*'
                    if node_start
                        && (spaced || after_flow)
                        && bytes.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) =>
                {
                    return Err(refuse(n, "anchors and aliases (& and *) are not accepted".into()));
                }
                b'|' | b'>' if node_start && depth == 0 => {
                    let rest = line[i + 1..].split('#').next().unwrap_or("");
                    if rest.trim().bytes().all(|c| matches!(c, b'-' | b'+' | b'0'..=b'9')) {
                        block = Some(indent);
                        break;
                    }
                }
                _ => {}
            }
            if !b.is_ascii_whitespace() {
                before = b;
            }
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_pass() {
        check(crate::dataset::BUNDLED).unwrap();
        let text = "title: \"R&D *and* more\"\nnote: Hà Nội & Hà Nam, so *many* fairs\ntext: |\n  * a list\n  & more\nother: 'it''s {'\nlist: [a, {b: c}]\n";
        check(text).unwrap();
        let exported = crate::exchange::to_yaml(&crate::dataset::Dataset::bundled().unwrap()).unwrap();
        check(&exported).unwrap();
    }

    #[test]
    fn deep_nesting_is_refused_fast() {
        let n = 400_000;
        let text = format!("{}1{}", "{a: ".repeat(n), "}".repeat(n));
        let started = std::time::Instant::now();
        let err = check(&text).unwrap_err().to_string();
        assert!(err.contains("nested more than 32 levels"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_millis(200));
        let deep = (0..200).map(|i| format!("{}a{i}:\n", " ".repeat(i))).collect::<String>();
        assert!(check(&deep).unwrap_err().to_string().contains("indented"));
    }

    #[test]
    fn anchors_and_aliases_are_refused() {
        for text in ["a: &x [1, 2]\nb: *x\n", "- &big {t: 1}\n- *big\n", "a: [*x, 1]\n"] {
            let err = check(text).unwrap_err().to_string();
            assert!(err.contains("anchors and aliases"), "{text:?}: {err}");
        }
    }

    #[test]
    fn size_is_capped() {
        let big = "a".repeat(MAX_BYTES + 1);
        assert!(check(&big).unwrap_err().to_string().contains("limit"));
    }
}

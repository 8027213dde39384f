//! The import/export document: one programme, with the partners and sectors it uses, as YAML
//! that a person can edit. Parsing names the line, the field and the value of what is wrong.

use crate::dataset::Dataset;
use crate::limits::MAX_DOCUMENT_BYTES;
use crate::{Error, Result};

/// The first lines of every exported document.
const HEADER: &str = "# Coopbrief programme export: edit and import with `coopbrief data import FILE`.\n\
# Text is { vi: …, en: … }; periods are 2019, 2019-H1, 2019-Q3, 2019-07, 2015..2018 or 2019-01-15..2019-03-31.\n";

/// Writes the document. The same dataset always gives the same bytes.
pub fn to_yaml(dataset: &Dataset) -> Result<String> {
    let body = serde_yaml_ng::to_string(dataset)
        .map_err(|e| Error::Dataset { path: "<export>".into(), message: e.to_string() })?;
    Ok(format!("{HEADER}{body}"))
}

/// Reads and checks a document, and that its export fits in [`MAX_DOCUMENT_BYTES`] too. Syntax
/// errors carry serde's line and column; a value that fails a check is looked up in the text so
/// that the error names its line too.
pub fn from_yaml(text: &str) -> Result<Dataset> {
    let dataset = Dataset::parse(text)?;
    dataset.validate().map_err(|e| match e {
        Error::Invalid { field, message } => {
            let line = locate(text, &field, &message).map(|n| format!("line {n}: ")).unwrap_or_default();
            Error::Invalid { field: field.clone(), message: format!("{line}{message}") }
        }
        other => other,
    })?;
    // What imports must export: a compact document (flow style) can grow when written out.
    // Counted as it is written, not kept: the document itself may be tens of megabytes.
    let exported = exported_len(&dataset)?;
    if exported > MAX_DOCUMENT_BYTES {
        return Err(Error::Dataset {
            path: "<input>".into(),
            message: format!("exported, the document would be {exported} bytes; the limit is {MAX_DOCUMENT_BYTES}"),
        });
    }
    Ok(dataset)
}

/// How many bytes [`to_yaml`] would write, without keeping them.
fn exported_len(dataset: &Dataset) -> Result<usize> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(HEADER.len());
    serde_yaml_ng::to_writer(&mut count, dataset)
        .map_err(|e| Error::Dataset { path: "<export>".into(), message: e.to_string() })?;
    Ok(count.0)
}

/// The line (1-based) that most likely holds `field`: the first line with its key and, when the
/// message quotes a value, that value. Without a value, only a key on one line alone: `vi:` or
/// `title:` appear on many, and a wrong line is worse than none. Comments are skipped.
fn locate(text: &str, field: &str, message: &str) -> Option<usize> {
    let leaf = field.rsplit('.').next()?.split('[').next()?;
    let value = message.split('"').nth(1).filter(|v| !v.is_empty());
    let key = format!("{leaf}:");
    let hit = |line: &str| {
        !line.trim_start().starts_with('#') && line.contains(&key) && value.is_none_or(|v| line.contains(v))
    };
    let mut hits = text.lines().enumerate().filter(|(_, line)| hit(line)).map(|(i, _)| i + 1);
    let first = hits.next()?;
    if value.is_none() && hits.next().is_some() {
        return None;
    }
    Some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_is_measured_as_written() {
        let seed = Dataset::bundled().unwrap();
        assert_eq!(exported_len(&seed).unwrap(), to_yaml(&seed).unwrap().len());
    }

    #[test]
    fn the_seed_round_trips_byte_for_byte() {
        let seed = Dataset::bundled().unwrap();
        assert_eq!(from_yaml(crate::dataset::BUNDLED).unwrap(), seed, "data/ imports as it is");
        let once = to_yaml(&seed).unwrap();
        let again = from_yaml(&once).unwrap();
        assert_eq!(again, seed);
        assert_eq!(to_yaml(&again).unwrap(), once);
    }

    #[test]
    fn errors_name_line_field_and_value() {
        let seed = to_yaml(&Dataset::bundled().unwrap()).unwrap();
        let broken = seed.replacen("sector: transport", "sector: railways", 1);
        let err = from_yaml(&broken).unwrap_err();
        let line = broken.lines().position(|l| l.contains("railways")).unwrap() + 1;
        assert_eq!(err.field(), Some("programmes[0].projects[0].sector"), "{err}");
        assert!(err.to_string().contains(&format!("line {line}")) && err.to_string().contains("railways"), "{err}");

        let broken = seed.replacen("kind: city", "kind: metropolis", 1);
        let text = from_yaml(&broken).unwrap_err().to_string();
        assert!(text.contains("line ") && text.contains("metropolis") && text.contains("kind"), "{text}");
    }
}

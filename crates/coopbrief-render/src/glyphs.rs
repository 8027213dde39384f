//! The promise "never a PDF with boxes": every character the template will show must be in the
//! fonts, checked on the view model (to name the field) and again on the laid-out pages.

use serde_json::Value;
use typst::layout::{Frame, FrameItem};
use typst::text::Font;
use typst_layout::PagedDocument;

use crate::{Error, Result};

/// Characters that are not drawn: controls (line breaks, tabs) and default-ignorable format characters.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}')
}

/// Fails on the first character of any string in `view` that one of `fonts` lacks.
///
/// The template may write any string in any of the faces (bold, italic …), so a character must be
/// in all of them.
pub(crate) fn check_view(view: &Value, fonts: &[Font]) -> Result<()> {
    let covered = |c: char| is_invisible(c) || fonts.iter().all(|f| f.info().coverage.contains(u32::from(c)));
    walk(view, &mut String::new(), &covered)
}

fn walk(value: &Value, path: &mut String, covered: &dyn Fn(char) -> bool) -> Result<()> {
    match value {
        Value::String(s) => {
            if let Some(c) = s.chars().find(|c| !covered(*c)) {
                return Err(Error::MissingGlyph { character: c, field: path.clone() });
            }
        }
        Value::Array(items) => {
            let len = path.len();
            for (i, item) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                walk(item, path, covered)?;
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            let len = path.len();
            for (key, item) in map {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                walk(item, path, covered)?;
                path.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// Fails if a glyph on any page is the font's `.notdef` box: text the template itself wrote
/// (an operator's template, a label) that the view-model check could not see.
pub(crate) fn check_document(document: &PagedDocument) -> Result<()> {
    document.pages().iter().try_for_each(|page| check_frame(&page.frame))
}

fn check_frame(frame: &Frame) -> Result<()> {
    for (_, item) in frame.items() {
        match item {
            FrameItem::Group(group) => check_frame(&group.frame)?,
            FrameItem::Text(text) => {
                for glyph in text.glyphs.iter().filter(|g| g.id == 0) {
                    let c = text.text.get(glyph.range()).and_then(|s| s.chars().next()).unwrap_or('\u{FFFD}');
                    if !is_invisible(c) {
                        return Err(Error::MissingGlyph { character: c, field: "template text".into() });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

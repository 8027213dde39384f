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

/// The characters that can be drawn: those every face has (the template may write any string in
/// any of them: bold, italic …) and the invisible ones. A bitmap of the Basic Multilingual Plane,
/// built once per renderer, answers for nearly all text with one lookup; the fonts are asked
/// about the rest.
#[derive(Debug)]
pub(crate) struct Drawable {
    fonts: Vec<Font>,
    bmp: Box<[u64]>,
}

impl Drawable {
    /// Asks the fonts about every character of the plane once (a few milliseconds, at set-up).
    pub(crate) fn new(fonts: &[Font]) -> Drawable {
        let mut drawable = Drawable { fonts: fonts.to_vec(), bmp: Box::new([]) };
        let mut bits = vec![0u64; 0x10000 / 64];
        for c in (0..0x10000u32).filter_map(char::from_u32).filter(|c| drawable.asked(*c)) {
            let i = c as usize;
            bits[i / 64] |= 1 << (i % 64);
        }
        drawable.bmp = bits.into_boxed_slice();
        drawable
    }

    fn asked(&self, c: char) -> bool {
        is_invisible(c) || self.fonts.iter().all(|f| f.info().coverage.contains(u32::from(c)))
    }

    pub(crate) fn contains(&self, c: char) -> bool {
        match self.bmp.get(c as usize / 64) {
            Some(word) => word & (1 << (c as usize % 64)) != 0,
            None => self.asked(c),
        }
    }
}

/// Fails on the first character of any string in `view` that cannot be drawn, naming its field.
pub(crate) fn check_view(view: &Value, drawable: &Drawable) -> Result<()> {
    let covered = |c: char| drawable.contains(c);
    // The path of fields is built only once a character is missing.
    if all_covered(view, &covered) { Ok(()) } else { walk(view, &mut String::new(), &covered) }
}

fn all_covered(value: &Value, covered: &dyn Fn(char) -> bool) -> bool {
    match value {
        Value::String(s) => s.chars().all(covered),
        Value::Array(items) => items.iter().all(|item| all_covered(item, covered)),
        Value::Object(map) => map.values().all(|item| all_covered(item, covered)),
        Value::Null | Value::Bool(_) | Value::Number(_) => true,
    }
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

#[cfg(test)]
mod tests {
    use typst::LibraryExt;

    use crate::world::Assets;

    #[test]
    fn the_bitmap_agrees_with_the_fonts_over_the_whole_plane_and_asks_them_beyond() {
        let assets = Assets::new(typst::Library::default(), &[("/briefing.typ", "")]).unwrap();
        let drawable = &assets.drawable;
        let disagree: Vec<char> = (0..0x10000u32)
            .filter_map(char::from_u32)
            .filter(|c| drawable.contains(*c) != drawable.asked(*c))
            .collect();
        assert!(disagree.is_empty(), "{disagree:?}");
        assert!("Hà Nội, Hà Nam: Đường Vành đai 5, Nhuệ–Đáy, ắằẳẵặ ỡợ ữự".chars().all(|c| drawable.contains(c)));
        assert!(!drawable.contains('中'), "CJK is not in Liberation Serif");
        assert!(!drawable.contains('😀'), "beyond the plane, the fonts are asked");
    }
}

//! The typst `World` of one render: embedded templates, the data file, bundled fonts, a fixed today.
//!
//! Everything that is not embedded is denied: no file system, no packages, no clock.

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, World};

use crate::{Error, Result};

/// The virtual path under which the template reads the briefing's view model.
pub(crate) const DATA_PATH: &str = "/data.json";

/// The parts of a world that do not change between renders: loaded once in `Renderer::new`.
pub(crate) struct Assets {
    pub(crate) library: LazyHash<Library>,
    pub(crate) book: LazyHash<FontBook>,
    pub(crate) fonts: Vec<Font>,
    /// The embedded template files; the first one is `main`.
    pub(crate) templates: Vec<Source>,
    pub(crate) data_id: FileId,
}

impl Assets {
    /// `templates` are `(virtual path, text)` pairs; the first is the main file.
    pub(crate) fn new(library: Library, templates: &[(&str, &str)]) -> Result<Assets> {
        // Only the bundled fonts: rendering must not depend on what the host has installed.
        let fonts: Vec<Font> = typst_assets::fonts().flat_map(|data| Font::iter(Bytes::new(data))).collect();
        if fonts.is_empty() {
            return Err(Error::Setup { message: "no bundled font could be loaded".into() });
        }
        let book = FontBook::from_fonts(&fonts);
        let mut sources = Vec::with_capacity(templates.len());
        for (path, text) in templates {
            sources.push(Source::new(project_file(path)?, (*text).to_owned()));
        }
        if sources.is_empty() {
            return Err(Error::Setup { message: "no template given".into() });
        }
        Ok(Assets {
            library: LazyHash::new(library),
            book: LazyHash::new(book),
            fonts,
            templates: sources,
            data_id: project_file(DATA_PATH)?,
        })
    }

    fn template(&self, id: FileId) -> Option<&Source> {
        self.templates.iter().find(|s| s.id() == id)
    }
}

/// A file id in the project root (not in a package).
pub(crate) fn project_file(path: &str) -> Result<FileId> {
    let vpath = VirtualPath::new(path)
        .map_err(|e| Error::Setup { message: format!("virtual path {path:?} is invalid: {e:?}") })?;
    Ok(RootedPath::new(VirtualRoot::Project, vpath).intern())
}

/// One render's world: shared assets plus this briefing's data and date.
pub(crate) struct BriefingWorld<'a> {
    pub(crate) assets: &'a Assets,
    /// The serialized view model, served as `/data.json`.
    pub(crate) data: Bytes,
    /// The generation date the caller chose; typst's `datetime.today()` returns it.
    pub(crate) today: Datetime,
}

impl World for BriefingWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.assets.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.assets.book
    }

    fn main(&self) -> FileId {
        // `Assets::new` refuses an empty template list, so the first template exists.
        self.assets.templates.first().map(Source::id).unwrap_or(self.assets.data_id)
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        self.assets.template(id).cloned().ok_or_else(|| deny(id))
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.assets.data_id {
            return Ok(self.data.clone());
        }
        self.assets.template(id).map(|s| Bytes::from_string(s.clone())).ok_or_else(|| deny(id))
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.assets.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        Some(self.today)
    }
}

/// Packages are never fetched and no other path is readable.
fn deny(_id: FileId) -> FileError {
    FileError::AccessDenied
}

#[cfg(test)]
mod tests {
    use super::*;
    use typst::LibraryExt;
    use typst::syntax::package::PackageSpec;

    fn world(assets: &Assets) -> BriefingWorld<'_> {
        BriefingWorld { assets, data: Bytes::from_string("{}"), today: Datetime::from_ymd(2026, 11, 26).unwrap() }
    }

    #[test]
    fn denies_every_file_but_the_templates_and_the_data() {
        let assets = Assets::new(Library::default(), &[("/briefing.typ", "= Hi")]).unwrap();
        let w = world(&assets);
        for path in ["/etc/passwd", "/etc/hosts", "/templates/other.typ", "/briefing.typ/../etc/passwd"] {
            let id = project_file(path).unwrap();
            assert!(matches!(w.file(id), Err(FileError::AccessDenied)), "{path}");
            assert!(matches!(w.source(id), Err(FileError::AccessDenied)), "{path}");
        }
        let spec: PackageSpec = "@preview/x:1.0.0".parse().unwrap();
        let in_package = RootedPath::new(VirtualRoot::Package(spec), VirtualPath::new("/lib.typ").unwrap()).intern();
        assert!(matches!(w.source(in_package), Err(FileError::AccessDenied)));
        assert!(matches!(w.file(in_package), Err(FileError::AccessDenied)));
        // What is embedded is served.
        assert_eq!(w.source(w.main()).unwrap().text(), "= Hi");
        assert_eq!(w.file(project_file(DATA_PATH).unwrap()).unwrap().as_slice(), b"{}");
        assert_eq!(w.today(None), Datetime::from_ymd(2026, 11, 26));
    }

    #[test]
    fn loads_the_bundled_fonts() {
        let assets = Assets::new(Library::default(), &[("/briefing.typ", "")]).unwrap();
        assert!(assets.fonts.len() >= 10);
        assert!(assets.book.families().any(|(name, _)| name.eq_ignore_ascii_case("Libertinus Serif")));
    }
}

#[cfg(test)]
mod font_coverage {
    use super::*;
    use typst::text::{FontStyle, FontWeight};

    /// Every letter Vietnamese writes with, in lower case.
    const VIETNAMESE: &str =
        "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ";

    /// The template writes in Libertinus Serif regular, bold, italic and semibold italic; it never
    /// asks for bold italic, whose face lacks ơ and ư.
    #[test]
    fn the_styles_the_template_uses_cover_vietnamese() {
        let assets = Assets::new(<Library as typst::LibraryExt>::default(), &[("/a.typ", "")]).unwrap();
        let letters: Vec<char> = VIETNAMESE.chars().flat_map(|c| [c].into_iter().chain(c.to_uppercase())).collect();
        let used = [
            (FontStyle::Normal, FontWeight::REGULAR),
            (FontStyle::Normal, FontWeight::BOLD),
            (FontStyle::Italic, FontWeight::REGULAR),
            (FontStyle::Italic, FontWeight::SEMIBOLD),
        ];
        for (style, weight) in used {
            let font = assets
                .fonts
                .iter()
                .find(|f| {
                    let i = f.info();
                    i.family == "Libertinus Serif" && i.variant.style == style && i.variant.weight == weight
                })
                .unwrap_or_else(|| panic!("no Libertinus Serif {style:?} {weight:?}"));
            let missing: String = letters.iter().filter(|c| !font.info().coverage.contains(**c as u32)).collect();
            assert_eq!(missing, "", "Libertinus Serif {style:?} {weight:?} lacks these letters");
        }
        let template = include_str!("../templates/briefing.typ");
        assert!(!template.contains("weight: \"bold\", style: \"italic\""), "bold italic lacks ơ and ư");
    }
}

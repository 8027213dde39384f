//! The typst `World` of one render: templates loaded once, the data file, embedded fonts, a fixed today.
//!
//! Everything that is not a loaded template, the view model or (in a PDF/A-3b render only) the
//! data snapshot to attach is denied: no file system, no packages, no clock.

use std::path::Path;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration, NativeElement};
use typst::introspection::Introspector as _;
use typst::pdf::AttachElem;
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, World};
use typst_layout::PagedDocument;

use crate::{Error, Result};

/// The virtual path under which the template reads the briefing's view model.
pub(crate) const DATA_PATH: &str = "/data.json";

/// The font family every template writes in: metric-compatible with Times New Roman, which
/// Nghị định 30/2020/NĐ-CP prescribes, under the SIL OFL, and it covers Vietnamese.
pub(crate) const FONT_FAMILY: &str = "Liberation Serif";

/// Liberation Serif 2.1.5 from Debian's `fonts-liberation2` (see `fonts/README.md`).
const FONTS: &[&[u8]] = &[
    include_bytes!("../fonts/LiberationSerif-Regular.ttf"),
    include_bytes!("../fonts/LiberationSerif-Bold.ttf"),
    include_bytes!("../fonts/LiberationSerif-Italic.ttf"),
    include_bytes!("../fonts/LiberationSerif-BoldItalic.ttf"),
];

/// An operator's template directory must stay small: it is read once into memory.
const MAX_TEMPLATE_FILES: usize = 64;
const MAX_TEMPLATE_BYTES: u64 = 1 << 20;

/// The parts of a world that do not change between renders: loaded once in `Renderer::new`.
pub(crate) struct Assets {
    pub(crate) library: LazyHash<Library>,
    pub(crate) book: LazyHash<FontBook>,
    pub(crate) fonts: Vec<Font>,
    /// What the fonts can draw, for the view-model check.
    pub(crate) drawable: crate::glyphs::Drawable,
    /// The template files; the first one is `main`.
    pub(crate) templates: Vec<Source>,
    pub(crate) data_id: FileId,
    pub(crate) attachment_id: FileId,
}

impl Assets {
    /// `templates` are `(virtual path, text)` pairs; the first is the main file.
    pub(crate) fn new(library: Library, templates: &[(&str, &str)]) -> Result<Assets> {
        // Only the embedded fonts: rendering must not depend on what the host has installed.
        let fonts: Vec<Font> = FONTS.iter().flat_map(|data| Font::iter(Bytes::new(*data))).collect();
        if fonts.len() != FONTS.len() || fonts.iter().any(|f| f.info().family != FONT_FAMILY) {
            return Err(Error::Setup { message: "an embedded Liberation Serif face could not be loaded".into() });
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
            drawable: crate::glyphs::Drawable::new(&fonts),
            fonts,
            templates: sources,
            data_id: project_file(DATA_PATH)?,
            attachment_id: project_file(crate::view::ATTACHMENT_PATH)?,
        })
    }

    fn template(&self, id: FileId) -> Option<&Source> {
        self.templates.iter().find(|s| s.id() == id)
    }
}

/// Reads `briefing.typ` and its sibling `.typ` files from `dir`, once; `briefing.typ` comes first.
///
/// Subdirectories and other files are ignored: the world serves nothing but these sources.
pub(crate) fn read_template_dir(dir: &Path) -> Result<Vec<(String, String)>> {
    let setup = |message: String| Error::Setup { message };
    let main = dir.join("briefing.typ");
    if !main.is_file() {
        return Err(setup(format!("template directory {} has no briefing.typ", dir.display())));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| setup(format!("failed to read {}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| setup(format!("failed to read {}: {e}", dir.display())))?.path();
        let is_typ = path.extension().is_some_and(|e| e == "typ");
        if is_typ && path.is_file() {
            files.push(path);
        }
    }
    if files.len() > MAX_TEMPLATE_FILES {
        return Err(setup(format!(
            "template directory {} has more than {MAX_TEMPLATE_FILES} .typ files",
            dir.display()
        )));
    }
    // Name order, main first: the same directory always gives the same world.
    files.sort_by_key(|p| (p.file_name() != Some("briefing.typ".as_ref()), p.clone()));
    let mut templates = Vec::with_capacity(files.len());
    for path in files {
        let size =
            std::fs::metadata(&path).map_err(|e| setup(format!("failed to read {}: {e}", path.display())))?.len();
        if size > MAX_TEMPLATE_BYTES {
            return Err(setup(format!("template {} is larger than {MAX_TEMPLATE_BYTES} bytes", path.display())));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| setup(format!("failed to read template {}: {e}", path.display())))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| setup(format!("template file name {} is not UTF-8", path.display())))?;
        templates.push((format!("/{name}"), text));
    }
    Ok(templates)
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
    /// The date on the date line; typst's `datetime.today()` returns it.
    pub(crate) today: Datetime,
    /// The canonical JSON of the briefing data, served as `/briefing-data.json` to a render
    /// that attaches it; `None` denies that path like any other.
    pub(crate) attachment: Option<Bytes>,
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
        if id == self.assets.attachment_id
            && let Some(bytes) = &self.attachment
        {
            return Ok(bytes.clone());
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

/// Whether the laid-out document attaches the data snapshot (`pdf.attach` of its path).
pub(crate) fn attaches_data(document: &PagedDocument) -> bool {
    let name = crate::view::ATTACHMENT_PATH.trim_start_matches('/');
    document
        .introspector()
        .query(&AttachElem::ELEM.select())
        .iter()
        .filter_map(|e| e.to_packed::<AttachElem>())
        .any(|a| a.path.derived.as_str() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use typst::LibraryExt;
    use typst::syntax::package::PackageSpec;

    fn world(assets: &Assets) -> BriefingWorld<'_> {
        BriefingWorld {
            assets,
            data: Bytes::from_string("{}"),
            today: Datetime::from_ymd(2026, 11, 26).unwrap(),
            attachment: None,
        }
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
    fn serves_the_data_snapshot_only_to_a_render_that_attaches_it() {
        let assets = Assets::new(Library::default(), &[("/briefing.typ", "= Hi")]).unwrap();
        let id = project_file(crate::view::ATTACHMENT_PATH).unwrap();
        let w = world(&assets);
        assert!(matches!(w.file(id), Err(FileError::AccessDenied)));
        let w = BriefingWorld { attachment: Some(Bytes::from_string("{\"a\":1}")), ..world(&assets) };
        assert_eq!(w.file(id).unwrap().as_slice(), b"{\"a\":1}");
        assert!(matches!(w.source(id), Err(FileError::AccessDenied)), "data is never a template");
        assert!(matches!(w.file(project_file("/etc/passwd").unwrap()), Err(FileError::AccessDenied)));
    }

    #[test]
    fn loads_the_four_liberation_serif_faces() {
        let assets = Assets::new(Library::default(), &[("/briefing.typ", "")]).unwrap();
        assert_eq!(assets.fonts.len(), 4);
        assert!(assets.fonts.iter().all(|f| f.info().family == FONT_FAMILY));
    }

    #[test]
    fn a_template_dir_is_read_main_first_and_needs_briefing_typ() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a-lib.typ"), "#let x = 1").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        assert!(read_template_dir(dir.path()).unwrap_err().to_string().contains("no briefing.typ"));
        std::fs::write(dir.path().join("briefing.typ"), "= Hi").unwrap();
        let files = read_template_dir(dir.path()).unwrap();
        let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["/briefing.typ", "/a-lib.typ"]);
    }
}

#[cfg(test)]
mod font_coverage {
    use super::*;
    use typst::text::{FontStyle, FontWeight};

    /// Every letter Vietnamese writes with, in lower case.
    const VIETNAMESE: &str =
        "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ";

    #[test]
    fn every_face_covers_vietnamese_and_the_symbols_the_template_draws() {
        let assets = Assets::new(<Library as typst::LibraryExt>::default(), &[("/a.typ", "")]).unwrap();
        let letters: Vec<char> = VIETNAMESE
            .chars()
            .flat_map(|c| [c].into_iter().chain(c.to_uppercase()))
            .chain("▲▼→—–·•…%№".chars())
            .collect();
        let used = [
            (FontStyle::Normal, FontWeight::REGULAR),
            (FontStyle::Normal, FontWeight::BOLD),
            (FontStyle::Italic, FontWeight::REGULAR),
            (FontStyle::Italic, FontWeight::BOLD),
        ];
        for (style, weight) in used {
            let font = assets
                .fonts
                .iter()
                .find(|f| f.info().variant.style == style && f.info().variant.weight == weight)
                .unwrap_or_else(|| panic!("no {FONT_FAMILY} {style:?} {weight:?}"));
            let missing: String = letters.iter().filter(|c| !font.info().coverage.contains(**c as u32)).collect();
            assert_eq!(missing, "", "{FONT_FAMILY} {style:?} {weight:?} lacks these characters");
        }
    }
}

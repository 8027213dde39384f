//! Briefing renderer of Coopbrief: briefing data in, PDF bytes out, with typst.
//!
//! Invariants: no network and no file outside the templates loaded at construction (see
//! [`world`]); data reaches the template only as JSON values, never as markup; the same data,
//! template version, language and date give byte-identical PDFs (no wall clock, fixed PDF
//! timestamp); every character shown is in the embedded fonts (Liberation Serif), or the render
//! fails with [`Error::MissingGlyph`]; input sizes are capped ([`Error::TooLarge`]).
//!
//! A briefing is a draft ("DỰ THẢO" on its first page and across every page, no number) unless
//! [`RenderOptions::issue`] gives it its number and date; then its letterhead must name the
//! office and the signer. Either way the PDF's keywords say which (`draft`, or
//! `number=12/BC-UBND` and `issued=2026-11-26`) and carry `data-sha256=<hex>`.

#[cfg(feature = "bench")]
pub mod bench;
mod glyphs;
mod i18n;
mod input;
pub mod memory;
mod view;
mod world;

use std::fmt::Write as _;
use std::path::Path;

use jiff::civil::Date;
use sha2::{Digest, Sha256};
use typst::diag::{Severity, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::{Library, LibraryExt, World, WorldExt};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, PdfStandards, Timestamp};

use coopbrief_domain::{BriefingData, Lang};

pub use coopbrief_domain::PdfStandard;

pub use crate::input::{MAX_ITEMS, MAX_STRING_CHARS};
use crate::view::View;
use crate::world::{Assets, BriefingWorld};

/// Bump whenever the template or the view model changes what a briefing looks like.
pub const TEMPLATE_VERSION: &str = "briefing-3";

/// The embedded templates, by virtual path; the first is the main file.
const TEMPLATES: &[(&str, &str)] = &[("/briefing.typ", include_str!("../templates/briefing.typ"))];

/// Errors of rendering; messages name what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The template failed to compile; `message` holds typst's diagnostics with their lines.
    #[error("template failed to compile: {message}")]
    Compile { message: String },
    #[error("pdf export failed: {message}")]
    Pdf { message: String },
    /// The briefing data could not become the template's input.
    #[error("briefing data: {message}")]
    Data { message: String },
    /// The renderer could not be set up (fonts, templates).
    #[error("renderer setup: {message}")]
    Setup { message: String },
    /// A character the briefing would show is missing from an embedded font face (regular, bold,
    /// italic, bold italic); `field` is its path in the view model (e.g.
    /// `sectors[0].activities[2].title`), or "template text" for text the template itself wrote.
    #[error("missing glyph: {} ({character:?}) in field {field} is not in the embedded font Liberation Serif", codepoint(*character))]
    MissingGlyph { character: char, field: String },
    /// The input exceeds a cap; `what` is the path of the field or list in the briefing data.
    #[error("input too large: {what} exceeds the limit of {limit}")]
    TooLarge { what: String, limit: usize },
    /// Laying the briefing out would take more memory than the render's budget allows
    /// ([`RenderOptions::memory_budget`]); estimated before anything is laid out.
    #[error(
        "the briefing is too large to render within the memory budget: it would need about {}, the budget is {} \
         (brief a shorter period, or give the worker a larger budget)",
        memory::human(*estimate), memory::human(*budget)
    )]
    OverBudget { estimate: u64, budget: u64 },
}

/// `U+1F600`.
fn codepoint(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to render besides the data.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    pub lang: Lang,
    /// The date the briefing was drawn up ("Ngày lập báo cáo"); a draft's date line too.
    pub generated_on: Date,
    /// Plain PDF unless an archive asks for PDF/A-2b, PDF/A-2b with PDF/UA-1, or PDF/A-3b (which
    /// attaches the data snapshot as `briefing-data.json`).
    pub pdf_standard: PdfStandard,
    /// `None`: a draft. `Some`: the issued briefing, with this number and date; its letterhead
    /// must name the office and the signer ([`Error::Data`] otherwise).
    pub issue: Option<IssueStamp>,
    /// The most memory, in bytes, this render may take at its peak; a briefing estimated above
    /// it fails with [`Error::OverBudget`] before it is laid out ([`memory::estimate_peak`]).
    /// `None`: no limit.
    pub memory_budget: Option<u64>,
}

/// What issuing gives a briefing: its number in the office's register and its date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IssueStamp {
    /// Printed before the office's symbol: `12/BC-UBND`.
    pub number: u32,
    /// The date line's date, and the PDF's creation date and typst's `datetime.today()`.
    pub date: Date,
}

impl RenderOptions {
    /// Options for a draft, with every setting but the language and date at its default.
    pub fn new(lang: Lang, generated_on: Date) -> RenderOptions {
        RenderOptions { lang, generated_on, pdf_standard: PdfStandard::None, issue: None, memory_budget: None }
    }

    /// The same options, producing `standard`.
    pub fn with_pdf_standard(mut self, standard: PdfStandard) -> RenderOptions {
        self.pdf_standard = standard;
        self
    }

    /// The same options, rendering the issued briefing stamped with `stamp`.
    pub fn with_issue(mut self, stamp: IssueStamp) -> RenderOptions {
        self.issue = Some(stamp);
        self
    }

    /// The same options, refusing a briefing estimated to need more than `bytes` at its peak.
    pub fn with_memory_budget(mut self, bytes: Option<u64>) -> RenderOptions {
        self.memory_budget = bytes;
        self
    }

    /// The date on the date line: the issue date, or the generation date of a draft.
    fn dated(&self) -> Date {
        self.issue.map_or(self.generated_on, |s| s.date)
    }
}

/// A rendered briefing.
#[derive(Clone, Debug)]
pub struct RenderedPdf {
    pub bytes: Vec<u8>,
    pub pages: u32,
    /// Hex sha256 of the canonical JSON of the briefing data (keys sorted, no whitespace); the
    /// briefing prints its first 12 digits and its keywords carry all of it; a PDF/A-3b attaches
    /// exactly those JSON bytes. Equal data, equal hash.
    pub data_hash: String,
    /// The size of the view model the template read, in bytes: what the memory estimate
    /// ([`memory::estimate_peak`]) is computed from.
    pub view_bytes: usize,
}

/// Holds what every render shares — standard library, fonts, templates — loaded once.
///
/// `Send + Sync`: share one in an `Arc` and call [`Renderer::render`] from `spawn_blocking`.
pub struct Renderer {
    assets: Assets,
    /// [`TEMPLATE_VERSION`] for the embedded template; `custom-<12 hex of sha256>` of the files
    /// for an operator's directory, so that reports say which template drew them.
    template_version: String,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("fonts", &self.assets.fonts.len())
            .field("templates", &self.assets.templates.len())
            .field("template_version", &self.template_version)
            .finish()
    }
}

impl Renderer {
    /// Loads the embedded templates and fonts.
    pub fn new() -> Result<Renderer> {
        Renderer::with_templates(TEMPLATES, TEMPLATE_VERSION.to_owned())
    }

    /// Loads `briefing.typ` and its sibling `.typ` files from an operator's directory, once, now;
    /// later changes to the directory have no effect. The templates read the data only as
    /// `json("/data.json")` (the same view model as the embedded template) and can read nothing
    /// else: no other file, no package. Fonts stay the embedded ones.
    pub fn with_template_dir(dir: impl AsRef<Path>) -> Result<Renderer> {
        let files = world::read_template_dir(dir.as_ref())?;
        let templates: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        let mut hasher = Sha256::new();
        for (path, text) in &templates {
            // Length-prefixed, so that moving text between files changes the hash.
            for part in [path, text] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part.as_bytes());
            }
        }
        let digest = hex::encode(hasher.finalize());
        Renderer::with_templates(&templates, format!("custom-{}", &digest[..12]))
    }

    fn with_templates(templates: &[(&str, &str)], template_version: String) -> Result<Renderer> {
        Ok(Renderer { assets: Assets::new(Library::builder().build(), templates)?, template_version })
    }

    /// Which template draws this renderer's briefings: [`TEMPLATE_VERSION`], or `custom-…` for a
    /// template directory. Record it beside each report.
    pub fn template_version(&self) -> &str {
        &self.template_version
    }

    /// Renders sample briefings (the bundled programme for 2015..2018, 2016 and 2017-H1, in
    /// both languages, dated 2000-01-01) and drops them, so that what typst sets up on first
    /// use — its lazily built tables, the template's parse, font shaping and subsetting — is
    /// done once at start and not by the first job. Blocking CPU work (tens of milliseconds):
    /// call it from `spawn_blocking`.
    ///
    /// The samples are dated 2000-01-01, which no report is, so a job's own render is not
    /// served from the warm-up's caches: only typst's set-up is shared.
    pub fn warm_up(&self) -> Result<()> {
        let setup = |what: &str, e: &dyn std::fmt::Display| Error::Setup { message: format!("warm-up {what}: {e}") };
        let dataset = coopbrief_domain::dataset::Dataset::bundled().map_err(|e| setup("dataset", &e))?;
        let Some(programme) = dataset.programmes.first() else { return Ok(()) };
        let date = Date::new(2000, 1, 1).map_err(|e| setup("date", &e))?;
        // A range and a single year (which has a previous period to compare with), so that
        // the template's every part is laid out once.
        for (period, lang) in [("2015..2018", Lang::Vi), ("2016", Lang::En), ("2017-H1", Lang::Vi)] {
            let period = period.parse().map_err(|e| setup("period", &e))?;
            let data = BriefingData::select(programme, period, &dataset.partners, &dataset.sectors);
            self.render(&data, &RenderOptions::new(lang, date))?;
        }
        Ok(())
    }

    /// Renders one briefing. Blocking CPU work: run it in `spawn_blocking`.
    pub fn render(&self, data: &BriefingData, options: &RenderOptions) -> Result<RenderedPdf> {
        if options.issue.is_some() {
            data.programme.letterhead.issuable().map_err(|e| Error::Data {
                message: match e {
                    coopbrief_domain::Error::Invalid { field, message } => {
                        format!("an issued briefing needs letterhead.{field}: {message}")
                    }
                    other => format!("an issued briefing needs its letterhead: {other}"),
                },
            })?;
        }
        let input = input::checked_json(data)?;
        let canonical = input::canonical_json(&input);
        let data_hash = hex::encode(Sha256::digest(canonical.as_bytes()));
        let view = View::new(data, options, &data_hash);
        let view = serde_json::to_value(&view).map_err(|e| Error::Data { message: e.to_string() })?;
        glyphs::check_view(&view, &self.assets.drawable)?;
        let json = serde_json::to_vec(&view).map_err(|e| Error::Data { message: e.to_string() })?;
        let view_bytes = json.len();
        let estimate = memory::estimate_peak(view_bytes);
        if let Some(budget) = options.memory_budget
            && estimate > budget
        {
            return Err(Error::OverBudget { estimate, budget });
        }
        let d = options.dated();
        let today = date_time(d, false)?;
        // The snapshot is served only to a PDF/A-3b render, which attaches it.
        let attachment = (options.pdf_standard == PdfStandard::A3b).then(|| Bytes::from_string(canonical));
        let world = BriefingWorld { assets: &self.assets, data: Bytes::new(json), today, attachment };

        let compiled = typst::compile::<PagedDocument>(&world);
        // Whether the compile failed or not: a long-lived worker must not keep what it memoised.
        memory::after_render(estimate);
        let document = compiled.output.map_err(|errors| Error::Compile { message: describe(&world, &errors) })?;
        glyphs::check_document(&document)?;

        let standard = |list: &[typst_pdf::PdfStandard]| {
            PdfStandards::new(list)
                .map_err(|e| Error::Pdf { message: format!("{}: {}", options.pdf_standard.code(), e.message()) })
        };
        let standards = match options.pdf_standard {
            PdfStandard::None => PdfStandards::default(),
            PdfStandard::A2b => standard(&[typst_pdf::PdfStandard::A_2b])?,
            PdfStandard::A2bUa1 => standard(&[typst_pdf::PdfStandard::A_2b, typst_pdf::PdfStandard::Ua_1])?,
            PdfStandard::A3b => {
                if !world::attaches_data(&document) {
                    return Err(Error::Pdf {
                        message: format!(
                            "a PDF/A-3b briefing attaches its data, but the template does not attach {} \
                             (see meta.attachment in /data.json)",
                            view::ATTACHMENT_PATH
                        ),
                    });
                }
                standard(&[typst_pdf::PdfStandard::A_3b])?
            }
        };
        let mut ident = format!("coopbrief/{}/{data_hash}", self.template_version);
        if let Some(stamp) = options.issue {
            let _ = write!(ident, "/issued/{}/{}", stamp.number, stamp.date);
        }
        let pdf_options = PdfOptions {
            // A fixed timestamp derived from the data keeps the bytes reproducible.
            timestamp: Some(Timestamp::new_utc(date_time(d, true)?)),
            // The document id derives from the data hash (and the issue): equal data, equal id, equal bytes.
            ident: Smart::Custom(ident),
            standards,
            ..PdfOptions::default()
        };
        let bytes = typst_pdf::pdf(&document, &pdf_options)
            .map_err(|errors| Error::Pdf { message: describe(&world, &errors) })?;
        let pages =
            u32::try_from(document.pages().len()).map_err(|_| Error::Pdf { message: "too many pages".into() })?;
        Ok(RenderedPdf { bytes, pages, data_hash, view_bytes })
    }
}

fn date_time(d: Date, with_time: bool) -> Result<Datetime> {
    let (y, m, day) = (i32::from(d.year()), d.month().unsigned_abs(), d.day().unsigned_abs());
    let dt = if with_time { Datetime::from_ymd_hms(y, m, day, 0, 0, 0) } else { Datetime::from_ymd(y, m, day) };
    dt.ok_or_else(|| Error::Data { message: format!("the date {d} is not a date typst can represent") })
}

/// typst's diagnostics, one per line: `/briefing.typ:12:5: message (hint: …)`.
fn describe(world: &BriefingWorld<'_>, diagnostics: &[SourceDiagnostic]) -> String {
    let mut out = String::new();
    for diag in diagnostics.iter().filter(|d| d.severity == Severity::Error) {
        if !out.is_empty() {
            out.push_str("; ");
        }
        if let Some(id) = diag.span.id() {
            let _ = write!(out, "{}", id.vpath().get_with_slash());
            let position = world
                .range(diag.span)
                .and_then(|r| world.source(id).ok().and_then(|s| s.lines().byte_to_line_column(r.start)));
            if let Some((line, column)) = position {
                let _ = write!(out, ":{}:{}", line + 1, column + 1);
            }
            out.push_str(": ");
        }
        out.push_str(&diag.message);
        for hint in &diag.hints {
            let _ = write!(out, " (hint: {})", hint.v);
        }
    }
    if out.is_empty() { "unknown error".to_owned() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> RenderOptions {
        RenderOptions::new(Lang::Vi, Date::new(2026, 11, 26).unwrap())
    }

    fn empty_data() -> BriefingData {
        let yaml = r#"
partners:
  - { code: a, name: "A", kind: city }
  - { code: b, name: "B", kind: province }
programmes:
  - code: ab
    title: "A – B"
    short_name: "A – B"
    partners: [ { partner: a, role: "x" }, { partner: b, role: "y" } ]
"#;
        let ds = coopbrief_domain::dataset::Dataset::parse(yaml).unwrap();
        BriefingData::select(&ds.programmes[0], "2019".parse().unwrap(), &ds.partners, &ds.sectors)
    }

    #[test]
    fn renderer_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Renderer>();
    }

    #[test]
    fn compile_errors_name_the_template_line() {
        let r =
            Renderer::with_templates(&[("/briefing.typ", "= Fine\n\n#let x = (1 +\n#nope()\n")], "t".into()).unwrap();
        let err = r.render(&empty_data(), &options()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Compile { .. }), "{text}");
        assert!(text.contains("/briefing.typ:4:"), "{text}");
    }

    #[test]
    fn templates_cannot_read_outside_files() {
        let r = Renderer::with_templates(&[("/briefing.typ", "#read(\"/etc/passwd\")")], "t".into()).unwrap();
        let text = r.render(&empty_data(), &options()).unwrap_err().to_string();
        assert!(text.contains("/briefing.typ:1:"), "{text}");
        assert!(text.contains("denied"), "{text}");
        let r =
            Renderer::with_templates(&[("/briefing.typ", "#import \"@preview/cetz:0.3.0\": *")], "t".into()).unwrap();
        let text = r.render(&empty_data(), &options()).unwrap_err().to_string();
        assert!(matches!(r.render(&empty_data(), &options()), Err(Error::Compile { .. })), "{text}");
    }

    #[test]
    fn today_is_the_generation_date() {
        let r = Renderer::with_templates(
            &[("/briefing.typ", "#assert.eq(datetime.today().display(), \"2026-11-26\")\n#json(\"/data.json\").lang")],
            "t".into(),
        )
        .unwrap();
        let pdf = r.render(&empty_data(), &options()).unwrap();
        assert_eq!(pdf.pages, 1);
    }

    #[test]
    fn warm_up_renders_the_samples_and_reports_a_template_that_cannot() {
        Renderer::new().unwrap().warm_up().unwrap();
        let broken = Renderer::with_templates(&[("/briefing.typ", "#panic(\"no\")")], "t".into()).unwrap();
        let err = broken.warm_up().unwrap_err();
        assert!(matches!(err, Error::Compile { .. }), "{err}");
    }

    #[test]
    fn a_briefing_over_its_memory_budget_fails_before_layout_and_one_within_renders_the_same_bytes() {
        let r = Renderer::new().unwrap();
        let free = r.render(&empty_data(), &options()).unwrap();
        let needed = memory::estimate_peak(free.view_bytes);
        let err = r.render(&empty_data(), &options().with_memory_budget(Some(needed - 1))).unwrap_err();
        assert!(matches!(err, Error::OverBudget { estimate, budget } if estimate == needed && budget == needed - 1));
        let text = err.to_string();
        assert!(text.contains("too large to render within the memory budget"), "{text}");
        assert!(text.contains("MiB"), "{text}");
        let within = r.render(&empty_data(), &options().with_memory_budget(Some(needed))).unwrap();
        assert_eq!(within.bytes, free.bytes, "a budget changes nothing of what it lets through");
    }

    #[test]
    fn an_empty_briefing_renders_and_says_so() {
        let pdf = Renderer::new().unwrap().render(&empty_data(), &options()).unwrap();
        assert!(pdf.bytes.starts_with(b"%PDF-"));
        assert!(pdf.pages >= 1);
    }
}

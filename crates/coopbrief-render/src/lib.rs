//! Briefing renderer of Coopbrief: briefing data in, PDF bytes out, with typst.
//!
//! Invariants: no network and no file outside the embedded templates (see [`world`]); data
//! reaches the template only as JSON values, never as markup; the same data and options give
//! byte-identical PDFs (no wall clock, fixed PDF timestamp).

mod view;
mod world;

use std::fmt::Write as _;

use jiff::civil::Date;
use typst::diag::{Severity, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::{Library, LibraryExt, World, WorldExt};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, Timestamp};

use coopbrief_domain::{BriefingData, Lang};

use crate::view::View;
use crate::world::{Assets, BriefingWorld};

/// Bump whenever the template or the view model changes what a briefing looks like.
pub const TEMPLATE_VERSION: &str = "briefing-1";

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
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to render besides the data.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    pub lang: Lang,
    /// The date printed on the briefing and returned by typst's `datetime.today()`.
    pub generated_on: Date,
}

impl RenderOptions {
    /// Options with every setting but the language and date at its default.
    pub fn new(lang: Lang, generated_on: Date) -> RenderOptions {
        RenderOptions { lang, generated_on }
    }
}

/// A rendered briefing.
#[derive(Clone, Debug)]
pub struct RenderedPdf {
    pub bytes: Vec<u8>,
    pub pages: u32,
}

/// Holds what every render shares — standard library, fonts, templates — loaded once.
///
/// `Send + Sync`: share one in an `Arc` and call [`Renderer::render`] from `spawn_blocking`.
pub struct Renderer {
    assets: Assets,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("fonts", &self.assets.fonts.len())
            .field("templates", &self.assets.templates.len())
            .field("template_version", &TEMPLATE_VERSION)
            .finish()
    }
}

impl Renderer {
    /// Loads the embedded templates and the bundled fonts.
    pub fn new() -> Result<Renderer> {
        Renderer::with_templates(TEMPLATES)
    }

    fn with_templates(templates: &[(&str, &str)]) -> Result<Renderer> {
        Ok(Renderer { assets: Assets::new(Library::builder().build(), templates)? })
    }

    /// Renders one briefing. Blocking CPU work: run it in `spawn_blocking`.
    pub fn render(&self, data: &BriefingData, options: &RenderOptions) -> Result<RenderedPdf> {
        let view = View::new(data, options.lang, options.generated_on);
        let json = serde_json::to_vec(&view).map_err(|e| Error::Data { message: e.to_string() })?;
        let d = options.generated_on;
        let today = date_time(d, false)?;
        let world = BriefingWorld { assets: &self.assets, data: Bytes::new(json), today };

        let compiled = typst::compile::<PagedDocument>(&world);
        // Keep typst's global memoization cache from growing without bound in a long-lived worker.
        typst::comemo::evict(10);
        let document = compiled.output.map_err(|errors| Error::Compile { message: describe(&world, &errors) })?;

        let pdf_options = PdfOptions {
            // A fixed timestamp derived from the data keeps the bytes reproducible.
            timestamp: Some(Timestamp::new_utc(date_time(d, true)?)),
            ident: Smart::Auto,
            ..PdfOptions::default()
        };
        let bytes = typst_pdf::pdf(&document, &pdf_options)
            .map_err(|errors| Error::Pdf { message: describe(&world, &errors) })?;
        let pages =
            u32::try_from(document.pages().len()).map_err(|_| Error::Pdf { message: "too many pages".into() })?;
        Ok(RenderedPdf { bytes, pages })
    }
}

fn date_time(d: Date, with_time: bool) -> Result<Datetime> {
    let (y, m, day) = (i32::from(d.year()), d.month().unsigned_abs(), d.day().unsigned_abs());
    let dt = if with_time { Datetime::from_ymd_hms(y, m, day, 0, 0, 0) } else { Datetime::from_ymd(y, m, day) };
    dt.ok_or_else(|| Error::Data { message: format!("generated_on {d} is not a date typst can represent") })
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
        RenderOptions { lang: Lang::Vi, generated_on: Date::new(2026, 11, 26).unwrap() }
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
        let r = Renderer::with_templates(&[("/briefing.typ", "= Fine\n\n#let x = (1 +\n#nope()\n")]).unwrap();
        let err = r.render(&empty_data(), &options()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Compile { .. }), "{text}");
        assert!(text.contains("/briefing.typ:4:"), "{text}");
    }

    #[test]
    fn templates_cannot_read_outside_files() {
        let r = Renderer::with_templates(&[("/briefing.typ", "#read(\"/etc/passwd\")")]).unwrap();
        let text = r.render(&empty_data(), &options()).unwrap_err().to_string();
        assert!(text.contains("/briefing.typ:1:"), "{text}");
        assert!(text.contains("denied"), "{text}");
        let r = Renderer::with_templates(&[("/briefing.typ", "#import \"@preview/cetz:0.3.0\": *")]).unwrap();
        let text = r.render(&empty_data(), &options()).unwrap_err().to_string();
        assert!(matches!(r.render(&empty_data(), &options()), Err(Error::Compile { .. })), "{text}");
    }

    #[test]
    fn today_is_the_generation_date() {
        let r = Renderer::with_templates(&[(
            "/briefing.typ",
            "#assert.eq(datetime.today().display(), \"2026-11-26\")\n#json(\"/data.json\").lang",
        )])
        .unwrap();
        let pdf = r.render(&empty_data(), &options()).unwrap();
        assert_eq!(pdf.pages, 1);
    }

    #[test]
    fn an_empty_briefing_renders_and_says_so() {
        let pdf = Renderer::new().unwrap().render(&empty_data(), &options()).unwrap();
        assert!(pdf.bytes.starts_with(b"%PDF-"));
        assert!(pdf.pages >= 1);
    }
}

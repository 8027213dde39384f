//! Section 1 and 5: our renderer warm in-process against typst's bare compile, a fresh typst
//! process, Chromium and wkhtmltopdf on the same briefings; and growth with programme size.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use coopbrief_domain::dataset::Dataset;
use coopbrief_domain::{BriefingData, Lang};
use coopbrief_render::bench::synthetic;
use coopbrief_render::{RenderOptions, Renderer};
use jiff::civil::Date;
use serde_json::Value;
use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration as TypstDuration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

use crate::proc;
use crate::stats::{Row, Samples};

const TEMPLATE: &str = include_str!("../../coopbrief-render/templates/briefing.typ");
const FONTS: &[(&str, &[u8])] = &[
    ("LiberationSerif-Regular.ttf", include_bytes!("../../coopbrief-render/fonts/LiberationSerif-Regular.ttf")),
    ("LiberationSerif-Bold.ttf", include_bytes!("../../coopbrief-render/fonts/LiberationSerif-Bold.ttf")),
    ("LiberationSerif-Italic.ttf", include_bytes!("../../coopbrief-render/fonts/LiberationSerif-Italic.ttf")),
    ("LiberationSerif-BoldItalic.ttf", include_bytes!("../../coopbrief-render/fonts/LiberationSerif-BoldItalic.ttf")),
];

/// Synthetic sizes (activities, indicators, projects) giving about 4 and about 20 pages.
pub const SYN4: (usize, usize, usize) = (8, 4, 4);
pub const SYN20: (usize, usize, usize) = (90, 12, 12);
/// Growth: indicators and projects fixed, activities vary.
const GROWTH_FIXED: (usize, usize) = (12, 12);

/// A briefing to render.
pub struct Case {
    pub name: String,
    pub data: BriefingData,
    /// Hex sha256 of the data, as our renderer prints it; the view model needs it.
    pub data_hash: String,
}

pub fn seed() -> anyhow::Result<BriefingData> {
    let ds = Dataset::bundled().context("the bundled dataset does not load")?;
    let p = ds.programmes.first().context("the bundled dataset has no programme")?;
    Ok(BriefingData::select(p, "2019".parse()?, &ds.partners, &ds.sectors))
}

pub fn cases(renderer: &Renderer) -> anyhow::Result<Vec<Case>> {
    let mut out = Vec::new();
    for (name, data) in [
        ("seed 2019".to_owned(), seed()?),
        (format!("synthetic ~4p ({} act)", SYN4.0), synthetic(SYN4.0, SYN4.1, SYN4.2)?),
        (format!("synthetic ~20p ({} act)", SYN20.0), synthetic(SYN20.0, SYN20.1, SYN20.2)?),
    ] {
        let pdf = renderer.render(&data, &options(0))?;
        out.push(Case { name, data, data_hash: pdf.data_hash });
    }
    Ok(out)
}

/// Options for run `i`: a different date each run, so that no two runs are the same input and
/// typst's memoization cannot return a whole document from its cache.
pub fn options(i: usize) -> RenderOptions {
    RenderOptions::new(Lang::Vi, date(i))
}

fn date(i: usize) -> Date {
    let base = jiff::civil::date(2026, 1, 1);
    base.checked_add(jiff::Span::new().days(i64::try_from(i % 3000).unwrap_or(0))).unwrap_or(base)
}

/// The view model JSON our renderer hands the template, for run `i`.
pub fn view_json(case: &Case, i: usize) -> anyhow::Result<Vec<u8>> {
    Ok(coopbrief_render::bench::view_json(&case.data, Lang::Vi, date(i), &case.data_hash)?)
}

/// typst with nothing of ours around it: the same template and JSON, compiled and exported.
pub struct Engine {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    main: Source,
    data_id: FileId,
}

struct EngineWorld<'a> {
    engine: &'a Engine,
    data: Bytes,
}

fn project_file(path: &str) -> anyhow::Result<FileId> {
    let vpath = VirtualPath::new(path).map_err(|e| anyhow::anyhow!("virtual path {path:?}: {e:?}"))?;
    Ok(RootedPath::new(VirtualRoot::Project, vpath).intern())
}

impl Engine {
    pub fn new() -> anyhow::Result<Engine> {
        let fonts: Vec<Font> = FONTS.iter().flat_map(|(_, data)| Font::iter(Bytes::new(*data))).collect();
        Ok(Engine {
            library: LazyHash::new(Library::builder().build()),
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
            main: Source::new(project_file("/briefing.typ")?, TEMPLATE.to_owned()),
            data_id: project_file("/data.json")?,
        })
    }

    /// Compiles and exports one document; returns its pages.
    pub fn compile(&self, json: Vec<u8>) -> anyhow::Result<usize> {
        let world = EngineWorld { engine: self, data: Bytes::new(json) };
        let compiled = typst::compile::<PagedDocument>(&world);
        // The same eviction our renderer does after each compile of a briefing this size, so
        // both keep equal caches.
        typst::comemo::evict(coopbrief_render::memory::KEEP_RENDERS);
        let doc = compiled.output.map_err(|e| anyhow::anyhow!("compile failed: {e:?}"))?;
        typst_pdf::pdf(&doc, &typst_pdf::PdfOptions::default()).map_err(|e| anyhow::anyhow!("pdf failed: {e:?}"))?;
        Ok(doc.pages().len())
    }
}

impl World for EngineWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.engine.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.engine.book
    }

    fn main(&self) -> FileId {
        self.engine.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.engine.main.id() { Ok(self.engine.main.clone()) } else { Err(FileError::AccessDenied) }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.engine.data_id { Ok(self.data.clone()) } else { Err(FileError::AccessDenied) }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.engine.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<TypstDuration>) -> Option<Datetime> {
        Datetime::from_ymd(2026, 11, 26)
    }
}

/// A peer that renders in a fresh process per document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// `python3 -c "import typst"` alone: the start-up the typst variant pays before compiling.
    PythonStartup,
    /// A fresh process compiling with typst (PyPI `typst`, the same typst version as ours).
    TypstProcess,
    Chromium,
    Wkhtmltopdf,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::PythonStartup => "python3 + import typst only",
            Peer::TypstProcess => "typst fresh process",
            Peer::Chromium => "chromium --print-to-pdf",
            Peer::Wkhtmltopdf => "wkhtmltopdf",
        }
    }

    /// Whether the peer is installed, or why not.
    pub fn available(self) -> Result<(), String> {
        let (program, args): (&str, &[&str]) = match self {
            Peer::PythonStartup | Peer::TypstProcess => ("python3", &["-c", "import typst"]),
            Peer::Chromium => ("chromium", &["--version"]),
            Peer::Wkhtmltopdf => ("wkhtmltopdf", &["--version"]),
        };
        match Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status() {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("`{program} {}` exited with {s}", args.join(" "))),
            Err(e) => Err(format!("`{program}` is not installed ({e})")),
        }
    }
}

const PY_COMPILE: &str = "import sys, typst; typst.compile(sys.argv[1], output=sys.argv[2], root=sys.argv[3], \
                          font_paths=[sys.argv[4]], ignore_system_fonts=True)";

/// A directory with the template, fonts, the data JSON and an equivalent HTML page.
pub struct PeerDir {
    pub dir: tempfile::TempDir,
}

impl PeerDir {
    pub fn new(json: &[u8]) -> anyhow::Result<PeerDir> {
        let dir = tempfile::tempdir()?;
        let fonts = dir.path().join("fonts");
        std::fs::create_dir(&fonts)?;
        for (name, data) in FONTS {
            std::fs::write(fonts.join(name), data)?;
        }
        std::fs::write(dir.path().join("briefing.typ"), TEMPLATE)?;
        std::fs::write(dir.path().join("data.json"), json)?;
        let view: Value = serde_json::from_slice(json)?;
        std::fs::write(dir.path().join("page.html"), html(&view))?;
        std::fs::create_dir(dir.path().join("chromium-profile"))?;
        Ok(PeerDir { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The command that renders this directory's document with `peer` into `out.pdf`.
    pub fn command(&self, peer: Peer) -> Command {
        let out = self.path("out.pdf");
        match peer {
            Peer::PythonStartup => {
                let mut c = Command::new("python3");
                c.args(["-c", "import typst"]);
                c
            }
            Peer::TypstProcess => {
                let mut c = Command::new("python3");
                c.args(["-c", PY_COMPILE]).arg(self.path("briefing.typ")).arg(&out).arg(self.dir.path());
                c.arg(self.path("fonts"));
                c
            }
            Peer::Chromium => {
                let mut c = Command::new("chromium");
                c.args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--no-pdf-header-footer",
                ]);
                c.arg(format!("--user-data-dir={}", self.path("chromium-profile").display()));
                c.arg(format!("--print-to-pdf={}", out.display()));
                c.arg(format!("file://{}", self.path("page.html").display()));
                c
            }
            Peer::Wkhtmltopdf => {
                let mut c = Command::new("wkhtmltopdf");
                c.env("QT_QPA_PLATFORM", "offscreen");
                c.args(["-q", "--enable-local-file-access", "-s", "A4"]).arg(self.path("page.html")).arg(&out);
                c
            }
        }
    }

    /// Runs `peer` once; its wall time. With `sample_rss`, also the peak summed RSS of its process tree.
    pub fn run(&self, peer: Peer, sample_rss: bool) -> anyhow::Result<(Duration, Option<u64>)> {
        let _ = std::fs::remove_file(self.path("out.pdf"));
        let mut cmd = self.command(peer);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let t = Instant::now();
        let child = cmd.spawn().with_context(|| format!("failed to start {}", peer.name()))?;
        let (output, peak) = proc::wait_sampling(child, sample_rss)?;
        let elapsed = t.elapsed();
        if !output.status.success() {
            bail!("{} failed ({}): {}", peer.name(), output.status, String::from_utf8_lossy(&output.stderr).trim());
        }
        if peer != Peer::PythonStartup && !self.path("out.pdf").exists() {
            bail!("{} wrote no PDF", peer.name());
        }
        Ok((elapsed, peak))
    }

    /// Pages of the last `out.pdf`, by `pdfinfo` if installed.
    pub fn pages(&self) -> Option<u32> {
        pdf_pages(&self.path("out.pdf"))
    }
}

pub fn pdf_pages(pdf: &Path) -> Option<u32> {
    let out = Command::new("pdfinfo").arg(pdf).stderr(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find_map(|l| l.strip_prefix("Pages:")).and_then(|n| n.trim().parse().ok())
}

/// An HTML page with the same content as the briefing: every string of the view model, lists of
/// records as tables, under the same headings, in Liberation Serif on A4.
pub fn html(view: &Value) -> String {
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><style>\
         @font-face{font-family:'LS';src:url('fonts/LiberationSerif-Regular.ttf')}\
         @font-face{font-family:'LS';font-weight:bold;src:url('fonts/LiberationSerif-Bold.ttf')}\
         @page{size:A4;margin:20mm 15mm 20mm 30mm}body{font-family:'LS',serif;font-size:13pt;line-height:1.3}\
         table{border-collapse:collapse;width:100%;font-size:11pt}td,th{border:1px solid #444;padding:2px 4px}\
         h1{text-align:center;font-size:15pt}h2{font-size:13pt}</style></head><body>",
    );
    if let Some(header) = view.get("header") {
        out.push_str(&format!("<h1>{}</h1>", esc(header.get("subject").and_then(Value::as_str).unwrap_or(""))));
    }
    for (key, value) in view.as_object().into_iter().flatten() {
        if key == "labels" || key == "lang" {
            continue;
        }
        out.push_str(&format!("<h2>{}</h2>", esc(key)));
        write_value(&mut out, value);
    }
    out.push_str("</body></html>");
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => out.push_str(&format!("<p>{}</p>", esc(s))),
        Value::Number(n) => out.push_str(&format!("<p>{n}</p>")),
        Value::Bool(_) | Value::Null => {}
        Value::Array(items) if items.iter().all(|i| i.as_object().is_some_and(|o| o.values().all(is_scalar))) => {
            out.push_str("<table>");
            for item in items {
                out.push_str("<tr>");
                for cell in item.as_object().into_iter().flat_map(|o| o.values()) {
                    out.push_str(&format!("<td>{}</td>", esc(&scalar(cell))));
                }
                out.push_str("</tr>");
            }
            out.push_str("</table>");
        }
        Value::Array(items) => items.iter().for_each(|i| write_value(out, i)),
        Value::Object(o) => {
            out.push_str("<div>");
            for value in o.values() {
                write_value(out, value);
            }
            out.push_str("</div>");
        }
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Renders case `case` `runs` times in this (fresh) process; prints `{"ms":[..],"pages":n,"hwm_kib":n}`.
/// The parent runs this as a child process so that the peak RSS is ours alone.
/// `internal-cold`: set-up against first renders, in this fresh process.
pub fn internal_cold(warm_up: bool) -> anyhow::Result<()> {
    let seed = seed()?;
    let step = |what: &str, f: &mut dyn FnMut() -> anyhow::Result<()>| -> anyhow::Result<()> {
        let t = Instant::now();
        f()?;
        println!("{what:<48} {:>8.1} ms", crate::stats::ms(t.elapsed()));
        Ok(())
    };
    let mut renderer = None;
    step("Renderer::new", &mut || {
        renderer = Some(Renderer::new()?);
        Ok(())
    })?;
    let renderer = renderer.context("no renderer")?;
    if warm_up {
        step("warm_up (other periods, dated 2000-01-01)", &mut || Ok(renderer.warm_up()?))?;
    }
    let ds = Dataset::bundled()?;
    let p = ds.programmes.first().context("the bundled dataset has no programme")?;
    for period in ["2019-Q1", "2019-H2", "2020"] {
        let other = BriefingData::select(p, period.parse()?, &ds.partners, &ds.sectors);
        step(&format!("programme for {period}, date A (first time)"), &mut || {
            renderer.render(&other, &options(0))?;
            Ok(())
        })?;
    }
    for (what, i) in [
        ("seed, date A (first time)", 0),
        ("seed, date A again", 0),
        ("seed, date A again", 0),
        ("seed, date B (new data for typst)", 1),
        ("seed, date C (new data for typst)", 2),
        ("seed, date A again", 0),
    ] {
        step(what, &mut || {
            renderer.render(&seed, &options(i))?;
            Ok(())
        })?;
    }
    Ok(())
}

pub fn internal_render(case: &str, runs: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let renderer = Renderer::new()?;
    let setup_ms = crate::stats::ms(started.elapsed());
    let data = match case {
        "seed" => seed()?,
        "syn4" => synthetic(SYN4.0, SYN4.1, SYN4.2)?,
        "syn20" => synthetic(SYN20.0, SYN20.1, SYN20.2)?,
        other => growth_case(other)?,
    };
    // A growth case measures a whole layout each time: what the renderer's policy does anyway
    // after a large render (it drops typst's cache), done for every size alike.
    let whole_layout = case.starts_with("growth-") || case.starts_with("long-");
    let mut times = Vec::new();
    let (mut pages, mut view_bytes) = (0, 0);
    for i in 0..runs {
        if whole_layout {
            typst::comemo::evict(0);
        }
        let t = Instant::now();
        let pdf = renderer.render(&data, &options(i))?;
        times.push(crate::stats::ms(t.elapsed()));
        (pages, view_bytes) = (pdf.pages, pdf.view_bytes);
    }
    let status = proc::status(std::process::id());
    let hwm = status.as_ref().map(|s| s.hwm_kib);
    let rss = status.as_ref().map(|s| s.rss_kib);
    println!(
        "{}",
        serde_json::json!({ "ms": times, "pages": pages, "hwm_kib": hwm, "rss_kib": rss, "setup_ms": setup_ms, "view_bytes": view_bytes })
    );
    Ok(())
}

/// `growth-N`: N activities with short titles; `long-N`: N activities whose titles are 1,000
/// characters long (about eight lines each), for the memory estimate's other shape.
fn growth_case(case: &str) -> anyhow::Result<BriefingData> {
    if let Some(Ok(n)) = case.strip_prefix("growth-").map(str::parse::<usize>) {
        return Ok(synthetic(n, GROWTH_FIXED.0, GROWTH_FIXED.1)?);
    }
    if let Some(Ok(n)) = case.strip_prefix("long-").map(str::parse::<usize>) {
        let mut data = synthetic(n, GROWTH_FIXED.0, GROWTH_FIXED.1)?;
        for (i, a) in data.programme.activities.iter_mut().enumerate() {
            let words = "Hội chợ xúc tiến thương mại và kết nối cung cầu giữa các địa phương ";
            a.title.vi = format!("{i} {}", words.repeat(15)).chars().take(1_000).collect();
        }
        return Ok(data);
    }
    bail!("unknown case {case:?}")
}

/// What [`internal_render`] printed.
pub struct ChildRender {
    pub ms: Vec<f64>,
    pub pages: u64,
    pub hwm_kib: Option<u64>,
    pub view_bytes: u64,
}

/// Runs [`internal_render`] in a child process of this binary.
pub fn child_render(case: &str, runs: usize) -> anyhow::Result<ChildRender> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args(["internal-render", "--case", case, "--runs", &runs.to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("child render of {case} failed: {}", out.status);
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("child render printed no JSON")?;
    Ok(ChildRender {
        ms: v["ms"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default(),
        pages: v["pages"].as_u64().unwrap_or(0),
        hwm_kib: v["hwm_kib"].as_u64(),
        view_bytes: v["view_bytes"].as_u64().unwrap_or(0),
    })
}

/// Settings of the render section.
pub struct RenderPlan {
    /// Interleaved rounds; each runs every fresh-process variant once and ours `inner` times.
    pub rounds: usize,
    pub inner: usize,
}

/// Section 1. Returns rows and, per case, (ours p50, engine p50, typst p50, chromium p50, wk p50).
pub fn section(plan: &RenderPlan, skipped: &mut Vec<String>) -> anyhow::Result<(Vec<Row>, Vec<CaseResult>)> {
    let renderer = Renderer::new()?;
    let engine = Engine::new()?;
    let cases = cases(&renderer)?;
    let mut peers = Vec::new();
    for peer in [Peer::PythonStartup, Peer::TypstProcess, Peer::Chromium, Peer::Wkhtmltopdf] {
        match peer.available() {
            Ok(()) => peers.push(peer),
            Err(why) => skipped.push(format!("render: {} skipped: {why}", peer.name())),
        }
    }
    let mut rows = Vec::new();
    let mut results = Vec::new();
    for (ci, case) in cases.iter().enumerate() {
        let dir = PeerDir::new(&view_json(case, 0)?)?;
        let mut ours = Samples::default();
        let mut bare = Samples::default();
        let mut peer_samples: Vec<Samples> = vec![Samples::default(); peers.len()];
        let mut peer_failed: Vec<Option<String>> = vec![None; peers.len()];
        let mut pages_ours = 0;
        let mut pages_engine = 0;
        // Warm both in-process variants first: fonts parsed, template parsed, caches filled.
        renderer.render(&case.data, &options(1))?;
        engine.compile(view_json(case, 2)?)?;
        let mut n = 10;
        for _round in 0..plan.rounds {
            for _ in 0..plan.inner {
                // Ours and typst's bare compile alternate, each on a date (input) not seen before.
                n += 2;
                let t = Instant::now();
                pages_ours = renderer.render(&case.data, &options(n))?.pages;
                ours.push(t.elapsed());
                let json = view_json(case, n + 1)?;
                let t = Instant::now();
                pages_engine = engine.compile(json)?;
                bare.push(t.elapsed());
            }
            for (pi, peer) in peers.iter().enumerate() {
                if peer_failed[pi].is_some() {
                    continue;
                }
                match dir.run(*peer, false) {
                    Ok((d, _)) => peer_samples[pi].push(d),
                    Err(e) => peer_failed[pi] = Some(format!("{e:#}")),
                }
            }
        }
        let child = child_render(["seed", "syn4", "syn20"][ci.min(2)], 3).ok();
        let ours_p50 = ours.pct_ms(50.0);
        let mut r = Row::new("render", &case.name, "ours warm in-process").with_samples(&ours, "docs/s");
        r.ratio = Some("1.00× (baseline)".into());
        r.rss_mib = child.as_ref().and_then(|c| c.hwm_kib).map(mib);
        r.note = format!("{pages_ours} pages; RSS = peak of a fresh process rendering it 3×");
        rows.push(r);
        let mut r =
            Row::new("render", &case.name, "typst compile+pdf in-process (engine)").with_samples(&bare, "docs/s");
        r.ratio = Some(format!("ours {:.2}× engine", ours_p50 / bare.pct_ms(50.0).max(1e-9)));
        r.note = format!("{pages_engine} pages; same template and JSON, no view model, no glyph check");
        rows.push(r);
        let mut result =
            CaseResult { case: case.name.clone(), ours_p50, engine_p50: bare.pct_ms(50.0), peers: Vec::new() };
        for (pi, peer) in peers.iter().enumerate() {
            if let Some(why) = &peer_failed[pi] {
                skipped.push(format!("render {} / {}: failed: {why}", case.name, peer.name()));
                continue;
            }
            let s = &peer_samples[pi];
            // One more run, untimed for the table, sampling the process tree's RSS.
            let rss = dir.run(*peer, true).ok().and_then(|(_, p)| p);
            let pages = dir.pages();
            let mut r = Row::new("render", &case.name, peer.name()).with_samples(s, "docs/s");
            r.ratio = Some(format!("{:.1}× ours", s.pct_ms(50.0) / ours_p50.max(1e-9)));
            r.rss_mib = rss.map(mib);
            r.note = match peer {
                Peer::PythonStartup => "start-up only: subtract from the typst row for compile alone".into(),
                Peer::Chromium | Peer::Wkhtmltopdf => {
                    format!("{} pages; equivalent HTML; RSS summed over the process tree", fmt_pages(pages))
                }
                Peer::TypstProcess => format!("{} pages; PyPI typst (same typst 0.15)", fmt_pages(pages)),
            };
            rows.push(r);
            result.peers.push((*peer, s.pct_ms(50.0)));
        }
        results.push(result);
    }
    Ok((rows, results))
}

fn fmt_pages(p: Option<u32>) -> String {
    p.map_or_else(|| "?".into(), |p| p.to_string())
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Per case p50s, for the targets.
pub struct CaseResult {
    pub case: String,
    pub ours_p50: f64,
    pub engine_p50: f64,
    pub peers: Vec<(Peer, f64)>,
}

impl CaseResult {
    pub fn peer(&self, p: Peer) -> Option<f64> {
        self.peers.iter().find(|(q, _)| *q == p).map(|(_, v)| *v)
    }
}

/// Section 5: one fresh process per size; time of the first (cold) and second render, peak RSS.
pub fn growth(sizes: &[usize], skipped: &mut Vec<String>) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut base: Option<(usize, f64)> = None;
    for &n in sizes {
        match child_render(&format!("growth-{n}"), 2) {
            Ok(c) => {
                let warm = c.ms.last().copied().unwrap_or(0.0);
                let mut r = Row::new("growth", &format!("{n} activities"), "ours, fresh process");
                r.runs = c.ms.len();
                r.p50_ms = Some(warm);
                r.rate = Some(if warm > 0.0 { 1000.0 / warm } else { 0.0 });
                r.unit = "docs/s".into();
                r.rss_mib = c.hwm_kib.map(mib);
                // Marginal cost per activity above the smallest size: constant when growth is linear.
                match base {
                    Some((n0, t0)) if n > n0 => {
                        r.ratio = Some(format!("{:.3} ms/act above {n0}", (warm - t0) / (n - n0) as f64));
                    }
                    _ => base = Some((n, warm)),
                }
                r.note = format!(
                    "{} pages; cold first render {:.0} ms; p50 = second render, laid out anew in a warm process",
                    c.pages,
                    c.ms.first().copied().unwrap_or(0.0)
                );
                rows.push(r);
            }
            Err(e) => skipped.push(format!("growth {n}: {e:#}")),
        }
    }
    rows
}

/// Issuing: the seed briefing rendered as a draft, rendered issued (number, signer, date), and
/// issued and signed (PAdES, the demo's ECDSA P-256 key), each on a date not seen before, all
/// interleaved; and signing alone. Ratios against the draft render.
pub fn issuance(plan: &RenderPlan) -> anyhow::Result<Vec<Row>> {
    let renderer = Renderer::new()?;
    let mut data = seed()?;
    coopbrief_render::bench::sign_sample(&mut data.programme.letterhead);
    let identity = coopbrief_sign::demo_identity("Ủy ban nhân dân thành phố Hà Nội")?;
    let stamp = |i: usize| coopbrief_render::IssueStamp { number: u32::try_from(i).unwrap_or(1), date: date(i) };
    let sign_options = coopbrief_sign::SignOptions::new(jiff::Timestamp::now());
    let (mut draft, mut issued, mut signed, mut sign_only) =
        (Samples::default(), Samples::default(), Samples::default(), Samples::default());
    renderer.render(&data, &options(1).with_issue(stamp(1)))?;
    let mut n = 10;
    let mut last = Vec::new();
    for round in 0..plan.rounds * plan.inner.max(1) * 2 {
        n += 3;
        // Which of the two renders goes first alternates: the first after a signed render
        // finds the caches another variant left.
        for variant in [round % 2, 1 - round % 2] {
            let t = Instant::now();
            if variant == 0 {
                renderer.render(&data, &options(n))?;
                draft.push(t.elapsed());
            } else {
                renderer.render(&data, &options(n + 1).with_issue(stamp(n + 1)))?;
                issued.push(t.elapsed());
            }
        }
        let t = Instant::now();
        let pdf = renderer.render(&data, &options(n + 2).with_issue(stamp(n + 2)))?;
        last = coopbrief_sign::sign_pdf(&pdf.bytes, &identity, &sign_options)?;
        signed.push(t.elapsed());
        let t = Instant::now();
        coopbrief_sign::sign_pdf(&pdf.bytes, &identity, &sign_options)?;
        sign_only.push(t.elapsed());
    }
    let base = draft.pct_ms(50.0).max(1e-9);
    let mut rows = Vec::new();
    let mut r = Row::new("issue", "seed 2019", "draft render").with_samples(&draft, "docs/s");
    r.ratio = Some("1.00× (baseline)".into());
    r.note = "a new date each run: no whole-document cache hit".into();
    rows.push(r);
    let mut r = Row::new("issue", "seed 2019", "issued render (number, signer)").with_samples(&issued, "docs/s");
    r.ratio = Some(format!("{:.2}× draft", issued.pct_ms(50.0) / base));
    rows.push(r);
    let mut r = Row::new("issue", "seed 2019", "issued render + PAdES sign").with_samples(&signed, "docs/s");
    r.ratio = Some(format!("{:.2}× draft", signed.pct_ms(50.0) / base));
    r.note = format!("what IssueReport does besides SQL and storage; signed PDF {} bytes", last.len());
    rows.push(r);
    let mut r = Row::new("issue", "seed 2019", "PAdES sign alone (ECDSA P-256)").with_samples(&sign_only, "docs/s");
    r.ratio = Some(format!("{:.3}× draft", sign_only.pct_ms(50.0) / base));
    r.note = "incremental update: parse, widget, CMS, hash, fill".into();
    rows.push(r);
    Ok(rows)
}

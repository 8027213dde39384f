//! Render benchmark: the seed briefing warm, N times (p50/p95), and a synthetic programme at scale
//! (time, pages, peak RSS): `cargo run --release -p coopbrief-render --example bench -- [--quick]`.

use std::path::Path;
use std::time::{Duration, Instant};

use coopbrief_domain::dataset::Dataset;
use coopbrief_domain::{BriefingData, Lang};
use coopbrief_render::{PdfStandard, RenderOptions, Renderer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().skip(1).any(|a| a == "--quick");
    let (iterations, scale) = if quick { (5, (500, 40, 30)) } else { (30, (5_000, 200, 300)) };

    let seed_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/hanoi-hanam.yaml");
    let ds = Dataset::parse(&std::fs::read_to_string(&seed_file)?)?;
    let programme = ds.programmes.first().ok_or("the seed dataset has no programme")?;
    let seed = BriefingData::select(programme, "2019".parse()?, &ds.partners, &ds.sectors);

    let started = Instant::now();
    let renderer = Renderer::new()?;
    let setup = started.elapsed();

    println!(
        "{:<44} {:>6} {:>9} {:>9} {:>9} {:>6} {:>10}",
        "case", "runs", "p50 ms", "p95 ms", "max ms", "pages", "bytes"
    );
    for (name, lang, standard) in [
        ("seed 2019 vi (warm)", Lang::Vi, PdfStandard::None),
        ("seed 2019 en (warm)", Lang::En, PdfStandard::None),
        ("seed 2019 vi PDF/A-2b (warm)", Lang::Vi, PdfStandard::A2b),
    ] {
        let options = RenderOptions::new(lang, jiff::civil::date(2026, 11, 26)).with_pdf_standard(standard);
        let first = renderer.render(&seed, &options)?; // warm-up: fonts parsed, caches filled
        let mut times = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let t = Instant::now();
            renderer.render(&seed, &options)?;
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{name:<44} {iterations:>6} {:>9.1} {:>9.1} {:>9.1} {:>6} {:>10}",
            ms(percentile(&times, 50)),
            ms(percentile(&times, 95)),
            ms(times.last().copied().unwrap_or_default()),
            first.pages,
            first.bytes.len()
        );
    }

    // typst memoizes: a repeat of the same input is mostly cache hits. A new date each run changes
    // the data file, so this row is closer to a worker rendering different reports.
    let mut times = Vec::with_capacity(iterations);
    let mut pages = 0;
    let mut bytes = 0;
    for i in 0..iterations {
        let day = jiff::civil::date(2026, 1, 1).checked_add(jiff::Span::new().days(i64::try_from(i)?))?;
        let t = Instant::now();
        let pdf = renderer.render(&seed, &RenderOptions::new(Lang::Vi, day))?;
        times.push(t.elapsed());
        (pages, bytes) = (pdf.pages, pdf.bytes.len());
    }
    times.sort();
    println!(
        "{:<44} {iterations:>6} {:>9.1} {:>9.1} {:>9.1} {pages:>6} {bytes:>10}",
        "seed 2019 vi (new date each run)",
        ms(percentile(&times, 50)),
        ms(percentile(&times, 95)),
        ms(times.last().copied().unwrap_or_default()),
    );

    let (activities, indicators, projects) = scale;
    let t = Instant::now();
    let data = coopbrief_render::bench::synthetic(activities, indicators, projects)?;
    let build = t.elapsed();
    let name = format!("synthetic {activities} act/{indicators} ind×12/{projects} proj");
    let t = Instant::now();
    let pdf = renderer.render(&data, &RenderOptions::new(Lang::Vi, jiff::civil::date(2026, 11, 26)))?;
    let elapsed = t.elapsed();
    println!("{name:<44} {:>6} {:>9.1} {:>9} {:>9} {:>6} {:>10}", 1, ms(elapsed), "-", "-", pdf.pages, pdf.bytes.len());
    println!();
    println!("renderer setup {:.1} ms; synthetic data built in {:.1} ms", ms(setup), ms(build));
    println!("peak RSS (VmHWM): {}", peak_rss().unwrap_or_else(|| "unknown".into()));
    Ok(())
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = (sorted.len() * p).div_ceil(100).saturating_sub(1).min(sorted.len() - 1);
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The process's peak resident set size, as Linux reports it.
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_owned())
}

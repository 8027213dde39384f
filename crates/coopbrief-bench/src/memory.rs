//! Sections 6 and 7: memory — a big programme's peak against the budget a small container
//! allows, the renderer's estimate against the measured peak, and a worker's RSS over many
//! jobs under each eviction policy — and re-render: what one changed value, the next period
//! and an unseen programme cost against identical data.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use coopbrief_domain::BriefingData;
use coopbrief_domain::dataset::Dataset;
use coopbrief_render::{Renderer, memory};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::proc;
use crate::render::{child_render, mib, options};
use crate::stats::{Row, Samples, Target};

/// The peak a worker in a 512 MiB container can afford for one render.
const PEAK_TARGET_MIB: f64 = 400.0;
/// The eviction policies compared: entries kept for this many renders.
const POLICIES: &[usize] = &[0, 1, memory::KEEP_RENDERS, 10];

/// Sizes of the memory section.
pub struct MemoryPlan {
    /// Activities of the big programme.
    pub big: usize,
    /// Cases whose estimate is checked against their measured peak.
    pub shapes: Vec<&'static str>,
    /// Jobs of the RSS-over-time rows, and how many programmes they cycle through.
    pub jobs: usize,
    pub programmes: usize,
}

/// Section 6.
pub fn section(plan: &MemoryPlan, skipped: &mut Vec<String>) -> (Vec<Row>, Vec<Target>) {
    let (mut rows, mut targets) = (Vec::new(), Vec::new());
    let case = format!("growth-{}", plan.big);
    let big = child_render(&case, 1);
    match &big {
        Ok(c) => {
            let peak = c.hwm_kib.map(mib);
            let estimate = memory::estimate_peak(usize::try_from(c.view_bytes).unwrap_or(usize::MAX));
            let mut r = Row::new("memory", &format!("{} activities", plan.big), "peak RSS, fresh process, one render");
            r.runs = 1;
            r.p50_ms = c.ms.first().copied();
            r.rss_mib = peak;
            r.note = format!("{} pages; estimated {:.0} MiB before layout", c.pages, estimate as f64 / 1048576.0);
            rows.push(r);
            targets.push(Target::new(
                &format!("memory: {} activities peak ≤ {PEAK_TARGET_MIB:.0} MiB (same bytes)", plan.big),
                peak.map_or("not measured".into(), |p| format!("{p:.0} MiB")),
                peak.map(|p| p <= PEAK_TARGET_MIB),
            ));
        }
        Err(e) => skipped.push(format!("memory {case}: {e:#}")),
    }
    let mut worst: Option<(f64, String)> = None;
    let mut all_cover = true;
    for shape in &plan.shapes {
        // The big programme's render above serves its shape too: it is not rendered twice.
        let fresh;
        let c = match (*shape == case, &big) {
            (true, Ok(c)) => c,
            (true, Err(_)) => continue,
            (false, _) => match child_render(shape, 1) {
                Ok(c) => {
                    fresh = c;
                    &fresh
                }
                Err(e) => {
                    skipped.push(format!("memory {shape}: {e:#}"));
                    continue;
                }
            },
        };
        let Some(peak) = c.hwm_kib.map(mib) else { continue };
        let estimate = memory::estimate_peak(usize::try_from(c.view_bytes).unwrap_or(usize::MAX)) as f64 / 1048576.0;
        let ratio = estimate / peak.max(1e-9);
        all_cover &= ratio >= 1.0;
        if worst.as_ref().is_none_or(|(w, _)| ratio > *w) {
            worst = Some((ratio, (*shape).to_owned()));
        }
        let mut r = Row::new("memory", shape, "estimate vs measured peak");
        r.runs = 1;
        r.rss_mib = Some(peak);
        r.ratio = Some(format!("{ratio:.2}× measured"));
        r.note = format!("estimate {estimate:.0} MiB from {} view bytes; {} pages", c.view_bytes, c.pages);
        rows.push(r);
    }
    targets.push(Target::new(
        "memory: the estimate covers the measured peak, within 1.5×, for every shape",
        worst.as_ref().map_or("not measured".into(), |(w, s)| format!("highest {w:.2}× ({s})")),
        worst.map(|(w, _)| all_cover && w <= 1.5),
    ));
    // The job after which RSS is first read (job 100, or the last of a quick run).
    let early = plan.jobs.min(100);
    for &keep in POLICIES {
        match child_jobs(keep, plan.jobs, plan.programmes) {
            Ok(j) => {
                let growth = j.rss_end_kib as f64 / (j.rss_early_kib.max(1) as f64);
                let mut r = Row::new(
                    "memory",
                    &format!("{} jobs, {} programmes", plan.jobs, plan.programmes),
                    &format!("evict entries unused for {keep} renders"),
                );
                r.runs = plan.jobs;
                r.p50_ms = Some(j.p50_ms);
                r.rss_mib = Some(mib(j.rss_end_kib));
                r.ratio = Some(format!("{growth:.2}× RSS after job {early}"));
                r.note = format!(
                    "RSS after job {early} {:.0} MiB; repeat of the last job {:.1} ms",
                    mib(j.rss_early_kib),
                    j.repeat_ms
                );
                rows.push(r);
                if keep == memory::KEEP_RENDERS {
                    targets.push(Target::new(
                        &format!("memory: RSS after {} jobs ≤ 1.2× after {early} (keep {keep})", plan.jobs),
                        format!("{:.0} vs {:.0} MiB = {growth:.2}×", mib(j.rss_end_kib), mib(j.rss_early_kib)),
                        Some(growth <= 1.2),
                    ));
                }
            }
            Err(e) => skipped.push(format!("memory jobs keep {keep}: {e:#}")),
        }
    }
    (rows, targets)
}

/// What [`internal_jobs`] printed.
struct ChildJobs {
    rss_early_kib: u64,
    rss_end_kib: u64,
    p50_ms: f64,
    repeat_ms: f64,
}

fn child_jobs(keep: usize, jobs: usize, programmes: usize) -> anyhow::Result<ChildJobs> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args(["internal-jobs", "--keep", &keep.to_string(), "--jobs", &jobs.to_string()])
        .args(["--programmes", &programmes.to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("child jobs failed: {}", out.status);
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("child jobs printed no JSON")?;
    let num = |k: &str| v[k].as_f64().unwrap_or(0.0);
    Ok(ChildJobs {
        rss_early_kib: v["rss_early_kib"].as_u64().unwrap_or(0),
        rss_end_kib: v["rss_end_kib"].as_u64().unwrap_or(0),
        p50_ms: num("p50_ms"),
        repeat_ms: num("repeat_ms"),
    })
}

/// A programme of the job series: its own size and its own titles, so that no two share text.
fn programme(p: usize) -> anyhow::Result<BriefingData> {
    let mut data = coopbrief_render::bench::synthetic(5 + (p * 7) % 60, 4 + p % 9, 2 + p % 7)?;
    for a in &mut data.programme.activities {
        a.title.vi = format!("{} — chương trình {p}", a.title.vi);
    }
    data.programme.title.vi = format!("Chương trình hợp tác thử nghiệm {p}");
    Ok(data)
}

/// The child of [`child_jobs`]: `jobs` renders cycling through `programmes` programmes, each
/// job on a date not seen before (a period after period), under eviction policy `keep`.
pub fn internal_jobs(keep: usize, jobs: usize, programmes: usize) -> anyhow::Result<()> {
    coopbrief_render::bench::set_keep_renders(keep);
    let renderer = Renderer::new()?;
    renderer.warm_up()?;
    let data: Vec<BriefingData> = (0..programmes.max(1)).map(programme).collect::<anyhow::Result<_>>()?;
    let mut times = Samples::default();
    let mut rss_early = 0;
    for j in 0..jobs {
        let t = Instant::now();
        renderer.render(&data[j % data.len()], &options(j / data.len()))?;
        times.push(t.elapsed());
        if j + 1 == jobs.min(100) {
            rss_early = proc::status(std::process::id()).map_or(0, |s| s.rss_kib);
        }
    }
    let rss_end = proc::status(std::process::id()).map_or(0, |s| s.rss_kib);
    // The last job again: what the policy kept of it.
    let last = jobs.saturating_sub(1);
    let t = Instant::now();
    renderer.render(&data[last % data.len()], &options(last / data.len()))?;
    let repeat_ms = crate::stats::ms(t.elapsed());
    println!(
        "{}",
        serde_json::json!({ "rss_early_kib": rss_early, "rss_end_kib": rss_end, "p50_ms": times.pct_ms(50.0), "repeat_ms": repeat_ms })
    );
    Ok(())
}

/// Section 7: the seed programme re-rendered, round after round, as identical data, with one
/// indicator value changed, for the next period, and an unseen programme, each under the
/// renderer's own eviction policy; and the changed render against a cold one of the same data.
pub fn rerender(rounds: usize) -> anyhow::Result<(Vec<Row>, Vec<Target>)> {
    let renderer = Renderer::new()?;
    renderer.warm_up()?;
    let ds = Dataset::bundled().context("the bundled dataset does not load")?;
    let p = ds.programmes.first().context("the bundled dataset has no programme")?;
    let base = BriefingData::select(p, "2019".parse()?, &ds.partners, &ds.sectors);
    // Every month, quarter, half and year of 2015–2020: periods the warm-up did not render.
    let mut periods = Vec::new();
    for y in 2015..=2020 {
        periods.extend((1..=12).map(|m| format!("{y}-{m:02}")));
        periods.extend((1..=4).map(|q| format!("{y}-Q{q}")));
        periods.extend((1..=2).map(|h| format!("{y}-H{h}")));
        periods.push(y.to_string());
    }
    let changed = |r: usize| -> anyhow::Result<BriefingData> {
        let mut data = base.clone();
        let ind = data
            .programme
            .indicators
            .iter_mut()
            .find(|i| !i.values.is_empty())
            .context("the seed has no indicator value")?;
        if let Some(v) = ind.values.last_mut() {
            v.value += Decimal::from(u64::try_from(r + 1).unwrap_or(1));
        }
        Ok(data)
    };
    let o = options(7);
    renderer.render(&changed(0)?, &o)?;
    let (mut one, mut same, mut next, mut unseen) =
        (Samples::default(), Samples::default(), Samples::default(), Samples::default());
    let mut last = None;
    for r in 1..=rounds {
        let data = changed(r)?;
        let t = Instant::now();
        let pdf = renderer.render(&data, &o)?;
        one.push(t.elapsed());
        let t = Instant::now();
        renderer.render(&data, &o)?;
        same.push(t.elapsed());
        last = Some((data, pdf.bytes));
        let period = &periods[r % periods.len()];
        let next_data = BriefingData::select(p, period.parse()?, &ds.partners, &ds.sectors);
        let t = Instant::now();
        renderer.render(&next_data, &options(r / periods.len()))?;
        next.push(t.elapsed());
        let other = programme(1_000 + r)?;
        let t = Instant::now();
        renderer.render(&other, &o)?;
        unseen.push(t.elapsed());
    }
    // The last changed render against a cold one: the same data with nothing memoised.
    let identical = match &last {
        Some((data, bytes)) => {
            typst::comemo::evict(0);
            renderer.render(data, &o)?.bytes == *bytes
        }
        None => false,
    };
    let base_ms = unseen.pct_ms(50.0).max(1e-9);
    let mut rows = Vec::new();
    for (variant, samples, note) in [
        ("identical data", &same, "the same data again: the whole layout is reused"),
        ("one indicator value changed", &one, "the seed's latest value of one indicator, new each round"),
        ("next period", &next, "a month, quarter, half or year of 2015–2020 not rendered before"),
        ("unseen programme", &unseen, "a synthetic programme of 5–65 activities, titles of its own"),
    ] {
        let mut r = Row::new("rerender", "seed 2019", variant).with_samples(samples, "docs/s");
        r.ratio = Some(format!("{:.2}× unseen", samples.pct_ms(50.0) / base_ms));
        r.note = note.into();
        rows.push(r);
    }
    let p50 = one.pct_ms(50.0);
    let targets = vec![
        Target::new(
            "re-render after one value changed: p50 ≤ 10 ms",
            format!("{p50:.1} ms (identical {:.1}, unseen {base_ms:.1})", same.pct_ms(50.0)),
            Some(p50 <= 10.0),
        ),
        Target::new(
            "re-render after one value changed is byte-identical to a cold render",
            if identical { "identical".into() } else { "different".into() },
            Some(identical),
        ),
    ];
    Ok((rows, targets))
}

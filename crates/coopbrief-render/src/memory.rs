//! How much memory a render takes, and how long typst keeps what it memoised.
//!
//! **The estimate.** typst lays a whole document out in memory — every page's frames, and in
//! its memoisation cache (comemo, process-wide) the paragraphs, table cells and page runs they
//! came from — so a render's peak grows with the text it lays out. Before anything is laid out,
//! [`estimate_peak`] predicts the peak from the size of the view model (the JSON the template
//! reads), and a render whose estimate exceeds [`crate::RenderOptions::memory_budget`] fails
//! with [`crate::Error::OverBudget`] instead of growing until the kernel kills the process.
//! The constants are fitted on `coopbrief-bench`'s growth rows (mimalloc, a fresh process, one
//! render) and err high: see `docs/PERFORMANCE.md`.
//!
//! **Eviction.** [`after_render`] runs after every render, successful or not: entries that no
//! render used in the last [`KEEP_RENDERS`] renders are dropped, so that the briefings a
//! worker renders period after period reuse their unchanged layout while a worker that serves
//! many programmes does not grow; after a render estimated above [`LARGE_RENDER`] the whole
//! cache is dropped at once, since holding a big document's layout would cost more than it
//! could save.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes a process that renders takes whatever the briefing: typst's set-up, the fonts, the
/// template, the runtime (a fresh process rendering a 7-page briefing peaks at 78–86 MiB).
pub const PEAK_BASE: u64 = 112 << 20;
/// Peak bytes per byte of view model above the base. Measured: 310–341 for programmes of
/// 1,000 to 5,000 short activities, 240–252 for activities with 1,000-character titles; with
/// the base, the estimate is 1.1–1.5× the measured peak of every shape in the benchmark.
pub const PEAK_PER_VIEW_BYTE: u64 = 352;

/// Renders an entry may go unused before the cache drops it. Measured in `coopbrief-bench`
/// (the eviction rows): keeping the last few renders' entries is what lets a programme's next
/// briefing reuse its unchanged layout, and it keeps a worker's RSS flat over 1,000 jobs of 50
/// programmes.
pub const KEEP_RENDERS: usize = 4;

/// Renders estimated above this drop the whole cache when they end.
pub const LARGE_RENDER: u64 = 256 << 20;

/// The predicted peak memory, in bytes, of rendering a view model of `view_bytes` bytes.
pub fn estimate_peak(view_bytes: usize) -> u64 {
    PEAK_BASE.saturating_add((view_bytes as u64).saturating_mul(PEAK_PER_VIEW_BYTE))
}

/// [`KEEP_RENDERS`], unless the benchmark tries another policy.
static KEEP: AtomicUsize = AtomicUsize::new(KEEP_RENDERS);

/// What a render leaves in typst's cache: see the module's documentation.
pub(crate) fn after_render(estimate: u64) {
    typst::comemo::evict(if estimate > LARGE_RENDER { 0 } else { KEEP.load(Ordering::Relaxed) });
}

/// For the benchmark's eviction rows: keep entries used in the last `renders` renders
/// (0: drop everything after each render).
#[cfg(feature = "bench")]
pub(crate) fn set_keep_renders(renders: usize) {
    KEEP.store(renders, Ordering::Relaxed);
}

/// `1.2 GiB`, `400 MiB`: how budgets and estimates are written in errors.
pub(crate) fn human(bytes: u64) -> String {
    const MIB: f64 = (1u64 << 20) as f64;
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 { format!("{:.1} GiB", mib / 1024.0) } else { format!("{mib:.0} MiB") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_grows_with_the_input_and_is_written_readably() {
        assert_eq!(estimate_peak(0), PEAK_BASE);
        assert!(estimate_peak(2_000_000) > estimate_peak(1_000_000));
        assert_eq!(estimate_peak(usize::MAX), u64::MAX, "saturates rather than wraps");
        assert_eq!(human(400 << 20), "400 MiB");
        assert_eq!(human(1_288_490_189), "1.2 GiB");
    }
}

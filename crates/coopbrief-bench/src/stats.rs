//! Latency samples and the one table row every section reports.

use std::time::Duration;

use serde::Serialize;

/// Sorted latencies of one variant.
#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`th percentile in milliseconds (nearest rank), 0 when empty.
    pub fn pct_ms(&self, p: f64) -> f64 {
        let mut v = self.0.clone();
        v.sort();
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((v.len() as f64) * p / 100.0).ceil() as usize;
        ms(v[rank.saturating_sub(1).min(v.len() - 1)])
    }

    /// Documents (or calls) per second if run one after another: 1000 / mean ms.
    pub fn serial_rate(&self) -> f64 {
        let total: Duration = self.0.iter().sum();
        if total.is_zero() { 0.0 } else { self.0.len() as f64 / total.as_secs_f64() }
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One line of the table (and one object of the JSON).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Row {
    pub section: String,
    pub case: String,
    pub variant: String,
    pub runs: usize,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Documents, requests, messages or reports per second, as `unit` says.
    pub rate: Option<f64>,
    pub unit: String,
    /// This row against the section's baseline, e.g. "0.42× echo" or "3.1× faster than ours".
    pub ratio: Option<String>,
    pub rss_mib: Option<f64>,
    pub note: String,
}

impl Row {
    pub fn new(section: &str, case: &str, variant: &str) -> Row {
        Row { section: section.into(), case: case.into(), variant: variant.into(), ..Row::default() }
    }

    /// Fills runs, percentiles and the serial rate from `s`.
    pub fn with_samples(mut self, s: &Samples, unit: &str) -> Row {
        self.runs = s.len();
        self.p50_ms = Some(s.pct_ms(50.0));
        self.p95_ms = Some(s.pct_ms(95.0));
        self.p99_ms = Some(s.pct_ms(99.0));
        self.rate = Some(s.serial_rate());
        self.unit = unit.into();
        self
    }
}

/// A performance target, checked against what was measured.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub target: String,
    pub measured: String,
    /// `None`: not measured in this run (skipped, or the peer is not installed).
    pub pass: Option<bool>,
}

impl Target {
    pub fn new(target: &str, measured: String, pass: Option<bool>) -> Target {
        Target { target: target.into(), measured, pass }
    }
}

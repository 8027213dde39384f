//! Times `sign_pdf` and `verify_pdf` alone on the rendered seed briefing:
//! `cargo run --release -p coopbrief-sign --example bench_sign -- [iterations] [a2b]`.

use std::path::Path;
use std::time::Instant;

use coopbrief_domain::BriefingData;
use coopbrief_domain::dataset::Dataset;
use coopbrief_render::{PdfStandard, RenderOptions, Renderer};
use coopbrief_sign::{SignOptions, demo_identity, sign_pdf, verify_pdf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let iterations: u32 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(100);
    let standard = if args.next().as_deref() == Some("a2b") { PdfStandard::A2b } else { PdfStandard::None };
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/hanoi-hanam.yaml");
    let ds = Dataset::parse(&std::fs::read_to_string(&data)?)?;
    let programme = ds.programmes.first().ok_or("the seed dataset has no programme")?;
    let briefing = BriefingData::select(programme, "2019".parse()?, &ds.partners, &ds.sectors);
    let options = RenderOptions::new("vi".parse()?, jiff::civil::date(2026, 11, 26)).with_pdf_standard(standard);
    let pdf = Renderer::new()?.render(&briefing, &options)?.bytes;
    let id = demo_identity("Văn phòng UBND thành phố Hà Nội")?;
    let opts = SignOptions::new(jiff::Timestamp::now());
    let signed = sign_pdf(&pdf, &id, &opts)?;
    let start = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(sign_pdf(&pdf, &id, &opts)?);
    }
    let sign_ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(iterations);
    let start = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(verify_pdf(&signed)?);
    }
    let verify_ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(iterations);
    println!(
        "{} bytes in, {} bytes out; sign {sign_ms:.3} ms, verify {verify_ms:.3} ms (mean of {iterations})",
        pdf.len(),
        signed.len()
    );
    Ok(())
}

//! Renders the seed dataset to a PDF file, to look at the layout: `cargo run -p coopbrief-render --example render_seed -- [vi|en] [period] [out.pdf] [a2b]`.

use std::path::Path;

use coopbrief_domain::BriefingData;
use coopbrief_domain::dataset::Dataset;
use coopbrief_render::{PdfStandard, RenderOptions, Renderer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let lang: coopbrief_domain::Lang = args.next().unwrap_or_else(|| "vi".into()).parse()?;
    let period = args.next().unwrap_or_else(|| "2019".into()).parse()?;
    let out = args.next().unwrap_or_else(|| format!("/tmp/coopbrief-seed-{lang}.pdf"));
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/hanoi-hanam.yaml");
    // Parsed without `Dataset::validate`: the renderer needs no cross-reference checks, and the
    // seed file currently repeats the code "trade-delegations" (indicator and activity).
    let ds = Dataset::parse(&std::fs::read_to_string(&data)?)?;
    let programme = ds.programmes.first().ok_or("the seed dataset has no programme")?;
    let briefing = BriefingData::select(programme, period, &ds.partners, &ds.sectors);
    let standard = if args.next().as_deref() == Some("a2b") { PdfStandard::A2b } else { PdfStandard::None };
    let options = RenderOptions::new(lang, jiff::civil::date(2026, 11, 26)).with_pdf_standard(standard);
    let pdf = Renderer::new()?.render(&briefing, &options)?;
    std::fs::write(&out, &pdf.bytes)?;
    println!("{out}: {} pages, {} bytes", pdf.pages, pdf.bytes.len());
    Ok(())
}

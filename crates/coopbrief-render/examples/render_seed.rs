//! Renders the seed dataset to a PDF file, to look at the layout: `cargo run -p coopbrief-render --example render_seed -- [vi|en] [period] [out.pdf] [none|a-2b|a-2b,ua-1|a-3b] [issued]`.
//!
//! `issued` renders the issued briefing, number 1 of 26 November 2026, signed by a sample
//! signer ("KT. Chủ tịch, Phó Chủ tịch Nguyễn Văn A") for two sample recipients; otherwise a draft.

use std::path::Path;

use coopbrief_domain::BriefingData;
use coopbrief_domain::dataset::Dataset;
use coopbrief_render::{IssueStamp, PdfStandard, RenderOptions, Renderer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let lang: coopbrief_domain::Lang = args.next().unwrap_or_else(|| "vi".into()).parse()?;
    let period = args.next().unwrap_or_else(|| "2019".into()).parse()?;
    let out = args.next().unwrap_or_else(|| format!("/tmp/coopbrief-seed-{lang}.pdf"));
    let standard: PdfStandard = args.next().unwrap_or_default().parse()?;
    let issued = args.next().as_deref() == Some("issued");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/hanoi-hanam.yaml");
    // Parsed without `Dataset::validate`: the renderer needs no cross-reference checks.
    let ds = Dataset::parse(&std::fs::read_to_string(&data)?)?;
    let mut programme = ds.programmes.first().ok_or("the seed dataset has no programme")?.clone();
    let date = jiff::civil::date(2026, 11, 26);
    let mut options = RenderOptions::new(lang, date).with_pdf_standard(standard);
    if issued {
        coopbrief_render::bench::sign_sample(&mut programme.letterhead);
        options = options.with_issue(IssueStamp { number: 1, date });
    }
    let briefing = BriefingData::select(&programme, period, &ds.partners, &ds.sectors);
    let pdf = Renderer::new()?.render(&briefing, &options)?;
    std::fs::write(&out, &pdf.bytes)?;
    println!("{out}: {} pages, {} bytes, data sha256 {}", pdf.pages, pdf.bytes.len(), pdf.data_hash);
    Ok(())
}

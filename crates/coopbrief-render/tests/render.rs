//! Renders briefings and asserts on what a reader sees: the PDF's text as `pdftotext` extracts it.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use coopbrief_domain::dataset::{Dataset, Programme};
use coopbrief_domain::{BriefingData, Lang, Text};
use coopbrief_render::{Error, RenderOptions, RenderedPdf, Renderer};
use jiff::civil::date;

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(|| Renderer::new().expect("renderer"))
}

fn seed() -> Dataset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/hanoi-hanam.yaml");
    // Parsed, not `Dataset::load`ed: rendering needs no cross-file validation.
    Dataset::parse(&std::fs::read_to_string(path).expect("seed dataset")).expect("seed dataset parses")
}

fn briefing(ds: &Dataset, programme: &Programme, period: &str) -> BriefingData {
    BriefingData::select(programme, period.parse().expect("period"), &ds.partners, &ds.sectors)
}

fn options(lang: Lang) -> RenderOptions {
    RenderOptions { lang, generated_on: date(2026, 11, 26) }
}

/// The text of a PDF, whitespace collapsed so that line breaks do not matter.
fn pdf_text(pdf: &RenderedPdf) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("briefing.pdf");
    std::fs::write(&file, &pdf.bytes).expect("write pdf");
    let out = match Command::new("pdftotext").arg("-layout").arg(&file).arg("-").output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("pdftotext (poppler-utils) is required: apt-get install -y poppler-utils")
        }
        Err(e) => panic!("pdftotext failed to start: {e}"),
    };
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 text").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Renders the seed programme for `period` in `lang`; every expected string must appear.
fn check(lang: Lang, period: &str, expected: &[&str]) -> RenderedPdf {
    let ds = seed();
    let pdf = renderer().render(&briefing(&ds, &ds.programmes[0], period), &options(lang)).expect("render");
    let text = pdf_text(&pdf);
    let missing: Vec<&&str> = expected.iter().filter(|e| !text.contains(**e)).collect();
    assert!(missing.is_empty(), "missing {missing:?} in the {lang} briefing for {period}:\n{text}");
    pdf
}

#[test]
fn seed_briefing_in_vietnamese() {
    let pdf = check(
        Lang::Vi,
        "2019",
        &[
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc",
            "Số: /BC-HT",
            "Hà Nội, ngày 26 tháng 11 năm 2026",
            "BÁO CÁO",
            "Kết quả thực hiện Chương trình hợp tác giữa thành phố Hà Nội và tỉnh Hà Nam — Năm 2019",
            "Hà Nội",
            "Hà Nam",
            "Hòa Bình",
            "Địa phương liên quan",
            "Năm 2019",
            "Ngày lập báo cáo: 26/11/2026",
            "87",
            "10.900",
            "Giai đoạn 2015–2019",
            // The seed writes "vành đai 5" or "Vành đai 5" depending on the edit; both are right.
            "đai 5 Vùng Thủ đô Hà Nội",
            "Nhuệ",
            "3 tỷ đồng",
            "15 đợt",
            "Đang triển khai",
            "Kết quả đạt được",
            "Hạn chế",
            "PHƯƠNG HƯỚNG",
        ],
    );
    assert!(pdf.pages > 1, "{} pages", pdf.pages);
    assert!(pdf.bytes.starts_with(b"%PDF-"));
}

#[test]
fn seed_briefing_in_english() {
    let pdf = check(
        Lang::En,
        "2019",
        &[
            "SOCIALIST REPUBLIC OF VIETNAM",
            "BRIEFING",
            "Hanoi, 26 November 2026",
            "Hanoi",
            "Ha Nam",
            "Hoa Binh",
            "Year 2019",
            "26 Nov 2026",
            "10,900",
            "billion VND",
            "3 billion VND",
            "15 times",
            "Ring Road 5",
            "In progress",
            "Achievements",
            "Limitations",
            "DIRECTIONS",
            "Hanoi – Ha Nam · Page 1 of",
            "Page 2 of",
        ],
    );
    assert!(pdf.pages > 1, "{} pages", pdf.pages);
}

#[test]
fn a_period_without_records_says_so() {
    check(Lang::Vi, "2014", &["Năm 2014", "Không có số liệu trong kỳ.", "Chưa có đánh giá trong kỳ."]);
    check(Lang::En, "2014", &["Year 2014", "No figures for this period.", "No assessment for this period."]);

    // Projects without dates stay in every briefing; without them 2014 has nothing by sector.
    let ds = seed();
    let mut programme = ds.programmes[0].clone();
    programme.projects.clear();
    for (lang, expected) in [(Lang::Vi, "Không có hoạt động trong kỳ."), (Lang::En, "No activities in this period.")]
    {
        let pdf = renderer().render(&briefing(&ds, &programme, "2014"), &options(lang)).expect("render");
        let text = pdf_text(&pdf);
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
}

#[test]
fn same_input_gives_the_same_bytes() {
    let ds = seed();
    let data = briefing(&ds, &ds.programmes[0], "2019");
    let a = renderer().render(&data, &options(Lang::Vi)).expect("first render");
    let b = Renderer::new().expect("renderer").render(&data, &options(Lang::Vi)).expect("second render");
    assert_eq!(a.pages, b.pages);
    assert!(a.bytes == b.bytes, "two renders of the same briefing differ");
    let c = renderer().render(&data, &RenderOptions { generated_on: date(2026, 11, 27), ..options(Lang::Vi) });
    assert!(c.expect("third render").bytes != a.bytes, "the generation date is printed");
}

#[test]
fn data_strings_are_shown_literally_never_evaluated() {
    let payloads = [
        "#read(\"/etc/passwd\")",
        "]#image(\"/etc/hosts\")[",
        "$x$",
        "a \\ b",
        "#import \"@preview/x:1.0.0\": *",
        "<script>alert(1)</script>",
        "*bold?* _em?_ = heading? // comment?",
    ];
    let ds = seed();
    let mut programme = ds.programmes[0].clone();
    programme.title = Text::new(payloads.join(" "), payloads.join(" "));
    programme.short_name = Text::vi(payloads[1]);
    for (i, a) in programme.activities.iter_mut().enumerate() {
        a.description = Some(Text::vi(payloads[i % payloads.len()]));
    }
    for (i, p) in programme.projects.iter_mut().enumerate() {
        p.name = Text::vi(payloads[(i + 3) % payloads.len()]);
        p.progress = Some(60);
    }
    let data = briefing(&ds, &programme, "2019");
    for lang in [Lang::Vi, Lang::En] {
        let pdf = renderer().render(&data, &options(lang)).expect("a hostile briefing still renders");
        let text = pdf_text(&pdf);
        for p in payloads {
            let p = p.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(text.contains(&p), "{p:?} is not shown literally in {lang}:\n{text}");
        }
        assert!(text.contains("60%"), "progress is shown");
        assert!(!text.contains("root:"), "/etc/passwd leaked");
    }
}

#[test]
fn errors_say_what_failed() {
    let e = Error::Compile { message: "/briefing.typ:3:1: unknown variable: x".into() };
    assert_eq!(e.to_string(), "template failed to compile: /briefing.typ:3:1: unknown variable: x");
}

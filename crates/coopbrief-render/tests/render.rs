//! Renders briefings and asserts on what a reader sees: the PDF's text as `pdftotext` extracts it.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use coopbrief_domain::dataset::{Dataset, IndicatorValue, Programme};
use coopbrief_domain::{BriefingData, Lang, Text};
use coopbrief_render::{Error, IssueStamp, PdfStandard, RenderOptions, RenderedPdf, Renderer};
use jiff::civil::date;
use serde_json::Value;
use sha2::{Digest, Sha256};

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
    RenderOptions::new(lang, date(2026, 11, 26))
}

/// Runs a poppler tool on the PDF and returns its standard output.
fn poppler(tool: &str, args: &[&str], pdf: &RenderedPdf) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("briefing.pdf");
    std::fs::write(&file, &pdf.bytes).expect("write pdf");
    let out = match Command::new(tool)
        .args(args)
        .arg(&file)
        .args(if tool == "pdftotext" { &["-"][..] } else { &[] })
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{tool} (poppler-utils) is required: apt-get install -y poppler-utils")
        }
        Err(e) => panic!("{tool} failed to start: {e}"),
    };
    assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    match tool {
        "pdftotext" => String::from_utf8(out.stdout).expect("utf-8 text"),
        // `pdfinfo -struct` prints structure titles as raw UTF-16.
        _ => String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// Writes the PDF to `$COOPBRIEF_RENDER_DUMP/<name>.pdf` when that variable is set, to look at it.
fn dump(name: &str, pdf: &RenderedPdf) {
    if let Some(dir) = std::env::var_os("COOPBRIEF_RENDER_DUMP") {
        std::fs::write(Path::new(&dir).join(format!("{name}.pdf")), &pdf.bytes).expect("dump pdf");
    }
}

/// The text of a PDF in content order (`-raw`: a table row reads cell after cell), whitespace
/// collapsed so that line breaks do not matter.
fn pdf_text(pdf: &RenderedPdf) -> String {
    poppler("pdftotext", &["-raw"], pdf).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of each page, whitespace collapsed, without a draft's watermark (which pdftotext
/// reads first, one rotated letter at a time: "D Ự T H Ả O").
fn page_texts(pdf: &RenderedPdf) -> Vec<String> {
    poppler("pdftotext", &["-raw"], pdf)
        .split('\u{c}')
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .map(|p| WATERMARKS.iter().fold(p, |p, w| p.replace(&format!("{} ", spaced(w)), "")))
        .filter(|p| !p.is_empty())
        .collect()
}

/// The draft marks, as the briefing prints them.
const WATERMARKS: [&str; 2] = ["DỰ THẢO", "DRAFT"];

/// "D Ự T H Ả O": a mark as pdftotext extracts its rotated letters.
fn spaced(mark: &str) -> String {
    mark.chars().filter(|c| !c.is_whitespace()).map(String::from).collect::<Vec<_>>().join(" ")
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
            "DỰ THẢO",
            "Số: /BC-UBND",
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
            // Key figures: the value, the period it covers, previous, change, cumulative, target.
            "SỐ LIỆU CHÍNH",
            "Trong kỳ Kỳ trước Tăng/giảm Lũy kế Mục tiêu",
            "87 Giai đoạn 2015–2019",
            "từ 01/01/2015",
            "Phụ lục",
            "DANH MỤC CÁC HOẠT ĐỘNG TRONG KỲ",
            "(Kèm theo Báo cáo ngày 26/11/2026)",
            "Nơi nhận: - Các bên tham gia chương trình; - Lưu: VT.",
            "CƠ QUAN BÁO CÁO (Ký, ghi rõ họ tên, đóng dấu)",
        ],
    );
    assert!(pdf.pages > 1, "{} pages", pdf.pages);
    assert!(pdf.bytes.starts_with(b"%PDF-"));
    assert_eq!(pdf.data_hash.len(), 64);
    let text = pdf_text(&pdf);
    assert!(text.contains(&format!("Mã dữ liệu: {}.", &pdf.data_hash[..12])), "{text}");
    // The seed's headline indicators have one value each: no chart compares anything.
    assert!(!text.contains("Diễn biến các chỉ tiêu chính qua các kỳ"), "{text}");
    // Page numbers: none on page 1, "2" alone at the top of page 2 (Nghị định 30/2020, Phụ lục I, I.7).
    let pages = page_texts(&pdf);
    assert!(
        pages[0]
            .starts_with("DỰ THẢO ỦY BAN NHÂN DÂN THÀNH PHỐ HÀ NỘI Số: /BC-UBND CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
        "{}",
        pages[0]
    );
    assert!(pages[1].starts_with("2 "), "{}", pages[1]);
    // The appendix numbers its own pages and, like page 1, shows none on its first.
    let appendix = pages.iter().find(|p| p.contains("DANH MỤC CÁC HOẠT ĐỘNG")).expect("appendix page");
    assert!(appendix.starts_with("Phụ lục"), "{appendix}");
}

#[test]
fn fonts_are_embedded_liberation_serif_only() {
    let ds = seed();
    let pdf = renderer().render(&briefing(&ds, &ds.programmes[0], "2019"), &options(Lang::Vi)).expect("render");
    let fonts = poppler("pdffonts", &[], &pdf);
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "{fonts}");
    for row in rows {
        assert!(row.contains("LiberationSerif"), "a font other than Liberation Serif: {row}");
        // Columns: name type encoding emb sub uni object-id.
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols.get(cols.len() - 5), Some(&"yes"), "not embedded: {row}");
    }
}

#[test]
fn seed_briefing_in_english() {
    let pdf = check(
        Lang::En,
        "2019",
        &[
            "SOCIALIST REPUBLIC OF VIETNAM",
            "BRIEFING",
            "DRAFT",
            "HANOI PEOPLE'S COMMITTEE No.: /BC-UBND",
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
            "KEY FIGURES",
            "This period Previous period Change Cumulative Target",
            "since 1 Jan 2015",
            "Appendix",
            "LIST OF ACTIVITIES IN THE PERIOD",
            "(Attached to the briefing of 26 Nov 2026)",
            "Data snapshot:",
            "To: - The partners of the programme; - Archive.",
            "REPORTING BODY (Signature, full name, seal)",
        ],
    );
    assert!(pdf.pages > 1, "{} pages", pdf.pages);
    let text = pdf_text(&pdf);
    let last = format!("Page {n} of {n}", n = pdf.pages);
    assert!(text.contains(&last), "{last:?} missing:\n{text}");
    // No Vietnamese-only label leaks into the English briefing.
    for vi in ["Trang", "Kỳ trước", "Lũy kế", "Phụ lục", "Nơi nhận"] {
        assert!(!text.contains(vi), "{vi:?} in the English briefing");
    }
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
    assert_eq!(a.data_hash, b.data_hash);
    let signed = briefing(&ds, &signed_programme(&ds), "2019");
    let stamp = IssueStamp { number: 7, date: date(2026, 12, 1) };
    for standard in [PdfStandard::None, PdfStandard::A2b, PdfStandard::A2bUa1, PdfStandard::A3b] {
        for issued in [false, true] {
            let mut o = options(Lang::En).with_pdf_standard(standard);
            if issued {
                o = o.with_issue(stamp);
            }
            let x = renderer().render(&signed, &o).expect("render");
            let y = Renderer::new().expect("renderer").render(&signed, &o).expect("render");
            assert!(x.bytes == y.bytes, "two {standard:?} renders (issued: {issued}) differ");
        }
    }
    // Another number, another document.
    let o = |number| options(Lang::Vi).with_issue(IssueStamp { number, ..stamp });
    let (seven, eight) = (renderer().render(&signed, &o(7)), renderer().render(&signed, &o(8)));
    assert!(seven.expect("render").bytes != eight.expect("render").bytes, "the number is printed");

    // Other data, another hash; the hash does not depend on the language.
    let mut other = data.clone();
    other.programme.activities.pop();
    let o = renderer().render(&other, &options(Lang::En)).expect("render");
    assert_ne!(o.data_hash, a.data_hash);
    assert_eq!(renderer().render(&data, &options(Lang::En)).expect("render").data_hash, a.data_hash);
}

#[test]
fn key_figures_show_previous_change_cumulative_and_target() {
    let yaml = r#"
partners:
  - { code: a, name: { vi: "Hà Nội", en: "Hanoi" }, kind: city }
  - { code: b, name: { vi: "Hà Nam", en: "Ha Nam" }, kind: province }
programmes:
  - code: ab
    title: { vi: "Chương trình A – B", en: "Programme A – B" }
    short_name: "A – B"
    partners: [ { partner: a, role: "x" }, { partner: b, role: "y" } ]
    indicators:
      - code: visitors
        name: { vi: "Lượt khách du lịch", en: "Tourist visits" }
        unit: { vi: "nghìn lượt", en: "thousand visits" }
        headline: true
        aggregation: sum
        base_date: 2019-01-01
        target: 100
        values:
          - { period: 2019-Q1, value: 20 }
          - { period: 2019-Q2, value: 20 }
          - { period: 2019-Q3, value: 25 }
      - code: accidents
        name: { vi: "Tai nạn giao thông", en: "Road accidents" }
        unit: { vi: "vụ", en: "accidents" }
        headline: true
        higher_is_better: false
        aggregation: latest
        values:
          - { period: 2019-Q2, value: 40 }
          - { period: 2019-Q3, value: 50 }
      - code: jobs
        name: { vi: "Việc làm mới", en: "New jobs" }
        unit: { vi: "việc làm", en: "jobs" }
        headline: true
        aggregation: cumulative
        base_date: 2018-01-01
        values:
          - { period: 2019-Q2, value: 1200 }
          - { period: 2019-Q3, value: 1500.5 }
"#;
    let ds = Dataset::parse(yaml).expect("dataset");
    let data = briefing(&ds, &ds.programmes[0], "2019-Q3");
    dump("key-figures", &renderer().render(&data, &options(Lang::Vi)).expect("render"));
    let table = |text: &str| text.split("SỐ LIỆU CHÍNH").nth(1).unwrap_or(text).to_owned();
    let vi = table(&pdf_text(&renderer().render(&data, &options(Lang::Vi)).expect("render")));
    // Visits: 25 now, 20 before, up 25 %; 65 since the base date, 65 % of the target of 100.
    // Accidents: 50 now, 40 before, up 25 % — the wrong way. Jobs: cumulative 1,500.5 since 2018.
    for expected in [
        "Quý III/2019",
        "Lượt khách du lịch (nghìn lượt) 25 20 ▲ 25% 65 từ 01/01/2019 100 65%",
        "Tai nạn giao thông (vụ) 50 40 ▲ 25% —",
        "Việc làm mới (việc làm) 1.500,5 1.200 ▲ 25% 1.500,5 từ 01/01/2018",
    ] {
        assert!(vi.contains(expected), "{expected:?} missing:\n{vi}");
    }
    let en = pdf_text(&renderer().render(&data, &options(Lang::En)).expect("render"));
    for expected in ["Q3 2019", "Tourist visits (thousand visits) 25 20 ▲ 25% 65 since 1 Jan 2019 100 65%", "1,500.5"]
    {
        assert!(en.contains(expected), "{expected:?} missing:\n{en}");
    }
    // The chart shows up to 6 periods with their values.
    assert!(en.contains("Q1 2019") && en.contains("Q2 2019"), "{en}");
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

/// Replaces every localized text (`vi`/`en`) and free-text `source` in the data with `f(n)`.
fn replace_texts(value: &mut Value, f: &dyn Fn(usize) -> String, n: &mut usize) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if matches!(key.as_str(), "vi" | "en" | "source") && item.is_string() {
                    *item = Value::String(f(*n));
                    *n += 1;
                } else {
                    replace_texts(item, f, n);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| replace_texts(i, f, n)),
        _ => {}
    }
}

#[test]
fn hostile_text_in_every_field_is_shown_literally() {
    let payloads = [
        "#read(\"/etc/passwd\")",
        "]#image(\"/etc/hosts\")[",
        "$x$",
        "a \\ b",
        "#import \"@preview/x:1.0.0\": *",
        "<script>alert(1)</script>",
    ];
    let ds = seed();
    let data = briefing(&ds, &ds.programmes[0], "2019");
    let mut value = serde_json::to_value(&data).expect("to json");
    // Every tenth field gets a 10,000-character string (words, so that lines can break), the
    // others a payload; both languages, so the English briefing sees them too.
    let long = |_| "long ".repeat(2000);
    replace_texts(&mut value, &|n| if n % 10 == 9 { long(n) } else { payloads[n % payloads.len()].to_owned() }, &mut 0);
    let mut data: BriefingData = serde_json::from_value(value).expect("from json");
    // One 10,000-character word with no place to break, in the title block, a table and the appendix.
    let word = "W".repeat(10_000);
    data.programme.title = Text::new(word.clone(), word.clone());
    data.partners[0].name = Text::new(word.clone(), word.clone());
    data.programme.activities[0].title = Text::new(word.clone(), word);
    for lang in [Lang::Vi, Lang::En] {
        let pdf = renderer().render(&data, &options(lang)).expect("a hostile briefing still renders");
        dump(&format!("hostile-{lang}"), &pdf);
        let text = pdf_text(&pdf);
        for p in payloads {
            let p = p.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(text.contains(&p), "{p:?} is not shown literally in {lang}");
        }
        assert!(text.matches("long").count() > 2000, "a 10,000-character string is shown");
        assert!(text.contains("WWWWWWWWWW"), "the unbreakable word is shown");
        assert!(!text.contains("root:"), "/etc/passwd leaked");
        assert!(!text.contains("localhost"), "/etc/hosts leaked");
    }
}

#[test]
fn a_character_missing_from_the_font_fails_naming_it_and_its_field() {
    let ds = seed();
    let cases = [
        // The activity's title is both in its sector and in the appendix; the first path in key order is named.
        ("activity", '\u{1F600}', "appendix[5].title"),
        ("partner", '漢', "overview.partners[1].name"),
    ];
    for (what, c, field) in cases {
        let mut programme = ds.programmes[0].clone();
        let mut partners = ds.partners.clone();
        match what {
            "activity" => {
                let a = programme.activities.iter_mut().find(|a| a.sector.as_deref() == Some("party-building"));
                a.expect("a party-building activity").title = Text::vi(format!("Hội nghị {c} hợp tác"));
            }
            _ => partners[1].name = Text::vi(format!("Hà {c} Nam")),
        }
        let data = BriefingData::select(&programme, "2019".parse().expect("period"), &partners, &ds.sectors);
        let err = renderer().render(&data, &options(Lang::Vi)).expect_err("no PDF with boxes");
        let message = err.to_string();
        assert!(
            matches!(&err, Error::MissingGlyph { character, field: f } if *character == c && f == field),
            "{message}"
        );
        assert!(message.contains(&format!("U+{:04X}", u32::from(c))), "{message}");
        assert!(message.contains(field), "{message}");
    }
}

#[test]
fn pdf_a_2b_on_request() {
    let ds = seed();
    let data = briefing(&ds, &ds.programmes[0], "2019");
    for lang in [Lang::Vi, Lang::En] {
        let pdf = renderer().render(&data, &options(lang).with_pdf_standard(PdfStandard::A2b)).expect("render");
        // poppler reads the XMP identification schema that PDF/A requires.
        let meta = poppler("pdfinfo", &["-meta"], &pdf);
        let compact: String = meta.split_whitespace().collect();
        assert!(
            compact.contains("<pdfaid:part>2</pdfaid:part>") || compact.contains("pdfaid:part=\"2\""),
            "no PDF/A part 2 in the XMP:\n{meta}"
        );
        assert!(
            compact.contains("<pdfaid:conformance>B</pdfaid:conformance>")
                || compact.contains("pdfaid:conformance=\"B\""),
            "no conformance B in the XMP:\n{meta}"
        );
        let info = poppler("pdfinfo", &[], &pdf);
        assert!(info.contains("Metadata Stream: yes"), "{info}");
        assert!(pdf_text(&pdf).contains("10"), "the PDF/A briefing has its text");
    }
    let plain = renderer().render(&data, &options(Lang::Vi)).expect("render");
    assert!(!poppler("pdfinfo", &["-meta"], &plain).contains("pdfaid"), "plain PDF claims PDF/A");
}

#[test]
fn an_operators_template_dir_is_loaded_once_and_sandboxed() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("briefing.typ"),
        "#import \"parts.typ\": banner\n#let d = json(\"/data.json\")\n#banner(d.header.short_name)\n\nMã: #d.header.data_hash\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("parts.typ"), "#let banner(name) = [Bản tin riêng: #name]").expect("write");
    std::fs::write(dir.path().join("secret.txt"), "do not read").expect("write");
    let r = Renderer::with_template_dir(dir.path()).expect("template dir loads");
    assert!(r.template_version().starts_with("custom-"), "{}", r.template_version());
    assert_eq!(renderer().template_version(), coopbrief_render::TEMPLATE_VERSION);

    // Later edits to the directory change nothing: it was read at construction.
    std::fs::write(dir.path().join("parts.typ"), "#let banner(name) = [changed]").expect("write");
    let ds = seed();
    let data = briefing(&ds, &ds.programmes[0], "2019");
    let pdf = r.render(&data, &options(Lang::Vi)).expect("render");
    let text = pdf_text(&pdf);
    assert!(text.contains("Bản tin riêng: Hà Nội – Hà Nam"), "{text}");
    assert!(text.contains(&pdf.data_hash[..12]), "{text}");

    // The world still denies everything else, siblings that are not templates included.
    for (name, body) in [
        ("read-sibling", "#read(\"secret.txt\")"),
        ("read-etc", "#read(\"/etc/passwd\")"),
        ("image", "#image(\"/etc/hosts\")"),
        ("package", "#import \"@preview/cetz:0.3.0\": *"),
    ] {
        let d = tempfile::tempdir().expect("temp dir");
        std::fs::write(d.path().join("briefing.typ"), body).expect("write");
        std::fs::write(d.path().join("secret.txt"), "do not read").expect("write");
        let err = Renderer::with_template_dir(d.path()).expect("loads").render(&data, &options(Lang::Vi));
        assert!(matches!(err, Err(Error::Compile { .. })), "{name}: {err:?}");
    }

    let empty = tempfile::tempdir().expect("temp dir");
    let err = Renderer::with_template_dir(empty.path()).expect_err("no briefing.typ");
    assert!(err.to_string().contains("briefing.typ"), "{err}");
}

#[test]
fn input_beyond_the_caps_fails_naming_the_field() {
    let ds = seed();
    let mut programme = ds.programmes[0].clone();
    programme.title = Text::vi("a".repeat(coopbrief_render::MAX_STRING_CHARS + 1));
    let err = renderer().render(&briefing(&ds, &programme, "2019"), &options(Lang::Vi)).expect_err("too long");
    assert!(matches!(&err, Error::TooLarge { what, limit: 20_000 } if what == "programme.title.vi"), "{err}");
    assert_eq!(err.to_string(), "input too large: programme.title.vi exceeds the limit of 20000");

    let mut programme = ds.programmes[0].clone();
    let one = programme.activities[0].clone();
    programme.activities = vec![one; 20_001];
    let err = renderer().render(&briefing(&ds, &programme, "2019"), &options(Lang::Vi)).expect_err("too many");
    assert!(matches!(&err, Error::TooLarge { what, limit: 20_000 } if what == "programme.activities"), "{err}");
}

#[test]
fn a_large_programme_renders_completely_with_tables_across_pages() {
    // The full 5,000-activity programme runs in `examples/bench.rs`; this one is big enough to
    // break the appendix and the indicator tables across pages.
    let data = coopbrief_render::bench::synthetic(400, 40, 30).expect("synthetic data");
    let pdf = renderer().render(&data, &options(Lang::Vi)).expect("render");
    dump("synthetic", &pdf);
    let pages = page_texts(&pdf);
    assert_eq!(pages.len(), pdf.pages as usize);
    let header = "STT Hoạt động Loại Thời kỳ Lĩnh vực";
    let with_header = pages.iter().filter(|p| p.contains(header)).count();
    assert!(with_header >= 3, "the appendix header repeats on each of its pages: {with_header}");
    let text = pdf_text(&pdf);
    for expected in
        ["Hoạt động hợp tác số 0 ", "Hoạt động hợp tác số 399 ", "Dự án thử nghiệm số 29", "Chỉ tiêu thử nghiệm số 39"]
    {
        assert!(text.contains(expected), "{expected:?} missing");
    }
    assert!(text.contains("400 Hoạt động hợp tác số 399"), "the appendix lists the last activity");
}

/// The seed programme with a signer (KT. Chủ tịch, Phó Chủ tịch Nguyễn Văn A) and two recipients.
fn signed_programme(ds: &Dataset) -> Programme {
    let mut programme = ds.programmes[0].clone();
    coopbrief_render::bench::sign_sample(&mut programme.letterhead);
    programme
}

/// Number 1 of 26 November 2026, for a briefing drawn up on 20 November.
fn issued(lang: Lang) -> RenderOptions {
    RenderOptions::new(lang, date(2026, 11, 20)).with_issue(IssueStamp { number: 1, date: date(2026, 11, 26) })
}

fn assert_contains(text: &str, expected: &[&str], what: &str) {
    let missing: Vec<&&str> = expected.iter().filter(|e| !text.contains(**e)).collect();
    assert!(missing.is_empty(), "missing {missing:?} in {what}:\n{text}");
}

/// `pdfinfo`'s value of `field` ("Keywords", "Author" …).
fn info(pdf: &RenderedPdf, field: &str) -> String {
    let out = poppler("pdfinfo", &[], pdf);
    let prefix = format!("{field}:");
    let line = out.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {field} in:\n{out}"));
    line[prefix.len()..].trim().to_owned()
}

#[test]
fn a_draft_says_so_and_leaves_the_number_blank() {
    let ds = seed();
    let data = briefing(&ds, &ds.programmes[0], "2019");
    for (lang, mark, number) in [(Lang::Vi, "DỰ THẢO", "Số: /BC-UBND"), (Lang::En, "DRAFT", "No.: /BC-UBND")] {
        let pdf = renderer().render(&data, &options(lang)).expect("render");
        dump(&format!("draft-{lang}"), &pdf);
        let pages = page_texts(&pdf);
        // The bordered mark opens the first page; the watermark is on every page.
        assert!(pages[0].starts_with(&format!("{mark} ")), "{}", pages[0]);
        let raw = poppler("pdftotext", &["-raw"], &pdf);
        for (n, page) in raw.split('\u{c}').filter(|p| !p.trim().is_empty()).enumerate() {
            let page = page.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(page.contains(&spaced(mark)), "no watermark on page {}: {page}", n + 1);
        }
        let text = pdf_text(&pdf);
        assert!(text.contains(number), "{number:?} missing:\n{text}");
        let keywords = info(&pdf, "Keywords");
        assert_eq!(keywords, format!("coopbrief, draft, data-sha256={}", pdf.data_hash));
        assert_eq!(info(&pdf, "Title"), subject(lang));
    }
    // The office's name is the author; without an office there is none, and the symbol is the default one.
    let vi = renderer().render(&data, &options(Lang::Vi)).expect("render");
    assert_eq!(info(&vi, "Author"), "Ủy ban nhân dân thành phố Hà Nội");
    let mut programme = ds.programmes[0].clone();
    programme.letterhead.office = None;
    let pdf = renderer().render(&briefing(&ds, &programme, "2019"), &options(Lang::Vi)).expect("render");
    let text = pdf_text(&pdf);
    assert!(text.contains("HÀ NỘI – HÀ NAM Số: /BC-HT"), "{text}");
    assert!(!poppler("pdfinfo", &[], &pdf).contains("Author:"), "an author without an office");
}

/// The seed's 2019 subject: the document's title.
fn subject(lang: Lang) -> String {
    match lang {
        Lang::Vi => "Kết quả thực hiện Chương trình hợp tác giữa thành phố Hà Nội và tỉnh Hà Nam — Năm 2019".into(),
        Lang::En => "Results of the Cooperation programme between Hanoi city and Ha Nam province — Year 2019".into(),
    }
}

#[test]
fn an_issued_briefing_has_its_number_date_signer_and_recipients() {
    let ds = seed();
    let data = briefing(&ds, &signed_programme(&ds), "2019");
    let pdf = renderer().render(&data, &issued(Lang::Vi)).expect("render");
    dump("issued-vi", &pdf);
    let text = pdf_text(&pdf);
    assert_contains(
        &text,
        &[
            "ỦY BAN NHÂN DÂN THÀNH PHỐ HÀ NỘI Số: 1/BC-UBND CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            // The issue date, not the day the briefing was drawn up.
            "Hà Nội, ngày 26 tháng 11 năm 2026",
            "Ngày lập báo cáo: 20/11/2026",
            "Nơi nhận: - Thường trực Thành ủy; - Ủy ban nhân dân tỉnh Hà Nam; - Lưu: VT.",
            "KT. CHỦ TỊCH PHÓ CHỦ TỊCH Nguyễn Văn A",
            "(Kèm theo Báo cáo số 1/BC-UBND ngày 26/11/2026 của Ủy ban nhân dân thành phố Hà Nội)",
        ],
        "the issued briefing",
    );
    for absent in ["DỰ THẢO", &spaced("DỰ THẢO"), "CƠ QUAN BÁO CÁO", "Các bên tham gia chương trình;"] {
        assert!(!text.contains(absent), "{absent:?} in the issued briefing:\n{text}");
    }
    let keywords = info(&pdf, "Keywords");
    assert_eq!(keywords, format!("coopbrief, number=1/BC-UBND, issued=2026-11-26, data-sha256={}", pdf.data_hash));
    assert_eq!(info(&pdf, "CreationDate"), "Thu Nov 26 00:00:00 2026 UTC");

    let en = renderer().render(&data, &issued(Lang::En)).expect("render");
    dump("issued-en", &en);
    assert_contains(
        &pdf_text(&en),
        &[
            "HANOI PEOPLE'S COMMITTEE No.: 1/BC-UBND SOCIALIST REPUBLIC OF VIETNAM",
            "Hanoi, 26 November 2026",
            "To: - Standing Board of the Municipal Party Committee; - Ha Nam Provincial People's Committee; - Archive.",
            "KT. CHAIRMAN VICE CHAIRMAN Nguyễn Văn A",
            "(Attached to briefing No. 1/BC-UBND of 26 Nov 2026 by Hanoi People's Committee)",
        ],
        "the issued English briefing",
    );
    assert!(!pdf_text(&en).contains("DRAFT"), "a draft mark on the issued English briefing");

    // A draft with the signer set shows the signer too, but no number.
    let draft = pdf_text(&renderer().render(&data, &options(Lang::Vi)).expect("render"));
    assert_contains(
        &draft,
        &["DỰ THẢO", "Số: /BC-UBND", "KT. CHỦ TỊCH PHÓ CHỦ TỊCH Nguyễn Văn A", "(Kèm theo Báo cáo ngày 26/11/2026)"],
        "the signed draft",
    );
}

#[test]
fn an_office_under_a_parent_body_prints_both() {
    let ds = seed();
    let mut programme = signed_programme(&ds);
    if let Some(office) = programme.letterhead.office.as_mut() {
        office.parent = Some(Text::new("Bộ Kế hoạch và Đầu tư", "Ministry of Planning and Investment"));
    }
    let pdf = renderer().render(&briefing(&ds, &programme, "2019"), &issued(Lang::Vi)).expect("render");
    let text = pdf_text(&pdf);
    assert!(text.starts_with("BỘ KẾ HOẠCH VÀ ĐẦU TƯ ỦY BAN NHÂN DÂN THÀNH PHỐ HÀ NỘI Số: 1/BC-UBND"), "{text}");
}

#[test]
fn issuing_needs_an_office_and_a_signer() {
    let ds = seed();
    let unsigned = briefing(&ds, &ds.programmes[0], "2019");
    let err = renderer().render(&unsigned, &issued(Lang::Vi)).expect_err("no signer");
    assert!(matches!(&err, Error::Data { message } if message.contains("letterhead.signer")), "{err}");
    let mut programme = signed_programme(&ds);
    programme.letterhead.office = None;
    let err = renderer().render(&briefing(&ds, &programme, "2019"), &issued(Lang::Vi)).expect_err("no office");
    assert!(matches!(&err, Error::Data { message } if message.contains("letterhead.office")), "{err}");
}

/// The seed programme with a second year for the headline indicator of welfare funds (2018: 2,
/// 2019: 3), so that one chart has something to compare.
fn charted_programme(ds: &Dataset) -> Programme {
    let mut programme = ds.programmes[0].clone();
    let welfare = programme.indicators.iter_mut().find(|i| i.code.as_str() == "welfare-support");
    let welfare = welfare.expect("the seed's welfare-support indicator");
    let earlier = IndicatorValue { period: "2018".parse().expect("period"), value: 2.into(), source: None, note: None };
    welfare.values.insert(0, earlier);
    programme
}

#[test]
fn a_chart_only_where_two_periods_compare() {
    let ds = seed();
    // The seed: one value per headline indicator, so no chart and no chart section.
    for (lang, title) in
        [(Lang::Vi, "Diễn biến các chỉ tiêu chính qua các kỳ"), (Lang::En, "Main indicators over the last periods")]
    {
        let text =
            pdf_text(&renderer().render(&briefing(&ds, &ds.programmes[0], "2019"), &options(lang)).expect("render"));
        assert!(!text.contains(title), "{title:?} without a chart:\n{text}");
        let text = pdf_text(
            &renderer().render(&briefing(&ds, &charted_programme(&ds), "2019"), &options(lang)).expect("render"),
        );
        assert!(text.contains(title), "{title:?} missing:\n{text}");
    }
    // With two years for one indicator: that chart alone, its bars labelled with their values.
    let data = briefing(&ds, &charted_programme(&ds), "2019");
    let view: Value = serde_json::from_slice(
        &coopbrief_render::bench::view_json(&data, Lang::Vi, date(2026, 11, 26), &data.data_hash()).expect("view"),
    )
    .expect("view json");
    let charts = view["charts"].as_array().expect("charts");
    assert_eq!(charts.len(), 1, "{charts:?}");
    assert_eq!(
        charts[0]["alt"],
        "Biểu đồ: Kinh phí Hà Nội hỗ trợ Hà Nam thực hiện an sinh xã hội (tỷ đồng) — Năm 2018: 2; Năm 2019: 3"
    );
    let text = pdf_text(&renderer().render(&data, &options(Lang::Vi)).expect("render"));
    assert!(text.contains("Diễn biến các chỉ tiêu chính qua các kỳ Kinh phí Hà Nội hỗ trợ Hà Nam thực hiện an sinh xã hội (tỷ đồng) 2 3 Năm 2018 Năm 2019"), "{text}");
}

/// Every `/Alt` string of the PDF's structure tree, decoded (krilla writes them as literal
/// strings or as UTF-16BE hex strings; the structure tree is not in compressed object streams).
fn alt_texts(pdf: &[u8]) -> Vec<String> {
    let mut alts = Vec::new();
    let mut rest = pdf;
    while let Some(at) = rest.windows(4).position(|w| w == b"/Alt") {
        rest = &rest[at + 4..];
        let start = rest.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
        rest = &rest[start..];
        match rest.first() {
            Some(b'<') => {
                let end = rest.iter().position(|b| *b == b'>').expect("hex string ends");
                let hex: String = String::from_utf8_lossy(&rest[1..end]).split_whitespace().collect();
                let bytes: Vec<u8> = (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex digit"))
                    .collect();
                alts.push(utf16be_or_latin(&bytes));
            }
            Some(b'(') => {
                let (mut bytes, mut depth, mut i) = (Vec::new(), 0, 1);
                while let Some(&b) = rest.get(i) {
                    match b {
                        b'\\' => {
                            i += 1;
                            let e = rest.get(i).copied().unwrap_or(b'\\');
                            bytes.push(match e {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                other => other,
                            });
                        }
                        b'(' => {
                            depth += 1;
                            bytes.push(b);
                        }
                        b')' if depth == 0 => break,
                        b')' => {
                            depth -= 1;
                            bytes.push(b);
                        }
                        _ => bytes.push(b),
                    }
                    i += 1;
                }
                alts.push(utf16be_or_latin(&bytes));
            }
            _ => {}
        }
    }
    alts
}

fn utf16be_or_latin(bytes: &[u8]) -> String {
    match bytes.strip_prefix(&[0xFE, 0xFF]) {
        Some(utf16) => {
            let units: Vec<u16> =
                utf16.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])).collect();
            String::from_utf16(&units).expect("UTF-16 alt text")
        }
        None => bytes.iter().map(|b| char::from(*b)).collect(),
    }
}

#[test]
fn pdf_a_2b_with_ua_1_is_tagged_and_every_chart_states_its_values() {
    let ds = seed();
    let data = briefing(&ds, &charted_programme(&ds), "2019");
    let pdf = renderer().render(&data, &options(Lang::Vi).with_pdf_standard(PdfStandard::A2bUa1)).expect("render");
    dump("a2b-ua1", &pdf);
    assert_eq!(info(&pdf, "Tagged"), "yes");
    let meta: String = poppler("pdfinfo", &["-meta"], &pdf).split_whitespace().collect();
    for id in [
        "<pdfaid:part>2</pdfaid:part>",
        "<pdfaid:conformance>B</pdfaid:conformance>",
        "<pdfuaid:part>1</pdfuaid:part>",
        "<rdf:li>vi</rdf:li>",
    ] {
        assert!(meta.contains(id), "{id} missing from the XMP:\n{meta}");
    }
    assert!(meta.contains("<dc:title><rdf:Alt><rdf:lixml:lang=\"x-default\">Kếtquảthựchiện"), "no title:\n{meta}");
    // The structure tree has one figure per chart, whose alternative text states every value.
    let structure = poppler("pdfinfo", &["-struct"], &pdf);
    assert_eq!(structure.matches("Figure").count(), 1, "{structure}");
    for header in ["Table", "THead", "TH"] {
        assert!(structure.contains(header), "no {header} in the structure tree");
    }
    assert_eq!(
        alt_texts(&pdf.bytes),
        ["Biểu đồ: Kinh phí Hà Nội hỗ trợ Hà Nam thực hiện an sinh xã hội (tỷ đồng) — Năm 2018: 2; Năm 2019: 3"]
    );

    // Quarters: three charts, each stating its bars; in English too.
    let yaml = r#"
partners:
  - { code: a, name: "A", kind: city }
programmes:
  - code: ab
    title: { vi: "Chương trình A", en: "Programme A" }
    short_name: "A"
    partners: [ { partner: a, role: "x" } ]
    indicators:
      - { code: v, name: { vi: "Lượt khách", en: "Visits" }, unit: { vi: "lượt", en: "visits" }, headline: true,
          values: [ { period: 2019-Q1, value: 20 }, { period: 2019-Q2, value: 20.5 }, { period: 2019-Q3, value: 1250 } ] }
      - { code: w, name: "Lone", unit: "u", headline: true, values: [ { period: 2019-Q3, value: 1 } ] }
      - { code: x, name: "Not headline", unit: "u", values: [ { period: 2019-Q2, value: 1 }, { period: 2019-Q3, value: 2 } ] }
"#;
    let ds = Dataset::parse(yaml).expect("dataset");
    let data = briefing(&ds, &ds.programmes[0], "2019-Q3");
    let en = renderer().render(&data, &options(Lang::En).with_pdf_standard(PdfStandard::A2bUa1)).expect("render");
    assert_eq!(alt_texts(&en.bytes), ["Chart: Visits (visits) — Q1 2019: 20; Q2 2019: 20.5; Q3 2019: 1,250"]);
    assert_eq!(info(&en, "Tagged"), "yes");
}

#[test]
fn every_kind_of_briefing_passes_pdf_ua_1() {
    // Empty sections, ranges, many tables and charts, hostile text: typst checks PDF/UA-1 on export.
    let ds = seed();
    let mut cases: Vec<(String, BriefingData, RenderOptions)> = ["2014", "2015..2018", "2019-H1"]
        .into_iter()
        .map(|p| (p.to_owned(), briefing(&ds, &ds.programmes[0], p), options(Lang::Vi)))
        .collect();
    cases.push(("issued".into(), briefing(&ds, &signed_programme(&ds), "2019"), issued(Lang::En)));
    let synthetic = coopbrief_render::bench::synthetic(60, 60, 10).expect("synthetic data");
    cases.push(("synthetic".into(), synthetic, options(Lang::Vi)));
    let mut hostile = briefing(&ds, &charted_programme(&ds), "2019");
    hostile.programme.title = Text::new("]#image(\"/etc/hosts\")[ $x$", "<script>alert(1)</script>");
    cases.push(("hostile".into(), hostile, options(Lang::En)));
    for (name, data, o) in cases {
        for standard in [PdfStandard::A2bUa1, PdfStandard::A3b] {
            let pdf = renderer()
                .render(&data, &o.clone().with_pdf_standard(standard))
                .unwrap_or_else(|e| panic!("{name} as {standard:?}: {e}"));
            assert_eq!(info(&pdf, "Tagged"), "yes", "{name} as {standard:?}");
        }
    }
}

#[test]
fn pdf_a_3b_attaches_the_data_snapshot() {
    let ds = seed();
    let data = briefing(&ds, &signed_programme(&ds), "2019");
    for options in [options(Lang::Vi), issued(Lang::En)] {
        let pdf = renderer().render(&data, &options.with_pdf_standard(PdfStandard::A3b)).expect("render");
        dump("a3b", &pdf);
        let list = poppler("pdfdetach", &["-list"], &pdf);
        assert_eq!(list.trim(), "1 embedded files\n1: briefing-data.json", "{list}");
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("x.json");
        poppler("pdfdetach", &["-save", "1", "-o", out.to_str().expect("utf-8 path")], &pdf);
        let attached = std::fs::read(&out).expect("the saved attachment");
        assert_eq!(hex::encode(Sha256::digest(&attached)), pdf.data_hash);
        assert_eq!(pdf.data_hash, data.data_hash(), "the domain's hash of the same data");
        let back: BriefingData = serde_json::from_slice(&attached).expect("the attachment is the briefing data");
        assert_eq!(back.programme, data.programme);
        let meta: String = poppler("pdfinfo", &["-meta"], &pdf).split_whitespace().collect();
        assert!(meta.contains("<pdfaid:part>3</pdfaid:part>"), "{meta}");
        assert!(pdf.bytes.windows(19).any(|w| w == b"/AFRelationship/Dat"), "no AFRelationship Data");
    }
    // Nothing is attached to the other standards.
    for standard in [PdfStandard::None, PdfStandard::A2b, PdfStandard::A2bUa1] {
        let pdf = renderer().render(&data, &options(Lang::Vi).with_pdf_standard(standard)).expect("render");
        assert_eq!(poppler("pdfdetach", &["-list"], &pdf).trim(), "0 embedded files", "{standard:?}");
    }
    // An operator's template that does not attach the data cannot make a PDF/A-3b.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("briefing.typ"), "#set document(title: \"x\")\n#set text(lang: \"vi\")\nx")
        .expect("write");
    let r = Renderer::with_template_dir(dir.path()).expect("loads");
    let err = r.render(&data, &options(Lang::Vi).with_pdf_standard(PdfStandard::A3b)).expect_err("no attachment");
    assert!(matches!(&err, Error::Pdf { message } if message.contains("briefing-data.json")), "{err}");
}

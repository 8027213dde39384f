//! What the benchmark and the render tests need from inside the renderer, behind the `bench`
//! feature: the view model's JSON, and a synthetic programme of any size (built as JSON and
//! parsed, so fields the domain adds later take their defaults).

use jiff::civil::Date;
use serde_json::{Value, json};

use coopbrief_domain::dataset::Dataset;
use coopbrief_domain::{BriefingData, Lang};

use crate::view::View;
use crate::{Error, RenderOptions, Result};

/// The JSON the template reads as `/data.json` for a draft, built as [`crate::Renderer::render`]
/// builds it, so that typst's own compile can be timed on the same input.
pub fn view_json(data: &BriefingData, lang: Lang, generated_on: Date, data_hash: &str) -> Result<Vec<u8>> {
    let view = View::new(data, &RenderOptions::new(lang, generated_on), data_hash);
    serde_json::to_vec(&view).map_err(|e| Error::Data { message: e.to_string() })
}

/// Keep typst's memoised entries used in the last `renders` renders, instead of
/// [`crate::memory::KEEP_RENDERS`] (0: drop everything after each render): the eviction rows.
pub fn set_keep_renders(renders: usize) {
    crate::memory::set_keep_renders(renders);
}

/// Twelve quarters, 2017-Q1 to 2019-Q4; the briefing covers the last.
pub const PERIOD: &str = "2019-Q4";

/// `activities` activities and `projects` projects in 2019-Q4, and `indicators` indicators with a
/// value in each of 12 quarters; every 20th indicator is a headline one.
pub fn synthetic(activities: usize, indicators: usize, projects: usize) -> Result<BriefingData> {
    let sectors: Vec<Value> =
        (0..12).map(|s| json!({ "code": format!("s{s}"), "name": { "vi": format!("Lĩnh vực thử nghiệm số {s}"), "en": format!("Test sector {s}") } })).collect();
    let quarters: Vec<String> = (2017..=2019).flat_map(|y| (1..=4).map(move |q| format!("{y}-Q{q}"))).collect();
    let kinds = ["fair", "trade_delegation", "conference", "forum", "workshop", "exchange_visit", "training", "other"];
    let activities: Vec<Value> = (0..activities)
        .map(|n| {
            json!({
                "code": format!("a{n}"),
                "sector": format!("s{}", n % 12),
                "period": format!("2019-{:02}", 10 + n % 3),
                "kind": kinds[n % kinds.len()],
                "title": { "vi": format!("Hoạt động hợp tác số {n} giữa các địa phương về xúc tiến đầu tư, thương mại"), "en": format!("Cooperation activity no. {n}") },
                "description": { "vi": "Hai địa phương phối hợp tổ chức, giới thiệu sản phẩm, kết nối doanh nghiệp và trao đổi kinh nghiệm quản lý." },
                "organiser": if n % 2 == 0 { "p0" } else { "p1" },
                "participants": 100 + n % 400,
            })
        })
        .collect();
    let indicators: Vec<Value> = (0..indicators)
        .map(|n| {
            let values: Vec<Value> = quarters
                .iter()
                .enumerate()
                .map(
                    |(q, p)| json!({ "period": p, "value": format!("{}.{}", 1000 + n * 7 + q * 31 % 17 * 13, q % 10) }),
                )
                .collect();
            json!({
                "code": format!("i{n}"),
                "name": { "vi": format!("Chỉ tiêu thử nghiệm số {n}"), "en": format!("Test indicator {n}") },
                "unit": { "vi": "tỷ đồng", "en": "billion VND" },
                "sector": format!("s{}", n % 12),
                "aggregation": (["sum", "latest", "cumulative"])[n % 3],
                "base_date": "2017-01-01",
                "higher_is_better": n % 4 != 0,
                "headline": n % 20 == 0,
                "target": 5000,
                "values": values,
            })
        })
        .collect();
    let projects: Vec<Value> = (0..projects)
        .map(|n| {
            json!({
                "code": format!("x{n}"),
                "sector": format!("s{}", n % 12),
                "name": { "vi": format!("Dự án thử nghiệm số {n}"), "en": format!("Test project {n}") },
                "partners": ["p0", "p1"],
                "status": (["planned", "in_progress", "completed", "suspended"])[n % 4],
                "progress": n % 101,
                "budget_vnd": 1_500_000_000_i64 + n as i64 * 10_000_000,
                "period": "2018..2020",
            })
        })
        .collect();
    let dataset = json!({
        "partners": [
            { "code": "p0", "name": { "vi": "Hà Nội", "en": "Hanoi" }, "kind": "city" },
            { "code": "p1", "name": { "vi": "Hà Nam", "en": "Ha Nam" }, "kind": "province" },
        ],
        "sectors": sectors,
        "programmes": [{
            "code": "synthetic",
            "title": { "vi": "Chương trình hợp tác thử nghiệm quy mô lớn", "en": "Large synthetic cooperation programme" },
            "short_name": { "vi": "Thử nghiệm", "en": "Synthetic" },
            "partners": [ { "partner": "p0", "role": "Thành phố" }, { "partner": "p1", "role": "Tỉnh" } ],
            "indicators": indicators,
            "activities": activities,
            "projects": projects,
        }],
    });
    let data = |e: &dyn std::fmt::Display| Error::Data { message: format!("synthetic dataset: {e}") };
    let ds: Dataset = serde_json::from_value(dataset).map_err(|e| data(&e))?;
    let programme = ds.programmes.first().ok_or_else(|| data(&"no programme"))?;
    Ok(BriefingData::select(programme, PERIOD.parse().map_err(|e| data(&e))?, &ds.partners, &ds.sectors))
}

/// Gives a letterhead the sample signer (KT. Chủ tịch, Phó Chủ tịch Nguyễn Văn A) and two
/// recipients, in both languages: what an issued render of the seed needs besides its office.
pub fn sign_sample(letterhead: &mut coopbrief_domain::Letterhead) {
    use coopbrief_domain::{Authority, Signer, Text};
    letterhead.signer = Some(Signer {
        authority: Authority::Kt,
        on_behalf_of: Some(Text::new("Chủ tịch", "Chairman")),
        title: Text::new("Phó Chủ tịch", "Vice Chairman"),
        name: "Nguyễn Văn A".into(),
    });
    letterhead.recipients = vec![
        Text::new("Thường trực Thành ủy", "Standing Board of the Municipal Party Committee"),
        Text::new("Ủy ban nhân dân tỉnh Hà Nam", "Ha Nam Provincial People's Committee"),
    ];
}

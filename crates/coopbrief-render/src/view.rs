//! The view model: briefing data turned into preformatted, translated strings for the template.
//!
//! All formatting and every choice of words happens here, in Rust; the template only lays the
//! strings out. Data strings reach typst as JSON values, never as markup.

use jiff::civil::Date;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use coopbrief_domain::dataset::{
    ActivityKind, Aggregation, AssessmentKind, Indicator, IndicatorValue, PartnerKind, ProgrammeStatus, ProjectStatus,
};
use coopbrief_domain::{BriefingData, Lang, Period, Text, format};

/// How many periods the chart of headline indicators shows at most.
const CHART_PERIODS: usize = 6;

/// Everything the template shows, in the briefing's language.
#[derive(Debug, Serialize)]
pub(crate) struct View {
    pub(crate) lang: &'static str,
    pub(crate) labels: &'static Labels,
    pub(crate) header: Header,
    pub(crate) overview: Overview,
    pub(crate) key_figures: Vec<KeyFigure>,
    /// One small bar chart per headline indicator that has values.
    pub(crate) charts: Vec<Chart>,
    /// Every activity of the period, for the appendix table.
    pub(crate) appendix: Vec<AppendixRow>,
    /// "Total support between the partners in the period: 3 billion VND", when there was any.
    pub(crate) contributions_total: Option<String>,
    pub(crate) sectors: Vec<SectorView>,
    pub(crate) achievements: Vec<Item>,
    pub(crate) limitations: Vec<Item>,
    pub(crate) lessons: Vec<Item>,
    /// The periods the directions are for, e.g. "Giai đoạn 2019–2020".
    pub(crate) directions_for: Option<String>,
    pub(crate) directions: Vec<Item>,
    pub(crate) source: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Header {
    /// The issuing body, in capitals.
    pub(crate) issuer: String,
    pub(crate) short_name: String,
    pub(crate) place_date: String,
    pub(crate) subject: String,
    pub(crate) period: String,
    /// The first 12 hex digits of the data snapshot's sha256, printed so a reader can match data and PDF.
    pub(crate) data_hash: String,
    /// "(Kèm theo Báo cáo ngày 26/11/2026)": the line under the appendix title.
    pub(crate) appendix_ref: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Overview {
    pub(crate) title: String,
    pub(crate) status: &'static str,
    pub(crate) partners: Vec<PartnerRow>,
    pub(crate) phases: Vec<PhaseView>,
    pub(crate) period: String,
    pub(crate) generated_on: String,
    pub(crate) notes: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct PartnerRow {
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) role: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct PhaseView {
    pub(crate) title: String,
    /// The period's label, unless the title already says it ("Giai đoạn 2015–2018").
    pub(crate) period: Option<String>,
    /// "agreed by … on …", when known.
    pub(crate) agreed: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct IndicatorRow {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) unit: String,
    pub(crate) period: String,
}

/// A headline indicator among the key figures; every number already formatted.
#[derive(Debug, Serialize)]
pub(crate) struct KeyFigure {
    pub(crate) name: String,
    pub(crate) unit: String,
    /// The value in the briefing's period, or "—".
    pub(crate) value: String,
    /// The period of `value` when it is not the briefing's own (a multi-year total ending with it).
    pub(crate) value_period: Option<String>,
    /// The value in the period before, or "—".
    pub(crate) previous: String,
    pub(crate) change: Option<Change>,
    /// The running total since the base date.
    pub(crate) cumulative: Option<String>,
    /// "từ 01/01/2015" / "since 1 Jan 2015", when the base date is known.
    pub(crate) cumulative_since: Option<String>,
    pub(crate) target: Option<String>,
    /// Percent of the target reached, 0–100, for the progress bar.
    pub(crate) progress: Option<u8>,
    pub(crate) progress_label: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Change {
    /// "▲ 12,5%", "▼ 3", "= 0%".
    pub(crate) text: String,
    /// "good", "bad" or "flat": whether the move is the way `higher_is_better` wants.
    pub(crate) tone: &'static str,
}

#[derive(Debug, Serialize)]
pub(crate) struct Chart {
    pub(crate) name: String,
    pub(crate) unit: String,
    pub(crate) bars: Vec<Bar>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Bar {
    pub(crate) label: String,
    pub(crate) value: String,
    /// Bar height in thousandths of the tallest bar: integers keep the JSON free of float formatting.
    pub(crate) permille: u32,
}

#[derive(Debug, Serialize)]
pub(crate) struct AppendixRow {
    pub(crate) no: String,
    pub(crate) title: String,
    pub(crate) kind: &'static str,
    pub(crate) period: String,
    pub(crate) sector: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct SectorView {
    pub(crate) name: String,
    pub(crate) activities: Vec<ActivityView>,
    pub(crate) indicators: Vec<IndicatorRow>,
    pub(crate) projects: Vec<ProjectView>,
    pub(crate) contributions: Vec<ContributionView>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ActivityView {
    pub(crate) title: String,
    /// Kind, period, occurrences and counts, already joined: "Hội chợ; Giai đoạn 2015–2019; 15 đợt".
    pub(crate) facts: String,
    pub(crate) description: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ProjectView {
    pub(crate) name: String,
    /// Label/value lines: location, status, partners, period, budget.
    pub(crate) facts: Vec<(String, String)>,
    /// Percent complete, 0–100, for the progress bar.
    pub(crate) progress: Option<u8>,
    pub(crate) progress_label: Option<String>,
    pub(crate) description: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ContributionView {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) amount: String,
    pub(crate) purpose: String,
    pub(crate) when: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Item {
    /// The sector the item is about, if any.
    pub(crate) sector: Option<String>,
    pub(crate) text: String,
}

/// Every fixed word of the document, in one language.
#[derive(Debug, Serialize)]
pub(crate) struct Labels {
    pub(crate) number: &'static str,
    pub(crate) nation: &'static str,
    pub(crate) motto: &'static str,
    pub(crate) doc_title: &'static str,
    pub(crate) page: &'static str,
    pub(crate) of: &'static str,
    pub(crate) overview: &'static str,
    pub(crate) programme: &'static str,
    pub(crate) status: &'static str,
    pub(crate) partners: &'static str,
    pub(crate) partner_name: &'static str,
    pub(crate) partner_kind: &'static str,
    pub(crate) partner_role: &'static str,
    pub(crate) phases: &'static str,
    pub(crate) no_phases: &'static str,
    pub(crate) period: &'static str,
    pub(crate) generated_on: &'static str,
    pub(crate) notes: &'static str,
    pub(crate) key_figures: &'static str,
    pub(crate) indicator: &'static str,
    pub(crate) value: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) value_period: &'static str,
    pub(crate) no_figures: &'static str,
    pub(crate) by_sector: &'static str,
    pub(crate) no_activities: &'static str,
    pub(crate) activities: &'static str,
    pub(crate) indicators: &'static str,
    pub(crate) projects: &'static str,
    pub(crate) contributions: &'static str,
    pub(crate) progress: &'static str,
    pub(crate) assessment: &'static str,
    pub(crate) achievements: &'static str,
    pub(crate) limitations: &'static str,
    pub(crate) lessons: &'static str,
    pub(crate) no_assessment: &'static str,
    pub(crate) directions: &'static str,
    pub(crate) no_directions: &'static str,
    pub(crate) source: &'static str,
    pub(crate) recipients: &'static str,
    pub(crate) recipients_list: &'static str,
    pub(crate) signer: &'static str,
    pub(crate) signature: &'static str,
    pub(crate) data_hash: &'static str,
    pub(crate) this_period: &'static str,
    pub(crate) previous: &'static str,
    pub(crate) change: &'static str,
    pub(crate) cumulative: &'static str,
    pub(crate) target: &'static str,
    pub(crate) chart: &'static str,
    pub(crate) no_chart: &'static str,
    pub(crate) appendix: &'static str,
    pub(crate) appendix_title: &'static str,
    pub(crate) no: &'static str,
    pub(crate) activity: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) sector: &'static str,
}

static VI: Labels = Labels {
    number: "Số:      /BC-HT",
    nation: "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    motto: "Độc lập - Tự do - Hạnh phúc",
    doc_title: "BÁO CÁO",
    page: "Trang",
    of: "/",
    overview: "THÔNG TIN CHUNG",
    programme: "Chương trình",
    status: "Tình trạng",
    partners: "Các bên tham gia",
    partner_name: "Địa phương",
    partner_kind: "Loại",
    partner_role: "Vai trò",
    phases: "Các giai đoạn",
    no_phases: "Chưa có giai đoạn nào được ghi nhận.",
    period: "Kỳ báo cáo",
    generated_on: "Ngày lập báo cáo",
    notes: "Ghi chú",
    key_figures: "SỐ LIỆU CHÍNH",
    indicator: "Chỉ tiêu",
    value: "Giá trị",
    unit: "Đơn vị",
    value_period: "Thời kỳ",
    no_figures: "Không có số liệu trong kỳ.",
    by_sector: "KẾT QUẢ THEO LĨNH VỰC",
    no_activities: "Không có hoạt động trong kỳ.",
    activities: "Hoạt động",
    indicators: "Chỉ tiêu",
    projects: "Dự án",
    contributions: "Hỗ trợ kinh phí",
    progress: "Tiến độ",
    assessment: "ĐÁNH GIÁ",
    achievements: "Kết quả đạt được",
    limitations: "Hạn chế",
    lessons: "Bài học kinh nghiệm",
    no_assessment: "Chưa có đánh giá trong kỳ.",
    directions: "PHƯƠNG HƯỚNG, NHIỆM VỤ",
    no_directions: "Chưa có phương hướng cho kỳ tới.",
    source: "Nguồn số liệu",
    recipients: "Nơi nhận:",
    recipients_list: "- Các bên tham gia chương trình;\n- Lưu: VT.",
    signer: "CƠ QUAN BÁO CÁO",
    signature: "(Ký, ghi rõ họ tên, đóng dấu)",
    data_hash: "Mã dữ liệu",
    this_period: "Trong kỳ",
    previous: "Kỳ trước",
    change: "Tăng/giảm",
    cumulative: "Lũy kế",
    target: "Mục tiêu",
    chart: "Diễn biến các chỉ tiêu chính qua các kỳ",
    no_chart: "Chưa có số liệu để vẽ biểu đồ.",
    appendix: "Phụ lục",
    appendix_title: "DANH MỤC CÁC HOẠT ĐỘNG TRONG KỲ",
    no: "STT",
    activity: "Hoạt động",
    kind: "Loại",
    sector: "Lĩnh vực",
};

static EN: Labels = Labels {
    number: "No.:      /BC-HT",
    nation: "SOCIALIST REPUBLIC OF VIETNAM",
    motto: "Independence - Freedom - Happiness",
    doc_title: "BRIEFING",
    page: "Page",
    of: "of",
    overview: "OVERVIEW",
    programme: "Programme",
    status: "Status",
    partners: "Partners",
    partner_name: "Locality",
    partner_kind: "Kind",
    partner_role: "Role",
    phases: "Phases",
    no_phases: "No phase has been recorded.",
    period: "Period covered",
    generated_on: "Date generated",
    notes: "Notes",
    key_figures: "KEY FIGURES",
    indicator: "Indicator",
    value: "Value",
    unit: "Unit",
    value_period: "Period",
    no_figures: "No figures for this period.",
    by_sector: "RESULTS BY SECTOR",
    no_activities: "No activities in this period.",
    activities: "Activities",
    indicators: "Indicators",
    projects: "Projects",
    contributions: "Financial support",
    progress: "Progress",
    assessment: "ASSESSMENT",
    achievements: "Achievements",
    limitations: "Limitations",
    lessons: "Lessons learned",
    no_assessment: "No assessment for this period.",
    directions: "DIRECTIONS",
    no_directions: "No directions for the next period.",
    source: "Source",
    recipients: "To:",
    recipients_list: "- The partners of the programme;\n- Archive.",
    signer: "REPORTING BODY",
    signature: "(Signature, full name, seal)",
    data_hash: "Data snapshot",
    this_period: "This period",
    previous: "Previous period",
    change: "Change",
    cumulative: "Cumulative",
    target: "Target",
    chart: "Main indicators over the last periods",
    no_chart: "No figures to chart.",
    appendix: "Appendix",
    appendix_title: "LIST OF ACTIVITIES IN THE PERIOD",
    no: "No.",
    activity: "Activity",
    kind: "Kind",
    sector: "Sector",
};

impl View {
    /// `data_hash` is the hex sha256 of the data snapshot; its first 12 digits are printed.
    pub(crate) fn new(data: &BriefingData, lang: Lang, generated_on: Date, data_hash: &str) -> View {
        let p = &data.programme;
        let labels = match lang {
            Lang::Vi => &VI,
            Lang::En => &EN,
        };
        let get = |t: &Text| t.get(lang).to_owned();
        let partner_name = |code: &str| {
            data.partners.iter().find(|x| x.code == code).map(|x| get(&x.name)).unwrap_or_else(|| code.to_owned())
        };
        let sector_name = |code: &Option<String>| {
            code.as_ref().map(|c| data.sectors.iter().find(|s| &s.code == c).map(|s| get(&s.name)).unwrap_or(c.clone()))
        };
        let period_label = data.period.label(lang);

        let fallback_place = match lang {
            Lang::Vi => "Hà Nội",
            Lang::En => "Hanoi",
        };
        let place = p.place.as_ref().map(|t| t.get(lang)).filter(|s| !s.trim().is_empty()).unwrap_or(fallback_place);
        let issuer = p.issuer.as_ref().unwrap_or(&p.short_name).get(lang).to_uppercase();
        let subject = match lang {
            Lang::Vi => format!("Kết quả thực hiện {} — {period_label}", get(&p.title)),
            Lang::En => format!("Results of the {} — {period_label}", get(&p.title)),
        };
        let header = Header {
            issuer,
            short_name: get(&p.short_name),
            place_date: format::place_and_date(place, generated_on, lang),
            subject,
            period: period_label.clone(),
            data_hash: data_hash.chars().take(12).collect(),
            appendix_ref: match lang {
                Lang::Vi => format!("(Kèm theo Báo cáo ngày {})", format::date(generated_on, lang)),
                Lang::En => format!("(Attached to the briefing of {})", format::date(generated_on, lang)),
            },
        };

        let mut partners: Vec<PartnerRow> = Vec::new();
        for x in &data.partners {
            let role = p
                .partners
                .iter()
                .find(|pp| pp.partner == x.code)
                .map(|pp| get(&pp.role))
                .unwrap_or_else(|| mentioned(lang).to_owned());
            partners.push(PartnerRow { name: get(&x.name), kind: partner_kind(x.kind, lang), role });
        }
        let phases = p
            .phases
            .iter()
            .map(|ph| {
                let by = ph.agreed_by.as_ref().map(get);
                let on = ph.agreed_on.map(|d| format::date(d, lang));
                let agreed = match (lang, by, on) {
                    (_, None, None) => None,
                    (Lang::Vi, Some(b), None) => Some(format!("thống nhất bởi {b}")),
                    (Lang::Vi, None, Some(d)) => Some(format!("thống nhất ngày {d}")),
                    (Lang::Vi, Some(b), Some(d)) => Some(format!("thống nhất bởi {b}, ngày {d}")),
                    (Lang::En, Some(b), None) => Some(format!("agreed by {b}")),
                    (Lang::En, None, Some(d)) => Some(format!("agreed on {d}")),
                    (Lang::En, Some(b), Some(d)) => Some(format!("agreed by {b} on {d}")),
                };
                let title = get(&ph.title);
                let label = ph.period.label(lang);
                let period = (!title.contains(&label)).then_some(label);
                PhaseView { title, period, agreed }
            })
            .collect();
        let overview = Overview {
            title: get(&p.title),
            status: programme_status(p.status, lang),
            partners,
            phases,
            period: period_label,
            generated_on: format::date(generated_on, lang),
            notes: p.notes.as_ref().map(get).filter(|s| !s.trim().is_empty()),
        };

        // A headline indicator with no value yet (before its first period) has nothing to show.
        let key_figures = p
            .indicators
            .iter()
            .filter(|i| i.headline && !i.values.is_empty())
            .map(|i| key_figure(i, data.period, lang))
            .collect();
        let charts = p.indicators.iter().filter(|i| i.headline).filter_map(|i| chart(i, data.period, lang)).collect();
        let appendix = p
            .activities
            .iter()
            .enumerate()
            .map(|(n, a)| AppendixRow {
                no: (n + 1).to_string(),
                title: get(&a.title),
                kind: activity_kind(a.kind, lang),
                period: a.period.label(lang),
                sector: sector_name(&a.sector).unwrap_or_default(),
            })
            .collect();
        let total: i64 = p.contributions.iter().map(|c| c.amount_vnd).sum();
        let contributions_total = (total > 0).then(|| match lang {
            Lang::Vi => format!("Tổng kinh phí hỗ trợ giữa các bên trong kỳ: {}.", format::money_vnd(total, lang)),
            Lang::En => format!(
                "Total financial support between the partners in the period: {}.",
                format::money_vnd(total, lang)
            ),
        });

        // One section per sector in taxonomy order, then one for records without a sector.
        let mut codes: Vec<Option<&str>> = data.sectors.iter().map(|s| Some(s.code.as_str())).collect();
        codes.push(None);
        let mut sectors = Vec::new();
        for code in codes {
            let is = |s: &Option<String>| s.as_deref() == code;
            let activities: Vec<ActivityView> = p
                .activities
                .iter()
                .filter(|a| is(&a.sector))
                .map(|a| {
                    let mut facts = vec![activity_kind(a.kind, lang).to_owned(), a.period.label(lang)];
                    if let Some(n) = a.occurrences {
                        // Delegations and visits are counted in "lượt", events in "đợt".
                        let unit = match a.kind {
                            ActivityKind::TradeDelegation | ActivityKind::ExchangeVisit => "lượt",
                            _ => "đợt",
                        };
                        facts.push(counted(n, unit, "time", "times", lang));
                    }
                    if let Some(n) = a.participants {
                        facts.push(counted(n, "người tham gia", "participant", "participants", lang));
                    }
                    if let Some(n) = a.enterprises {
                        facts.push(counted(n, "doanh nghiệp", "enterprise", "enterprises", lang));
                    }
                    if let Some(n) = a.products {
                        facts.push(counted(n, "sản phẩm", "product", "products", lang));
                    }
                    if let Some(l) = &a.location {
                        facts.push(get(l));
                    }
                    if let Some(o) = &a.organiser {
                        let who = partner_name(o);
                        facts.push(match lang {
                            Lang::Vi => format!("đơn vị tổ chức: {who}"),
                            Lang::En => format!("organised by {who}"),
                        });
                    }
                    ActivityView {
                        title: get(&a.title),
                        facts: facts.join("; "),
                        description: a.description.as_ref().map(get),
                    }
                })
                .collect();
            let indicators: Vec<IndicatorRow> =
                p.indicators.iter().filter(|i| is(&i.sector)).filter_map(|i| indicator_row(i, lang)).collect();
            let projects: Vec<ProjectView> = p
                .projects
                .iter()
                .filter(|x| is(&x.sector))
                .map(|x| {
                    let (l_loc, l_status, l_partners, l_time, l_budget) = match lang {
                        Lang::Vi => ("Địa điểm", "Tình trạng", "Các bên", "Thời gian", "Kinh phí"),
                        Lang::En => ("Location", "Status", "Partners", "Period", "Budget"),
                    };
                    let mut facts = Vec::new();
                    if let Some(l) = &x.location {
                        facts.push((l_loc.to_owned(), get(l)));
                    }
                    facts.push((l_status.to_owned(), project_status(x.status, lang).to_owned()));
                    if !x.partners.is_empty() {
                        let names: Vec<String> = x.partners.iter().map(|c| partner_name(c)).collect();
                        facts.push((l_partners.to_owned(), names.join(", ")));
                    }
                    if let Some(pp) = x.period {
                        facts.push((l_time.to_owned(), pp.label(lang)));
                    }
                    if let Some(b) = x.budget_vnd {
                        facts.push((l_budget.to_owned(), format::money_vnd(b, lang)));
                    }
                    let progress = x.progress.map(|v| v.min(100));
                    ProjectView {
                        name: get(&x.name),
                        facts,
                        progress,
                        progress_label: progress.map(|v| format!("{v}%")),
                        description: x.description.as_ref().map(get),
                    }
                })
                .collect();
            let contributions: Vec<ContributionView> = p
                .contributions
                .iter()
                .filter(|c| is(&c.sector))
                .map(|c| ContributionView {
                    from: partner_name(&c.from),
                    to: partner_name(&c.to),
                    amount: format::money_vnd(c.amount_vnd, lang),
                    purpose: get(&c.purpose),
                    when: c.date.map(|d| format::date(d, lang)).unwrap_or_else(|| c.period.label(lang)),
                })
                .collect();
            if activities.is_empty() && indicators.is_empty() && projects.is_empty() && contributions.is_empty() {
                continue;
            }
            let name = match code {
                Some(c) => sector_name(&Some(c.to_owned())).unwrap_or_default(),
                None => match lang {
                    Lang::Vi => "Các nội dung khác".to_owned(),
                    Lang::En => "Other matters".to_owned(),
                },
            };
            sectors.push(SectorView { name, activities, indicators, projects, contributions });
        }

        let items = |kind: AssessmentKind| -> Vec<Item> {
            p.assessments
                .iter()
                .filter(|a| a.kind == kind)
                .map(|a| Item { sector: sector_name(&a.sector), text: get(&a.text) })
                .collect()
        };
        let mut direction_periods: Vec<Period> = Vec::new();
        for d in &p.directions {
            if !direction_periods.contains(&d.period) {
                direction_periods.push(d.period);
            }
        }
        let directions_for = (!direction_periods.is_empty()).then(|| {
            let list: Vec<String> = direction_periods.iter().map(|x| x.label(lang)).collect();
            match lang {
                Lang::Vi => format!("Phương hướng cho {}:", lowercase_first(&list.join(", "))),
                Lang::En => format!("Directions for {}:", list.join(", ")),
            }
        });

        View {
            lang: lang.code(),
            labels,
            header,
            overview,
            key_figures,
            charts,
            appendix,
            contributions_total,
            sectors,
            achievements: items(AssessmentKind::Achievement),
            limitations: items(AssessmentKind::Limitation),
            lessons: items(AssessmentKind::Lesson),
            directions_for,
            directions: p
                .directions
                .iter()
                .map(|d| Item { sector: sector_name(&d.sector), text: get(&d.text) })
                .collect(),
            source: p.source.clone().filter(|s| !s.trim().is_empty()),
        }
    }
}

/// The latest value (values are already limited to the briefing's end and sorted by end date).
fn indicator_row(i: &Indicator, lang: Lang) -> Option<IndicatorRow> {
    let v = i.values.last()?;
    Some(IndicatorRow {
        name: i.name.get(lang).to_owned(),
        value: format::number(v.value, lang),
        unit: i.unit.get(lang).to_owned(),
        period: v.period.label(lang),
    })
}

/// The values of `i` that do not overlap an earlier one: a yearly total and its quarters are not added twice.
fn non_overlapping<'a>(values: impl Iterator<Item = &'a IndicatorValue>) -> Vec<&'a IndicatorValue> {
    let mut taken: Vec<&IndicatorValue> = Vec::new();
    for v in values {
        if !taken.iter().any(|t| t.period.overlaps(&v.period)) {
            taken.push(v);
        }
    }
    taken
}

fn sum(values: &[&IndicatorValue]) -> Option<Decimal> {
    values.iter().try_fold(Decimal::ZERO, |acc, v| acc.checked_add(v.value))
}

/// The value of `i` for `period`: one recorded for exactly that period, else what the values inside
/// it add up to (`Sum`) or the last of them (`Latest`, `Cumulative`).
fn value_for(i: &Indicator, period: Period) -> Option<Decimal> {
    if let Some(v) = i.values.iter().rev().find(|v| v.period == period) {
        return Some(v.value);
    }
    let inside: Vec<&IndicatorValue> = i.values.iter().filter(|v| period.contains(&v.period)).collect();
    match i.aggregation {
        _ if inside.is_empty() => None,
        Aggregation::Sum => sum(&non_overlapping(inside.into_iter())),
        Aggregation::Latest | Aggregation::Cumulative => inside.last().map(|v| v.value),
    }
}

const DASH: &str = "—";

fn key_figure(i: &Indicator, period: Period, lang: Lang) -> KeyFigure {
    // Values are already limited to the briefing's end and sorted by end date. A value for a
    // longer span that ends with the briefing (2015..2019 in a 2019 briefing) stands in for it.
    let (current, current_period) = match value_for(i, period) {
        Some(v) => (Some(v), period),
        None => match i.values.last() {
            Some(v) if v.period.end() == period.end() => (Some(v.value), v.period),
            _ => (None, period),
        },
    };
    let previous = value_for(i, current_period.previous());
    let change = match (current, previous) {
        (Some(c), Some(p)) => Some(change(c, p, i.higher_is_better, lang)),
        _ => None,
    };
    let cumulative = match i.aggregation {
        Aggregation::Cumulative => i.values.last().map(|v| v.value),
        Aggregation::Sum => i.base_date.and_then(|base| {
            let since = non_overlapping(i.values.iter().filter(|v| v.period.start() >= base));
            if since.is_empty() { None } else { sum(&since) }
        }),
        Aggregation::Latest => None,
    };
    let cumulative_since = cumulative.and(i.base_date).map(|b| match lang {
        Lang::Vi => format!("từ {}", format::date(b, lang)),
        Lang::En => format!("since {}", format::date(b, lang)),
    });
    let mut progress = None;
    let mut progress_label = None;
    if let (Some(t), Some(basis)) = (i.target, cumulative.or(current)) {
        if i.higher_is_better {
            let pct =
                basis.checked_mul(Decimal::ONE_HUNDRED).and_then(|x| x.checked_div(t)).filter(|_| t > Decimal::ZERO);
            if let Some(pct) = pct {
                progress = Some(pct.clamp(Decimal::ZERO, Decimal::ONE_HUNDRED).round().to_u8().unwrap_or(0));
                progress_label = Some(format::percent(pct, lang));
            }
        } else {
            progress_label = Some(
                match (basis <= t, lang) {
                    (true, Lang::Vi) => "Đạt",
                    (false, Lang::Vi) => "Chưa đạt",
                    (true, Lang::En) => "Met",
                    (false, Lang::En) => "Not met",
                }
                .to_owned(),
            );
        }
    }
    KeyFigure {
        name: i.name.get(lang).to_owned(),
        unit: i.unit.get(lang).to_owned(),
        value: current.map(|v| format::number(v, lang)).unwrap_or_else(|| DASH.to_owned()),
        value_period: (current.is_some() && current_period != period).then(|| current_period.label(lang)),
        previous: previous.map(|v| format::number(v, lang)).unwrap_or_else(|| DASH.to_owned()),
        change,
        cumulative: cumulative.map(|c| format::number(c, lang)),
        cumulative_since,
        target: i.target.map(|t| format::number(t, lang)),
        progress,
        progress_label,
    }
}

/// "▲ 12,5%" from `previous` to `current`; without a percentage when the previous value is zero.
fn change(current: Decimal, previous: Decimal, higher_is_better: bool, lang: Lang) -> Change {
    let diff = current.checked_sub(previous).unwrap_or(Decimal::ZERO);
    let arrow = if diff > Decimal::ZERO {
        "▲"
    } else if diff < Decimal::ZERO {
        "▼"
    } else {
        "="
    };
    let amount = if previous.is_zero() {
        format::number(diff.abs(), lang)
    } else {
        diff.abs()
            .checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|x| x.checked_div(previous.abs()))
            .map(|pct| format::percent(pct, lang))
            .unwrap_or_else(|| format::number(diff.abs(), lang))
    };
    let tone = if diff.is_zero() {
        "flat"
    } else if (diff > Decimal::ZERO) == higher_is_better {
        "good"
    } else {
        "bad"
    };
    Change { text: format!("{arrow} {amount}"), tone }
}

/// The last values of a headline indicator, preferring periods of the briefing's own kind.
fn chart(i: &Indicator, period: Period, lang: Lang) -> Option<Chart> {
    let same_kind: Vec<&IndicatorValue> =
        i.values.iter().filter(|v| std::mem::discriminant(&v.period) == std::mem::discriminant(&period)).collect();
    let pool: Vec<&IndicatorValue> = if same_kind.is_empty() { i.values.iter().collect() } else { same_kind };
    let shown = &pool[pool.len().saturating_sub(CHART_PERIODS)..];
    if shown.is_empty() {
        return None;
    }
    let max = shown.iter().map(|v| v.value).max().unwrap_or(Decimal::ZERO);
    let bars = shown
        .iter()
        .map(|v| {
            let permille = if max > Decimal::ZERO && v.value > Decimal::ZERO {
                v.value
                    .checked_mul(Decimal::ONE_THOUSAND)
                    .and_then(|x| x.checked_div(max))
                    .and_then(|x| x.round().to_u32())
                    .unwrap_or(0)
            } else {
                0
            };
            Bar { label: v.period.label(lang), value: format::number(v.value, lang), permille }
        })
        .collect();
    Some(Chart { name: i.name.get(lang).to_owned(), unit: i.unit.get(lang).to_owned(), bars })
}

fn counted(n: u32, vi: &str, en_one: &str, en_many: &str, lang: Lang) -> String {
    let num = format::integer(i64::from(n), lang);
    match lang {
        Lang::Vi => format!("{num} {vi}"),
        Lang::En if n == 1 => format!("{num} {en_one}"),
        Lang::En => format!("{num} {en_many}"),
    }
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn mentioned(lang: Lang) -> &'static str {
    match lang {
        Lang::Vi => "Địa phương liên quan",
        Lang::En => "Other locality involved",
    }
}

fn partner_kind(kind: PartnerKind, lang: Lang) -> &'static str {
    match (lang, kind) {
        (Lang::Vi, PartnerKind::City) => "Thành phố trực thuộc trung ương",
        (Lang::Vi, PartnerKind::Province) => "Tỉnh",
        (Lang::Vi, PartnerKind::CentralAgency) => "Cơ quan trung ương",
        (Lang::Vi, PartnerKind::Other) => "Khác",
        (Lang::En, PartnerKind::City) => "Centrally governed city",
        (Lang::En, PartnerKind::Province) => "Province",
        (Lang::En, PartnerKind::CentralAgency) => "Central agency",
        (Lang::En, PartnerKind::Other) => "Other",
    }
}

fn programme_status(s: ProgrammeStatus, lang: Lang) -> &'static str {
    match (lang, s) {
        (Lang::Vi, ProgrammeStatus::Planned) => "Đang chuẩn bị",
        (Lang::Vi, ProgrammeStatus::Active) => "Đang thực hiện",
        (Lang::Vi, ProgrammeStatus::Completed) => "Đã hoàn thành",
        (Lang::Vi, ProgrammeStatus::Suspended) => "Tạm dừng",
        (Lang::En, ProgrammeStatus::Planned) => "Planned",
        (Lang::En, ProgrammeStatus::Active) => "Active",
        (Lang::En, ProgrammeStatus::Completed) => "Completed",
        (Lang::En, ProgrammeStatus::Suspended) => "Suspended",
    }
}

fn project_status(s: ProjectStatus, lang: Lang) -> &'static str {
    match (lang, s) {
        (Lang::Vi, ProjectStatus::Planned) => "Chuẩn bị đầu tư",
        (Lang::Vi, ProjectStatus::InProgress) => "Đang triển khai",
        (Lang::Vi, ProjectStatus::Completed) => "Đã hoàn thành",
        (Lang::Vi, ProjectStatus::Suspended) => "Tạm dừng",
        (Lang::En, ProjectStatus::Planned) => "Planned",
        (Lang::En, ProjectStatus::InProgress) => "In progress",
        (Lang::En, ProjectStatus::Completed) => "Completed",
        (Lang::En, ProjectStatus::Suspended) => "Suspended",
    }
}

fn activity_kind(k: ActivityKind, lang: Lang) -> &'static str {
    match (lang, k) {
        (Lang::Vi, ActivityKind::Fair) => "Hội chợ",
        (Lang::Vi, ActivityKind::TradeDelegation) => "Đoàn xúc tiến thương mại",
        (Lang::Vi, ActivityKind::Conference) => "Hội nghị",
        (Lang::Vi, ActivityKind::Forum) => "Diễn đàn",
        (Lang::Vi, ActivityKind::Workshop) => "Hội thảo",
        (Lang::Vi, ActivityKind::ExchangeVisit) => "Trao đổi kinh nghiệm",
        (Lang::Vi, ActivityKind::Training) => "Đào tạo, tập huấn",
        (Lang::Vi, ActivityKind::Other) => "Hoạt động khác",
        (Lang::En, ActivityKind::Fair) => "Fair",
        (Lang::En, ActivityKind::TradeDelegation) => "Trade delegation",
        (Lang::En, ActivityKind::Conference) => "Conference",
        (Lang::En, ActivityKind::Forum) => "Forum",
        (Lang::En, ActivityKind::Workshop) => "Workshop",
        (Lang::En, ActivityKind::ExchangeVisit) => "Exchange visit",
        (Lang::En, ActivityKind::Training) => "Training",
        (Lang::En, ActivityKind::Other) => "Other activity",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn indicator(aggregation: &str, values: &[(&str, &str)]) -> Indicator {
        let values: Vec<serde_json::Value> =
            values.iter().map(|(p, v)| serde_json::json!({ "period": p, "value": v })).collect();
        serde_json::from_value(serde_json::json!({
            "code": "x", "name": "X", "unit": "u", "aggregation": aggregation, "values": values,
        }))
        .unwrap()
    }

    #[test]
    fn the_change_is_coloured_by_whether_higher_is_better() {
        let up = change(dec("125"), dec("100"), true, Lang::Vi);
        assert_eq!((up.text.as_str(), up.tone), ("▲ 25%", "good"));
        let up_bad = change(dec("125"), dec("100"), false, Lang::En);
        assert_eq!((up_bad.text.as_str(), up_bad.tone), ("▲ 25%", "bad"));
        let down = change(dec("90"), dec("120"), false, Lang::Vi);
        assert_eq!((down.text.as_str(), down.tone), ("▼ 25%", "good"));
        let from_zero = change(dec("3.5"), dec("0"), true, Lang::Vi);
        assert_eq!((from_zero.text.as_str(), from_zero.tone), ("▲ 3,5", "good"));
        assert_eq!(change(dec("7"), dec("7"), true, Lang::Vi).tone, "flat");
    }

    #[test]
    fn a_period_sums_its_parts_without_counting_twice() {
        let year: Period = "2019".parse().unwrap();
        // A yearly total recorded beside its quarters is not added to them.
        let i = indicator("sum", &[("2019-Q1", "1"), ("2019-Q2", "2"), ("2019", "10"), ("2019-Q3", "3")]);
        assert_eq!(value_for(&i, year), Some(dec("10")));
        let i = indicator("sum", &[("2019-Q1", "1"), ("2019-Q2", "2"), ("2019-Q3", "3")]);
        assert_eq!(value_for(&i, year), Some(dec("6")));
        let i = indicator("latest", &[("2019-Q1", "1"), ("2019-Q2", "2")]);
        assert_eq!(value_for(&i, year), Some(dec("2")));
        assert_eq!(value_for(&i, "2018".parse().unwrap()), None);
    }

    #[test]
    fn the_chart_keeps_the_last_six_periods_of_the_briefings_kind() {
        let values: Vec<(String, String)> = (1..=12).map(|m| (format!("2019-{m:02}"), format!("{m}"))).collect();
        let mut pairs: Vec<(&str, &str)> = values.iter().map(|(p, v)| (p.as_str(), v.as_str())).collect();
        pairs.push(("2019-Q4", "99"));
        let mut i = indicator("sum", &pairs);
        i.values.sort_by_key(|v| (v.period.end(), v.period.start()));
        let c = chart(&i, "2019-12".parse().unwrap(), Lang::Vi).unwrap();
        let labels: Vec<&str> = c.bars.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(
            labels,
            ["Tháng 7/2019", "Tháng 8/2019", "Tháng 9/2019", "Tháng 10/2019", "Tháng 11/2019", "Tháng 12/2019"]
        );
        assert_eq!(c.bars.last().map(|b| b.permille), Some(1000));
        assert_eq!(c.bars.first().map(|b| b.permille), Some(583));
    }
}

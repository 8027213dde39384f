//! The view model: briefing data turned into preformatted, translated strings for the template.
//!
//! All formatting happens here, in Rust, with the words of `i18n.rs` and the figures of
//! `coopbrief_domain::indicators`; the template only lays the strings out. Data strings reach
//! typst as JSON values, never as markup.

use std::cmp::Ordering;

use jiff::civil::Date;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use coopbrief_domain::dataset::{
    Activity, ActivityKind, AssessmentKind, Contribution, Indicator, IndicatorValue, Project,
};
use coopbrief_domain::indicators::{self, Attainment, Figures};
use coopbrief_domain::{BriefingData, Code, Lang, PdfStandard, Period, Text, format};

use crate::i18n::{Labels, Noun, Phrases, phrases};
use crate::{IssueStamp, RenderOptions};

/// The symbol of a briefing whose letterhead names no office.
const DEFAULT_SYMBOL: &str = "BC-HT";

/// Where the number goes on a draft: left blank for the văn thư to write in.
const BLANK_NUMBER: &str = "      ";

/// The virtual path of the attached data snapshot, and so the attachment's file name.
pub(crate) const ATTACHMENT_PATH: &str = "/briefing-data.json";

/// How many periods the chart of headline indicators shows at most.
const CHART_PERIODS: usize = 6;

/// Everything the template shows, in the briefing's language.
#[derive(Debug, Serialize)]
pub(crate) struct View {
    pub(crate) lang: &'static str,
    pub(crate) labels: &'static Labels,
    /// The PDF's metadata and attachment.
    pub(crate) meta: Meta,
    pub(crate) header: Header,
    pub(crate) overview: Overview,
    pub(crate) key_figures: Vec<KeyFigure>,
    /// One small bar chart per headline indicator with values in two periods or more; empty,
    /// the briefing has no chart section (a lone bar compares nothing).
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
    /// Nơi nhận and the signature block.
    pub(crate) closing: Closing,
}

#[derive(Debug, Serialize)]
pub(crate) struct Meta {
    /// The document's title: the subject.
    pub(crate) title: String,
    /// The office's name, when the letterhead names one.
    pub(crate) authors: Vec<String>,
    /// `coopbrief`, then `draft` or `number=12/BC-UBND` and `issued=2026-11-26`, then
    /// `data-sha256=<64 hex>`: what a verifier reads back from the PDF.
    pub(crate) keywords: Vec<String>,
    /// The data snapshot to attach (PDF/A-3b only).
    pub(crate) attachment: Option<Attachment>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Attachment {
    /// The path the world serves it under; its file name names the attachment.
    pub(crate) path: &'static str,
    pub(crate) mime_type: &'static str,
    pub(crate) description: &'static str,
}

#[derive(Debug, Serialize)]
pub(crate) struct Header {
    /// "DỰ THẢO" on a draft; none on an issued briefing.
    pub(crate) draft: Option<&'static str>,
    /// The parent body (cơ quan chủ quản), in capitals, when the office has one.
    pub(crate) parent: Option<String>,
    /// The issuing body, in capitals.
    pub(crate) issuer: String,
    /// "Số: 12/BC-UBND", or "Số:      /BC-UBND" on a draft.
    pub(crate) number: String,
    pub(crate) short_name: String,
    /// The office's place and the issue date, or the generation date on a draft.
    pub(crate) place_date: String,
    pub(crate) subject: String,
    pub(crate) period: String,
    /// The first 12 hex digits of the data snapshot's sha256, printed so a reader can match data and PDF.
    pub(crate) data_hash: String,
    /// "(Kèm theo Báo cáo ngày 26/11/2026)" on a draft, "(Kèm theo Báo cáo số 12/BC-UBND ngày
    /// 26/11/2026 của …)" once issued: the line under the appendix title.
    pub(crate) appendix_ref: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Closing {
    /// One line each, "- Thường trực Thành ủy;", the last "- Lưu: VT.".
    pub(crate) recipients: Vec<String>,
    /// The lines above the signature, in capitals: `["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"]`, or the
    /// reporting body's placeholder when no signer is set.
    pub(crate) titles: Vec<String>,
    /// What to write there, when no signer is set: "(Ký, ghi rõ họ tên, đóng dấu)".
    pub(crate) note: Option<&'static str>,
    /// The signer's name, under the space for the signature.
    pub(crate) name: Option<String>,
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
    /// The chart in words, every value stated: "Biểu đồ: … (doanh nghiệp) — Năm 2018: 60; Năm 2019: 87".
    pub(crate) alt: String,
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

/// What every section is built from: the data, its language and that language's phrases.
struct Ctx<'a> {
    data: &'a BriefingData,
    lang: Lang,
    t: &'static Phrases,
}

impl View {
    /// `data_hash` is the hex sha256 of the data snapshot; its first 12 digits are printed, all
    /// of it in the keywords. An issued briefing's letterhead must name its office (else the
    /// draft's symbol is printed): the caller checks.
    pub(crate) fn new(data: &BriefingData, options: &RenderOptions, data_hash: &str) -> View {
        let (lang, generated_on) = (options.lang, options.generated_on);
        let cx = Ctx { data, lang, t: phrases(lang) };
        let p = &data.programme;
        let header = cx.header(generated_on, options.issue, data_hash);
        let items = |kind: AssessmentKind| -> Vec<Item> {
            p.assessments.iter().filter(|a| a.kind == kind).map(|a| cx.item(&a.sector, &a.text)).collect()
        };
        View {
            lang: lang.code(),
            labels: &cx.t.labels,
            meta: cx.meta(&header, options, data_hash),
            header,
            overview: cx.overview(generated_on),
            // A headline indicator with no value yet (before its first period) has nothing to show.
            key_figures: p
                .indicators
                .iter()
                .filter(|i| i.headline && !i.values.is_empty())
                .map(|i| cx.key_figure(i))
                .collect(),
            charts: p
                .indicators
                .iter()
                .filter(|i| i.headline)
                .filter_map(|i| chart(i, data.period, lang))
                .filter(|c| c.bars.len() >= 2)
                .collect(),
            appendix: cx.appendix(),
            contributions_total: cx.contributions_total(),
            sectors: cx.sectors(),
            achievements: items(AssessmentKind::Achievement),
            limitations: items(AssessmentKind::Limitation),
            lessons: items(AssessmentKind::Lesson),
            directions_for: cx.directions_for(),
            directions: p.directions.iter().map(|d| cx.item(&d.sector, &d.text)).collect(),
            source: p.source.clone().filter(|s| !s.trim().is_empty()),
            closing: cx.closing(),
        }
    }
}

impl Ctx<'_> {
    fn get(&self, t: &Text) -> String {
        t.get(self.lang).to_owned()
    }

    fn partner_name(&self, code: &str) -> String {
        self.data.partners.iter().find(|x| x.code == code).map(|x| self.get(&x.name)).unwrap_or_else(|| code.to_owned())
    }

    fn sector_name(&self, code: Option<&str>) -> Option<String> {
        code.map(|c| self.data.sectors.iter().find(|s| s.code == c).map(|s| self.get(&s.name)).unwrap_or(c.to_owned()))
    }

    fn item(&self, sector: &Option<Code>, text: &Text) -> Item {
        Item { sector: self.sector_name(sector.as_deref()), text: self.get(text) }
    }

    fn header(&self, generated_on: Date, issue: Option<IssueStamp>, data_hash: &str) -> Header {
        let (p, lang, t) = (&self.data.programme, self.lang, self.t);
        let period = self.data.period.label(lang);
        let office = p.letterhead.office.as_ref();
        let place = office.map(|o| o.place.get(lang)).unwrap_or(t.default_place);
        let symbol = office.map_or(DEFAULT_SYMBOL, |o| o.symbol.as_str());
        let number = issue.map_or_else(|| BLANK_NUMBER.to_owned(), |s| s.number.to_string());
        let date = issue.map_or(generated_on, |s| s.date);
        let appendix_ref = match (issue, office) {
            (Some(_), Some(o)) => {
                (t.appendix_ref_issued)(&format!("{number}/{symbol}"), &format::date(date, lang), o.name.get(lang))
            }
            _ => (t.appendix_ref)(&format::date(date, lang)),
        };
        Header {
            draft: issue.is_none().then_some(t.draft),
            parent: office.and_then(|o| o.parent.as_ref()).map(|x| x.get(lang).to_uppercase()),
            issuer: office.map(|o| &o.name).unwrap_or(&p.short_name).get(lang).to_uppercase(),
            number: format!("{} {number}/{symbol}", t.number),
            short_name: self.get(&p.short_name),
            place_date: format::place_and_date(place, date, lang),
            subject: (t.subject)(&self.get(&p.title), &period),
            period,
            data_hash: data_hash.chars().take(12).collect(),
            appendix_ref,
        }
    }

    fn meta(&self, header: &Header, options: &RenderOptions, data_hash: &str) -> Meta {
        let office = self.data.programme.letterhead.office.as_ref();
        let mut keywords = vec!["coopbrief".to_owned()];
        match (options.issue, office) {
            (Some(stamp), Some(o)) => {
                keywords.push(format!("number={}/{}", stamp.number, o.symbol));
                keywords.push(format!("issued={}", stamp.date));
            }
            _ => keywords.push("draft".to_owned()),
        }
        keywords.push(format!("data-sha256={data_hash}"));
        Meta {
            title: header.subject.clone(),
            authors: office.map(|o| self.get(&o.name)).into_iter().collect(),
            keywords,
            attachment: (options.pdf_standard == PdfStandard::A3b).then_some(Attachment {
                path: ATTACHMENT_PATH,
                mime_type: "application/json",
                description: self.t.attachment,
            }),
        }
    }

    /// Nơi nhận and the signature block (ô 7, ô 9).
    fn closing(&self) -> Closing {
        let (letterhead, lang, t) = (&self.data.programme.letterhead, self.lang, self.t);
        let listed: Vec<String> = letterhead.recipients.iter().map(|r| self.get(r)).collect();
        let mut recipients: Vec<String> = if listed.is_empty() {
            t.recipients_default.iter().map(|r| format!("- {r};")).collect()
        } else {
            listed.iter().map(|r| format!("- {};", r.trim_end_matches([';', '.']))).collect()
        };
        recipients.push(format!("- {}", t.archive));
        match &letterhead.signer {
            Some(signer) => Closing {
                recipients,
                titles: signer.title_lines(letterhead.office.as_ref(), lang),
                note: None,
                name: Some(signer.name.clone()),
            },
            None => Closing {
                recipients,
                titles: vec![t.signer_placeholder.0.to_owned()],
                note: Some(t.signer_placeholder.1),
                name: None,
            },
        }
    }

    fn overview(&self, generated_on: Date) -> Overview {
        let (p, lang) = (&self.data.programme, self.lang);
        let partners = self
            .data
            .partners
            .iter()
            .map(|x| PartnerRow {
                name: self.get(&x.name),
                kind: (self.t.partner_kind)(x.kind),
                role: p
                    .partners
                    .iter()
                    .find(|pp| pp.partner == x.code)
                    .map(|pp| self.get(&pp.role))
                    .unwrap_or_else(|| self.t.mentioned.to_owned()),
            })
            .collect();
        let phases = p
            .phases
            .iter()
            .map(|ph| {
                let title = self.get(&ph.title);
                let label = ph.period.label(lang);
                PhaseView {
                    period: (!title.contains(&label)).then_some(label),
                    title,
                    agreed: (self.t.agreed)(
                        ph.agreed_by.as_ref().map(|b| self.get(b)),
                        ph.agreed_on.map(|d| format::date(d, lang)),
                    ),
                }
            })
            .collect();
        Overview {
            title: self.get(&p.title),
            status: (self.t.programme_status)(p.status),
            partners,
            phases,
            period: self.data.period.label(lang),
            generated_on: format::date(generated_on, lang),
            notes: p.notes.as_ref().map(|n| self.get(n)).filter(|s| !s.trim().is_empty()),
        }
    }

    fn key_figure(&self, i: &Indicator) -> KeyFigure {
        let (lang, period) = (self.lang, self.data.period);
        let f = Figures::new(i, period);
        let number = |v: Option<Decimal>| v.map(|v| format::number(v, lang));
        let (progress, progress_label) = match f.attainment {
            Some(Attainment::Percent(pct)) => (
                Some(pct.clamp(Decimal::ZERO, Decimal::ONE_HUNDRED).round().to_u8().unwrap_or(0)),
                Some(format::percent(pct, lang)),
            ),
            Some(Attainment::Met(met)) => (None, Some(if met { self.t.met.0 } else { self.t.met.1 }.to_owned())),
            None => (None, None),
        };
        KeyFigure {
            name: self.get(&i.name),
            unit: self.get(&i.unit),
            value: number(f.current).unwrap_or_else(|| DASH.to_owned()),
            value_period: (f.current.is_some() && f.current_period != period).then(|| f.current_period.label(lang)),
            previous: number(f.previous).unwrap_or_else(|| DASH.to_owned()),
            change: f.change.map(|c| change(c, lang)),
            cumulative: number(f.cumulative),
            cumulative_since: f.cumulative.and(i.base_date).map(|b| (self.t.since)(&format::date(b, lang))),
            target: number(i.target),
            progress,
            progress_label,
        }
    }

    fn appendix(&self) -> Vec<AppendixRow> {
        let activities = self.data.programme.activities.iter().enumerate();
        activities
            .map(|(n, a)| AppendixRow {
                no: (n + 1).to_string(),
                title: self.get(&a.title),
                kind: (self.t.activity_kind)(a.kind),
                period: a.period.label(self.lang),
                sector: self.sector_name(a.sector.as_deref()).unwrap_or_default(),
            })
            .collect()
    }

    fn contributions_total(&self) -> Option<String> {
        let total: i64 = self.data.programme.contributions.iter().map(|c| c.amount_vnd).sum();
        (total > 0).then(|| (self.t.contributions_total)(&format::money_vnd(total, self.lang)))
    }

    /// One section per sector in taxonomy order, then one for records without a sector.
    fn sectors(&self) -> Vec<SectorView> {
        let codes = self.data.sectors.iter().map(|s| Some(s.code.as_str())).chain([None]);
        codes.filter_map(|code| self.sector(code)).collect()
    }

    /// `None` when the sector has nothing in the period.
    fn sector(&self, code: Option<&str>) -> Option<SectorView> {
        let p = &self.data.programme;
        let is = |s: &Option<Code>| s.as_deref() == code;
        let activities: Vec<ActivityView> =
            p.activities.iter().filter(|a| is(&a.sector)).map(|a| self.activity(a)).collect();
        let indicators: Vec<IndicatorRow> =
            p.indicators.iter().filter(|i| is(&i.sector)).filter_map(|i| indicator_row(i, self.lang)).collect();
        let projects: Vec<ProjectView> = p.projects.iter().filter(|x| is(&x.sector)).map(|x| self.project(x)).collect();
        let contributions: Vec<ContributionView> =
            p.contributions.iter().filter(|c| is(&c.sector)).map(|c| self.contribution(c)).collect();
        if activities.is_empty() && indicators.is_empty() && projects.is_empty() && contributions.is_empty() {
            return None;
        }
        let name = self.sector_name(code).unwrap_or_else(|| self.t.other_matters.to_owned());
        Some(SectorView { name, activities, indicators, projects, contributions })
    }

    fn activity(&self, a: &Activity) -> ActivityView {
        let (t, lang) = (self.t, self.lang);
        let mut facts = vec![(t.activity_kind)(a.kind).to_owned(), a.period.label(lang)];
        let unit = match a.kind {
            ActivityKind::TradeDelegation | ActivityKind::ExchangeVisit => t.visits,
            _ => t.events,
        };
        let counts = [
            (a.occurrences, unit),
            (a.participants, t.participants),
            (a.enterprises, t.enterprises),
            (a.products, t.products),
        ];
        facts.extend(counts.into_iter().filter_map(|(n, noun)| n.map(|n| counted(n, noun, lang))));
        facts.extend(a.location.as_ref().map(|l| self.get(l)));
        facts.extend(a.organiser.as_ref().map(|o| (t.organised_by)(&self.partner_name(o))));
        ActivityView {
            title: self.get(&a.title),
            facts: facts.join("; "),
            description: a.description.as_ref().map(|d| self.get(d)),
        }
    }

    fn project(&self, x: &Project) -> ProjectView {
        let ([location, status, partners, time, budget], lang) = (self.t.project_facts, self.lang);
        let names: Vec<String> = x.partners.iter().map(|c| self.partner_name(c)).collect();
        let facts = [
            x.location.as_ref().map(|l| (location, self.get(l))),
            Some((status, (self.t.project_status)(x.status).to_owned())),
            (!names.is_empty()).then(|| (partners, names.join(", "))),
            x.period.map(|pp| (time, pp.label(lang))),
            x.budget_vnd.map(|b| (budget, format::money_vnd(b, lang))),
        ];
        let progress = x.progress.map(|v| v.min(100));
        ProjectView {
            name: self.get(&x.name),
            facts: facts.into_iter().flatten().map(|(label, value)| (label.to_owned(), value)).collect(),
            progress,
            progress_label: progress.map(|v| format!("{v}%")),
            description: x.description.as_ref().map(|d| self.get(d)),
        }
    }

    fn contribution(&self, c: &Contribution) -> ContributionView {
        let lang = self.lang;
        ContributionView {
            from: self.partner_name(&c.from),
            to: self.partner_name(&c.to),
            amount: format::money_vnd(c.amount_vnd, lang),
            purpose: self.get(&c.purpose),
            when: c.date.map(|d| format::date(d, lang)).unwrap_or_else(|| c.period.label(lang)),
        }
    }

    /// The periods the directions are for, each named once, in the order first given.
    fn directions_for(&self) -> Option<String> {
        let mut periods: Vec<Period> = Vec::new();
        for d in &self.data.programme.directions {
            if !periods.contains(&d.period) {
                periods.push(d.period);
            }
        }
        let list: Vec<String> = periods.iter().map(|x| x.label(self.lang)).collect();
        (!list.is_empty()).then(|| (self.t.directions_for)(&list.join(", ")))
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

const DASH: &str = "—";

/// "▲ 12,5%"; without a percentage when the previous value is zero.
fn change(c: indicators::Change, lang: Lang) -> Change {
    let arrow = match c.diff.cmp(&Decimal::ZERO) {
        Ordering::Greater => "▲",
        Ordering::Less => "▼",
        Ordering::Equal => "=",
    };
    let amount = c.percent.map(|pct| format::percent(pct, lang)).unwrap_or_else(|| format::number(c.diff.abs(), lang));
    let tone = c.good.map_or("flat", |good| if good { "good" } else { "bad" });
    Change { text: format!("{arrow} {amount}"), tone }
}

/// The last values of a headline indicator, preferring periods of the briefing's own kind.
fn chart(i: &Indicator, period: Period, lang: Lang) -> Option<Chart> {
    let same_kind: Vec<&IndicatorValue> = i.values.iter().filter(|v| v.period.kind() == period.kind()).collect();
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
        .collect::<Vec<Bar>>();
    let (name, unit) = (i.name.get(lang).to_owned(), i.unit.get(lang).to_owned());
    let values: Vec<String> = bars.iter().map(|b| format!("{}: {}", b.label, b.value)).collect();
    let alt = (phrases(lang).chart_alt)(&name, &unit, &values.join("; "));
    Some(Chart { name, unit, bars, alt })
}

fn counted(n: u32, (one, many): Noun, lang: Lang) -> String {
    format!("{} {}", format::integer(i64::from(n), lang), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn the_change_is_coloured_by_whether_higher_is_better() {
        let text = |c: &str, p: &str, higher: bool, lang: Lang| {
            let c = change(indicators::Change::between(dec(p), dec(c), higher), lang);
            (c.text, c.tone)
        };
        assert_eq!(text("125", "100", true, Lang::Vi), ("▲ 25%".into(), "good"));
        assert_eq!(text("125", "100", false, Lang::En), ("▲ 25%".into(), "bad"));
        assert_eq!(text("90", "120", false, Lang::Vi), ("▼ 25%".into(), "good"));
        assert_eq!(text("3.5", "0", true, Lang::Vi), ("▲ 3,5".into(), "good"));
        assert_eq!(text("7", "7", true, Lang::Vi).1, "flat");
    }

    #[test]
    fn the_chart_keeps_the_last_six_periods_of_the_briefings_kind() {
        let values: Vec<serde_json::Value> = (1..=12)
            .map(|m| serde_json::json!({ "period": format!("2019-{m:02}"), "value": format!("{m}") }))
            .collect();
        let mut i: Indicator =
            serde_json::from_value(serde_json::json!({ "code": "x", "name": "X", "unit": "u", "values": values }))
                .unwrap();
        i.values.push(serde_json::from_value(serde_json::json!({ "period": "2019-Q4", "value": "99" })).unwrap());
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

//! `coopbrief partner|programme|sector|… list|get|create|update|delete` and
//! `coopbrief data export|import`: cooperation data.
//!
//! Values are written as in the dataset files (`--set status=completed`, `--file x.yaml`): the
//! CLI parses them into domain types, so a typo is caught before anything is sent.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use coopbrief_domain::dataset as d;
use coopbrief_domain::{Lang, Text};
use coopbrief_proto::convert;
use coopbrief_proto::v1;
use prost_types::FieldMask;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::client::{Client, status};

/// Commands on cooperation data, flattened into the top level of `coopbrief`.
#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Cities, provinces and agencies that take part in programmes.
    Partner(ResourceArgs),
    /// Programmes of cooperation (get shows every record).
    Programme(ResourceArgs),
    /// The sector taxonomy, and sectors of one programme.
    Sector(ResourceArgs),
    /// Measured quantities with their values per period.
    Indicator(ResourceArgs),
    /// Fairs, delegations, conferences … of a programme.
    Activity(ResourceArgs),
    /// Projects of a programme.
    Project(ResourceArgs),
    /// Money or goods one partner gave another.
    Contribution(ResourceArgs),
    /// Achievements, limitations and lessons.
    Assessment(ResourceArgs),
    /// Directions for a coming period.
    Direction(ResourceArgs),
    /// Export or import a whole programme as one YAML document.
    #[command(subcommand)]
    Data(DataCommand),
}

#[derive(Debug, Args)]
pub struct ResourceArgs {
    #[command(subcommand)]
    verb: Verb,
    /// How to print results.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// List, one page or (--all) every page.
    List(ListArgs),
    /// Show one.
    Get(Target),
    /// Create one from --file (YAML as in data/) and --set field=value.
    Create {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        values: Values,
        /// Makes a retried create return the first result (a UUID).
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Change the fields given by --set or --file; the others stay.
    Update {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        values: Values,
        /// Refuse (ABORTED) unless the resource still has this etag.
        #[arg(long)]
        etag: Option<String>,
    },
    /// Delete one.
    Delete {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        etag: Option<String>,
    },
}

#[derive(Debug, Args)]
struct Target {
    /// The code of the resource.
    code: String,
    /// The programme of a record (indicator, activity, …).
    #[arg(long, env = "COOPBRIEF_PROGRAMME")]
    programme: Option<String>,
}

#[derive(Debug, Args)]
struct Values {
    /// A YAML file with fields of the resource, as in data/ (`-`: standard input).
    #[arg(long, short)]
    file: Option<PathBuf>,
    /// field=value, the value in YAML: `--set progress=60`, `--set 'name={vi: Huế, en: Hue}'`.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    set: Vec<String>,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[arg(long, env = "COOPBRIEF_PROGRAMME")]
    programme: Option<String>,
    #[arg(long)]
    sector: Option<String>,
    /// Records whose period overlaps this one: 2019, 2019-Q3, 2015..2018 …
    #[arg(long)]
    period: Option<String>,
    /// Projects: planned, in_progress, completed, suspended; programmes: planned, active, …
    #[arg(long)]
    status: Option<String>,
    /// Partners: city, province, central_agency, other.
    #[arg(long)]
    kind: Option<String>,
    /// Programmes this partner takes part in.
    #[arg(long)]
    partner: Option<String>,
    #[arg(long, default_value_t = 0)]
    page_size: i32,
    #[arg(long, default_value = "")]
    page_token: String,
    /// Follow the pages to the end.
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Print a programme, with the partners and sectors it uses, as YAML.
    Export {
        #[arg(long, env = "COOPBRIEF_PROGRAMME")]
        programme: String,
    },
    /// Write a document like `export`'s, all or nothing, matching by codes.
    Import {
        /// The YAML file (`-`: standard input).
        file: PathBuf,
        /// Check and report what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

type Data = coopbrief_proto::CooperationServiceClient<coopbrief_runtime::GrpcChannel>;

/// One kind of resource as the CLI sees it.
trait Resource {
    type D: Serialize + DeserializeOwned;
    type W: Clone + Default;
    const NAME: &'static str;
    /// Whether it belongs to a programme (and needs --programme).
    const RECORD: bool = true;
    const HEADERS: &'static [&'static str];
    fn to_domain(w: Self::W) -> coopbrief_domain::Result<Self::D>;
    fn to_wire(d: &Self::D) -> Self::W;
    fn row(d: &Self::D) -> Vec<String>;
    fn meta(w: &Self::W) -> (String, String, String);
    fn set_meta(w: &mut Self::W, programme: &str, code: &str, etag: &str);
    async fn list(c: &mut Data, l: &ListArgs) -> Result<(Vec<Self::W>, String), tonic::Status>;
    async fn get(c: &mut Data, programme: &str, code: &str) -> Result<Self::W, tonic::Status>;
    async fn create(c: &mut Data, w: Self::W, request_id: String) -> Result<Self::W, tonic::Status>;
    async fn update(c: &mut Data, w: Self::W, mask: FieldMask) -> Result<Self::W, tonic::Status>;
    async fn delete(c: &mut Data, programme: &str, code: &str, etag: String) -> Result<(), tonic::Status>;
}

fn vi(t: &Text) -> String {
    t.get(Lang::Vi).to_owned()
}

fn opt<T: ToString>(x: &Option<T>) -> String {
    x.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// The snake_case name serde gives an enum value.
fn name<T: Serialize>(x: &T) -> String {
    serde_json::to_value(x).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

macro_rules! record_resource {
    ($T:ident, $D:ty, $W:ty, $name:literal, $to_wire:expr, $to_domain:path, $one:ident, $many:ident,
     $list:ident, $ListReq:ident, $get:ident, $GetReq:ident, $create:ident, $CreateReq:ident,
     $update:ident, $UpdateReq:ident, $delete:ident, $DeleteReq:ident,
     headers = $headers:expr, row = $row:expr) => {
        struct $T;
        impl Resource for $T {
            type D = $D;
            type W = $W;
            const NAME: &'static str = $name;
            const HEADERS: &'static [&'static str] = $headers;
            fn to_domain(w: $W) -> coopbrief_domain::Result<$D> {
                $to_domain(w, $name)
            }
            fn to_wire(d: &$D) -> $W {
                $to_wire(d)
            }
            fn row(d: &$D) -> Vec<String> {
                $row(d)
            }
            fn meta(w: &$W) -> (String, String, String) {
                (w.programme.clone(), w.code.clone(), w.etag.clone())
            }
            fn set_meta(w: &mut $W, programme: &str, code: &str, etag: &str) {
                w.programme = programme.to_owned();
                w.code = code.to_owned();
                w.etag = etag.to_owned();
            }
            async fn list(c: &mut Data, l: &ListArgs) -> Result<(Vec<$W>, String), tonic::Status> {
                let r = c
                    .$list(v1::$ListReq {
                        programme: l.programme.clone().unwrap_or_default(),
                        sector: l.sector.clone().unwrap_or_default(),
                        period: l.period.clone().unwrap_or_default(),
                        status: l.status.clone().unwrap_or_default(),
                        page_size: l.page_size,
                        page_token: l.page_token.clone(),
                    })
                    .await?
                    .into_inner();
                Ok((r.$many, r.next_page_token))
            }
            async fn get(c: &mut Data, programme: &str, code: &str) -> Result<$W, tonic::Status> {
                let r = v1::$GetReq { programme: programme.to_owned(), code: code.to_owned() };
                Ok(c.$get(r).await?.into_inner())
            }
            async fn create(c: &mut Data, w: $W, request_id: String) -> Result<$W, tonic::Status> {
                let r = v1::$CreateReq { $one: Some(w), request_id };
                Ok(c.$create(r).await?.into_inner())
            }
            async fn update(c: &mut Data, w: $W, mask: FieldMask) -> Result<$W, tonic::Status> {
                let r = v1::$UpdateReq { $one: Some(w), update_mask: Some(mask) };
                Ok(c.$update(r).await?.into_inner())
            }
            async fn delete(c: &mut Data, programme: &str, code: &str, etag: String) -> Result<(), tonic::Status> {
                let r = v1::$DeleteReq { programme: programme.to_owned(), code: code.to_owned(), etag };
                c.$delete(r).await.map(|_| ())
            }
        }
    };
}

/// A line of text for a table cell: the Vietnamese, on one line.
fn cell(t: &Text) -> String {
    vi(t).split_whitespace().collect::<Vec<_>>().join(" ")
}

record_resource!(
    Indicators,
    d::Indicator,
    v1::Indicator,
    "indicator",
    convert::indicator,
    convert::to_indicator,
    indicator,
    indicators,
    list_indicators,
    ListIndicatorsRequest,
    get_indicator,
    GetIndicatorRequest,
    create_indicator,
    CreateIndicatorRequest,
    update_indicator,
    UpdateIndicatorRequest,
    delete_indicator,
    DeleteIndicatorRequest,
    headers = &["CODE", "UNIT", "AGGREGATION", "LATEST", "NAME"],
    row = |x: &d::Indicator| {
        let latest = x.values.iter().max_by_key(|v| v.period.end()).map(|v| format!("{}: {}", v.period, v.value));
        vec![x.code.clone(), cell(&x.unit), name(&x.aggregation), latest.unwrap_or_default(), cell(&x.name)]
    }
);
record_resource!(
    Activities,
    d::Activity,
    v1::Activity,
    "activity",
    convert::activity,
    convert::to_activity,
    activity,
    activities,
    list_activities,
    ListActivitiesRequest,
    get_activity,
    GetActivityRequest,
    create_activity,
    CreateActivityRequest,
    update_activity,
    UpdateActivityRequest,
    delete_activity,
    DeleteActivityRequest,
    headers = &["CODE", "PERIOD", "KIND", "SECTOR", "COUNT", "TITLE"],
    row = |x: &d::Activity| vec![
        x.code.clone(),
        x.period.to_string(),
        name(&x.kind),
        opt(&x.sector),
        opt(&x.occurrences),
        cell(&x.title)
    ]
);
record_resource!(
    Projects,
    d::Project,
    v1::Project,
    "project",
    convert::project,
    convert::to_project,
    project,
    projects,
    list_projects,
    ListProjectsRequest,
    get_project,
    GetProjectRequest,
    create_project,
    CreateProjectRequest,
    update_project,
    UpdateProjectRequest,
    delete_project,
    DeleteProjectRequest,
    headers = &["CODE", "STATUS", "PROGRESS", "SECTOR", "PERIOD", "NAME"],
    row = |x: &d::Project| vec![
        x.code.clone(),
        name(&x.status),
        x.progress.map(|p| format!("{p}%")).unwrap_or_default(),
        opt(&x.sector),
        opt(&x.period),
        cell(&x.name)
    ]
);
record_resource!(
    Contributions,
    d::Contribution,
    v1::Contribution,
    "contribution",
    convert::contribution,
    convert::to_contribution,
    contribution,
    contributions,
    list_contributions,
    ListContributionsRequest,
    get_contribution,
    GetContributionRequest,
    create_contribution,
    CreateContributionRequest,
    update_contribution,
    UpdateContributionRequest,
    delete_contribution,
    DeleteContributionRequest,
    headers = &["CODE", "PERIOD", "FROM", "TO", "AMOUNT", "PURPOSE"],
    row = |x: &d::Contribution| {
        let amount = match (&x.amount, &x.currency) {
            (Some(a), Some(c)) => format!("{a} {c}"),
            _ => format!("{} VND", coopbrief_domain::format::integer(x.amount_vnd, Lang::Vi)),
        };
        vec![x.code.clone(), x.period.to_string(), x.from.clone(), x.to.clone(), amount, cell(&x.purpose)]
    }
);
record_resource!(
    Assessments,
    d::Assessment,
    v1::Assessment,
    "assessment",
    |x: &d::Assessment| convert::assessment(x, ""),
    convert::to_assessment,
    assessment,
    assessments,
    list_assessments,
    ListAssessmentsRequest,
    get_assessment,
    GetAssessmentRequest,
    create_assessment,
    CreateAssessmentRequest,
    update_assessment,
    UpdateAssessmentRequest,
    delete_assessment,
    DeleteAssessmentRequest,
    headers = &["CODE", "PERIOD", "KIND", "SECTOR", "TEXT"],
    row = |x: &d::Assessment| vec![opt(&x.code), x.period.to_string(), name(&x.kind), opt(&x.sector), cell(&x.text)]
);
record_resource!(
    Directions,
    d::Direction,
    v1::Direction,
    "direction",
    |x: &d::Direction| convert::direction(x, ""),
    convert::to_direction,
    direction,
    directions,
    list_directions,
    ListDirectionsRequest,
    get_direction,
    GetDirectionRequest,
    create_direction,
    CreateDirectionRequest,
    update_direction,
    UpdateDirectionRequest,
    delete_direction,
    DeleteDirectionRequest,
    headers = &["CODE", "PERIOD", "SECTOR", "TEXT"],
    row = |x: &d::Direction| vec![opt(&x.code), x.period.to_string(), opt(&x.sector), cell(&x.text)]
);

struct Partners;
impl Resource for Partners {
    type D = d::Partner;
    type W = v1::Partner;
    const NAME: &'static str = "partner";
    const RECORD: bool = false;
    const HEADERS: &'static [&'static str] = &["CODE", "KIND", "NAME"];
    fn to_domain(w: v1::Partner) -> coopbrief_domain::Result<d::Partner> {
        convert::to_partner(w, "partner")
    }
    fn to_wire(d: &d::Partner) -> v1::Partner {
        convert::partner(d)
    }
    fn row(x: &d::Partner) -> Vec<String> {
        vec![x.code.clone(), name(&x.kind), cell(&x.name)]
    }
    fn meta(w: &v1::Partner) -> (String, String, String) {
        (String::new(), w.code.clone(), w.etag.clone())
    }
    fn set_meta(w: &mut v1::Partner, _: &str, code: &str, etag: &str) {
        w.code = code.to_owned();
        w.etag = etag.to_owned();
    }
    async fn list(c: &mut Data, l: &ListArgs) -> Result<(Vec<v1::Partner>, String), tonic::Status> {
        let r = c
            .list_partners(v1::ListPartnersRequest {
                programme: l.programme.clone().unwrap_or_default(),
                kind: l.kind.clone().unwrap_or_default(),
                page_size: l.page_size,
                page_token: l.page_token.clone(),
            })
            .await?
            .into_inner();
        Ok((r.partners, r.next_page_token))
    }
    async fn get(c: &mut Data, _: &str, code: &str) -> Result<v1::Partner, tonic::Status> {
        Ok(c.get_partner(v1::GetPartnerRequest { code: code.to_owned() }).await?.into_inner())
    }
    async fn create(c: &mut Data, w: v1::Partner, request_id: String) -> Result<v1::Partner, tonic::Status> {
        Ok(c.create_partner(v1::CreatePartnerRequest { partner: Some(w), request_id }).await?.into_inner())
    }
    async fn update(c: &mut Data, w: v1::Partner, mask: FieldMask) -> Result<v1::Partner, tonic::Status> {
        Ok(c.update_partner(v1::UpdatePartnerRequest { partner: Some(w), update_mask: Some(mask) }).await?.into_inner())
    }
    async fn delete(c: &mut Data, _: &str, code: &str, etag: String) -> Result<(), tonic::Status> {
        c.delete_partner(v1::DeletePartnerRequest { code: code.to_owned(), etag }).await.map(|_| ())
    }
}

struct Sectors;
impl Resource for Sectors {
    type D = d::Sector;
    type W = v1::Sector;
    const NAME: &'static str = "sector";
    const RECORD: bool = false;
    const HEADERS: &'static [&'static str] = &["CODE", "PROGRAMME", "NAME"];
    fn to_domain(w: v1::Sector) -> coopbrief_domain::Result<d::Sector> {
        convert::to_sector(w, "sector")
    }
    fn to_wire(d: &d::Sector) -> v1::Sector {
        convert::sector(d)
    }
    fn row(x: &d::Sector) -> Vec<String> {
        vec![x.code.clone(), opt(&x.programme), cell(&x.name)]
    }
    fn meta(w: &v1::Sector) -> (String, String, String) {
        (String::new(), w.code.clone(), w.etag.clone())
    }
    fn set_meta(w: &mut v1::Sector, _: &str, code: &str, etag: &str) {
        w.code = code.to_owned();
        w.etag = etag.to_owned();
    }
    async fn list(c: &mut Data, l: &ListArgs) -> Result<(Vec<v1::Sector>, String), tonic::Status> {
        let r = c
            .list_sectors(v1::ListSectorsRequest {
                programme: l.programme.clone().unwrap_or_default(),
                page_size: l.page_size,
                page_token: l.page_token.clone(),
            })
            .await?
            .into_inner();
        Ok((r.sectors, r.next_page_token))
    }
    async fn get(c: &mut Data, _: &str, code: &str) -> Result<v1::Sector, tonic::Status> {
        Ok(c.get_sector(v1::GetSectorRequest { code: code.to_owned() }).await?.into_inner())
    }
    async fn create(c: &mut Data, w: v1::Sector, request_id: String) -> Result<v1::Sector, tonic::Status> {
        Ok(c.create_sector(v1::CreateSectorRequest { sector: Some(w), request_id }).await?.into_inner())
    }
    async fn update(c: &mut Data, w: v1::Sector, mask: FieldMask) -> Result<v1::Sector, tonic::Status> {
        Ok(c.update_sector(v1::UpdateSectorRequest { sector: Some(w), update_mask: Some(mask) }).await?.into_inner())
    }
    async fn delete(c: &mut Data, _: &str, code: &str, etag: String) -> Result<(), tonic::Status> {
        c.delete_sector(v1::DeleteSectorRequest { code: code.to_owned(), etag }).await.map(|_| ())
    }
}

struct Programmes;
impl Resource for Programmes {
    type D = d::Programme;
    type W = v1::Programme;
    const NAME: &'static str = "programme";
    const RECORD: bool = false;
    const HEADERS: &'static [&'static str] = &["CODE", "STATUS", "PARTNERS", "TITLE"];
    fn to_domain(w: v1::Programme) -> coopbrief_domain::Result<d::Programme> {
        convert::to_programme(w, "programme")
    }
    fn to_wire(d: &d::Programme) -> v1::Programme {
        convert::programme(d)
    }
    fn row(x: &d::Programme) -> Vec<String> {
        let partners: Vec<&str> = x.partners.iter().map(|p| p.partner.as_str()).collect();
        vec![x.code.clone(), name(&x.status), partners.join(", "), cell(&x.title)]
    }
    fn meta(w: &v1::Programme) -> (String, String, String) {
        (String::new(), w.code.clone(), w.etag.clone())
    }
    fn set_meta(w: &mut v1::Programme, _: &str, code: &str, etag: &str) {
        w.code = code.to_owned();
        w.etag = etag.to_owned();
    }
    async fn list(c: &mut Data, l: &ListArgs) -> Result<(Vec<v1::Programme>, String), tonic::Status> {
        let r = c
            .list_programmes_filtered(v1::ListProgrammesFilteredRequest {
                partner: l.partner.clone().unwrap_or_default(),
                status: l.status.clone().unwrap_or_default(),
                page_size: l.page_size,
                page_token: l.page_token.clone(),
            })
            .await?
            .into_inner();
        Ok((r.programmes, r.next_page_token))
    }
    async fn get(c: &mut Data, _: &str, code: &str) -> Result<v1::Programme, tonic::Status> {
        Ok(c.get_programme(v1::GetProgrammeRequest { code: code.to_owned() }).await?.into_inner())
    }
    async fn create(c: &mut Data, w: v1::Programme, request_id: String) -> Result<v1::Programme, tonic::Status> {
        Ok(c.create_programme(v1::CreateProgrammeRequest { programme: Some(w), request_id }).await?.into_inner())
    }
    async fn update(c: &mut Data, w: v1::Programme, mask: FieldMask) -> Result<v1::Programme, tonic::Status> {
        let r = v1::UpdateProgrammeRequest { programme: Some(w), update_mask: Some(mask) };
        Ok(c.update_programme(r).await?.into_inner())
    }
    async fn delete(c: &mut Data, _: &str, code: &str, etag: String) -> Result<(), tonic::Status> {
        c.delete_programme(v1::DeleteProgrammeRequest { code: code.to_owned(), etag }).await.map(|_| ())
    }
}

pub async fn run(cmd: ResourceCommand, client: &Client) -> anyhow::Result<()> {
    match cmd {
        ResourceCommand::Partner(a) => verb::<Partners>(a, client).await,
        ResourceCommand::Programme(a) => verb::<Programmes>(a, client).await,
        ResourceCommand::Sector(a) => verb::<Sectors>(a, client).await,
        ResourceCommand::Indicator(a) => verb::<Indicators>(a, client).await,
        ResourceCommand::Activity(a) => verb::<Activities>(a, client).await,
        ResourceCommand::Project(a) => verb::<Projects>(a, client).await,
        ResourceCommand::Contribution(a) => verb::<Contributions>(a, client).await,
        ResourceCommand::Assessment(a) => verb::<Assessments>(a, client).await,
        ResourceCommand::Direction(a) => verb::<Directions>(a, client).await,
        ResourceCommand::Data(cmd) => data(cmd, client).await,
    }
}

fn programme_of<R: Resource>(target: &Target) -> anyhow::Result<String> {
    match (&target.programme, R::RECORD) {
        (Some(p), true) => Ok(p.clone()),
        (None, true) => bail!("a {} belongs to a programme: give --programme (or COOPBRIEF_PROGRAMME)", R::NAME),
        _ => Ok(String::new()),
    }
}

async fn verb<R: Resource>(args: ResourceArgs, client: &Client) -> anyhow::Result<()> {
    let mut c = client.data.clone();
    let out = args.output;
    match args.verb {
        Verb::List(mut l) => {
            let mut all = Vec::new();
            loop {
                let (items, next) = R::list(&mut c, &l).await.map_err(status)?;
                all.extend(items);
                if !l.all || next.is_empty() {
                    if !next.is_empty() {
                        eprintln!("more: --page-token {next} (or --all)");
                    }
                    break;
                }
                l.page_token = next;
            }
            print_many::<R>(all, out)
        }
        Verb::Get(t) => {
            let w = R::get(&mut c, &programme_of::<R>(&t)?, &t.code).await.map_err(status)?;
            print_one::<R>(w, out)
        }
        Verb::Create { target, values, request_id } => {
            let programme = programme_of::<R>(&target)?;
            let mut fields = values.read()?;
            fields.insert("code".into(), Value::String(target.code.clone()));
            let value: R::D = from_fields(fields, R::NAME)?;
            let mut w = R::to_wire(&value);
            R::set_meta(&mut w, &programme, &target.code, "");
            let w = R::create(&mut c, w, request_id.unwrap_or_default()).await.map_err(status)?;
            print_one::<R>(w, out)
        }
        Verb::Update { target, values, etag } => {
            let programme = programme_of::<R>(&target)?;
            let current = R::get(&mut c, &programme, &target.code).await.map_err(status)?;
            let (_, code, current_etag) = R::meta(&current);
            let domain = R::to_domain(current).context("the service sent a value this CLI cannot read")?;
            let Value::Object(mut fields) = serde_json::to_value(&domain)? else {
                bail!("{} is not an object", R::NAME)
            };
            let changes = values.read()?;
            if changes.is_empty() {
                bail!("nothing to change: give --set FIELD=VALUE or --file");
            }
            let paths: BTreeSet<String> = changes.keys().cloned().collect();
            fields.extend(changes);
            let value: R::D = from_fields(fields, R::NAME)?;
            let mut w = R::to_wire(&value);
            R::set_meta(&mut w, &programme, &code, &etag.unwrap_or(current_etag));
            let mask = FieldMask { paths: paths.into_iter().collect() };
            let w = R::update(&mut c, w, mask).await.map_err(status)?;
            print_one::<R>(w, out)
        }
        Verb::Delete { target, etag } => {
            let programme = programme_of::<R>(&target)?;
            R::delete(&mut c, &programme, &target.code, etag.unwrap_or_default()).await.map_err(status)?;
            eprintln!("deleted {} {}", R::NAME, target.code);
            Ok(())
        }
    }
}

impl Values {
    /// The fields given by --file and then --set, as JSON values.
    fn read(&self) -> anyhow::Result<Map<String, Value>> {
        let mut fields = Map::new();
        if let Some(path) = &self.file {
            let text = read_input(path)?;
            let value: Value =
                serde_yaml_ng::from_str(&text).with_context(|| format!("{} is not valid YAML", path.display()))?;
            match value {
                Value::Object(map) => fields.extend(map),
                Value::Null => {}
                _ => bail!("{} must hold a mapping of fields", path.display()),
            }
        }
        for pair in &self.set {
            let Some((key, raw)) = pair.split_once('=') else { bail!("--set {pair:?}: expected FIELD=VALUE") };
            let value: Value =
                serde_yaml_ng::from_str(raw).or_else(|_| Ok::<_, anyhow::Error>(Value::String(raw.to_owned())))?;
            let value = match value {
                // An empty value clears an optional field.
                _ if raw.is_empty() => Value::Null,
                // A fraction stays text, so that `10000.50` reaches the exact decimal unrounded.
                Value::Number(n) if !(n.is_i64() || n.is_u64()) => Value::String(raw.trim().to_owned()),
                v => v,
            };
            fields.insert(key.trim().to_owned(), value);
        }
        Ok(fields)
    }
}

fn from_fields<T: DeserializeOwned>(fields: Map<String, Value>, what: &str) -> anyhow::Result<T> {
    serde_json::from_value(Value::Object(fields)).map_err(|e| anyhow::anyhow!("invalid {what}: {e}"))
}

fn read_input(path: &std::path::Path) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("failed to read standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))
    }
}

/// A resource as JSON: its fields as in data/, with its programme and etag.
fn document<R: Resource>(w: R::W) -> anyhow::Result<Value> {
    let (programme, _, etag) = R::meta(&w);
    let d = R::to_domain(w).context("the service sent a value this CLI cannot read")?;
    let mut v = serde_json::to_value(&d)?;
    if let Value::Object(map) = &mut v {
        if !programme.is_empty() {
            map.insert("programme".into(), Value::String(programme));
        }
        map.insert("etag".into(), Value::String(etag));
    }
    Ok(v)
}

fn print_one<R: Resource>(w: R::W, out: Output) -> anyhow::Result<()> {
    match out {
        Output::Table => {
            let (programme, key, etag) = R::meta(&w);
            let d = R::to_domain(w).context("the service sent a value this CLI cannot read")?;
            let mut v = serde_json::to_value(&d)?;
            if let Value::Object(map) = &mut v {
                map.insert("code".into(), Value::String(key));
            }
            let mut text = serde_yaml_ng::to_string(&v)?;
            if !programme.is_empty() {
                text = format!("programme: {programme}\n{text}");
            }
            println!("{text}etag: {etag}");
            Ok(())
        }
        Output::Json => {
            println!("{}", serde_json::to_string_pretty(&document::<R>(w)?)?);
            Ok(())
        }
        Output::Yaml => {
            print!("{}", serde_yaml_ng::to_string(&document::<R>(w)?)?);
            Ok(())
        }
    }
}

fn print_many<R: Resource>(items: Vec<R::W>, out: Output) -> anyhow::Result<()> {
    match out {
        Output::Table => {
            let mut rows = vec![R::HEADERS.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
            let with_programme = R::RECORD;
            if with_programme {
                rows[0].insert(0, "PROGRAMME".into());
            }
            for w in items {
                let (programme, key, _) = R::meta(&w);
                let d = R::to_domain(w).context("the service sent a value this CLI cannot read")?;
                let mut row = R::row(&d);
                row[0] = key;
                if with_programme {
                    row.insert(0, programme);
                }
                rows.push(row);
            }
            print!("{}", table(&rows));
            Ok(())
        }
        Output::Json | Output::Yaml => {
            let docs = items.into_iter().map(document::<R>).collect::<anyhow::Result<Vec<_>>>()?;
            if out == Output::Json {
                println!("{}", serde_json::to_string_pretty(&docs)?);
            } else {
                print!("{}", serde_yaml_ng::to_string(&docs)?);
            }
            Ok(())
        }
    }
}

/// Columns padded to their widest cell (in characters, so that Vietnamese lines up); the last
/// column is cut at 60 characters.
fn table(rows: &[Vec<String>]) -> String {
    const LAST: usize = 60;
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let cut = |s: &str, last: bool| -> String {
        if last && s.chars().count() > LAST {
            format!("{}…", s.chars().take(LAST - 1).collect::<String>())
        } else {
            s.to_owned()
        }
    };
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| cut(c, i + 1 == cols).chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            let c = cut(c, i + 1 == cols);
            if i + 1 == row.len() {
                line.push_str(&c);
            } else {
                line.push_str(&c);
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

async fn data(cmd: DataCommand, client: &Client) -> anyhow::Result<()> {
    let mut c = client.data.clone();
    match cmd {
        DataCommand::Export { programme } => {
            let r = c.export_programme(v1::ExportProgrammeRequest { programme }).await.map_err(status)?;
            print!("{}", r.into_inner().yaml);
            Ok(())
        }
        DataCommand::Import { file, dry_run } => {
            let yaml = read_input(&file)?;
            let r = c
                .import_programme(v1::ImportProgrammeRequest { yaml, validate_only: dry_run })
                .await
                .map_err(|s| status(s).context(format!("{} was not imported; nothing changed", file.display())))?
                .into_inner();
            for (label, keys) in [("created", &r.created), ("changed", &r.changed), ("deleted", &r.deleted)] {
                for key in keys {
                    println!("{label:<9} {key}");
                }
            }
            let verb = if dry_run { "would be" } else { "were" };
            println!(
                "{} created, {} changed, {} left alone, {} deleted ({verb} written)",
                r.created.len(),
                r.changed.len(),
                r.unchanged.len(),
                r.deleted.len()
            );
            Ok(())
        }
    }
}

//! `coopbrief partner|programme|sector|… list|get|create|update|delete` and
//! `coopbrief data export|import`: cooperation data.
//!
//! Values are written as in the dataset files (`--set status=completed`, `--file x.yaml`): the
//! CLI parses them into domain types, so a typo is caught before anything is sent.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use coopbrief_domain::Lang;
use coopbrief_domain::dataset as d;
use coopbrief_domain::format::integer;
use coopbrief_domain::resource::Kind;
use coopbrief_proto::resource::{Key, ListQuery, Method, WireResource, path};
use coopbrief_proto::v1;
use prost_types::FieldMask;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::connection::{Client, status};
use crate::escape::{self, escape};
use crate::output::Output;

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

/// The verbs of a resource, whichever it is.
async fn verb<R: WireResource>(args: ResourceArgs, client: &Client, out: Output) -> anyhow::Result<()> {
    let get = |programme: String, code: String| {
        client
            .call::<R::Get, R::Wire>(path::<R>(Method::Get), R::get_request(Key { programme, code, ..Key::default() }))
    };
    match args.verb {
        Verb::List(l) => {
            let mut q = ListQuery {
                programme: l.programme.unwrap_or_default(),
                sector: l.sector.unwrap_or_default(),
                period: l.period.unwrap_or_default(),
                status: l.status.unwrap_or_default(),
                kind: l.kind.unwrap_or_default(),
                partner: l.partner.unwrap_or_default(),
                page_size: l.page_size,
                page_token: l.page_token,
            };
            let mut all = Vec::new();
            loop {
                let page: R::Page =
                    client.call(path::<R>(Method::List), R::list_request(q.clone())).await.map_err(status)?;
                let (items, next) = R::page_parts(page);
                all.extend(items);
                if !l.all || next.is_empty() {
                    if !next.is_empty() {
                        eprintln!("more: --page-token {} (or --all)", escape(&next));
                    }
                    break;
                }
                q.page_token = next;
            }
            print_many::<R>(all, out)
        }
        Verb::Get(t) => print_one::<R>(get(programme_of::<R>(&t)?, t.code).await.map_err(status)?, out),
        Verb::Create { target, values, request_id } => {
            let programme = programme_of::<R>(&target)?;
            let mut fields = values.read()?;
            fields.insert("code".into(), Value::String(target.code.clone()));
            let value: R = from_fields(fields, R::NAME)?;
            let key = Key { programme, code: target.code, etag: String::new() };
            let req = R::create_request(R::to_wire(&value, &key), request_id.unwrap_or_default());
            print_one::<R>(client.call(path::<R>(Method::Create), req).await.map_err(status)?, out)
        }
        Verb::Update { target, values, etag } => {
            let programme = programme_of::<R>(&target)?;
            let current = get(programme.clone(), target.code.clone()).await.map_err(status)?;
            let key = R::key(&current);
            let domain = R::parse(current).context("the service sent a value this CLI cannot read")?;
            let Value::Object(mut fields) = serde_json::to_value(&domain)? else {
                bail!("{} is not an object", R::NAME)
            };
            let changes = values.read()?;
            if changes.is_empty() {
                bail!("nothing to change: give --set FIELD=VALUE or --file");
            }
            let paths: BTreeSet<String> = changes.keys().cloned().collect();
            fields.extend(changes);
            let value: R = from_fields(fields, R::NAME)?;
            let key = Key { programme, etag: etag.unwrap_or(key.etag), ..key };
            let mask = FieldMask { paths: paths.into_iter().collect() };
            let req = R::update_request(R::to_wire(&value, &key), mask);
            print_one::<R>(client.call(path::<R>(Method::Update), req).await.map_err(status)?, out)
        }
        Verb::Delete { target, etag } => {
            let programme = programme_of::<R>(&target)?;
            let key = Key { programme, code: target.code.clone(), etag: etag.unwrap_or_default() };
            client.call::<R::Delete, ()>(path::<R>(Method::Delete), R::delete_request(key)).await.map_err(status)?;
            eprintln!("deleted {} {}", R::NAME, target.code);
            Ok(())
        }
    }
}

pub async fn run(cmd: ResourceCommand, client: &Client, out: Output) -> anyhow::Result<()> {
    match cmd {
        ResourceCommand::Partner(a) => verb::<d::Partner>(a, client, out).await,
        ResourceCommand::Programme(a) => verb::<d::Programme>(a, client, out).await,
        ResourceCommand::Sector(a) => verb::<d::Sector>(a, client, out).await,
        ResourceCommand::Indicator(a) => verb::<d::Indicator>(a, client, out).await,
        ResourceCommand::Activity(a) => verb::<d::Activity>(a, client, out).await,
        ResourceCommand::Project(a) => verb::<d::Project>(a, client, out).await,
        ResourceCommand::Contribution(a) => verb::<d::Contribution>(a, client, out).await,
        ResourceCommand::Assessment(a) => verb::<d::Assessment>(a, client, out).await,
        ResourceCommand::Direction(a) => verb::<d::Direction>(a, client, out).await,
        ResourceCommand::Data(cmd) => data(cmd, client, out).await,
    }
}

fn programme_of<R: WireResource>(target: &Target) -> anyhow::Result<String> {
    match (&target.programme, R::KIND) {
        (Some(p), Kind::Record) => Ok(p.clone()),
        (None, Kind::Record) => {
            bail!("a {} belongs to a programme: give --programme (or COOPBRIEF_PROGRAMME)", R::NAME)
        }
        _ => Ok(String::new()),
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

/// A resource as JSON: its fields as in data/, under its key, with its programme and etag.
fn document<R: WireResource>(w: R::Wire) -> anyhow::Result<Value> {
    let key = R::key(&w);
    let d = R::parse(w).context("the service sent a value this CLI cannot read")?;
    let mut v = serde_json::to_value(&d)?;
    if let Value::Object(map) = &mut v {
        map.insert("code".into(), Value::String(key.code));
        if !key.programme.is_empty() {
            map.insert("programme".into(), Value::String(key.programme));
        }
        map.insert("etag".into(), Value::String(key.etag));
    }
    Ok(v)
}

fn print_one<R: WireResource>(w: R::Wire, out: Output) -> anyhow::Result<()> {
    let doc = document::<R>(w)?;
    match out {
        Output::Table => print!("{}", serde_yaml_ng::to_string(&escape_strings(doc))?),
        Output::Yaml => print!("{}", escape::yaml(&doc)?),
        Output::Json => println!("{}", escape::json(&doc)?),
    }
    Ok(())
}

fn print_many<R: WireResource>(items: Vec<R::Wire>, out: Output) -> anyhow::Result<()> {
    let docs = items.into_iter().map(document::<R>).collect::<anyhow::Result<Vec<_>>>()?;
    match out {
        Output::Json => println!("{}", escape::json(&docs)?),
        Output::Yaml => print!("{}", escape::yaml(&docs)?),
        Output::Table => {
            let records = R::KIND == Kind::Record;
            let columns: Vec<&str> =
                records.then_some("programme").into_iter().chain(R::COLUMNS.iter().copied()).collect();
            let mut rows = vec![columns.iter().map(|c| c.to_uppercase()).collect::<Vec<_>>()];
            rows.extend(docs.iter().map(|doc| columns.iter().map(|c| cell(&doc[c])).collect()));
            print!("{}", table(&rows));
        }
    }
    Ok(())
}

/// A document for people: every text in it (keys too) escaped but for its line breaks (the YAML
/// of a multi-line text shows them as lines), so it prints as plain YAML.
fn escape_strings(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.split('\n').map(escape).collect::<Vec<_>>().join("\n")),
        Value::Array(items) => Value::Array(items.into_iter().map(escape_strings).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (escape(&k).into_owned(), escape_strings(v))).collect())
        }
        other => other,
    }
}

/// A value as one line of a table cell: text in Vietnamese, whole numbers as 10.900, lists
/// joined, an object by its first field (a programme's partner by its code). Controls, newlines
/// and tabs included, are shown escaped; runs of other white space become one space.
fn cell(v: &Value) -> String {
    let line = |s: &str| escape(s).split_whitespace().collect::<Vec<_>>().join(" ");
    match v {
        Value::Null => String::new(),
        Value::String(s) => line(s),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        Value::Object(map) => map.get("vi").or_else(|| map.values().next()).map(cell).unwrap_or_default(),
        Value::Number(n) => n.as_i64().map(|i| integer(i, Lang::Vi)).unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
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

async fn data(cmd: DataCommand, client: &Client, out: Output) -> anyhow::Result<()> {
    let mut c = client.data.clone();
    match cmd {
        DataCommand::Export { programme } => {
            let r = c.export_programme(v1::ExportProgrammeRequest { programme }).await.map_err(status)?;
            let yaml = r.into_inner().yaml;
            if out == Output::Json {
                let doc: Value = serde_yaml_ng::from_str(&yaml).context("the export is not YAML")?;
                println!("{}", escape::json(&doc)?);
            } else {
                print!("{}", escape::yaml_text(yaml)?);
            }
            Ok(())
        }
        DataCommand::Import { file, dry_run } => {
            let yaml = read_input(&file)?;
            let r = c
                .import_programme(v1::ImportProgrammeRequest { yaml, validate_only: dry_run })
                .await
                .map_err(|s| status(s).context(format!("{} was not imported; nothing changed", file.display())))?
                .into_inner();
            if let Some(doc) = crate::output::document(&r, out)? {
                print!("{doc}");
                return Ok(());
            }
            for (label, keys) in [("created", &r.created), ("changed", &r.changed), ("deleted", &r.deleted)] {
                for key in keys {
                    println!("{label:<9} {}", escape(key));
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

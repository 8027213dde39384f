//! `--output table|json|yaml` (`-o`), taken by every command: `table` is for people; `json`
//! and `yaml` print the wire messages exactly as the service sent them, in the proto3 JSON
//! mapping (the names and forms grpcurl and every gRPC library's JSON printer use: `createTime`
//! as an RFC 3339 string, enums by name, 64-bit integers as strings), read through the
//! services' own descriptors (`prost-reflect`), so nothing is hand-mirrored and nothing dropped.
//! A list prints its items of every page fetched as one array; a watch prints one message per
//! line (JSON lines), since it ends only when the report does.

use std::sync::OnceLock;

use anyhow::Context;
use clap::ValueEnum;
use prost_reflect::{DescriptorPool, DynamicMessage};

use crate::escape;

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Lines and columns for people; text from the server escaped.
    #[default]
    Table,
    /// The wire message(s) as proto3 JSON.
    Json,
    /// The same document as YAML.
    Yaml,
}

/// A wire message and its full protobuf name.
pub(crate) trait Wire: prost::Message + Sized {
    const NAME: &'static str;
}

macro_rules! wire {
    ($($t:ident),* $(,)?) => {
        $(impl Wire for coopbrief_proto::v1::$t {
            const NAME: &'static str = concat!("coopbrief.v1.", stringify!($t));
        })*
    };
}

wire!(
    Report,
    ReportSchedule,
    AccessToken,
    CreateTokenResponse,
    AuditEntry,
    VerifyDocumentResponse,
    ImportProgrammeResponse,
);

fn pool() -> anyhow::Result<&'static DescriptorPool> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(coopbrief_proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("the services' descriptors do not load: {e}"))
}

/// `message` as a dynamic message of its own descriptor, to be printed in the JSON mapping.
fn dynamic<M: Wire>(message: &M) -> anyhow::Result<DynamicMessage> {
    let descriptor = pool()?.get_message_by_name(M::NAME).with_context(|| format!("no descriptor of {}", M::NAME))?;
    DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .with_context(|| format!("a {} did not read back", M::NAME))
}

/// One message as a document (`json` or `yaml`); `None` for the table, which the caller prints.
pub(crate) fn document<M: Wire>(message: &M, out: Output) -> anyhow::Result<Option<String>> {
    let doc = dynamic(message)?;
    Ok(match out {
        Output::Table => None,
        Output::Json => Some(escape::json(&doc)? + "\n"),
        Output::Yaml => Some(escape::yaml(&doc)?),
    })
}

/// Prints one message as `out` says, or calls `table` for people.
pub(crate) fn print<M: Wire>(message: &M, out: Output, table: impl FnOnce(&M)) -> anyhow::Result<()> {
    match document(message, out)? {
        Some(text) => print!("{text}"),
        None => table(message),
    }
    Ok(())
}

/// Prints the items of a list (of every page fetched) as one array, or calls `table`.
pub(crate) fn print_list<M: Wire>(items: &[M], out: Output, table: impl FnOnce(&[M])) -> anyhow::Result<()> {
    if out == Output::Table {
        table(items);
        return Ok(());
    }
    let docs = items.iter().map(dynamic).collect::<anyhow::Result<Vec<_>>>()?;
    match out {
        Output::Json => println!("{}", escape::json(&docs)?),
        _ => print!("{}", escape::yaml(&docs)?),
    }
    Ok(())
}

/// One message on one line of JSON (a watch's changes as JSON lines).
pub(crate) fn json_line<M: Wire>(message: &M) -> anyhow::Result<String> {
    let text = serde_json::to_string(&dynamic(message)?)?;
    // The same escapes as the pretty form: safe on a terminal, the same value read back.
    Ok(escape::json_text(text))
}

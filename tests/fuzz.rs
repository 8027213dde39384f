//! Reflection-driven fuzz of every gRPC method of the data service: hostile input must get a
//! short answer (status message ≤ 1 KiB), never INTERNAL or UNKNOWN, within a few seconds.
//!
//! The methods and their input messages come from the service's own gRPC reflection, so a new
//! RPC is fuzzed without touching this file. Requests are hand-encoded protobuf sent through a
//! raw-bytes codec, which lets us send what no generated client would (undecodable or
//! oversized bodies). The seed is fixed and the number of calls bounded, so runs repeat in CI.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use coopbrief_tests::spawn_app;
use prost::Message as _;
use prost_types::field_descriptor_proto::Type;
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const SEED: u64 = 0x5eed_c00b_b41e_f00d;
/// Longer than any honest answer on loopback; a call past it is a hang worth naming.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// What a person can read in a log line or a terminal; longer messages echo the input.
const MAX_MESSAGE_BYTES: usize = 1024;
/// Keeps the run under a minute; a plan past it fails, so that growth is a decision.
const MAX_CALLS: usize = 4000;
/// Message types by full name (`coopbrief.v1.Partner`).
type Types = HashMap<String, DescriptorProto>;

const UUID: &str = "0190c3a2-7b4e-7d6f-8a9b-0c1d2e3f4a5b";

/// Passes protobuf bytes through untouched: we encode requests ourselves and only look at
/// whether a response came, not at what it holds.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        *self
    }
    fn decoder(&mut self) -> RawCodec {
        *self
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// xorshift64*: a few lines, and the same bytes on every machine for one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// --- protobuf wire format -------------------------------------------------------------------

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn key(buf: &mut Vec<u8>, field: i32, wire_type: u8) {
    varint(buf, (u64::from(field as u32) << 3) | u64::from(wire_type));
}

fn len_field(buf: &mut Vec<u8>, field: i32, value: &[u8]) {
    key(buf, field, 2);
    varint(buf, value.len() as u64);
    buf.extend_from_slice(value);
}

/// Encodes an integer as the field's type says (negative int32 is ten bytes, sint is zigzag).
fn int_field(buf: &mut Vec<u8>, f: &FieldDescriptorProto, v: i64) {
    match f.r#type() {
        Type::Sint32 | Type::Sint64 => {
            key(buf, f.number(), 0);
            varint(buf, ((v << 1) ^ (v >> 63)) as u64);
        }
        Type::Fixed32 | Type::Sfixed32 => {
            key(buf, f.number(), 5);
            buf.extend_from_slice(&(v as u32).to_le_bytes());
        }
        Type::Fixed64 | Type::Sfixed64 => {
            key(buf, f.number(), 1);
            buf.extend_from_slice(&(v as u64).to_le_bytes());
        }
        _ => {
            key(buf, f.number(), 0);
            varint(buf, v as u64);
        }
    }
}

fn is_text(f: &FieldDescriptorProto) -> bool {
    matches!(f.r#type(), Type::String | Type::Bytes)
}

fn is_int(f: &FieldDescriptorProto) -> bool {
    use Type::*;
    matches!(
        f.r#type(),
        Int32 | Int64 | Uint32 | Uint64 | Sint32 | Sint64 | Fixed32 | Fixed64 | Sfixed32 | Sfixed64 | Enum
    )
}

// --- inputs ---------------------------------------------------------------------------------

/// A value that passes its field's check, so that the handler reaches the hostile field
/// whatever order it checks fields in.
fn plausible(field: &str) -> &'static str {
    match field {
        // Empty is what a first call sends; a made-up token, etag or mask path is refused early.
        f if f.contains("token") || f.contains("etag") || f.contains("filter") || f == "paths" => "",
        f if f.contains("period") => "2019",
        f if f.contains("lang") => "vi",
        f if f == "id" || f.ends_with("_id") => UUID,
        _ => "hanoi-hanam",
    }
}

/// Hostile text values; `few` is the representative subset used one level deep.
fn hostile_texts(few: bool) -> Vec<(&'static str, String)> {
    let all = vec![
        ("1 MiB of a", "a".repeat(1 << 20)),
        // An echo of 1 MiB never reaches the client (its HTTP/2 header list is capped at
        // 16 KiB, so the stream fails instead); 4 KiB shows the echo as a long message.
        ("4 KiB of a", "a".repeat(4 << 10)),
        ("control characters", "a\0b\x01c\x7f\u{85}d\r\ne".to_owned()),
        ("terminal escapes", "\x1b[2J\x1b]0;pwned\x07".to_owned()),
        ("path traversal", "../../etc/passwd".to_owned()),
        ("RTL override", "report\u{202E}fdp.exe".to_owned()),
        ("lone combining mark", "\u{301}".to_owned()),
        ("200-level YAML nesting", "{a: ".repeat(200)),
        ("valid-looking code", "hanoi-hanam".to_owned()),
        ("valid-looking uuid", UUID.to_owned()),
    ];
    let few_labels = ["1 MiB of a", "4 KiB of a", "control characters", "terminal escapes", "200-level YAML nesting"];
    all.into_iter().filter(|(label, _)| !few || few_labels.contains(label)).collect()
}

const HOSTILE_INTS: [(&str, i64); 3] = [("-1", -1), ("0", 0), ("i32::MAX", i32::MAX as i64)];

/// The message with every text and enum field but `skip` set to a plausible value, and its
/// message fields `depth` levels down likewise, so that a handler does not stop at a missing
/// `partner` before it looks at the hostile field.
fn baseline(msg: &DescriptorProto, skip: i32, types: &Types, depth: u8) -> Vec<u8> {
    let mut buf = Vec::new();
    for f in msg.field.iter().filter(|f| f.number() != skip) {
        let value = plausible(f.name());
        if is_text(f) && !value.is_empty() {
            len_field(&mut buf, f.number(), value.as_bytes());
        } else if f.r#type() == Type::Enum {
            // 0 is the UNSPECIFIED every enum starts with and handlers refuse.
            int_field(&mut buf, f, 1);
        } else if let Some(inner) = message_type(f, types).filter(|_| depth > 0) {
            len_field(&mut buf, f.number(), &baseline(inner, 0, types, depth - 1));
        }
    }
    buf
}

fn message_type<'a>(f: &FieldDescriptorProto, types: &'a Types) -> Option<&'a DescriptorProto> {
    types.get(f.type_name().trim_start_matches('.')).filter(|_| f.r#type() == Type::Message)
}

/// Each hostile value of one field, encoded as that field (label, bytes).
fn hostile_fields(f: &FieldDescriptorProto, few: bool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if is_text(f) {
        for (label, text) in hostile_texts(few) {
            let mut buf = Vec::new();
            len_field(&mut buf, f.number(), text.as_bytes());
            out.push((format!("{}={label}", f.name()), buf));
        }
    } else if is_int(f) {
        for (label, v) in HOSTILE_INTS.iter().filter(|(l, _)| !few || *l != "0") {
            let mut buf = Vec::new();
            int_field(&mut buf, f, *v);
            out.push((format!("{}={label}", f.name()), buf));
        }
    }
    out
}

/// Every request body sent to a method taking `msg`, with a label saying what it holds.
fn cases(msg: &DescriptorProto, types: &Types, rng: &mut Rng) -> Vec<(String, Bytes)> {
    let mut out: Vec<(String, Vec<u8>)> =
        vec![("empty".into(), Vec::new()), ("plausible".into(), baseline(msg, 0, types, 1))];
    // Wire type 7 does not exist, so the random tail can never decode by chance.
    let mut garbage = vec![0x0f];
    garbage.extend(rng.bytes(64));
    out.push(("undecodable".into(), garbage));
    // An unknown field: a server that accepted the size would decode it as an empty message.
    let unknown = msg.field.iter().map(|f| f.number()).max().unwrap_or(0) + 1;
    let mut big = Vec::new();
    len_field(&mut big, unknown, &vec![b'a'; 5 << 20]);
    out.push(("5 MiB".into(), big));
    for f in &msg.field {
        for (label, field) in hostile_fields(f, false) {
            let mut body = baseline(msg, f.number(), types, 1);
            body.extend(field);
            out.push((label, body));
        }
        let Some(inner) = message_type(f, types) else { continue };
        for g in &inner.field {
            for (label, field) in hostile_fields(g, true) {
                let mut value = baseline(inner, g.number(), types, 0);
                value.extend(field);
                let mut body = baseline(msg, f.number(), types, 1);
                len_field(&mut body, f.number(), &value);
                out.push((format!("{}.{label}", f.name()), body));
            }
        }
    }
    out.into_iter().map(|(label, body)| (label, Bytes::from(body))).collect()
}

// --- discovery ------------------------------------------------------------------------------

struct Method {
    /// `/package.Service/Method`, as on the wire.
    path: String,
    input: String,
}

async fn reflect(channel: &Channel, request: MessageRequest) -> MessageResponse {
    let mut client = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(request) };
    let mut answers =
        client.server_reflection_info(futures::stream::iter([request])).await.expect("reflection call").into_inner();
    let answer = answers.message().await.expect("reflection answers").expect("one answer");
    answer.message_response.expect("a reflection response")
}

/// Every method of every listed service, and every message type by its full name.
async fn discover(channel: &Channel) -> (Vec<Method>, Types) {
    let MessageResponse::ListServicesResponse(list) =
        reflect(channel, MessageRequest::ListServices(String::new())).await
    else {
        panic!("reflection did not list the services")
    };
    let services: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    // Files come with or without their imports depending on the server; fetch the closure.
    let mut files: BTreeMap<String, FileDescriptorProto> = BTreeMap::new();
    let mut wanted: Vec<MessageRequest> = services.iter().cloned().map(MessageRequest::FileContainingSymbol).collect();
    while let Some(request) = wanted.pop() {
        let answer = reflect(channel, request.clone()).await;
        let MessageResponse::FileDescriptorResponse(found) = answer else {
            panic!("reflection has no file for {request:?}: {answer:?}")
        };
        for raw in found.file_descriptor_proto {
            let file = FileDescriptorProto::decode(raw.as_slice()).expect("a file descriptor");
            let missing = file.dependency.iter().filter(|d| !files.contains_key(*d));
            wanted.extend(missing.cloned().map(MessageRequest::FileByFilename));
            files.insert(file.name().to_owned(), file);
        }
    }
    let mut types = HashMap::new();
    let mut methods = Vec::new();
    for file in files.values() {
        for msg in &file.message_type {
            add_types(&mut types, file.package(), msg);
        }
        for service in &file.service {
            let full = format!("{}.{}", file.package(), service.name());
            if services.contains(&full) {
                methods.extend(service.method.iter().map(|m| Method {
                    path: format!("/{full}/{}", m.name()),
                    input: m.input_type().trim_start_matches('.').to_owned(),
                }));
            }
        }
    }
    for service in &services {
        assert!(methods.iter().any(|m| m.path.starts_with(&format!("/{service}/"))), "no methods found for {service}");
    }
    (methods, types)
}

fn add_types(types: &mut Types, scope: &str, msg: &DescriptorProto) {
    let name = format!("{scope}.{}", msg.name());
    for nested in &msg.nested_type {
        add_types(types, &name, nested);
    }
    types.insert(name, msg.clone());
}

// --- calls ----------------------------------------------------------------------------------

/// Sends one message and reads the first answer: for unary methods that is the whole call,
/// for streaming ones (and Health.Watch, which never ends) it is what the brief promises about.
/// `None`: no answer within [`CALL_TIMEOUT`].
async fn call(channel: &Channel, path: &str, body: Bytes) -> Option<Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone()).max_decoding_message_size(64 << 20);
    let path = PathAndQuery::try_from(path).expect("a method path");
    let exchange = async {
        grpc.ready().await.map_err(|e| Status::unavailable(format!("channel not ready: {e}")))?;
        let request = Request::new(futures::stream::iter([body]));
        let mut answers = grpc.streaming(request, path, RawCodec).await?.into_inner();
        answers.message().await?;
        Ok::<_, Status>(())
    };
    let answered = tokio::time::timeout(CALL_TIMEOUT, exchange).await.ok()?;
    Some(answered.err().unwrap_or_else(|| Status::new(Code::Ok, "")))
}

/// Whether an answer breaks a promise: a short message, never INTERNAL or UNKNOWN.
fn is_violation(status: &Status) -> bool {
    matches!(status.code(), Code::Internal | Code::Unknown) || status.message().len() > MAX_MESSAGE_BYTES
}

/// `code, length, prefix`: the length in bytes as the client got it, the prefix escaped so that
/// control characters in it cannot garble the report.
fn describe(status: &Status) -> String {
    let prefix: String = status.message().chars().take(120).collect();
    format!("{:?}, {} bytes, {prefix:?}", status.code(), status.message().len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_short_clean_answers_in_time() {
    let started = Instant::now();
    let app = spawn_app(false).await;
    let channel = Channel::from_shared(app.endpoint.clone()).expect("endpoint").connect().await.expect("connects");
    let (methods, types) = discover(&channel).await;
    let mut rng = Rng(SEED);
    let plan: Vec<(&Method, String, Bytes)> = methods
        .iter()
        .flat_map(|m| {
            let input = types.get(&m.input).unwrap_or_else(|| panic!("{}: input type {} not found", m.path, m.input));
            cases(input, &types, &mut rng).into_iter().map(move |(label, body)| (m, label, body))
        })
        .collect();
    assert!(plan.len() <= MAX_CALLS, "{} calls planned, more than {MAX_CALLS}: trim the cases", plan.len());

    // FUZZ_VERBOSE=1 prints every call, to see what an input reached.
    let verbose = std::env::var_os("FUZZ_VERBOSE").is_some();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    // (method, code) → the worst (longest-message) violation, its input, and how often.
    let mut violations: BTreeMap<(String, String), (usize, String, usize)> = BTreeMap::new();
    for (method, label, body) in &plan {
        let method_name = method.path.trim_start_matches('/');
        let (code, length, text, bad) = match call(&channel, &method.path, body.clone()).await {
            None => ("TIMEOUT".to_owned(), usize::MAX, format!("TIMEOUT, no answer within {CALL_TIMEOUT:?}"), true),
            Some(s) => (format!("{:?}", s.code()), s.message().len(), describe(&s), is_violation(&s)),
        };
        if verbose {
            println!("{method_name} [{label}]: {text}");
        }
        *outcomes.entry(code.clone()).or_default() += 1;
        if bad {
            let entry = violations.entry((method_name.to_owned(), code)).or_insert((0, String::new(), 0));
            if entry.1.is_empty() || length > entry.0 {
                (entry.0, entry.1) = (length, format!("{text} [input: {label}]"));
            }
            entry.2 += 1;
        }
    }
    app.stop().await;

    let summary: Vec<String> = outcomes.iter().map(|(code, n)| format!("{code} {n}")).collect();
    println!(
        "fuzz: {} methods, {} calls in {:.1} s: {}",
        methods.len(),
        plan.len(),
        started.elapsed().as_secs_f64(),
        summary.join(", ")
    );
    let list: Vec<String> =
        violations.iter().map(|((method, _), (_, report, count))| format!("{method}: {report} ({count}×)")).collect();
    assert!(
        list.is_empty(),
        "{} violations (method: code, message length, message prefix):\n{}",
        list.len(),
        list.join("\n")
    );
}

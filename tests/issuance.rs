//! Issuing briefings: a SUCCEEDED draft becomes a numbered, signed document. Numbers come from
//! the office's register with no gap and never twice — also with two data-service processes on
//! one PostgreSQL database —, poppler's `pdfsig` and `coopbrief report verify` agree on the
//! signature, a changed byte is caught by both, and a viewer, a second issuance, a wrong key
//! password or an expired certificate is refused without consuming a number. The key's bytes
//! appear in no log line, no table and no answer.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use coopbrief_domain::{Authority, Letterhead, Role, Signer, Text};
use coopbrief_proto::v1;
use coopbrief_proto::v1::report_service_client::ReportServiceClient;
use coopbrief_runtime::{ClientArgs, GrpcChannel};
use coopbrief_store::testing::TestDb;
use coopbrief_tests::{
    AMQP_URL, Process, TEST_RETRY_DELAYS, compose_env, free_port, pdf_text, rabbitmq, run, workspace_binary,
};
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A test CA and the office's key and certificate files it issues.
struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn days(n: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + time::Duration::days(n)
}

impl Pki {
    fn new() -> Pki {
        let key = KeyPair::generate().expect("ca key");
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "VN");
        dn.push(DnType::CommonName, "Test Root CA (Coopbrief tests)");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = days(-30);
        params.not_after = days(3650);
        let cert = params.self_signed(&key).expect("ca cert");
        Pki { ca_pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// Writes `cert.pem` (office certificate, then the CA) and `key.pem` (PKCS#8, encrypted
    /// with `password` by openssl when given) into `dir`, valid from `from` to `to` days from
    /// now; returns the key's PEM as made (to look for it where it must not be).
    fn office(&self, dir: &Path, from: i64, to: i64, password: Option<&str>) -> String {
        let key = KeyPair::generate().expect("office key");
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "VN");
        dn.push(DnType::OrganizationName, "Ủy ban nhân dân thành phố Hà Nội");
        dn.push(DnType::CommonName, "Văn phòng UBND thành phố Hà Nội (test)");
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment];
        params.not_before = days(from);
        params.not_after = days(to);
        let cert = params.signed_by(&key, &self.issuer).expect("office cert").pem();
        std::fs::write(dir.join("cert.pem"), format!("{cert}{}", self.ca_pem)).expect("cert.pem");
        let pem = key.serialize_pem();
        match password {
            None => std::fs::write(dir.join("key.pem"), &pem).expect("key.pem"),
            Some(password) => {
                std::fs::write(dir.join("plain.pem"), &pem).expect("plain.pem");
                std::fs::write(dir.join("password"), password).expect("password");
                let out = Command::new("openssl")
                    .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "plain.pem", "-out", "key.pem"])
                    .args(["-passout", "file:password"])
                    .current_dir(dir)
                    .output()
                    .expect("openssl is required to encrypt the test key");
                assert!(out.status.success(), "openssl pkcs8: {}", String::from_utf8_lossy(&out.stderr));
                std::fs::remove_file(dir.join("plain.pem")).expect("remove plain.pem");
            }
        }
        pem
    }
}

/// The lines of a PEM key that hold its bytes (base64 of at least 40 characters).
fn key_lines(pem: &str) -> Vec<String> {
    pem.lines().filter(|l| !l.starts_with("-----") && l.len() >= 40).map(str::to_owned).collect()
}

/// The signer and recipients the tests' reports set in place of the programme's (the seed
/// names the office only).
fn letterhead() -> v1::Letterhead {
    coopbrief_proto::convert::letterhead(&Letterhead {
        office: None,
        signer: Some(Signer {
            authority: Authority::Kt,
            on_behalf_of: Some(Text::vi("Chủ tịch")),
            title: Text::vi("Phó Chủ tịch"),
            name: "Trần Thị Bình".into(),
        }),
        recipients: vec![Text::vi("Thường trực Thành ủy Hà Nội"), Text::vi("Ủy ban nhân dân tỉnh Hà Nam")],
    })
}

async fn client(endpoint: &str, token: &str) -> ReportServiceClient<GrpcChannel> {
    let args = ClientArgs { token: Some(token.into()), ca_file: None };
    ReportServiceClient::new(coopbrief_runtime::client::connect(endpoint, &args).await.expect("connects"))
}

async fn create(c: &mut ReportServiceClient<GrpcChannel>) -> String {
    let req = v1::CreateReportRequest {
        programme: "hanoi-hanam".into(),
        period: "2019".into(),
        letterhead: Some(letterhead()),
        ..Default::default()
    };
    c.create_report(req).await.expect("report created").into_inner().id
}

async fn wait_succeeded(c: &mut ReportServiceClient<GrpcChannel>, id: &str) -> v1::Report {
    let started = Instant::now();
    loop {
        let r = c.get_report(v1::GetReportRequest { id: id.into() }).await.expect("get").into_inner();
        if r.state == v1::ReportState::Succeeded as i32 {
            return r;
        }
        assert!(r.state != v1::ReportState::Failed as i32, "report {id} failed: {}", r.error);
        assert!(started.elapsed() < Duration::from_secs(120), "report {id} still not done");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn download(c: &mut ReportServiceClient<GrpcChannel>, id: &str, issued: bool, out: &Path) -> v1::Report {
    let mut stream =
        c.download_report(v1::DownloadReportRequest { id: id.into(), issued }).await.expect("download").into_inner();
    let (mut bytes, mut report) = (Vec::new(), None);
    while let Some(msg) = stream.message().await.expect("chunk") {
        report = report.or(msg.report);
        bytes.extend_from_slice(&msg.data);
    }
    std::fs::write(out, &bytes).expect("write pdf");
    report.expect("the first message carries the report")
}

/// `pdfsig FILE`'s output; fails the test, naming poppler-utils, when it is not installed.
fn pdfsig(pdf: &Path) -> String {
    let out = Command::new("pdfsig").arg(pdf).output().unwrap_or_else(|e| {
        panic!("pdfsig (Debian package poppler-utils) is required to check signatures: {e}; run .ci/run")
    });
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `coopbrief report verify FILE`: (exit success, output).
fn cli_verify(pdf: &Path) -> (bool, String) {
    let out = Command::new(workspace_binary("coopbrief"))
        .args(["report", "verify"])
        .arg(pdf)
        .stdin(Stdio::null())
        .output()
        .expect("coopbrief runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("$ coopbrief report verify {}\n{text}", pdf.display());
    (out.status.success(), text)
}

/// A token of `role`, made on the database as an operator would.
fn token(db: &TestDb, dir: &Path, queue: &str, name: &str, role: Role) -> String {
    let mut cmd = Command::new(workspace_binary("coopbrief-data"));
    compose_env(&mut cmd, db, &dir.join("pdf"), queue);
    coopbrief_tests::token_in(&run(cmd.args(["token", "create", "--name", name, "--role", role.as_str()])))
}

/// A data-service process with the office's key, logging everything (debug) to `log`.
fn data_service(db: &TestDb, dir: &Path, queue: &str, keys: &Path, log: &Path) -> (Process, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(workspace_binary("coopbrief-data"));
    compose_env(&mut cmd, db, &dir.join("pdf"), queue);
    let log = std::fs::File::create(log).expect("log file");
    cmd.env("COOPBRIEF_LISTEN", &listen)
        .env("COOPBRIEF_SIGNING_KEY", keys.join("key.pem"))
        .env("COOPBRIEF_SIGNING_CERT", keys.join("cert.pem"))
        .env("COOPBRIEF_SIGNING_KEY_PASSWORD_FILE", keys.join("password"))
        .env("RUST_LOG", "debug")
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    (Process(cmd.spawn().expect("coopbrief-data starts")), format!("http://{listen}"))
}

async fn healthy(endpoint: &str) {
    let started = Instant::now();
    while coopbrief_runtime::client::connect(endpoint, &ClientArgs::default()).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "{endpoint} never came up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn code(r: Result<tonic::Response<v1::Report>, tonic::Status>) -> (tonic::Code, String) {
    match r {
        Ok(r) => (tonic::Code::Ok, r.into_inner().issued.map(|i| i.number).unwrap_or_default()),
        Err(s) => (s.code(), s.message().to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issuing_numbers_signs_and_refuses_on_two_replicas_over_postgres() {
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).expect("keys dir");
    let pki = Pki::new();
    let password = "mật khẩu thử nghiệm 2026";
    let key_pem = pki.office(&keys, -1, 365, Some(password));
    let queue = format!("coopbrief.test.issue.{}", uuid::Uuid::now_v7());
    drop(rabbitmq(&queue, 1).await);

    let admin = token(&db, dir.path(), &queue, "ops", Role::Admin);
    let approver = token(&db, dir.path(), &queue, "vanthu", Role::Approver);
    let viewer = token(&db, dir.path(), &queue, "an", Role::Viewer);
    let worker_token = token(&db, dir.path(), &queue, "workers", Role::Worker);

    let (logs_a, logs_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let (_a, first) = data_service(&db, dir.path(), &queue, &keys, &logs_a);
    let (_b, second) = data_service(&db, dir.path(), &queue, &keys, &logs_b);
    healthy(&first).await;
    healthy(&second).await;
    let mut worker = Command::new(workspace_binary("coopbrief-worker"));
    compose_env(&mut worker, &db, &dir.path().join("pdf"), &queue);
    worker
        .env("COOPBRIEF_DATA_ENDPOINT", &first)
        .env("COOPBRIEF_TOKEN", &worker_token)
        .env("COOPBRIEF_PREFETCH", "4")
        .env("COOPBRIEF_AMQP_URL", AMQP_URL)
        .env("COOPBRIEF_RETRY_DELAYS", TEST_RETRY_DELAYS.map(|d| d.to_string()).join(","));
    let _worker = Process(worker.spawn().expect("coopbrief-worker starts"));

    let (mut a, mut b) = (client(&first, &approver).await, client(&second, &approver).await);
    let mut answers = String::new();

    // The draft, then the issued document.
    let id = create(&mut a).await;
    wait_succeeded(&mut a, &id).await;
    let draft = dir.path().join("draft.pdf");
    download(&mut a, &id, false, &draft).await;
    let text = pdf_text(&draft);
    assert!(text.contains("DỰ THẢO"), "the draft carries its mark: {text}");
    assert!(text.contains("Số: /BC-UBND"), "the draft has no number: {text}");
    let issued = a.issue_report(v1::IssueReportRequest { id: id.clone() }).await.expect("issued").into_inner();
    answers.push_str(&format!("{issued:?}"));
    let facts = issued.issued.clone().expect("issued facts");
    assert_eq!(facts.number, "1/BC-UBND");
    assert!(facts.signer.contains("KT. CHỦ TỊCH") && facts.signer.contains("Trần Thị Bình"), "{}", facts.signer);
    assert!(
        facts.certificate_subject.contains("Văn phòng UBND thành phố Hà Nội (test)"),
        "{}",
        facts.certificate_subject
    );
    let signed = dir.path().join("issued.pdf");
    let got = download(&mut b, &id, true, &signed).await;
    let bytes = std::fs::read(&signed).expect("issued.pdf");
    assert_eq!(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)), facts.sha256, "the issued sha256");
    assert_eq!(got.data_hash, issued.data_hash, "the same data as the draft");
    let text = pdf_text(&signed);
    for expected in ["Số: 1/BC-UBND", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH", "Trần Thị Bình", "Thường trực Thành ủy Hà Nội"]
    {
        assert!(text.contains(expected), "{expected:?} missing from the issued briefing: {text}");
    }
    assert!(!text.contains("DỰ THẢO"), "no draft mark on the issued briefing");

    // Two independent verifiers agree, and both see one changed byte.
    let sig = pdfsig(&signed);
    println!("$ pdfsig issued.pdf\n{sig}");
    assert!(sig.contains("Signature Validation: Signature is Valid."), "{sig}");
    assert!(sig.contains("Total document signed"), "{sig}");
    let (ok, said) = cli_verify(&signed);
    assert!(ok && said.contains("VALID") && said.contains("1/BC-UBND") && said.contains(&issued.data_hash), "{said}");
    let mut tampered = bytes.clone();
    let at = tampered.len() / 3;
    tampered[at] ^= 0x01;
    let changed = dir.path().join("changed.pdf");
    std::fs::write(&changed, &tampered).expect("changed.pdf");
    let sig = pdfsig(&changed);
    println!("$ pdfsig changed.pdf\n{sig}");
    assert!(!sig.contains("Signature is Valid."), "pdfsig must not accept a changed byte: {sig}");
    let (ok, said) = cli_verify(&changed);
    assert!(!ok && said.contains("modified after signing"), "{said}");
    // The RPC says the same of the stored copy.
    let v = a
        .verify_document(v1::VerifyDocumentRequest {
            document: Some(v1::verify_document_request::Document::ReportId(id.clone())),
        })
        .await
        .expect("verify")
        .into_inner();
    assert!(v.valid && v.number == "1/BC-UBND", "{v:?}");

    // Refusals: a viewer; an issued report again, on either replica.
    let mut as_viewer = client(&first, &viewer).await;
    let (c, _) = code(as_viewer.issue_report(v1::IssueReportRequest { id: id.clone() }).await);
    assert_eq!(c, tonic::Code::PermissionDenied);
    let (c, m) = code(b.issue_report(v1::IssueReportRequest { id: id.clone() }).await);
    assert_eq!(c, tonic::Code::FailedPrecondition, "{m}");
    assert!(m.contains("issued already"), "{m}");

    // A wrong password, then an expired certificate: clear errors, no number consumed.
    let spare = create(&mut a).await;
    wait_succeeded(&mut a, &spare).await;
    std::fs::write(keys.join("password"), "sai mật khẩu").expect("wrong password");
    let (c, m) = code(a.issue_report(v1::IssueReportRequest { id: spare.clone() }).await);
    assert_eq!(c, tonic::Code::FailedPrecondition, "{m}");
    assert!(m.contains("password is wrong"), "{m}");
    std::fs::write(keys.join("password"), password).expect("password back");
    let expired_dir = dir.path().join("expired");
    std::fs::create_dir_all(&expired_dir).expect("expired dir");
    let expired_key = pki.office(&expired_dir, -400, -35, Some(password));
    for file in ["cert.pem", "key.pem"] {
        std::fs::copy(keys.join(file), keys.join(format!("{file}.good"))).expect("keep");
        std::fs::copy(expired_dir.join(file), keys.join(file)).expect("expired in place");
    }
    let (c, m) = code(b.issue_report(v1::IssueReportRequest { id: spare.clone() }).await);
    assert_eq!(c, tonic::Code::FailedPrecondition, "{m}");
    assert!(m.contains("expired"), "{m}");
    for file in ["cert.pem", "key.pem"] {
        std::fs::rename(keys.join(format!("{file}.good")), keys.join(file)).expect("good key back");
    }

    // 20 drafts of one office issued at once across both replicas: 2..21, each once.
    let mut ids = vec![spare];
    for _ in 0..19 {
        ids.push(create(&mut a).await);
    }
    for id in &ids {
        wait_succeeded(&mut a, id).await;
    }
    let calls = ids.iter().enumerate().map(|(i, id)| {
        let mut c = if i % 2 == 0 { a.clone() } else { b.clone() };
        let id = id.clone();
        async move { c.issue_report(v1::IssueReportRequest { id }).await.expect("issued").into_inner() }
    });
    let reports = futures::future::join_all(calls).await;
    answers.push_str(&format!("{reports:?}"));
    let mut numbers: Vec<u32> = reports
        .iter()
        .map(|r| r.issued.as_ref().expect("issued").number.trim_end_matches("/BC-UBND").parse().expect("a number"))
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (2..=21).collect::<Vec<_>>(), "gapless, each number once");

    // One report issued from both replicas at once: one number consumed, one issued PDF.
    let twice = create(&mut a).await;
    wait_succeeded(&mut a, &twice).await;
    let (mut a2, mut b2) = (a.clone(), b.clone());
    let (x, y) = tokio::join!(
        a2.issue_report(v1::IssueReportRequest { id: twice.clone() }),
        b2.issue_report(v1::IssueReportRequest { id: twice.clone() })
    );
    let mut outcomes = [code(x), code(y)];
    outcomes.sort_by_key(|(c, _)| *c as i32);
    assert_eq!(outcomes[0], (tonic::Code::Ok, "22/BC-UBND".to_owned()), "{outcomes:?}");
    assert_eq!(outcomes[1].0, tonic::Code::FailedPrecondition, "{outcomes:?}");
    let next = create(&mut a).await;
    wait_succeeded(&mut a, &next).await;
    let (_, number) = code(b.issue_report(v1::IssueReportRequest { id: next }).await);
    assert_eq!(number, "23/BC-UBND", "the refused second issuance consumed no number");
    let issued_files = std::fs::read_dir(dir.path().join("pdf"))
        .expect("pdf dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".issued.pdf")))
        .count();
    assert_eq!(issued_files, 23, "one issued pdf per issued report");

    // The admin sees each issuance in the audit log.
    let audit = run(coopbrief_tests::cli(&first, Some(&admin)).args(["audit", "list", "--limit", "100"]));
    let audit = String::from_utf8_lossy(&audit.stdout).to_string();
    assert!(audit.contains("IssueReport") && audit.contains("1/BC-UBND"), "{audit}");

    // The key's bytes and its password: in no log line, no table, no answer.
    let dump = Command::new("pg_dump")
        .args(["--data-only", "--dbname", &db.url])
        .output()
        .expect("pg_dump (PostgreSQL's client) is required");
    assert!(dump.status.success(), "pg_dump: {}", String::from_utf8_lossy(&dump.stderr));
    let places = [
        ("the database", String::from_utf8_lossy(&dump.stdout).to_string()),
        ("replica A's log", std::fs::read_to_string(&logs_a).expect("log a")),
        ("replica B's log", std::fs::read_to_string(&logs_b).expect("log b")),
        ("the answers", answers),
    ];
    for (what, text) in &places {
        assert!(text.len() > 100, "{what} was captured");
        for line in key_lines(&key_pem).iter().chain(key_lines(&expired_key).iter()) {
            assert!(!text.contains(line.as_str()), "a line of the signing key is in {what}");
        }
        assert!(!text.contains(password), "the key's password is in {what}");
    }
    let key_file = std::fs::read_to_string(keys.join("key.pem")).expect("key.pem");
    for line in key_lines(&key_file) {
        assert!(places.iter().all(|(_, t)| !t.contains(line.as_str())), "the encrypted key file leaked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schedule_that_issues_automatically_issues_each_briefing_once_it_succeeds() {
    let keys = tempfile::tempdir().expect("keys dir");
    Pki::new().office(keys.path(), -1, 365, None);
    let app = coopbrief_tests::spawn_app_with(true, |s| {
        s.signing_key = Some(keys.path().join("key.pem"));
        s.signing_cert = Some(keys.path().join("cert.pem"));
        s.scheduler_interval = 0.2;
    })
    .await;
    let channel = coopbrief_runtime::client::connect(&app.endpoint, &ClientArgs::default()).await.expect("connects");
    let mut schedules = coopbrief_proto::ScheduleServiceClient::new(channel.clone());
    let mut reports = ReportServiceClient::new(channel);
    // 2025 has closed, 2026 has not: one briefing, made at the scheduler's next tick.
    let schedule = v1::ReportSchedule {
        programme: "hanoi-hanam".into(),
        cadence: "yearly".into(),
        first_period: "2025".into(),
        issue: "auto".into(),
        letterhead: Some(letterhead()),
        ..Default::default()
    };
    let s = schedules
        .create_schedule(v1::CreateScheduleRequest { schedule: Some(schedule) })
        .await
        .expect("schedule created")
        .into_inner();
    assert_eq!(s.issue, "auto");
    let started = Instant::now();
    let issued = loop {
        let req = v1::ListReportsRequest { schedule: s.id.clone(), ..Default::default() };
        let listed = reports.list_reports(req).await.expect("list").into_inner().reports;
        if let Some(r) = listed.iter().find(|r| r.issued.is_some()) {
            break r.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no issued briefing yet: {listed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(issued.period, "2025");
    assert_eq!(issued.issued.as_ref().map(|i| i.number.as_str()), Some("1/BC-UBND"));
    let out = app.path("auto.pdf");
    download(&mut reports, &issued.id, true, &out).await;
    let text = pdf_text(&out);
    assert!(text.contains("Số: 1/BC-UBND") && text.contains("Trần Thị Bình"), "{text}");
    let (ok, said) = cli_verify(&out);
    assert!(ok, "{said}");
    app.stop().await;
}

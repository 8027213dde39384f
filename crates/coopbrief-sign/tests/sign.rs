//! Signs rendered briefings and checks the result with this crate's verifier and with poppler's `pdfsig`: key
//! formats (PEM, encrypted PKCS#8, PKCS#12 made by openssl), tampering, PDF/A, tagging, hostile input.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use coopbrief_domain::dataset::Dataset;
use coopbrief_domain::{BriefingData, Lang};
use coopbrief_render::{PdfStandard, RenderOptions, Renderer};
use coopbrief_sign::{
    Error, SignOptions, SigningIdentity, demo_identity, document_info, sign_pdf, verify_pdf, verify_pdf_with_roots,
};
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

const OFFICE: &str = "Văn phòng UBND thành phố Hà Nội";

fn seed_pdf(standard: PdfStandard) -> Vec<u8> {
    static PLAIN: OnceLock<Vec<u8>> = OnceLock::new();
    static A2B: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = if standard == PdfStandard::A2b { &A2B } else { &PLAIN };
    cell.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/hanoi-hanam.yaml");
        let ds = Dataset::parse(&std::fs::read_to_string(path).expect("seed dataset")).expect("seed parses");
        let programme = &ds.programmes[0];
        let briefing = BriefingData::select(programme, "2019".parse().expect("period"), &ds.partners, &ds.sectors);
        let options = RenderOptions::new(Lang::Vi, jiff::civil::date(2026, 11, 26)).with_pdf_standard(standard);
        Renderer::new().expect("renderer").render(&briefing, &options).expect("render").bytes
    })
    .clone()
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

fn options() -> SignOptions {
    SignOptions {
        signing_time: "2026-11-26T09:30:00Z".parse().expect("time"),
        reason: Some("Ban hành văn bản".into()),
        location: Some("Hà Nội".into()),
        contact: Some("vanphong@hanoi.gov.vn".into()),
        name: Some("Văn phòng UBND thành phố Hà Nội".into()),
        tsa_url: None,
    }
}

/// A test CA and certificates it issues, made with rcgen.
struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn offset(days: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + time::Duration::days(days)
}

impl Pki {
    fn new(name: &str) -> Pki {
        let key = KeyPair::generate().expect("ca key");
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "VN");
        dn.push(DnType::CommonName, format!("{name} Root CA (test)"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = offset(-10);
        params.not_after = offset(3650);
        let cert = params.self_signed(&key).expect("ca cert");
        Pki { ca_pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// An office certificate for `key`, valid from `from` to `to` days from now.
    fn issue(&self, key: &KeyPair, from: i64, to: i64) -> String {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "VN");
        dn.push(DnType::OrganizationName, "Ủy ban nhân dân thành phố Hà Nội");
        dn.push(DnType::CommonName, OFFICE);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment];
        params.not_before = offset(from);
        params.not_after = offset(to);
        params.signed_by(key, &self.issuer).expect("office cert").pem()
    }
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| Pki::new("Ban Cơ yếu Chính phủ"))
}

/// An ECDSA P-256 office key and certificate (PEM): (cert chain, key).
fn ecdsa_pem() -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let cert = pki().issue(&key, -1, 365);
    (format!("{cert}{}", pki().ca_pem), key.serialize_pem())
}

fn openssl(args: &[&str], dir: &Path) {
    let out = match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("openssl is required for these tests"),
        Err(e) => panic!("openssl failed to start: {e}"),
    };
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// An RSA 2048 key made by openssl (PKCS#8 PEM) with a certificate from the test CA, written into `dir`.
fn rsa_files(dir: &Path) -> (PathBuf, PathBuf) {
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.pem"], dir);
    let key_pem = std::fs::read_to_string(dir.join("rsa.pem")).expect("rsa key");
    let key = KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).expect("rsa key for rcgen");
    let cert = pki().issue(&key, -1, 365);
    std::fs::write(dir.join("cert.pem"), format!("{cert}{}", pki().ca_pem)).expect("write cert");
    (dir.join("cert.pem"), dir.join("rsa.pem"))
}

/// Runs poppler's pdfsig on `pdf`; fails the test, naming it, when it is not installed.
fn pdfsig(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("signed.pdf");
    std::fs::write(&file, pdf).expect("write pdf");
    let out = match Command::new("pdfsig").arg(&file).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("pdfsig (poppler-utils) is required: apt-get install -y poppler-utils")
        }
        Err(e) => panic!("pdfsig failed to start: {e}"),
    };
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn assert_pdfsig_valid(pdf: &[u8], signatures: usize) {
    let out = pdfsig(pdf);
    assert_eq!(out.matches("Signature Validation: Signature is Valid.").count(), signatures, "pdfsig said:\n{out}");
    assert!(out.contains("Total document signed"), "pdfsig said:\n{out}");
    assert!(out.contains("ETSI.CAdES.detached"), "pdfsig said:\n{out}");
}

/// Signs and checks what every signed file must satisfy.
fn sign_and_check(pdf: &[u8], id: &SigningIdentity) -> Vec<u8> {
    let signed = sign_pdf(pdf, id, &options()).expect("sign");
    assert!(signed.starts_with(pdf), "the original is not a prefix of the signed file");
    let v = verify_pdf(&signed).expect("verify");
    assert_eq!(v.signatures.len(), 1, "{v:?}");
    let s = &v.signatures[0];
    assert!(s.valid, "{s:?}");
    assert!(s.covers_whole_document, "{s:?}");
    assert!(!s.modified_after_signing, "{s:?}");
    assert_eq!(s.problem, None);
    assert!(v.is_valid());
    assert_eq!(s.signer_subject, id.subject());
    assert_eq!(s.certificate_sha256, id.certificate_sha256());
    assert_eq!(s.reason.as_deref(), Some("Ban hành văn bản"));
    assert_eq!(s.location.as_deref(), Some("Hà Nội"));
    assert_eq!(s.name.as_deref(), Some("Văn phòng UBND thành phố Hà Nội"));
    assert_eq!(s.signing_time, Some("2026-11-26T09:30:00Z".parse().expect("time")));
    assert_eq!(s.sub_filter, "ETSI.CAdES.detached");
    assert_eq!(s.timestamp, None);
    signed
}

#[test]
fn ecdsa_pem_signature_is_valid_for_us_and_for_pdfsig() {
    let (chain, key) = ecdsa_pem();
    let id = SigningIdentity::from_pem(chain.as_bytes(), key.as_bytes(), None).expect("identity");
    assert!(id.subject().starts_with("CN=Văn phòng UBND thành phố Hà Nội,O=Ủy ban nhân dân"), "{}", id.subject());
    assert_eq!(id.certificate_sha256().len(), 64);
    id.check_usable_at(now()).expect("usable");
    let signed = sign_and_check(&seed_pdf(PdfStandard::None), &id);
    assert_pdfsig_valid(&signed, 1);
    let s = &verify_pdf(&signed).expect("verify").signatures[0];
    assert!(!s.serial.is_empty());
    assert!(s.not_before.is_some_and(|t| t < now()) && s.not_after.is_some_and(|t| t > now()));

    // Trust: the test CA is a root we can name; another CA is not.
    let trusted = verify_pdf_with_roots(&signed, pki().ca_pem.as_bytes()).expect("verify with roots");
    assert_eq!(trusted.signatures[0].trusted, Some(true));
    let other = Pki::new("Other");
    let untrusted = verify_pdf_with_roots(&signed, other.ca_pem.as_bytes()).expect("verify with roots");
    assert_eq!(untrusted.signatures[0].trusted, Some(false));
    assert_eq!(verify_pdf(&signed).expect("verify").signatures[0].trusted, None);
}

#[test]
fn rsa_2048_pem_signature_is_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = rsa_files(dir.path());
    let id = SigningIdentity::load(Some(&cert), &key, None).expect("identity");
    let signed = sign_and_check(&seed_pdf(PdfStandard::None), &id);
    assert_pdfsig_valid(&signed, 1);
    let trusted = verify_pdf_with_roots(&signed, pki().ca_pem.as_bytes()).expect("verify with roots");
    assert_eq!(trusted.signatures[0].trusted, Some(true));
}

#[test]
fn encrypted_pkcs8_needs_the_right_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = rsa_files(dir.path());
    openssl(
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            "rsa.pem",
            "-out",
            "enc.pem",
            "-passout",
            "pass:mật-khẩu-đúng",
        ],
        dir.path(),
    );
    let enc = std::fs::read(dir.path().join("enc.pem")).expect("encrypted key");
    assert!(String::from_utf8_lossy(&enc).contains("ENCRYPTED PRIVATE KEY"));
    let chain = std::fs::read(&cert).expect("cert");
    let id = SigningIdentity::from_pem(&chain, &enc, Some("mật-khẩu-đúng".as_bytes())).expect("identity");
    sign_and_check(&seed_pdf(PdfStandard::None), &id);
    // The chain may also sit in the key file.
    let mut both = chain.clone();
    both.extend_from_slice(&enc);
    std::fs::write(dir.path().join("both.pem"), &both).expect("write");
    SigningIdentity::load(None, &dir.path().join("both.pem"), Some("mật-khẩu-đúng".as_bytes()))
        .expect("chain in key file");

    let wrong = SigningIdentity::from_pem(&chain, &enc, Some(b"wrong-secret")).expect_err("wrong password");
    assert!(matches!(wrong, Error::KeyPassword), "{wrong:?}");
    assert_eq!(wrong.to_string(), "the signing key's password is wrong");
    let none = SigningIdentity::from_pem(&chain, &enc, None).expect_err("no password");
    assert!(matches!(none, Error::KeyPassword), "{none:?}");
    drop(key);
}

#[test]
fn pkcs12_from_openssl_loads_with_the_right_password_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, _) = rsa_files(dir.path());
    std::fs::write(dir.path().join("ca.pem"), &pki().ca_pem).expect("ca");
    // OpenSSL 3's defaults: PBES2 with AES-256-CBC and PBKDF2, HMAC-SHA256 MAC.
    openssl(
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "rsa.pem",
            "-in",
            "cert.pem",
            "-certfile",
            "ca.pem",
            "-passout",
            "pass:p12-secret",
            "-out",
            "office.p12",
        ],
        dir.path(),
    );
    let p12 = std::fs::read(dir.path().join("office.p12")).expect("p12");
    let id = SigningIdentity::from_pkcs12(&p12, b"p12-secret").expect("identity");
    let signed = sign_and_check(&seed_pdf(PdfStandard::None), &id);
    assert_pdfsig_valid(&signed, 1);
    assert_eq!(
        verify_pdf_with_roots(&signed, pki().ca_pem.as_bytes()).expect("verify").signatures[0].trusted,
        Some(true),
        "the p12's chain is carried in the signature"
    );
    let by_path = SigningIdentity::load(None, &dir.path().join("office.p12"), Some(b"p12-secret")).expect("load p12");
    assert_eq!(by_path.certificate_sha256(), id.certificate_sha256());
    // A DER file is PKCS#12 whatever its name.
    std::fs::copy(dir.path().join("office.p12"), dir.path().join("office.key")).expect("copy");
    SigningIdentity::load(None, &dir.path().join("office.key"), Some(b"p12-secret")).expect("load der key file");

    let wrong = SigningIdentity::from_pkcs12(&p12, b"not-the-secret").expect_err("wrong password");
    assert!(matches!(wrong, Error::KeyPassword), "{wrong:?}");
    let wrong = SigningIdentity::load(None, &dir.path().join("office.p12"), None).expect_err("no password");
    assert!(matches!(wrong, Error::KeyPassword), "{wrong:?}");
}

#[test]
fn secrets_never_show() {
    let (chain, key) = ecdsa_pem();
    let id = SigningIdentity::from_pem(chain.as_bytes(), key.as_bytes(), None).expect("identity");
    let debug = format!("{id:?}");
    assert!(debug.contains("Văn phòng UBND"), "{debug}");
    assert!(!debug.contains("PRIVATE") && debug.len() < 400, "{debug}");
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!debug.contains(&body[..20]));
    // A damaged key's error names no bytes of it.
    let damaged = key.replace(&body[10..20], "AAAAAAAAAA");
    let err = SigningIdentity::from_pem(chain.as_bytes(), damaged.as_bytes(), Some(b"hunter2")).expect_err("damaged");
    let msg = format!("{err} {err:?}");
    assert!(!msg.contains("hunter2") && !msg.contains(&body[20..40]), "{msg}");
}

#[test]
fn key_and_certificate_must_match() {
    let (chain, _) = ecdsa_pem();
    let (_, other_key) = ecdsa_pem();
    let err = SigningIdentity::from_pem(chain.as_bytes(), other_key.as_bytes(), None).expect_err("mismatch");
    assert!(matches!(err, Error::KeyMismatch), "{err:?}");
    assert_eq!(err.to_string(), "the signing key does not match the certificate");
    // Ed25519 is not a key this crate signs with.
    let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("ed25519");
    let cert = pki().issue(&ed, -1, 10);
    let err = SigningIdentity::from_pem(cert.as_bytes(), ed.serialize_pem().as_bytes(), None).expect_err("ed25519");
    assert!(matches!(err, Error::UnsupportedKey(_)), "{err:?}");
    let err = SigningIdentity::from_pem(b"", b"nothing here", None).expect_err("empty");
    assert!(matches!(err, Error::Key(_)), "{err:?}");
}

#[test]
fn expired_and_future_certificates_are_refused_before_signing() {
    let key = KeyPair::generate().expect("key");
    let expired = pki().issue(&key, -400, -35);
    let id = SigningIdentity::from_pem(expired.as_bytes(), key.serialize_pem().as_bytes(), None).expect("identity");
    match id.check_usable_at(now()) {
        Err(Error::CertificateExpired { not_after }) => assert_eq!(not_after, id.not_after()),
        other => panic!("expected CertificateExpired, got {other:?}"),
    }
    let future = pki().issue(&key, 5, 50);
    let id = SigningIdentity::from_pem(future.as_bytes(), key.serialize_pem().as_bytes(), None).expect("identity");
    assert!(matches!(id.check_usable_at(now()), Err(Error::CertificateNotYetValid { .. })));
    assert!(id.not_before() > now());
}

#[test]
fn demo_identity_signs() {
    let id = demo_identity(OFFICE).expect("demo");
    // RFC 4514 escapes the comma in the common name.
    assert_eq!(
        id.subject(),
        format!(
            "CN={OFFICE} (chứng thư số thử nghiệm — Coopbrief demo certificate\\, not for real use),O=Coopbrief demo"
        )
    );
    id.check_usable_at(now()).expect("usable now");
    assert!(id.not_after() > now() + jiff::SignedDuration::from_hours(24 * 360));
    let signed = sign_and_check(&seed_pdf(PdfStandard::None), &id);
    assert_pdfsig_valid(&signed, 1);
}

#[test]
fn a_changed_byte_is_detected() {
    let id = demo_identity(OFFICE).expect("demo");
    let original = seed_pdf(PdfStandard::None);
    let signed = sign_and_check(&original, &id);
    // A byte of the original content (inside the first signed range).
    let mut tampered = signed.clone();
    let at = original.len() / 2;
    tampered[at] ^= 0x01;
    let v = verify_pdf(&tampered).expect("verify");
    let s = &v.signatures[0];
    assert!(!s.valid && s.modified_after_signing, "{s:?}");
    assert_eq!(s.problem.as_deref(), Some("the document was modified after signing"));
    assert!(!v.is_valid());
    let out = pdfsig(&tampered);
    assert!(!out.contains("Signature is Valid"), "pdfsig said:\n{out}");

    // A byte of the signature itself.
    let contents = signed.windows(11).rposition(|w| w == b"/Contents <").expect("contents") + 11;
    let mut bad_sig = signed.clone();
    bad_sig[contents + 300] = if bad_sig[contents + 300] == b'A' { b'B' } else { b'A' };
    let s = &verify_pdf(&bad_sig).expect("verify").signatures[0];
    assert!(!s.valid, "{s:?}");
    assert!(s.problem.is_some());
}

#[test]
fn appended_bytes_are_not_covered() {
    let id = demo_identity(OFFICE).expect("demo");
    let mut signed = sign_and_check(&seed_pdf(PdfStandard::None), &id);
    signed.extend_from_slice(b"\n% appended after signing\n");
    let v = verify_pdf(&signed).expect("verify");
    let s = &v.signatures[0];
    assert!(s.valid, "the signed bytes themselves are intact");
    assert!(!s.covers_whole_document && s.modified_after_signing, "{s:?}");
    assert!(!v.is_valid());
    assert!(s.problem.as_deref().is_some_and(|p| p.contains("changed after signing")), "{s:?}");
}

#[test]
fn pdf_a2b_stays_pdf_a_and_the_widget_is_printable_and_tagged() {
    let id = demo_identity(OFFICE).expect("demo");
    let original = seed_pdf(PdfStandard::A2b);
    let signed = sign_and_check(&original, &id);
    assert_pdfsig_valid(&signed, 1);
    let increment = String::from_utf8_lossy(&signed[original.len()..]).into_owned();
    assert!(increment.contains("/F 132"), "{increment}");
    assert!(increment.contains("/Rect [0 0 0 0]"));
    assert!(increment.contains("/FT /Sig"));
    assert!(increment.contains("/SigFlags 3"));
    // The increment has no metadata: XMP (and so the PDF/A claim) and /Info are the original's.
    assert!(catalog_keeps_metadata(&increment), "{increment}");
    assert!(!increment.contains("/Type /Metadata"));
    assert!(String::from_utf8_lossy(&signed).contains("pdfaid:part>2<"));
    // Tagged (typst tags every PDF): a /Form element with an object reference to the widget.
    assert!(increment.contains("/S /Form"), "{increment}");
    assert!(increment.contains("/Type /OBJR"));
    assert!(increment.contains("/StructParent "));
    assert!(increment.contains("/Tabs /S"));
    assert!(increment.contains("/TU "));
    // pdfinfo still reads the structure tree.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("a.pdf"), &signed).expect("write");
    let out = Command::new("pdfinfo").arg("-struct").arg(dir.path().join("a.pdf")).output().expect("pdfinfo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Form"), "pdfinfo -struct:\n{text}");
}

/// The catalog rewritten in the increment still names the original metadata stream.
fn catalog_keeps_metadata(increment: &str) -> bool {
    increment.lines().filter(|l| l.contains("/Type /Catalog")).all(|l| l.contains("/Metadata "))
}

#[test]
fn a_second_signature_keeps_the_first_valid() {
    let first_id = demo_identity("Sở Kế hoạch và Đầu tư").expect("demo");
    let second_id = demo_identity(OFFICE).expect("demo");
    let once = sign_and_check(&seed_pdf(PdfStandard::A2b), &first_id);
    let twice = sign_pdf(&once, &second_id, &options()).expect("second signature");
    assert!(twice.starts_with(&once));
    let v = verify_pdf(&twice).expect("verify");
    assert_eq!(v.signatures.len(), 2, "{v:?}");
    assert!(v.signatures.iter().all(|s| s.valid && !s.modified_after_signing), "{v:?}");
    assert!(!v.signatures[0].covers_whole_document && v.signatures[1].covers_whole_document);
    assert_eq!(v.signatures[0].field_name, "Signature1");
    assert_eq!(v.signatures[1].field_name, "Signature2");
    assert_eq!(v.signatures[0].certificate_sha256, first_id.certificate_sha256());
    assert!(v.is_valid());
    let out = pdfsig(&twice);
    assert_eq!(out.matches("Signature is Valid.").count(), 2, "pdfsig said:\n{out}");
    // The first signature tagged its widget; the second leaves the structure tree alone, so that strict validators
    // see only signing changes after the first signature.
    assert!(String::from_utf8_lossy(&once).contains("/S /Form"));
    assert!(!String::from_utf8_lossy(&twice[once.len()..]).contains("/S /Form"));
}

/// Appends an incremental update that rewrites the /Info dictionary with other keywords.
fn forge_info(pdf: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(pdf).into_owned();
    let trailer = &text[text.rfind("trailer").expect("trailer")..];
    let field = |key: &str| -> String {
        let at = trailer.find(key).expect(key) + key.len();
        trailer[at..].split(['/', '>']).next().expect("value").trim().to_string()
    };
    let (size, root, info) = (field("/Size"), field("/Root"), field("/Info"));
    let info_num = info.split_whitespace().next().expect("info number").to_string();
    let prev =
        text.rsplit("startxref").next().and_then(|t| t.split_whitespace().next()).expect("startxref").to_string();
    let mut out = pdf.to_vec();
    let at = out.len();
    out.extend_from_slice(
        format!("{info_num} 0 obj\n<</Title (forged)/Keywords (so=99/BC-UBND)>>\nendobj\n").as_bytes(),
    );
    let xref = out.len();
    out.extend_from_slice(
        format!(
            "xref\n{info_num} 1\n{at:010} 00000 n\r\ntrailer\n<</Size {size}/Root {root}/Info {info}/Prev {prev}>>\nstartxref\n{xref}\n%%EOF\n"
        )
        .as_bytes(),
    );
    out
}

#[test]
fn changed_metadata_between_signatures_is_a_modification() {
    let id = demo_identity(OFFICE).expect("demo");
    let once = sign_pdf(&seed_pdf(PdfStandard::None), &id, &options()).expect("sign");
    let forged = forge_info(&once);
    assert_eq!(document_info(&forged).expect("info").keywords.as_deref(), Some("so=99/BC-UBND"));
    // Even with a valid signature on top, the first one reports the change.
    let twice = sign_pdf(&forged, &demo_identity("Someone else").expect("demo"), &options()).expect("sign");
    let v = verify_pdf(&twice).expect("verify");
    assert!(v.signatures[0].valid && v.signatures[0].modified_after_signing, "{v:?}");
    assert!(v.signatures[1].valid && v.signatures[1].covers_whole_document);
    assert!(!v.is_valid());
    assert_eq!(
        v.signatures[0].problem.as_deref(),
        Some("the document was changed after signing, not only by later signatures")
    );
}

#[test]
fn an_unsigned_pdf_has_no_signatures() {
    let v = verify_pdf(&seed_pdf(PdfStandard::None)).expect("verify");
    assert!(v.signatures.is_empty());
    assert!(!v.is_valid());
}

#[test]
fn document_info_reads_the_title() {
    let info = document_info(&seed_pdf(PdfStandard::None)).expect("info");
    let title = info.title.expect("title");
    assert!(title.starts_with("Kết quả thực hiện Chương trình hợp tác"), "{title}");
    // And the same from the signed file.
    let signed =
        sign_pdf(&seed_pdf(PdfStandard::None), &demo_identity(OFFICE).expect("demo"), &options()).expect("sign");
    assert_eq!(document_info(&signed).expect("info").title, Some(title));
}

/// A minimal PDF whose cross-reference is a (not compressed) cross-reference stream.
fn xref_stream_pdf() -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\x80\x80\x80\x80\n".to_vec();
    let mut offsets = Vec::new();
    let objects = [
        "<</Type/Catalog/Pages 2 0 R>>",
        "<</Type/Pages/Kids[3 0 R]/Count 1>>",
        "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R>>",
        "<</Length 0>>\nstream\n\nendstream",
        "<</Title(xref stream test)/Keywords<FEFF00731ED10020003D00200031>>>",
    ];
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref_at = out.len();
    let mut rows = vec![0u8, 0, 0, 0, 0, 0xff, 0xff];
    for off in offsets.iter().copied().chain([xref_at]) {
        rows.push(1);
        rows.extend_from_slice(&u32::try_from(off).expect("offset").to_be_bytes());
        rows.extend_from_slice(&[0, 0]);
    }
    out.extend_from_slice(
        format!("6 0 obj\n<</Type/XRef/Size 7/W[1 4 2]/Root 1 0 R/Info 5 0 R/Length {}>>\nstream\n", rows.len())
            .as_bytes(),
    );
    out.extend_from_slice(&rows);
    out.extend_from_slice(format!("\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes());
    out
}

#[test]
fn a_cross_reference_stream_file_gets_a_cross_reference_stream_increment() {
    let pdf = xref_stream_pdf();
    let id = demo_identity(OFFICE).expect("demo");
    let signed = sign_and_check(&pdf, &id);
    let increment = String::from_utf8_lossy(&signed[pdf.len()..]).into_owned();
    assert!(increment.contains("/Type /XRef") && !increment.contains("\ntrailer"), "{increment}");
    assert!(increment.contains("/Prev "), "{increment}");
    assert_pdfsig_valid(&signed, 1);
    // document_info decodes UTF-16BE keywords.
    assert_eq!(document_info(&signed).expect("info").keywords.as_deref(), Some("số = 1"));
    // And signing again goes on with streams.
    let twice = sign_pdf(&signed, &id, &options()).expect("sign twice");
    assert!(verify_pdf(&twice).expect("verify").is_valid());
}

#[test]
fn hostile_input_gives_errors_not_panics() {
    let id = demo_identity(OFFICE).expect("demo");
    let original = seed_pdf(PdfStandard::None);
    let signed = sign_pdf(&original, &id, &options()).expect("sign");
    // Truncations of the signed file at many places.
    for cut in
        (0..signed.len()).step_by(signed.len() / 97).chain([signed.len() - 1, signed.len() - 7, original.len() + 10])
    {
        let part = &signed[..cut];
        let _ = verify_pdf(part).map(|v| assert!(!v.is_valid()));
        let _ = sign_pdf(part, &id, &options());
        let _ = document_info(part);
    }
    // Garbage.
    for garbage in [&b""[..], b"%PDF-", b"%PDF-1.7\nstartxref\n99999999999999999999\n%%EOF", b"\x00\xff\x00 garbage"] {
        assert!(verify_pdf(garbage).is_err());
        assert!(sign_pdf(garbage, &id, &options()).is_err());
    }
    let deep = [b"%PDF-1.7\n1 0 obj\n".to_vec(), vec![b'['; 100_000], b"\nendobj\nxref\n0 2\n0000000000 65535 f\r\n0000000009 00000 n\r\ntrailer\n<</Size 2/Root 1 0 R>>\nstartxref\n100017\n%%EOF".to_vec()].concat();
    assert!(verify_pdf(&deep).is_err());
    // Byte range numbers far outside the file (same width, so the file layout is kept).
    let text = signed.clone();
    let at = text.windows(11).rposition(|w| w == b"/ByteRange ").expect("byte range") + 11;
    let end = at + text[at..].windows(9).position(|w| w == b"/Contents").expect("contents");
    for forged in ["[0 9999999999 1 1]", "[0 1 9999999999 9999999999]", "[5 10 2 1]", "[0 -1 2 3]"] {
        let mut bad = signed.clone();
        let padded = format!("{forged:<width$}", width = end - at);
        bad[at..end].copy_from_slice(padded.as_bytes());
        let v = verify_pdf(&bad).expect("still a readable pdf");
        assert!(!v.signatures[0].valid && !v.is_valid(), "{forged}: {v:?}");
        assert!(v.signatures[0].problem.is_some());
    }
    // Random byte flips in the increment never panic.
    let mut state = 0x2545_f491_u32;
    for _ in 0..300 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let mut bad = signed.clone();
        // Half in the increment, half in the original's cross-reference table and trailer.
        let i = if state.is_multiple_of(2) {
            original.len() + (state as usize) % (signed.len() - original.len())
        } else {
            original.len() - 1 - (state as usize) % 10_000
        };
        bad[i] = (state >> 8) as u8;
        let _ = verify_pdf(&bad);
        let _ = sign_pdf(&bad, &id, &options());
    }
}

/// A time-stamp authority on the loopback interface, answering `requests` requests with `openssl ts -reply` and a
/// certificate from the test CA (critical extended key usage timeStamping, as RFC 3161 wants).
fn local_tsa(requests: usize) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("temp dir");
    let key = KeyPair::generate().expect("tsa key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "VN");
    dn.push(DnType::CommonName, "Coopbrief test TSA");
    params.distinguished_name = dn;
    params.not_before = offset(-1);
    params.not_after = offset(30);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // extKeyUsage, critical: SEQUENCE { id-kp-timeStamping }.
    let mut eku = rcgen::CustomExtension::from_oid_content(
        &[2, 5, 29, 37],
        vec![0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08],
    );
    eku.set_criticality(true);
    params.custom_extensions = vec![eku];
    let cert = params.signed_by(&key, &pki().issuer).expect("tsa cert");
    std::fs::write(dir.path().join("tsa.pem"), cert.pem()).expect("write");
    std::fs::write(dir.path().join("tsakey.pem"), key.serialize_pem()).expect("write");
    std::fs::write(dir.path().join("ca.pem"), &pki().ca_pem).expect("write");
    std::fs::write(dir.path().join("serial"), "01\n").expect("write");
    std::fs::write(
        dir.path().join("ts.cnf"),
        "[ tsa ]\ndefault_tsa = tsa1\n[ tsa1 ]\nserial = ./serial\nsigner_cert = ./tsa.pem\ncerts = ./ca.pem\n\
         signer_key = ./tsakey.pem\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\n\
         accuracy = secs:1\ness_cert_id_alg = sha256\n",
    )
    .expect("write");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}/tsa", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        for _ in 0..requests {
            let Ok((mut conn, _)) = listener.accept() else { return };
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            let body = loop {
                let n = conn.read(&mut buf).expect("read");
                raw.extend_from_slice(&buf[..n]);
                if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .expect("content-length");
                    if raw.len() >= at + 4 + len {
                        break raw[at + 4..at + 4 + len].to_vec();
                    }
                }
                assert!(n > 0, "the client closed early");
            };
            std::fs::write(dir.path().join("q.tsq"), body).expect("write query");
            openssl(&["ts", "-reply", "-config", "ts.cnf", "-queryfile", "q.tsq", "-out", "r.tsr"], dir.path());
            let reply = std::fs::read(dir.path().join("r.tsr")).expect("reply");
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                reply.len()
            );
            conn.write_all(head.as_bytes()).expect("write");
            conn.write_all(&reply).expect("write");
        }
    });
    (url, handle)
}

#[test]
fn a_tsa_url_makes_a_b_t_signature() {
    let (url, tsa) = local_tsa(1);
    let (chain, key) = ecdsa_pem();
    let id = SigningIdentity::from_pem(chain.as_bytes(), key.as_bytes(), None).expect("identity");
    let opts = SignOptions { tsa_url: Some(url), ..options() };
    let before = now();
    let signed = sign_pdf(&seed_pdf(PdfStandard::A2b), &id, &opts).expect("sign with a time-stamp");
    tsa.join().expect("tsa thread");
    let v = verify_pdf(&signed).expect("verify");
    let s = &v.signatures[0];
    assert!(v.is_valid() && s.problem.is_none(), "{s:?}");
    let t = s.timestamp.expect("a time-stamp");
    assert!(t >= before - jiff::SignedDuration::from_secs(2) && t <= now() + jiff::SignedDuration::from_secs(2), "{t}");
    assert_pdfsig_valid(&signed, 1);
    let out = pyhanko(&signed);
    assert!(out.contains("The signature is judged VALID."), "pyhanko said:\n{out}");
    assert!(out.contains("The timestamp token is cryptographically sound."), "pyhanko said:\n{out}");

    // No authority listening: a clear error, no signature.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!("http://{}/tsa", dead.local_addr().expect("addr"));
    drop(dead);
    let err = sign_pdf(&seed_pdf(PdfStandard::None), &id, &SignOptions { tsa_url: Some(dead_url), ..options() })
        .expect_err("no tsa");
    assert!(matches!(err, Error::Timestamp(_)), "{err:?}");
    let err = sign_pdf(
        &seed_pdf(PdfStandard::None),
        &id,
        &SignOptions { tsa_url: Some("https://tsa.invalid/".into()), ..options() },
    )
    .expect_err("https");
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
}

/// Runs pyHanko's validator with the test CA as the only trust anchor; fails, naming it, when it is not installed.
fn pyhanko(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("signed.pdf"), pdf).expect("write pdf");
    std::fs::write(dir.path().join("ca.pem"), &pki().ca_pem).expect("write ca");
    let out = Command::new("pyhanko")
        .args([
            "sign",
            "validate",
            "--pretty-print",
            "--no-strict-syntax",
            "--trust-replace",
            "--trust",
            "ca.pem",
            "signed.pdf",
        ])
        .current_dir(dir.path())
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("pyhanko is required: pip install pyhanko pyhanko-cli pyhanko-certvalidator")
        }
        Err(e) => panic!("pyhanko failed to start: {e}"),
    };
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn pyhanko_judges_the_signatures_valid_and_trusted() {
    let (chain, key) = ecdsa_pem();
    let id = SigningIdentity::from_pem(chain.as_bytes(), key.as_bytes(), None).expect("identity");
    let once = sign_pdf(&seed_pdf(PdfStandard::A2b), &id, &options()).expect("sign");
    let out = pyhanko(&once);
    assert!(out.contains("The signature is judged VALID."), "pyhanko said:\n{out}");
    assert!(out.contains("The signer's certificate is trusted."), "pyhanko said:\n{out}");
    assert!(out.contains("The signature covers the entire file."), "pyhanko said:\n{out}");
    // Two signatures: the increment of the second is only signing, so the first stays valid.
    let twice = sign_pdf(&once, &demo_identity(OFFICE).expect("demo"), &options()).expect("sign");
    let out = pyhanko(&twice);
    assert!(out.contains("All modifications relate to signing and form filling operations"), "pyhanko said:\n{out}");
    assert!(out.contains("The signature is judged VALID."), "pyhanko said:\n{out}");
    // A changed byte.
    let mut tampered = once.clone();
    tampered[once.len() / 3] ^= 0x20;
    let out = pyhanko(&tampered);
    assert!(!out.contains("judged VALID"), "pyhanko said:\n{out}");
}

/// Writes signed files and the test CA to `$COOPBRIEF_SIGN_DUMP` to try other verifiers by hand.
#[test]
#[ignore]
fn dump_for_external_verifiers() {
    let Some(dir) = std::env::var_os("COOPBRIEF_SIGN_DUMP") else { return };
    let dir = PathBuf::from(dir);
    let (chain, key) = ecdsa_pem();
    let id = SigningIdentity::from_pem(chain.as_bytes(), key.as_bytes(), None).expect("identity");
    std::fs::write(dir.join("ca.pem"), &pki().ca_pem).expect("write");
    let plain = sign_pdf(&seed_pdf(PdfStandard::None), &id, &options()).expect("sign");
    std::fs::write(dir.join("signed-plain.pdf"), &plain).expect("write");
    let a2b = sign_pdf(&seed_pdf(PdfStandard::A2b), &id, &options()).expect("sign");
    std::fs::write(dir.join("signed-a2b.pdf"), &a2b).expect("write");
    let rsa_dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = rsa_files(rsa_dir.path());
    let rsa = SigningIdentity::load(Some(&cert), &key, None).expect("rsa");
    let twice = sign_pdf(&a2b, &rsa, &options()).expect("sign");
    std::fs::write(dir.join("signed-twice.pdf"), &twice).expect("write");
    std::fs::write(dir.join("signed-xref-stream.pdf"), sign_pdf(&xref_stream_pdf(), &id, &options()).expect("sign"))
        .expect("write");
    let (url, tsa) = local_tsa(1);
    let bt =
        sign_pdf(&seed_pdf(PdfStandard::A2b), &id, &SignOptions { tsa_url: Some(url), ..options() }).expect("sign");
    tsa.join().expect("tsa");
    std::fs::write(dir.join("signed-b-t.pdf"), bt).expect("write");
}

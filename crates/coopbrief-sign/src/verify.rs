//! Offline verification of every signature field of a PDF: byte range, digest, CMS signature, signing certificate,
//! what changed after each signature; optionally whether the signer's chain reaches a given root. Also the
//! document information dictionary.

use std::collections::HashSet;
use std::ops::Range;

use der::Decode;
use ring::digest;
use x509_cert::Certificate;

use crate::asn1;
use crate::cms;
use crate::error::{Error, Result, pdf_err};
use crate::pdf::{Doc, Obj, decode_text, parse_pdf_date};

/// The most bytes of /Contents decoded as a signature.
const MAX_CONTENTS: usize = 1024 * 1024;
/// The most fields walked in an AcroForm.
const MAX_FIELDS: usize = 10_000;
/// The most signatures checked in one file (each may hash the whole file).
const MAX_SIGNATURES: usize = 64;

/// What verification found about one signature.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureReport {
    /// The field's full name (/T), e.g. `Signature1`.
    pub field_name: String,
    /// The signature's /SubFilter, e.g. `ETSI.CAdES.detached`.
    pub sub_filter: String,
    /// The signature is cryptographically valid over the bytes it covers, and names its certificate correctly.
    pub valid: bool,
    /// The signature covers the whole file but its own /Contents.
    pub covers_whole_document: bool,
    /// The signed bytes differ from what was signed, or bytes after the signed range are more than later signatures.
    pub modified_after_signing: bool,
    /// What is wrong, in words, if anything.
    pub problem: Option<String>,
    /// The signer's certificate subject (RFC 4514 style, UTF-8), empty when the certificate was not found.
    pub signer_subject: String,
    /// SHA-256 of the signer's certificate, lowercase hex.
    pub certificate_sha256: String,
    /// The certificate's serial number, lowercase hex.
    pub serial: String,
    /// Start of the certificate's validity.
    pub not_before: Option<jiff::Timestamp>,
    /// End of the certificate's validity.
    pub not_after: Option<jiff::Timestamp>,
    /// The signing time the signer claims (/M).
    pub signing_time: Option<jiff::Timestamp>,
    /// /Reason.
    pub reason: Option<String>,
    /// /Location.
    pub location: Option<String>,
    /// /Name.
    pub name: Option<String>,
    /// /ContactInfo.
    pub contact: Option<String>,
    /// The time of a valid RFC 3161 time-stamp token over the signature (PAdES B-T).
    pub timestamp: Option<jiff::Timestamp>,
    /// Whether the signer's chain reaches one of the given roots (None when no roots were given).
    pub trusted: Option<bool>,
    /// The /ByteRange as written.
    pub byte_range: Vec<u64>,
}

/// Every signature of a PDF, in the order they were made (by the end of their signed range).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verification {
    pub signatures: Vec<SignatureReport>,
}

impl Verification {
    /// Signed, every signature valid and unmodified, and the last one covering the whole document.
    pub fn is_valid(&self) -> bool {
        !self.signatures.is_empty()
            && self.signatures.iter().all(|s| s.valid && !s.modified_after_signing)
            && self.signatures.last().is_some_and(|s| s.covers_whole_document)
    }
}

/// Text of the document information dictionary (of the newest trailer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocInfo {
    pub title: Option<String>,
    pub keywords: Option<String>,
    pub subject: Option<String>,
}

/// Reads /Title, /Keywords and /Subject of the /Info dictionary of the newest trailer.
pub fn document_info(pdf: &[u8]) -> Result<DocInfo> {
    let doc = Doc::load(pdf)?;
    let Some(info) = doc.trailer.get("Info") else { return Ok(DocInfo::default()) };
    let info = match doc.resolve(info)? {
        Obj::Dict(d) => d,
        _ => return Ok(DocInfo::default()),
    };
    let text = |k: &str| match doc.resolve(info.get(k)?) {
        Ok(Obj::Str(s)) => Some(decode_text(&s)),
        _ => None,
    };
    Ok(DocInfo { title: text("Title"), keywords: text("Keywords"), subject: text("Subject") })
}

/// Verifies every signature offline; certificate trust is not judged (`trusted` is None).
pub fn verify_pdf(pdf: &[u8]) -> Result<Verification> {
    verify(pdf, None)
}

/// Like [`verify_pdf`], and also says whether each signer's chain (with the certificates the signature carries)
/// reaches one of the PEM certificates in `roots_pem`.
pub fn verify_pdf_with_roots(pdf: &[u8], roots_pem: &[u8]) -> Result<Verification> {
    let roots = Certificate::load_pem_chain(roots_pem)
        .map_err(|_| Error::Certificate("the root certificates cannot be read".into()))?;
    let roots: Vec<(Vec<u8>, Certificate)> =
        roots.into_iter().filter_map(|c| der::Encode::to_der(&c).ok().map(|d| (d, c))).collect();
    verify(pdf, Some(&roots))
}

/// One signature field's value found in the AcroForm.
struct Found {
    field_name: String,
    sig: (u32, u16),
}

fn collect_fields(
    doc: &Doc,
    field: &Obj,
    parent_name: &str,
    inherited_ft: Option<Vec<u8>>,
    depth: usize,
    seen: &mut HashSet<u32>,
    out: &mut Vec<Found>,
) -> Result<()> {
    if depth > 32 || seen.len() > MAX_FIELDS {
        return Ok(());
    }
    if let Obj::Ref(n, _) = field
        && !seen.insert(*n)
    {
        return Ok(());
    }
    let Ok(d) = doc.dict_of(field, "field") else { return Ok(()) };
    let name = match d.get("T") {
        Some(Obj::Str(t)) if parent_name.is_empty() => decode_text(t),
        Some(Obj::Str(t)) => format!("{parent_name}.{}", decode_text(t)),
        _ => parent_name.to_string(),
    };
    let ft = d.get("FT").and_then(Obj::as_name).map(<[u8]>::to_vec).or(inherited_ft);
    if ft.as_deref() == Some(b"Sig")
        && let Some(Obj::Ref(n, g)) = d.get("V")
    {
        out.push(Found { field_name: name.clone(), sig: (*n, *g) });
    }
    if let Some(kids) = d.get("Kids")
        && let Obj::Array(kids) = doc.resolve(kids)?
    {
        for kid in kids.iter().take(MAX_FIELDS) {
            collect_fields(doc, kid, &name, ft.clone(), depth + 1, seen, out)?;
        }
    }
    Ok(())
}

fn verify(pdf: &[u8], roots: Option<&[(Vec<u8>, Certificate)]>) -> Result<Verification> {
    let doc = Doc::load(pdf)?;
    let catalog = match doc.trailer.get("Root") {
        Some(r) => doc.dict_of(r, "catalog")?,
        None => return Err(pdf_err("the trailer has no /Root")),
    };
    let mut found = Vec::new();
    if let Some(form) = catalog.get("AcroForm") {
        let form = doc.dict_of(form, "acroform")?;
        if let Some(fields) = form.get("Fields")
            && let Obj::Array(fields) = doc.resolve(fields)?
        {
            let mut seen = HashSet::new();
            for f in fields.iter().take(MAX_FIELDS) {
                collect_fields(&doc, f, "", None, 0, &mut seen, &mut found)?;
            }
        }
    }
    if found.len() > MAX_SIGNATURES {
        return Err(pdf_err(format!("the file has more than {MAX_SIGNATURES} signature fields")));
    }
    let mut reports: Vec<(usize, SignatureReport)> = Vec::new();
    let mut seen_sigs = HashSet::new();
    for f in found {
        if !seen_sigs.insert(f.sig.0) {
            continue;
        }
        let (end, report) = check_signature(&doc, &f, roots);
        reports.push((end, report));
    }
    reports.sort_by_key(|(end, _)| *end);
    // What came after each signature: later signatures' increments only, or something else.
    let ends: Vec<(usize, bool)> = reports.iter().map(|(e, r)| (*e, r.valid)).collect();
    for (i, (end, report)) in reports.iter_mut().enumerate() {
        if report.modified_after_signing || *end >= pdf.len() || *end == 0 {
            continue;
        }
        let later_valid = ends[i + 1..].iter().any(|(e, v)| *e > *end && *v);
        if !later_valid {
            report.modified_after_signing = true;
            report.problem.get_or_insert_with(|| "the document was changed after signing (bytes were appended)".into());
        } else if let Err(what) = only_signature_updates(pdf, *end) {
            report.modified_after_signing = true;
            report.problem.get_or_insert(what);
        }
    }
    Ok(Verification { signatures: reports.into_iter().map(|(_, r)| r).collect() })
}

/// Checks that the revisions after `end` only add signatures: new objects, and existing dictionaries changed only
/// in the keys that adding a signature field touches (arrays only appended to).
fn only_signature_updates(pdf: &[u8], end: usize) -> std::result::Result<(), String> {
    const ALLOWED: &[&str] = &[
        "Annots",
        "AcroForm",
        "Fields",
        "SigFlags",
        "K",
        "ParentTree",
        "ParentTreeNextKey",
        "Nums",
        "Kids",
        "Limits",
        "Tabs",
        "DSS",
        "Perms",
        "Extensions",
    ];
    let changed = || "the document was changed after signing, not only by later signatures".to_string();
    let old = Doc::load(&pdf[..end]).map_err(|_| changed())?;
    let new = Doc::load(pdf).map_err(|_| changed())?;
    let mut nums = HashSet::new();
    for s in new.sections.iter().filter(|s| s.offset >= end) {
        nums.extend(s.objects.iter().copied());
    }
    for num in nums {
        let before = old.get(num).map_err(|_| changed())?;
        if before == Obj::Null {
            continue;
        }
        let after = new.get(num).map_err(|_| changed())?;
        let ok = match (&before, &after) {
            (Obj::Dict(a), Obj::Dict(b)) => {
                let keys: HashSet<&[u8]> = a.0.iter().chain(b.0.iter()).map(|(k, _)| k.as_slice()).collect();
                keys.into_iter().all(|k| {
                    let (x, y) = (a.get_bytes(k), b.get_bytes(k));
                    x == y || ALLOWED.iter().any(|al| al.as_bytes() == k) && appended_or_replaced(x, y)
                })
            }
            (Obj::Array(a), Obj::Array(b)) => b.starts_with(a),
            (Obj::Stream(a, ra), Obj::Stream(b, rb)) => a == b && pdf.get(ra.clone()) == pdf.get(rb.clone()),
            (a, b) => a == b,
        };
        if !ok {
            return Err(changed());
        }
    }
    Ok(())
}

/// An allowed key's value may only grow when it is an array.
fn appended_or_replaced(old: Option<&Obj>, new: Option<&Obj>) -> bool {
    match (old, new) {
        (Some(Obj::Array(a)), Some(Obj::Array(b))) => b.starts_with(a),
        _ => true,
    }
}

/// Checks one signature; returns the end of its signed range with the report.
fn check_signature(doc: &Doc, found: &Found, roots: Option<&[(Vec<u8>, Certificate)]>) -> (usize, SignatureReport) {
    let mut r = SignatureReport { field_name: found.field_name.clone(), ..SignatureReport::default() };
    let problem = |mut r: SignatureReport, msg: &str| {
        r.problem = Some(msg.to_string());
        (0, r)
    };
    let Some(off) = doc.offset_of(found.sig.0) else {
        return problem(r, "the signature dictionary is not stored directly in the file");
    };
    let mut spans: Vec<(Vec<u8>, Range<usize>)> = Vec::new();
    let sig = match doc.parse_indirect_at(off, Some(&mut spans)) {
        Ok((_, _, Obj::Dict(d))) => d,
        _ => return problem(r, "the signature dictionary cannot be read"),
    };
    let text = |k: &str| match sig.get(k) {
        Some(Obj::Str(s)) => Some(decode_text(s)),
        _ => None,
    };
    r.sub_filter = sig
        .get("SubFilter")
        .and_then(Obj::as_name)
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    r.reason = text("Reason");
    r.location = text("Location");
    r.name = text("Name");
    r.contact = text("ContactInfo");
    r.signing_time = text("M").and_then(|m| parse_pdf_date(&m));
    if !matches!(r.sub_filter.as_str(), "ETSI.CAdES.detached" | "adbe.pkcs7.detached") {
        return problem(r, "the signature's /SubFilter is not supported (only detached cms signatures are)");
    }
    let data = doc.data;
    let br: Option<Vec<u64>> = match sig.get("ByteRange") {
        Some(Obj::Array(a)) if a.len() == 4 => {
            a.iter().map(|o| o.as_int().and_then(|i| u64::try_from(i).ok())).collect()
        }
        _ => None,
    };
    let Some(br) = br else { return problem(r, "the signature's /ByteRange is missing or malformed") };
    r.byte_range = br.clone();
    let usize_of = |v: u64| usize::try_from(v).ok().filter(|v| *v <= data.len());
    let (Some(a), Some(b), Some(c), Some(d)) = (usize_of(br[0]), usize_of(br[1]), usize_of(br[2]), usize_of(br[3]))
    else {
        return problem(r, "the signature's /ByteRange points outside the file");
    };
    let (Some(first_end), Some(second_end)) = (a.checked_add(b), c.checked_add(d)) else {
        return problem(r, "the signature's /ByteRange points outside the file");
    };
    if a != 0 || first_end > c || second_end > data.len() {
        return problem(r, "the signature's /ByteRange points outside the file");
    }
    let contents_span = spans.iter().find(|(k, _)| k == b"Contents").map(|(_, s)| s.clone());
    let Some(Obj::Str(contents)) = sig.get("Contents") else { return problem(r, "the signature has no /Contents") };
    let Some(span) = contents_span else { return problem(r, "the signature has no /Contents") };
    // The gap must be exactly the /Contents hex string of this very dictionary.
    let gap_is_contents = span.start == first_end && span.end == c && data.get(first_end) == Some(&b'<');
    r.covers_whole_document = gap_is_contents && second_end == data.len();
    if contents.len() > MAX_CONTENTS {
        return problem(r, "the signature's /Contents is too large");
    }
    let Some(len) = cms::der_len(contents) else {
        return problem(r, "the signature's /Contents is not a cms structure");
    };
    let hash = |alg: &'static digest::Algorithm| {
        let mut ctx = digest::Context::new(alg);
        ctx.update(&data[a..first_end]);
        ctx.update(&data[c..second_end]);
        ctx.finish().as_ref().to_vec()
    };
    let checked = cms::check(&contents[..len], &hash);
    if let Some(cert_der) = &checked.signer_cert
        && let Ok(cert) = Certificate::from_der(cert_der)
    {
        let tbs = cert.tbs_certificate();
        r.signer_subject = asn1::name_text(tbs.subject());
        r.serial = hex::encode(tbs.serial_number().as_bytes());
        r.not_before = Some(asn1::timestamp(&tbs.validity().not_before));
        r.not_after = Some(asn1::timestamp(&tbs.validity().not_after));
        r.certificate_sha256 = hex::encode(digest::digest(&digest::SHA256, cert_der));
        if let Some(roots) = roots {
            r.trusted = Some(chain_reaches(cert_der, &cert, &checked.certs, roots));
        }
    }
    r.valid = checked.valid && gap_is_contents;
    r.modified_after_signing = checked.digest_mismatch;
    r.timestamp = checked.timestamp;
    r.problem = checked.problem;
    if checked.valid && !gap_is_contents {
        r.problem = Some("the signature's /ByteRange does not exclude exactly its /Contents".into());
    }
    (second_end, r)
}

/// Whether `cert` chains, through the certificates the signature carries, to one of `roots` (signatures checked).
fn chain_reaches(cert_der: &[u8], cert: &Certificate, carried: &[Vec<u8>], roots: &[(Vec<u8>, Certificate)]) -> bool {
    let mut current_der = cert_der.to_vec();
    let mut current = cert.clone();
    for _ in 0..10 {
        if roots.iter().any(|(d, _)| *d == current_der) {
            return true;
        }
        if roots.iter().any(|(_, root)| cms::issued_by(&current_der, &current, root)) {
            return true;
        }
        let next = carried.iter().filter(|d| **d != current_der).find_map(|d| {
            let c = Certificate::from_der(d).ok()?;
            cms::issued_by(&current_der, &current, &c).then(|| (d.clone(), c))
        });
        match next {
            Some((d, c)) => {
                current_der = d;
                current = c;
            }
            None => return false,
        }
    }
    false
}

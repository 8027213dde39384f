//! CMS SignedData for PAdES: building the detached CAdES signature (content-type, message-digest and
//! signing-certificate-v2 signed attributes, no signing-time) and checking one, time-stamp tokens included.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use ring::digest;
use ring::signature::{self, VerificationAlgorithm};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::asn1::{self, *};
use crate::error::{Error, Result};
use crate::identity::SigningIdentity;

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute> {
    let values = SetOfVec::try_from(vec![value]).map_err(|e| Error::Sign(format!("attribute: {e}")))?;
    Ok(Attribute { oid, values })
}

fn any_of<T: der::EncodeValue + der::Tagged>(v: &T, what: &str) -> Result<Any> {
    Any::encode_from(v).map_err(|e| Error::Sign(format!("cannot encode the {what}: {e}")))
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: ID_SHA256, parameters: None }
}

/// The signed attributes of a PAdES B-B signature over a document whose SHA-256 is `doc_digest`.
fn signed_attributes(id: &SigningIdentity, doc_digest: &[u8]) -> Result<SetOfVec<Attribute>> {
    let cert_der = id.certificate_der();
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(digest::digest(&digest::SHA256, cert_der).as_ref())
                .map_err(|e| Error::Sign(e.to_string()))?,
            issuer_serial: Some(IssuerSerial::of(&id.cert)),
        }],
    };
    let md = OctetString::new(doc_digest).map_err(|e| Error::Sign(e.to_string()))?;
    let attrs = vec![
        attribute(ID_CONTENT_TYPE, any_of(&ID_DATA, "content type")?)?,
        attribute(ID_MESSAGE_DIGEST, any_of(&md, "message digest")?)?,
        attribute(ID_SIGNING_CERTIFICATE_V2, any_of(&ess, "signing certificate")?)?,
    ];
    SetOfVec::try_from(attrs).map_err(|e| Error::Sign(format!("signed attributes: {e}")))
}

/// Builds the DER of a detached CMS SignedData (in its ContentInfo) for a document with SHA-256 `doc_digest`.
/// With `tsa`, a time-stamp token over the signature value is added as an unsigned attribute (PAdES B-T).
pub(crate) fn build(id: &SigningIdentity, doc_digest: &[u8], tsa: Option<&crate::tsa::Tsa>) -> Result<Vec<u8>> {
    let signed_attrs = signed_attributes(id, doc_digest)?;
    let to_sign = asn1::to_der(&signed_attrs, "signed attributes")?;
    let (sig, sig_alg) = id.sign(&to_sign)?;
    let parameters = if sig_alg == SHA256_WITH_RSA { Some(Any::null()) } else { None };
    let unsigned_attrs = match tsa {
        Some(tsa) => {
            let token = tsa.stamp(&sig)?;
            let token =
                Any::from_der(&token).map_err(|_| Error::Timestamp("the time-stamp token is not DER".into()))?;
            Some(
                SetOfVec::try_from(vec![attribute(ID_TIMESTAMP_TOKEN, token)?])
                    .map_err(|e| Error::Sign(format!("unsigned attributes: {e}")))?,
            )
        }
        None => None,
    };
    let tbs = id.cert.tbs_certificate();
    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: sha256_alg(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: AlgorithmIdentifierOwned { oid: sig_alg, parameters },
        signature: OctetString::new(sig).map_err(|e| Error::Sign(e.to_string()))?,
        unsigned_attrs,
    };
    let certs = id
        .chain
        .iter()
        .map(|c| Certificate::from_der(c).map(CertificateChoices::Certificate))
        .collect::<der::Result<Vec<_>>>()
        .map_err(|e| Error::Sign(format!("certificate chain: {e}")))?;
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256_alg()]).map_err(|e| Error::Sign(e.to_string()))?,
        encap_content_info: EncapsulatedContentInfo { econtent_type: ID_DATA, econtent: None },
        certificates: Some(CertificateSet::try_from(certs).map_err(|e| Error::Sign(e.to_string()))?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer]).map_err(|e| Error::Sign(e.to_string()))?,
    };
    let ci = ContentInfo { content_type: ID_SIGNED_DATA, content: any_of(&signed_data, "signed data")? };
    asn1::to_der(&ci, "signature")
}

/// What checking one CMS signature found.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    /// The signature over the signed attributes verifies with the signer's key, and the digests match.
    pub valid: bool,
    /// The message-digest attribute differs from the document's digest.
    pub digest_mismatch: bool,
    pub problem: Option<String>,
    /// The signer's certificate (DER), when found.
    pub signer_cert: Option<Vec<u8>>,
    /// Every certificate the signature carries (DER).
    pub certs: Vec<Vec<u8>>,
    /// The time of a valid time-stamp token over the signature.
    pub timestamp: Option<jiff::Timestamp>,
}

/// The length of the DER value at the start of `data` (the /Contents hex string is padded with zeros).
pub(crate) fn der_len(data: &[u8]) -> Option<usize> {
    asn1::tlv(data).map(|(_, _, total)| total)
}

fn digest_alg(oid: &ObjectIdentifier) -> Option<&'static digest::Algorithm> {
    match *oid {
        o if o == ID_SHA256 => Some(&digest::SHA256),
        o if o == ID_SHA384 => Some(&digest::SHA384),
        o if o == ID_SHA512 => Some(&digest::SHA512),
        o if o == ID_SHA1 => Some(&digest::SHA1_FOR_LEGACY_USE_ONLY),
        _ => None,
    }
}

/// The ring verification algorithm for a signature algorithm (and, for bare rsaEncryption, the digest) with a key.
pub(crate) fn verification_alg(
    sig_alg: &ObjectIdentifier,
    digest_oid: Option<&ObjectIdentifier>,
    cert: &Certificate,
) -> Option<(&'static dyn VerificationAlgorithm, Vec<u8>)> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    let key = spki.subject_public_key.raw_bytes().to_vec();
    let key_alg = spki.algorithm.oid;
    if key_alg == RSA_ENCRYPTION {
        let hash = match *sig_alg {
            o if o == SHA256_WITH_RSA => ID_SHA256,
            o if o == SHA384_WITH_RSA => ID_SHA384,
            o if o == SHA512_WITH_RSA => ID_SHA512,
            o if o == RSA_ENCRYPTION => *digest_oid?,
            _ => return None,
        };
        let alg: &'static dyn VerificationAlgorithm = match hash {
            h if h == ID_SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            h if h == ID_SHA384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            h if h == ID_SHA512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            _ => return None,
        };
        return Some((alg, key));
    }
    if key_alg == EC_PUBLIC_KEY {
        let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok())?;
        let alg: &'static dyn VerificationAlgorithm = match (curve, *sig_alg) {
            (c, s) if c == SECP256R1 && s == ECDSA_WITH_SHA256 => &signature::ECDSA_P256_SHA256_ASN1,
            (c, s) if c == SECP256R1 && s == ECDSA_WITH_SHA384 => &signature::ECDSA_P256_SHA384_ASN1,
            (c, s) if c == SECP384R1 && s == ECDSA_WITH_SHA256 => &signature::ECDSA_P384_SHA256_ASN1,
            (c, s) if c == SECP384R1 && s == ECDSA_WITH_SHA384 => &signature::ECDSA_P384_SHA384_ASN1,
            _ => return None,
        };
        return Some((alg, key));
    }
    None
}

fn find_signer(sd: &SignedData, sid: &SignerIdentifier) -> Option<Certificate> {
    let certs = sd.certificates.as_ref()?;
    certs.0.iter().find_map(|c| {
        let CertificateChoices::Certificate(cert) = c else { return None };
        let tbs = cert.tbs_certificate();
        let hit = match sid {
            SignerIdentifier::IssuerAndSerialNumber(isn) => {
                tbs.issuer() == &isn.issuer && tbs.serial_number() == &isn.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => {
                matches!(tbs.get_extension::<SubjectKeyIdentifier>(), Ok(Some((_, k))) if &k == ski)
            }
        };
        hit.then(|| cert.clone())
    })
}

fn attr_value<'a>(attrs: &'a SetOfVec<Attribute>, oid: &ObjectIdentifier) -> Option<&'a Any> {
    attrs.iter().find(|a| a.oid == *oid).and_then(|a| a.values.iter().next())
}

/// Checks a CMS SignedData over detached content; `content_digest` hashes the content with a given algorithm.
pub(crate) fn check(der: &[u8], content_digest: &dyn Fn(&'static digest::Algorithm) -> Vec<u8>) -> Checked {
    let mut out = Checked::default();
    let fail = |mut out: Checked, msg: &str| {
        out.problem = Some(msg.to_string());
        out
    };
    let Some(ci) = asn1::from_der::<ContentInfo>(der) else {
        return fail(out, "the signature is not a readable cms structure");
    };
    if ci.content_type != ID_SIGNED_DATA {
        return fail(out, "the signature is not cms signed data");
    }
    let Ok(sd) = ci.content.decode_as::<SignedData>() else { return fail(out, "the cms signed data cannot be read") };
    if let Some(certs) = &sd.certificates {
        for c in certs.0.iter() {
            if let CertificateChoices::Certificate(cert) = c
                && let Ok(d) = cert.to_der()
            {
                out.certs.push(d);
            }
        }
    }
    let Some(si) = sd.signer_infos.0.iter().next() else { return fail(out, "the signature has no signer") };
    let Some(cert) = find_signer(&sd, &si.sid) else {
        return fail(out, "the signer's certificate is not in the signature");
    };
    let cert_der = cert.to_der().unwrap_or_default();
    out.signer_cert = Some(cert_der.clone());
    let Some(dalg) = digest_alg(&si.digest_alg.oid) else {
        return fail(out, "the signature's digest algorithm is not supported");
    };
    let doc_digest = content_digest(dalg);
    let Some(attrs) = &si.signed_attrs else {
        return fail(out, "the signature has no signed attributes (not a pades signature)");
    };
    match attr_value(attrs, &ID_CONTENT_TYPE).and_then(|v| v.decode_as::<ObjectIdentifier>().ok()) {
        Some(ct) if ct == ID_DATA || ct == ID_TST_INFO => {}
        _ => return fail(out, "the signature's content-type attribute is missing or wrong"),
    }
    let Some(md) = attr_value(attrs, &ID_MESSAGE_DIGEST).and_then(|v| v.decode_as::<OctetString>().ok()) else {
        return fail(out, "the signature has no message-digest attribute");
    };
    let Ok(signed_der) = attrs.to_der() else { return fail(out, "the signed attributes cannot be encoded") };
    let Some((alg, key)) = verification_alg(&si.signature_algorithm.oid, Some(&si.digest_alg.oid), &cert) else {
        return fail(out, "the signature algorithm is not supported");
    };
    if signature::UnparsedPublicKey::new(alg, &key).verify(&signed_der, si.signature.as_bytes()).is_err() {
        return fail(out, "the signature does not match the certificate");
    }
    // The signed attributes are authentic; now they must describe this content and this certificate.
    if md.as_bytes() != doc_digest.as_slice() {
        out.digest_mismatch = true;
        return fail(out, "the document was modified after signing");
    }
    if let Some(v) = attr_value(attrs, &ID_SIGNING_CERTIFICATE_V2) {
        let Ok(ess) = v.decode_as::<SigningCertificateV2>() else {
            return fail(out, "the signing-certificate-v2 attribute cannot be read");
        };
        let Some(first) = ess.certs.first() else { return fail(out, "the signing-certificate-v2 attribute is empty") };
        let halg = first.hash_algorithm.as_ref().map_or(ID_SHA256, |a| a.oid);
        let Some(h) = digest_alg(&halg) else { return fail(out, "the signing-certificate-v2 hash is not supported") };
        if digest::digest(h, &cert_der).as_ref() != first.cert_hash.as_bytes() {
            return fail(out, "the signing-certificate-v2 attribute names another certificate");
        }
    } else if let Some(v) = attr_value(attrs, &ID_SIGNING_CERTIFICATE) {
        let Ok(ess) = v.decode_as::<SigningCertificateV1>() else {
            return fail(out, "the signing-certificate attribute cannot be read");
        };
        let matches = ess.certs.first().is_some_and(|c| {
            digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der).as_ref() == c.cert_hash.as_bytes()
        });
        if !matches {
            return fail(out, "the signing-certificate attribute names another certificate");
        }
    }
    out.valid = true;
    // A time-stamp token over the signature value (PAdES B-T).
    if let Some(token) = si.unsigned_attrs.as_ref().and_then(|u| attr_value(u, &ID_TIMESTAMP_TOKEN)) {
        match check_timestamp(token, si.signature.as_bytes()) {
            Ok(t) => out.timestamp = Some(t),
            Err(msg) => out.problem = Some(msg.to_string()),
        }
    }
    out
}

/// Checks an RFC 3161 time-stamp token over `signature` and returns its time.
fn check_timestamp(token: &Any, signature: &[u8]) -> Result<jiff::Timestamp, &'static str> {
    let der = token.to_der().map_err(|_| "the time-stamp token cannot be read")?;
    check_timestamp_der(&der, signature)
}

/// Checks a time-stamp token (DER ContentInfo) over `signature` and returns its time.
pub(crate) fn check_timestamp_der(der: &[u8], signature: &[u8]) -> Result<jiff::Timestamp, &'static str> {
    let bad = "the time-stamp token cannot be read";
    let ci = ContentInfo::from_der(der).map_err(|_| bad)?;
    let sd = ci.content.decode_as::<SignedData>().map_err(|_| bad)?;
    if sd.encap_content_info.econtent_type != ID_TST_INFO {
        return Err(bad);
    }
    let econtent = sd.encap_content_info.econtent.as_ref().ok_or(bad)?;
    let tst = econtent.decode_as::<OctetString>().map_err(|_| bad)?;
    let tst = tst.as_bytes().to_vec();
    let info = parse_tst_info(&tst).ok_or(bad)?;
    let h = digest_alg(&info.hash_alg).ok_or("the time-stamp token's hash is not supported")?;
    if digest::digest(h, signature).as_ref() != info.imprint.as_slice() {
        return Err("the time-stamp token is for another signature");
    }
    let checked = check(der, &|alg| digest::digest(alg, &tst).as_ref().to_vec());
    if !checked.valid {
        return Err("the time-stamp token's signature is not valid");
    }
    Ok(info.gen_time)
}

pub(crate) struct TstInfo {
    pub hash_alg: ObjectIdentifier,
    pub imprint: Vec<u8>,
    pub gen_time: jiff::Timestamp,
}

/// The fields of `TSTInfo` this crate uses: the message imprint and genTime.
pub(crate) fn parse_tst_info(der: &[u8]) -> Option<TstInfo> {
    let (tag, h, t) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let mut rest = &der[h..t];
    let mut next = || -> Option<(u8, &[u8], &[u8])> {
        let (tag, h, t) = tlv(rest)?;
        let whole = &rest[..t];
        let value = &rest[h..t];
        rest = &rest[t..];
        Some((tag, value, whole))
    };
    let _version = next()?;
    let _policy = next()?;
    let (tag, imprint, _) = next()?;
    if tag != 0x30 {
        return None;
    }
    let (atag, ah, at) = tlv(imprint)?;
    if atag != 0x30 {
        return None;
    }
    let alg = AlgorithmIdentifierOwned::from_der(&imprint[..at]).ok()?;
    let _ = ah;
    let (otag, oh, ot) = tlv(&imprint[at..])?;
    if otag != 0x04 {
        return None;
    }
    let hashed = imprint[at..][oh..ot].to_vec();
    let _serial = next()?;
    let (ttag, time, _) = next()?;
    if ttag != 0x18 {
        return None;
    }
    let s = std::str::from_utf8(time).ok()?;
    let digits: String = s.chars().take(14).collect();
    if digits.len() != 14 || !digits.chars().all(|c| c.is_ascii_digit()) || !s.ends_with('Z') {
        return None;
    }
    let dt = jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", &digits).ok()?;
    let gen_time = jiff::tz::Offset::UTC.to_timestamp(dt).ok()?;
    Some(TstInfo { hash_alg: alg.oid, imprint: hashed, gen_time })
}

/// Whether `child` is signed by `issuer`'s key (raw TBS bytes of `child_der` are checked).
pub(crate) fn issued_by(child_der: &[u8], child: &Certificate, issuer: &Certificate) -> bool {
    if child.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return false;
    }
    let Some(tbs) = tbs_bytes(child_der) else { return false };
    let Some((alg, key)) = verification_alg(&child.signature_algorithm().oid, None, issuer) else { return false };
    signature::UnparsedPublicKey::new(alg, &key).verify(tbs, child.signature().raw_bytes()).is_ok()
}

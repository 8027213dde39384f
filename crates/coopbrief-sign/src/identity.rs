//! The signing identity: a private key (RSA 2048–4096 or ECDSA P-256, held by ring) and its certificate chain,
//! loaded from PEM (plain or encrypted PKCS#8, PKCS#1, SEC1) or PKCS#12, or made on the spot for a demo.

use std::fmt;
use std::path::Path;

use der::Decode;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use x509_cert::Certificate;
use zeroize::Zeroizing;

use crate::asn1::{self, EC_PUBLIC_KEY, ED25519, RSA_ENCRYPTION, SECP256R1, SECP384R1};
use crate::error::{Error, Result};

pub(crate) enum Key {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

/// A private key with its certificate (and the chain above it). `Debug` shows only the certificate subject;
/// the key's bytes are never shown, logged or put into an error.
pub struct SigningIdentity {
    pub(crate) key: Key,
    /// DER of the signer's certificate first, then the rest of the chain.
    pub(crate) chain: Vec<Vec<u8>>,
    pub(crate) cert: Certificate,
    subject: String,
    sha256: String,
    not_before: jiff::Timestamp,
    not_after: jiff::Timestamp,
}

impl fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningIdentity").field("subject", &self.subject).finish_non_exhaustive()
    }
}

/// One block of a PEM file.
struct PemBlock {
    label: String,
    der: Zeroizing<Vec<u8>>,
}

/// Splits PEM text into its blocks; refuses the legacy OpenSSL encryption headers with a clear error.
fn pem_blocks(text: &[u8]) -> Result<Vec<PemBlock>> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = crate::pdf::find(rest, BEGIN) {
        let after = &rest[start..];
        let label_end =
            crate::pdf::find(&after[BEGIN.len()..], b"-----").ok_or_else(|| Error::Key("a pem block is cut".into()))?;
        let label = String::from_utf8_lossy(&after[BEGIN.len()..BEGIN.len() + label_end]).into_owned();
        let end_marker = format!("-----END {label}-----");
        let end = crate::pdf::find(after, end_marker.as_bytes())
            .ok_or_else(|| Error::Key(format!("the pem block {label} has no end line")))?;
        let block = &after[..end + end_marker.len()];
        if crate::pdf::find(block, b"Proc-Type:").is_some() {
            return Err(Error::UnsupportedKey(
                "legacy openssl-encrypted pem key; convert it with `openssl pkcs8 -topk8` to an encrypted pkcs#8 key"
                    .into(),
            ));
        }
        // Normalise line ends so the strict RFC 7468 decoder accepts CRLF files.
        let normalised: Zeroizing<Vec<u8>> = Zeroizing::new(block.iter().copied().filter(|b| *b != b'\r').collect());
        let (_, der) =
            der::pem::decode_vec(&normalised).map_err(|_| Error::Key(format!("the pem block {label} is damaged")))?;
        blocks.push(PemBlock { label, der: Zeroizing::new(der) });
        rest = &after[end + end_marker.len()..];
    }
    Ok(blocks)
}

/// The private key before it is matched with a certificate.
enum RawKey {
    Pkcs8(Zeroizing<Vec<u8>>),
    Pkcs1(Zeroizing<Vec<u8>>),
    Sec1(Zeroizing<Vec<u8>>),
}

impl SigningIdentity {
    /// Loads PEM: certificates (signer first or in any order) from `cert_chain_pem` and/or `key_pem`, and one private key
    /// (`PRIVATE KEY`, `ENCRYPTED PRIVATE KEY` with `password`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`) from `key_pem`.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8], password: Option<&[u8]>) -> Result<SigningIdentity> {
        let mut certs = Vec::new();
        let mut key = None;
        for (i, text) in [cert_chain_pem, key_pem].into_iter().enumerate() {
            for block in pem_blocks(text)? {
                match block.label.as_str() {
                    "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => certs.push(block.der.to_vec()),
                    _ if i == 0 => {}
                    "PRIVATE KEY" => key = Some(RawKey::Pkcs8(block.der)),
                    "RSA PRIVATE KEY" => key = Some(RawKey::Pkcs1(block.der)),
                    "EC PRIVATE KEY" => key = Some(RawKey::Sec1(block.der)),
                    "ENCRYPTED PRIVATE KEY" => {
                        let password = password.ok_or(Error::KeyPassword)?;
                        key = Some(RawKey::Pkcs8(decrypt_pkcs8(&block.der, password)?));
                    }
                    "EC PARAMETERS" => {}
                    other => return Err(Error::UnsupportedKey(format!("pem block {other}"))),
                }
            }
        }
        let key = key.ok_or_else(|| Error::Key("no private key found in the key pem".into()))?;
        build(key, certs)
    }

    /// Loads a password-protected PKCS#12 (`.p12`/`.pfx`) file: its private key and the certificates with it.
    pub fn from_pkcs12(der: &[u8], password: &[u8]) -> Result<SigningIdentity> {
        let password = std::str::from_utf8(password).map_err(|_| Error::KeyPassword)?;
        let archive = p12_keystore::Pkcs12Archive::from_pkcs12(der, password).map_err(|e| {
            use p12_keystore::error::Error as P;
            match e {
                P::MacError(_) | P::UnpadError | P::Pkcs5Error(_) => Error::KeyPassword,
                P::UnsupportedEncryptionScheme | P::UnsupportedMacAlgorithm => {
                    Error::UnsupportedKey("the pkcs#12 file's encryption scheme".into())
                }
                other => Error::Key(format!("the pkcs#12 file cannot be read ({other})")),
            }
        })?;
        let bag = archive.keys.first().ok_or_else(|| Error::Key("the pkcs#12 file holds no private key".into()))?;
        let pkcs8 = Zeroizing::new(bag.key.as_der().to_vec());
        let certs = archive.certs.iter().map(|c| c.cert.as_der().to_vec()).collect();
        build(RawKey::Pkcs8(pkcs8), certs)
    }

    /// Loads a key file, PKCS#12 when it is DER (or named `.p12`/`.pfx`) and PEM otherwise; `cert` names a PEM file of
    /// the certificate chain when the key file does not hold it.
    pub fn load(cert: Option<&Path>, key: &Path, password: Option<&[u8]>) -> Result<SigningIdentity> {
        let read = |p: &Path| std::fs::read(p).map_err(|source| Error::Io { path: p.to_path_buf(), source });
        let key_bytes = Zeroizing::new(read(key)?);
        let ext = key.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let is_p12 = matches!(ext.as_deref(), Some("p12" | "pfx"))
            || (key_bytes.first() == Some(&0x30) && crate::pdf::find(&key_bytes, b"-----BEGIN").is_none());
        if is_p12 {
            return SigningIdentity::from_pkcs12(&key_bytes, password.unwrap_or_default());
        }
        let cert_bytes = match cert {
            Some(c) => read(c)?,
            None => Vec::new(),
        };
        SigningIdentity::from_pem(&cert_bytes, &key_bytes, password)
    }

    /// The signer's certificate subject, RFC 4514 style (`CN=...,O=...`), UTF-8 kept.
    pub fn subject(&self) -> String {
        self.subject.clone()
    }

    /// The SHA-256 of the signer's certificate (DER), lowercase hex.
    pub fn certificate_sha256(&self) -> String {
        self.sha256.clone()
    }

    /// The signer's certificate in DER.
    pub fn certificate_der(&self) -> &[u8] {
        self.chain.first().map_or(&[][..], Vec::as_slice)
    }

    /// Start of the certificate's validity.
    pub fn not_before(&self) -> jiff::Timestamp {
        self.not_before
    }

    /// End of the certificate's validity.
    pub fn not_after(&self) -> jiff::Timestamp {
        self.not_after
    }

    /// Whether the certificate is valid at `now`; check this before consuming a document number.
    pub fn check_usable_at(&self, now: jiff::Timestamp) -> Result<()> {
        if now < self.not_before {
            return Err(Error::CertificateNotYetValid { not_before: self.not_before });
        }
        if now > self.not_after {
            return Err(Error::CertificateExpired { not_after: self.not_after });
        }
        Ok(())
    }

    /// Signs `message` (the DER of the signed attributes); returns the signature and its algorithm OID.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<(Vec<u8>, const_oid::ObjectIdentifier)> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| Error::Sign("the rsa signature failed".into()))?;
                Ok((sig, asn1::SHA256_WITH_RSA))
            }
            Key::Ecdsa(k) => {
                let sig = k.sign(&rng, message).map_err(|_| Error::Sign("the ecdsa signature failed".into()))?;
                Ok((sig.as_ref().to_vec(), asn1::ECDSA_WITH_SHA256))
            }
        }
    }

    /// Largest signature this key makes, in bytes.
    pub(crate) fn signature_len(&self) -> usize {
        match &self.key {
            Key::Rsa(k) => k.public().modulus_len(),
            Key::Ecdsa(_) => 72,
        }
    }
}

fn decrypt_pkcs8(der: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der)
        .map_err(|_| Error::Key("the encrypted private key is damaged".into()))?;
    match info.decrypt(password) {
        Ok(doc) => Ok(Zeroizing::new(doc.as_bytes().to_vec())),
        Err(pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::UnsupportedAlgorithm { .. }))
        | Err(pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::NoPbes1CryptSupport)) => {
            Err(Error::UnsupportedKey("the private key's encryption scheme (use pbes2 with aes)".into()))
        }
        Err(_) => Err(Error::KeyPassword),
    }
}

/// The parts of a certificate's SubjectPublicKeyInfo: algorithm, curve (for EC) and the key bits.
fn public_key_of(cert: &Certificate) -> (const_oid::ObjectIdentifier, Option<const_oid::ObjectIdentifier>, Vec<u8>) {
    let spki = cert.tbs_certificate().subject_public_key_info();
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
    (spki.algorithm.oid, curve, spki.subject_public_key.raw_bytes().to_vec())
}

/// Matches the key with one of the certificates, orders the chain from it, and builds the identity.
fn build(key: RawKey, certs: Vec<Vec<u8>>) -> Result<SigningIdentity> {
    if certs.is_empty() {
        return Err(Error::Certificate("no certificate was given with the key".into()));
    }
    let parsed: Vec<Certificate> = certs
        .iter()
        .map(|c| Certificate::from_der(c).map_err(|_| Error::Certificate("a certificate cannot be read".into())))
        .collect::<Result<_>>()?;
    let rng = SystemRandom::new();
    // The key algorithm and, for EC, the raw private scalar.
    let (key_alg, ec_scalar, pkcs8_or_pkcs1) = match &key {
        RawKey::Pkcs8(der) => {
            let info = pkcs8::PrivateKeyInfoRef::try_from(der.as_slice())
                .map_err(|_| Error::Key("the private key is not valid pkcs#8".into()))?;
            let alg = info.algorithm.oid;
            let scalar = if alg == EC_PUBLIC_KEY {
                let curve = info.algorithm.parameters.and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
                if curve != Some(SECP256R1) {
                    return Err(Error::UnsupportedKey(curve_name(curve)));
                }
                Some(sec1_scalar(info.private_key.as_bytes())?)
            } else {
                None
            };
            (alg, scalar, Some(der))
        }
        RawKey::Pkcs1(der) => (RSA_ENCRYPTION, None, Some(der)),
        RawKey::Sec1(der) => (EC_PUBLIC_KEY, Some(sec1_scalar(der)?), None),
    };
    let (signer_key, leaf) = if key_alg == RSA_ENCRYPTION {
        let der = pkcs8_or_pkcs1.ok_or_else(|| Error::Key("rsa key".into()))?;
        let pair = match &key {
            RawKey::Pkcs1(_) => RsaKeyPair::from_der(der),
            _ => RsaKeyPair::from_pkcs8(der),
        }
        .map_err(|e| {
            Error::UnsupportedKey(format!("rsa key rejected ({e}); rsa keys of 2048 to 4096 bits are supported"))
        })?;
        let public = pair.public_key().as_ref().to_vec();
        let leaf = parsed
            .iter()
            .position(|c| {
                let (alg, _, bits) = public_key_of(c);
                alg == RSA_ENCRYPTION && bits == public
            })
            .ok_or(Error::KeyMismatch)?;
        (Key::Rsa(pair), leaf)
    } else if key_alg == EC_PUBLIC_KEY {
        let scalar = ec_scalar.ok_or_else(|| Error::Key("ec key".into()))?;
        let mut found = None;
        for (i, c) in parsed.iter().enumerate() {
            let (alg, curve, bits) = public_key_of(c);
            if alg != EC_PUBLIC_KEY || curve != Some(SECP256R1) {
                continue;
            }
            if let Ok(pair) = EcdsaKeyPair::from_private_key_and_public_key(
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                &scalar,
                &bits,
                &rng,
            ) {
                found = Some((pair, i));
                break;
            }
        }
        let (pair, leaf) = found.ok_or(Error::KeyMismatch)?;
        (Key::Ecdsa(pair), leaf)
    } else if key_alg == ED25519 {
        return Err(Error::UnsupportedKey("ed25519 keys; use rsa 2048–4096 or ecdsa p-256".into()));
    } else {
        return Err(Error::UnsupportedKey(format!("key algorithm {key_alg}; use rsa 2048–4096 or ecdsa p-256")));
    };
    // The chain: the signer's certificate, then each issuer found among the others.
    let mut order = vec![leaf];
    while let Some(&last) = order.last() {
        let issuer = parsed[last].tbs_certificate().issuer();
        if parsed[last].tbs_certificate().subject() == issuer {
            break;
        }
        match (0..parsed.len()).find(|i| !order.contains(i) && parsed[*i].tbs_certificate().subject() == issuer) {
            Some(i) => order.push(i),
            None => break,
        }
    }
    let chain: Vec<Vec<u8>> = order.iter().map(|i| certs[*i].clone()).collect();
    let cert = parsed[leaf].clone();
    let tbs = cert.tbs_certificate();
    let validity = tbs.validity();
    Ok(SigningIdentity {
        key: signer_key,
        subject: asn1::name_text(tbs.subject()),
        sha256: hex::encode(ring::digest::digest(&ring::digest::SHA256, &certs[leaf])),
        not_before: asn1::timestamp(&validity.not_before),
        not_after: asn1::timestamp(&validity.not_after),
        chain,
        cert,
    })
}

fn curve_name(curve: Option<const_oid::ObjectIdentifier>) -> String {
    match curve {
        Some(c) if c == SECP384R1 => "ecdsa p-384 keys; use ecdsa p-256 or rsa".into(),
        Some(c) => format!("ec keys on curve {c}; use ecdsa p-256 or rsa"),
        None => "ec keys without a named curve".into(),
    }
}

/// The private scalar of a SEC1 `ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, ... }`.
fn sec1_scalar(der: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let bad = || Error::Key("the ec private key is damaged".into());
    let (tag, header, total) = asn1::tlv(der).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let inner = &der[header..total];
    let (tag, _, vlen) = asn1::tlv(inner).ok_or_else(bad)?;
    if tag != 0x02 {
        return Err(bad());
    }
    let rest = &inner[vlen..];
    let (tag, h, t) = asn1::tlv(rest).ok_or_else(bad)?;
    if tag != 0x04 {
        return Err(bad());
    }
    Ok(Zeroizing::new(rest[h..t].to_vec()))
}

/// A throwaway self-signed ECDSA P-256 identity for demos, valid from an hour ago for a year.
pub fn demo_identity(office_name: &str) -> Result<SigningIdentity> {
    let (cert_pem, key_pem) = demo_identity_pem(office_name)?;
    SigningIdentity::from_pem(cert_pem.as_bytes(), key_pem.as_bytes(), None)
}

/// [`demo_identity`] as PEM text: (certificate, PKCS#8 private key), e.g. to write to files.
pub fn demo_identity_pem(office_name: &str) -> Result<(String, Zeroizing<String>)> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| Error::Sign(format!("cannot make a demo key: {e}")))?;
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    // Most significant first, so that RFC 4514 text reads `CN=...,O=Coopbrief demo`.
    dn.push(rcgen::DnType::OrganizationName, "Coopbrief demo");
    dn.push(
        rcgen::DnType::CommonName,
        format!("{office_name} (chứng thư số thử nghiệm — Coopbrief demo certificate, not for real use)"),
    );
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(365);
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::ContentCommitment];
    let cert = params.self_signed(&key).map_err(|e| Error::Sign(format!("cannot make a demo certificate: {e}")))?;
    Ok((cert.pem(), Zeroizing::new(key.serialize_pem())))
}

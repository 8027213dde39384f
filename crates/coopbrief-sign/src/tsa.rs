//! RFC 3161 time-stamping for PAdES B-T: asks a time-stamp authority, over plain HTTP (the usual for TSAs: the token
//! is signed, so transport security adds little), for a token over the signature value, and checks the token.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use der::asn1::{OctetString, Uint};
use der::{Decode, Encode, Sequence};
use ring::digest;
use ring::rand::SecureRandom;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::asn1::{ID_SHA256, tlv};
use crate::error::{Error, Result};

/// How long to wait for the authority, per step.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The largest answer read.
const MAX_RESPONSE: usize = 1024 * 1024;

#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// `TimeStampReq ::= SEQUENCE { version, messageImprint, reqPolicy OPTIONAL, nonce OPTIONAL, certReq DEFAULT FALSE }`.
#[derive(Sequence)]
struct TimeStampReq {
    version: u8,
    message_imprint: MessageImprint,
    nonce: Uint,
    cert_req: bool,
}

/// A time-stamp authority at an `http://` URL.
#[derive(Debug)]
pub(crate) struct Tsa {
    host: String,
    port: u16,
    path: String,
}

impl Tsa {
    pub(crate) fn new(url: &str) -> Result<Tsa> {
        let rest = match url.strip_prefix("http://") {
            Some(r) => r,
            None if url.starts_with("https://") => {
                return Err(Error::Unsupported("https time-stamp authorities; give the tsa's http:// url".into()));
            }
            None => return Err(Error::Timestamp(format!("the tsa url must start with http://: {url}"))),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h, p.parse().map_err(|_| Error::Timestamp(format!("bad port in the tsa url: {url}")))?)
            }
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(Error::Timestamp(format!("no host in the tsa url: {url}")));
        }
        Ok(Tsa { host: host.trim_start_matches('[').trim_end_matches(']').to_string(), port, path: path.to_string() })
    }

    /// A time-stamp token (DER ContentInfo) over `signature`, checked before it is returned.
    pub(crate) fn stamp(&self, signature: &[u8]) -> Result<Vec<u8>> {
        let imprint = digest::digest(&digest::SHA256, signature);
        let mut nonce = [0u8; 8];
        ring::rand::SystemRandom::new().fill(&mut nonce).map_err(|_| Error::Timestamp("no randomness".into()))?;
        nonce[0] &= 0x7f;
        let req = TimeStampReq {
            version: 1,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned { oid: ID_SHA256, parameters: None },
                hashed_message: OctetString::new(imprint.as_ref()).map_err(|e| Error::Timestamp(e.to_string()))?,
            },
            nonce: Uint::new(&nonce).map_err(|e| Error::Timestamp(e.to_string()))?,
            cert_req: true,
        };
        let body = req.to_der().map_err(|e| Error::Timestamp(e.to_string()))?;
        let response = self.post(&body)?;
        let token = token_of(&response)?;
        crate::cms::check_timestamp_der(&token, signature).map_err(|m| Error::Timestamp(m.to_string()))?;
        Ok(token)
    }

    fn post(&self, body: &[u8]) -> Result<Vec<u8>> {
        let net =
            |e: std::io::Error| Error::Timestamp(format!("cannot reach the tsa {}:{}: {e}", self.host, self.port));
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(net)?
            .next()
            .ok_or_else(|| Error::Timestamp(format!("the tsa host {} has no address", self.host)))?;
        let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(net)?;
        stream.set_read_timeout(Some(TIMEOUT)).map_err(net)?;
        stream.set_write_timeout(Some(TIMEOUT)).map_err(net)?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/timestamp-query\r\nAccept: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            self.host,
            body.len()
        );
        stream.write_all(head.as_bytes()).map_err(net)?;
        stream.write_all(body).map_err(net)?;
        let mut raw = Vec::new();
        stream.take(MAX_RESPONSE as u64 + 1).read_to_end(&mut raw).map_err(net)?;
        if raw.len() > MAX_RESPONSE {
            return Err(Error::Timestamp("the tsa's answer is too large".into()));
        }
        let split = crate::pdf::find(&raw, b"\r\n\r\n")
            .ok_or_else(|| Error::Timestamp("the tsa's answer is not http".into()))?;
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let status = head.split_whitespace().nth(1).unwrap_or("");
        if status != "200" {
            return Err(Error::Timestamp(format!("the tsa answered http {status}")));
        }
        let mut body = raw[split + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            body = dechunk(&body).ok_or_else(|| Error::Timestamp("the tsa's chunked answer is damaged".into()))?;
        }
        Ok(body)
    }
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = crate::pdf::find(data, b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// The token of a `TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL }`, if granted.
fn token_of(resp: &[u8]) -> Result<Vec<u8>> {
    let bad = || Error::Timestamp("the tsa's answer is not a time-stamp response".into());
    let (tag, h, t) = tlv(resp).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let inner = &resp[h..t];
    let (tag, sh, st) = tlv(inner).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let status = der::asn1::Int::from_der(tlv(&inner[sh..st]).map(|(_, _, l)| &inner[sh..sh + l]).ok_or_else(bad)?)
        .map_err(|_| bad())?;
    if !matches!(status.as_bytes(), [0] | [1]) {
        return Err(Error::Timestamp(format!(
            "the tsa refused the request (status {})",
            hex::encode(status.as_bytes())
        )));
    }
    let rest = &inner[st..];
    let (tag, _, total) = tlv(rest).ok_or_else(|| Error::Timestamp("the tsa's answer has no token".into()))?;
    if tag != 0x30 {
        return Err(bad());
    }
    Ok(rest[..total].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Tsa::new("http://tsa.example.vn:8080/tsa").expect("url");
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("tsa.example.vn", 8080, "/tsa"));
        let t = Tsa::new("http://127.0.0.1").expect("url");
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("127.0.0.1", 80, "/"));
        assert!(matches!(Tsa::new("https://tsa.example.vn"), Err(Error::Unsupported(_))));
        assert!(Tsa::new("ftp://x").is_err());
    }

    #[test]
    fn chunks() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").as_deref(), Some(&b"abcde"[..]));
        assert_eq!(dechunk(b"ff\r\nabc"), None);
    }
}

//! Verifying AWS Signature Version 4 (`Authorization: AWS4-HMAC-SHA256 ...`) as AWS does for a
//! non-S3 service such as API Gateway: the canonical request is rebuilt from the request as the
//! client sent it (method, path normalised and URI-encoded, query sorted and encoded, exactly the
//! headers the client listed in `SignedHeaders`, the payload's SHA-256), the credential scope is
//! checked against the configuration, the signing key is derived from the secret of the access
//! key named in the credential, and the signatures are compared in constant time.
//!
//! It depends on aws-sigv4 (for the signing key), hmac, sha2, hex and time: nothing of the
//! functions, of the domain or of configuration, so the receiver, the local gateway, the fuzz targets
//! and the tests verify with the same code.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use aws_sigv4::sign::v4::generate_signing_key;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The largest difference between the request's time and now, either way.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

type HmacSha256 = Hmac<Sha256>;

/// A request as the client sent it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded as on the wire; raw UTF-8 is accepted too).
    pub path: &'a str,
    /// The query string as sent, without `?`.
    pub query: &'a str,
    /// Every header, names in any case, repeated names in the order received.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// A secret access key. It never appears in a log or a debug print.
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(redacted)")
    }
}

/// What a verifier accepts: one region and service, and a set of access keys.
#[derive(Clone, Debug)]
pub struct Verifier {
    region: String,
    service: String,
    keys: HashMap<String, SecretKey>,
}

/// Why a request was refused. The `Display` text is for logs; callers answer with [`Self::phrase`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no Authorization header")]
    Missing,
    #[error("malformed Authorization header: {0}")]
    Malformed(String),
    #[error("unknown access key {0}")]
    UnknownKey(String),
    #[error("credential scope {0} does not match this endpoint or the request's date")]
    Scope(String),
    #[error("{0} is not signed")]
    Unsigned(String),
    #[error("signed header {0} is not in the request")]
    MissingHeader(String),
    #[error("X-Amz-Date is missing or malformed")]
    Date,
    #[error("the request was signed at {0}, more than 5 minutes from now")]
    Skew(String),
    #[error("the body does not match X-Amz-Content-Sha256")]
    BodyHash,
    #[error("the signature does not match")]
    Signature,
}

impl Refusal {
    /// 401 when there is no usable signature at all, 403 when there is one and it is refused.
    pub fn status(&self) -> u16 {
        match self {
            Self::Missing | Self::Malformed(_) => 401,
            _ => 403,
        }
    }

    /// The short phrase an answer may carry (the reason goes only to the log).
    pub fn phrase(&self) -> &'static str {
        match self {
            Self::Missing | Self::Malformed(_) => "missing or malformed AWS4 authentication",
            _ => "the AWS4 signature was refused",
        }
    }
}

/// A verified request: who signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub access_key: String,
}

struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(header: &str) -> Result<Authorization<'_>, Refusal> {
    let malformed = |what: &str| Refusal::Malformed(what.to_owned());
    let rest = header.strip_prefix(ALGORITHM).ok_or_else(|| malformed("not AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        } else if !part.is_empty() {
            return Err(malformed("unexpected field"));
        }
    }
    let credential = credential.ok_or_else(|| malformed("no Credential"))?;
    let fields: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = fields[..] else {
        return Err(malformed("Credential is not key/date/region/service/aws4_request"));
    };
    let signed = signed.ok_or_else(|| malformed("no SignedHeaders"))?;
    let signed_headers: Vec<&str> = signed.split(';').collect();
    if signed_headers.iter().any(|h| h.is_empty() || h.chars().any(|c| c.is_ascii_uppercase())) {
        return Err(malformed("SignedHeaders is not a list of lowercase names"));
    }
    let signature = signature.ok_or_else(|| malformed("no Signature"))?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("Signature is not 64 hex digits"));
    }
    Ok(Authorization { access_key, date, region, service, terminator, signed_headers, signature })
}

/// The values of header `name` (any case), joined as AWS joins repeated headers.
fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// Percent-encodes everything but the unreserved characters (and `/` when `keep_slash`).
fn uri_encode(input: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for &byte in input {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') || (keep_slash && byte == b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The canonical URI of a non-S3 service: dot segments and empty segments removed, then every
/// byte but the unreserved ones and `/` percent-encoded (so an encoded path is encoded twice).
pub(crate) fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalized = format!("/{}", segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    uri_encode(normalized.as_bytes(), true)
}

/// The canonical query: each name and value decoded and re-encoded, sorted by name then value.
pub(crate) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (uri_encode(&percent_decode(name), false), uri_encode(&percent_decode(value), false))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&")
}

/// A query string of decoded `(name, value)` pairs, each encoded as SigV4 encodes them.
pub fn encode_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let encoded: Vec<String> = pairs
        .into_iter()
        .map(|(name, value)| format!("{}={}", uri_encode(name.as_bytes(), false), uri_encode(value.as_bytes(), false)))
        .collect();
    encoded.join("&")
}

/// The canonical request over `signed_headers`, or the first signed header the request lacks.
pub fn canonical_request(
    request: &Request<'_>,
    signed_headers: &[&str],
    payload_hash: &str,
) -> Result<String, Refusal> {
    let mut headers = String::new();
    for name in signed_headers {
        let value = header_value(request.headers, name).ok_or_else(|| Refusal::MissingHeader((*name).to_owned()))?;
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&value);
        headers.push('\n');
    }
    Ok(format!(
        "{}\n{}\n{}\n{headers}\n{}\n{payload_hash}",
        request.method.to_ascii_uppercase(),
        canonical_uri(request.path),
        canonical_query(request.query),
        signed_headers.join(";"),
    ))
}

fn parse_amz_date(text: &str) -> Option<OffsetDateTime> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(text, format).ok().map(|t| t.assume_utc())
}

impl Verifier {
    pub fn new(region: impl Into<String>, service: impl Into<String>, keys: HashMap<String, SecretKey>) -> Self {
        Self { region: region.into(), service: service.into(), keys }
    }

    /// Verifies `request` as of `now`.
    pub fn verify(&self, request: &Request<'_>, now: SystemTime) -> Result<Verified, Refusal> {
        let header = header_value(request.headers, "authorization").ok_or(Refusal::Missing)?;
        let auth = parse_authorization(&header)?;
        let secret = self.keys.get(auth.access_key).ok_or_else(|| Refusal::UnknownKey(auth.access_key.to_owned()))?;

        for required in ["host", "x-amz-date"] {
            if !auth.signed_headers.contains(&required) {
                return Err(Refusal::Unsigned(required.to_owned()));
            }
        }
        let amz_date = header_value(request.headers, "x-amz-date").ok_or(Refusal::Date)?;
        let signed_at = parse_amz_date(&amz_date).ok_or(Refusal::Date)?;
        let scope = format!("{}/{}/{}/{}", auth.date, auth.region, auth.service, auth.terminator);
        if auth.date != &amz_date[..8]
            || auth.region != self.region
            || auth.service != self.service
            || auth.terminator != "aws4_request"
        {
            return Err(Refusal::Scope(scope));
        }
        let now = OffsetDateTime::from(now);
        if (now - signed_at).unsigned_abs() > MAX_SKEW {
            return Err(Refusal::Skew(amz_date));
        }

        let payload_hash = hex::encode(Sha256::digest(request.body));
        if let Some(claimed) = header_value(request.headers, "x-amz-content-sha256")
            && !claimed.eq_ignore_ascii_case(&payload_hash)
        {
            return Err(Refusal::BodyHash);
        }
        let canonical = canonical_request(request, &auth.signed_headers, &payload_hash)?;
        let string_to_sign =
            format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
        // The scope's date is the request's (checked above), so the key is derived for that day.
        let key = generate_signing_key(&secret.0, signed_at.into(), auth.region, auth.service);
        let provided = hex::decode(auth.signature).map_err(|_| Refusal::Signature)?;
        let mut mac = HmacSha256::new_from_slice(key.as_ref()).expect("HMAC takes a key of any length");
        mac.update(string_to_sign.as_bytes());
        mac.verify_slice(&provided).map_err(|_| Refusal::Signature)?;
        Ok(Verified { access_key: auth.access_key.to_owned() })
    }
}

/// Parses `AKID:secret,AKID2:secret2` (the form of `SIGV4_CREDENTIALS`).
pub fn parse_keys(list: &str) -> Result<HashMap<String, SecretKey>, String> {
    let mut keys = HashMap::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, secret) = entry.split_once(':').ok_or("an entry is not ACCESS_KEY:SECRET")?;
        if id.is_empty() || secret.is_empty() {
            return Err("an entry has an empty access key or secret".into());
        }
        keys.insert(id.to_owned(), SecretKey::new(secret));
    }
    if keys.is_empty() {
        return Err("no access keys".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_encoded_as_for_non_s3_services() {
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/example1/example2/../.."), "/");
        assert_eq!(canonical_uri("/./"), "/");
        assert_eq!(canonical_uri("/example space/"), "/example%20space/");
        assert_eq!(canonical_uri("/ሴ"), "/%E1%88%B4");
        assert_eq!(canonical_uri("/a%3Db"), "/a%253Db", "an encoded path is encoded again");
    }

    #[test]
    fn queries_are_decoded_reencoded_and_sorted() {
        assert_eq!(
            canonical_query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
        assert_eq!(canonical_query("b=2&a"), "a=&b=2");
        assert_eq!(canonical_query(""), "");
    }

    #[test]
    fn decoded_pairs_are_encoded_as_rfc_3986() {
        let query = encode_query([("note", "two words"), ("sum", "1+1"), ("name", "Zoë")]);
        assert_eq!(query, "note=two%20words&sum=1%2B1&name=Zo%C3%AB");
        assert_eq!(canonical_query(&query), "name=Zo%C3%AB&note=two%20words&sum=1%2B1");
    }

    #[test]
    fn authorization_headers_are_parsed_strictly() {
        assert!(parse_authorization("AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000").is_ok());
        for bad in [
            "Basic dXNlcjpwYXNz",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/service/aws4_request, SignedHeaders=Host, Signature=0000000000000000000000000000000000000000000000000000000000000000",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/service/aws4_request, SignedHeaders=host, Signature=zz",
        ] {
            assert!(matches!(parse_authorization(bad), Err(Refusal::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn key_lists_parse_and_secrets_never_print() {
        let keys = parse_keys("AKID:s3cr3t, AKID2:other").unwrap();
        assert_eq!(keys.len(), 2);
        assert!(!format!("{keys:?}").contains("s3cr3t"));
        assert!(parse_keys("AKID").is_err() && parse_keys("").is_err());
    }
}

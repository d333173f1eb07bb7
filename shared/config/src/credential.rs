//! The credentials a webhook may prove its tenant with (EverBright's "Authentication type"):
//! how each is read from the tenants document, compared with a request in constant time, shown
//! without its secret, and whether two of them could match one request.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AllowedPrincipals;
use sigv4::SecretKey;

/// A secret value (a shared header value, a password): never printed, compared in constant time.
#[derive(Clone)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Whether `presented` is this value, in time that depends on neither (both are hashed first,
    /// so not even the length shows).
    pub fn matches(&self, presented: &[u8]) -> bool {
        Sha256::digest(self.0.as_bytes()).as_slice().ct_eq(Sha256::digest(presented).as_slice()).into()
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(redacted)")
    }
}

/// One way a webhook may prove it speaks for a tenant (EverBright's "Authentication type").
#[derive(Clone, Debug)]
pub enum Credential {
    /// AWS4 checked by API Gateway (`AUTH_MODE=iam`): the IAM principals whose keys sign.
    Iam(AllowedPrincipals),
    /// AWS4 checked by the function (`AUTH_MODE=sigv4`): one access key.
    Aws4 { access_key_id: String, secret: SecretKey },
    /// "Headers" or "Token": a header (lowercase name) whose value must be `value`.
    Header { kind: SharedKind, name: String, value: SecretValue },
    /// "Basic": `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: SecretValue },
}

/// The two header-and-value types: the same check, named as in EverBright's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedKind {
    Headers,
    Token,
}

impl Credential {
    /// Compares a header, Basic or token credential with what the request carries (`header`
    /// gives a header's value by lowercase name): `None` when the request does not carry it,
    /// else whether it matches, the secret compared in constant time.
    pub fn compare<'a>(&self, header: impl Fn(&str) -> Option<&'a str>) -> Option<bool> {
        match self {
            Self::Header { name, value, .. } => header(name).map(|v| value.matches(v.as_bytes())),
            Self::Basic { username, password } => header("authorization").and_then(basic).map(|(user, pass)| {
                // `&`, not `&&`: the password is compared whatever the name.
                (user == username.as_bytes()) & password.matches(&pass)
            }),
            Self::Iam(_) | Self::Aws4 { .. } => None,
        }
    }

    /// What the logs and the `tenants` command show of it: its type and its public part.
    pub fn describe(&self) -> String {
        match self {
            Self::Iam(principals) => format!("iam {principals}"),
            Self::Aws4 { access_key_id, .. } => format!("aws4 {access_key_id}"),
            Self::Header { kind: SharedKind::Headers, name, .. } => format!("headers {name}"),
            Self::Header { kind: SharedKind::Token, name, .. } => format!("token {name}"),
            Self::Basic { username, .. } => format!("basic {username}"),
        }
    }

    /// The header that carries it, when that header is not already kept out of the archive.
    pub fn secret_header(&self) -> Option<&str> {
        match self {
            Self::Header { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Reads one `webhooks` entry (or `WEBHOOK_CREDENTIAL_SECRET`'s document).
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let object = value.as_object().ok_or("is not a JSON object")?;
        let text = |field: &str| -> Result<String, String> {
            match object.get(field) {
                Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
                Some(_) => Err(format!("{field} is not a non-empty string")),
                None => Err(format!("{field} is missing")),
            }
        };
        let kind = text("type")?.to_ascii_lowercase();
        let header_name = |default: Option<&str>| -> Result<String, String> {
            let name = match (object.get("header"), default) {
                (None, Some(default)) => default.to_owned(),
                _ => text("header")?,
            };
            let valid = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(format!("header {name:?} is not a header name"));
            }
            let lower = name.to_ascii_lowercase();
            if lower == "x-amz-security-token" || lower.starts_with("x-amzn-") || lower == "host" {
                return Err(format!("header {name:?} is set by AWS or the sender's HTTP client, not by a credential"));
            }
            Ok(lower)
        };
        match kind.as_str() {
            "iam" => {
                let principals = match object.get("principals") {
                    Some(Value::Array(list)) => list
                        .iter()
                        .enumerate()
                        .map(|(index, p)| p.as_str().ok_or(format!("principals[{index}] is not a string: {p}")))
                        .collect::<Result<Vec<_>, _>>()?
                        .join(","),
                    Some(other) => return Err(format!("principals is not a list of ARNs: {other}")),
                    None => text("principal")?,
                };
                AllowedPrincipals::parse(&principals).map(Self::Iam).map_err(|reason| format!("principals: {reason}"))
            }
            "aws4" | "sigv4" => Ok(Self::Aws4 {
                access_key_id: text("access_key_id")?,
                secret: SecretKey::new(text("secret_access_key")?),
            }),
            "headers" => Ok(Self::Header {
                kind: SharedKind::Headers,
                name: header_name(None)?,
                value: SecretValue(text("value")?),
            }),
            "token" => Ok(Self::Header {
                kind: SharedKind::Token,
                name: header_name(Some("authorization"))?,
                value: SecretValue(text("value")?),
            }),
            "basic" => {
                let username = text("username")?;
                if username.contains(':') {
                    return Err("username has a ':', which Basic authentication cannot carry".into());
                }
                Ok(Self::Basic { username, password: SecretValue(text("password")?) })
            }
            "hmac-sha256" | "hmac" => Err(HMAC_REFUSED.into()),
            "none" => Err(NONE_REFUSED.into()),
            other => Err(format!("type {other:?} is not iam, aws4, headers, basic or token")),
        }
    }
}

/// `Basic base64(user:password)`, decoded; `None` for another scheme.
fn basic(authorization: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let (scheme, encoded) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).unwrap_or_default();
    let colon = decoded.iter().position(|&b| b == b':').unwrap_or(decoded.len());
    let (user, password) = decoded.split_at(colon);
    Some((user.to_vec(), password.get(1..).unwrap_or_default().to_vec()))
}

/// Why HMAC-SHA256 is refused at start-up.
pub const HMAC_REFUSED: &str = "HMAC-SHA256 cannot be checked: EverBright does not publish which header carries the \
     signature or what string it signs; ask EverBright for both (and the timestamp rule) before using it, and use \
     aws4 or a shared secret (headers, basic, token) until then";
/// Why "No Authentication" is refused.
pub const NONE_REFUSED: &str = "\"No Authentication\" is refused by design: anyone who finds the URL could write \
     jobs; use aws4 (recommended) or a shared secret";

/// Whether two credentials could both match one request.
pub(crate) fn overlap(a: &Credential, b: &Credential) -> bool {
    match (a, b) {
        (Credential::Iam(x), Credential::Iam(y)) => x.overlaps(y),
        (Credential::Aws4 { access_key_id: x, .. }, Credential::Aws4 { access_key_id: y, .. }) => x == y,
        (Credential::Header { name: n1, value: v1, .. }, Credential::Header { name: n2, value: v2, .. }) => {
            n1 == n2 && v1.matches(v2.expose().as_bytes())
        }
        (Credential::Basic { username: u1, .. }, Credential::Basic { username: u2, .. }) => u1 == u2,
        (basic @ Credential::Basic { .. }, Credential::Header { name, value, .. })
        | (Credential::Header { name, value, .. }, basic @ Credential::Basic { .. }) => {
            name == "authorization" && basic.compare(|_| Some(value.expose())) == Some(true)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_value_matches_only_itself_to_the_last_byte() {
        let value = SecretValue::new("s3cr3t-value");
        assert!(value.matches(b"s3cr3t-value"));
        assert!(!value.matches(b"s3cr3t-valuf"));
        assert!(!value.matches(b"s3cr3t-valu"));
        assert!(!value.matches(b""));
        assert_eq!(format!("{value:?}"), "SecretValue(redacted)");
    }
}

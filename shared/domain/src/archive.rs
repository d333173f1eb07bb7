//! The raw archive: every authenticated request, exactly as received, kept in S3 before anything
//! else happens to it, so that it can be inspected or replayed later.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::tenant::TenantId;
use crate::timestamp::Timestamp;

/// Headers never archived: they carry credentials.
pub const SECRET_HEADERS: [&str; 2] = ["authorization", "x-amz-security-token"];

/// One archived request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRequest {
    pub event_id: String,
    /// The route's event slug, or `unrouted` when the path names no known event.
    pub event: String,
    pub received_at: Timestamp,
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub caller: Caller,
    pub body_sha256: String,
    /// The body bytes exactly as received, in standard base64.
    pub body_base64: String,
}

/// Who called, as the gateway reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub arn: Option<String>,
    pub access_key: Option<String>,
    pub account: Option<String>,
    pub source_ip: Option<String>,
    /// The tenant the credential speaks for (absent in records made before tenants).
    #[serde(default)]
    pub tenant: Option<String>,
    /// The credential that matched, as `<type> <public part>` (`basic everbright`), never its secret.
    #[serde(default)]
    pub credential: Option<String>,
}

impl Caller {
    /// The tenant the caller spoke for: a record made before tenants (none recorded) is the
    /// default tenant's; one that names no valid tenant is an error, never the default.
    pub fn tenant_id(&self) -> Result<TenantId, String> {
        match self.tenant.as_deref() {
            None => Ok(TenantId::default_tenant()),
            Some(text) => TenantId::parse(text).map_err(|reason| format!("its recorded tenant {reason}")),
        }
    }
}

impl RawRequest {
    /// `raw/<event>/<yyyy>/<mm>/<dd>/<event id>.json`
    pub fn key(&self) -> String {
        let day = self.received_at.to_datetime();
        format!(
            "raw/{}/{:04}/{:02}/{:02}/{}.json",
            self.event,
            day.year(),
            u8::from(day.month()),
            day.day(),
            self.event_id
        )
    }

    pub fn body(&self) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(&self.body_base64)
    }

    /// A header as archived (names are lowercase; repeated values joined with `, `).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn encode_body(body: &[u8]) -> String {
        STANDARD.encode(body)
    }
}

/// Keeps only what is safe in an S3 key segment: ASCII letters, digits, `-` and `_`.
pub fn is_safe_key_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 128
        && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_keys_are_by_event_and_day() {
        let raw = RawRequest {
            event_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
            event: "contract-status-change".into(),
            received_at: "2023-07-02T19:22:52Z".parse().unwrap(),
            method: "POST".into(),
            path: "/prod/webhooks/contract-status-change".into(),
            headers: BTreeMap::new(),
            caller: Caller::default(),
            body_sha256: String::new(),
            body_base64: RawRequest::encode_body(b"{\"a\":\"\xc3\xa9\"}"),
        };
        assert_eq!(raw.key(), "raw/contract-status-change/2023/07/02/c6af9ac6-7b61-11e6-9a41-93e8deadbeef.json");
        assert_eq!(raw.body().unwrap(), b"{\"a\":\"\xc3\xa9\"}");
    }

    #[test]
    fn only_plain_segments_are_safe() {
        assert!(is_safe_key_segment("c6af9ac6-7b61-11e6-9a41-93e8deadbeef"));
        assert!(!is_safe_key_segment("../x"));
        assert!(!is_safe_key_segment("a/b"));
        assert!(!is_safe_key_segment(""));
    }
}

//! Which job a webhook is about ([`JobKey`]: a site as one tenant sees it), and where its
//! documents and data-API answers are stored in the bucket: `contracts/<site>/<quote>/<document>/<name>`
//! (another tenant's under `contracts/tenant/<tenant>/`), the name made safe as one key segment.

use std::fmt;

use crate::ids::{DocumentId, QuoteId, SiteId};
use crate::tenant::TenantId;

/// A job: one site as one tenant sees it. Two tenants that send the same site keep two jobs, so
/// one tenant can neither write into another's job nor lock it out by writing first.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobKey {
    pub tenant: TenantId,
    pub site: SiteId,
}

impl JobKey {
    pub fn new(tenant: TenantId, site: SiteId) -> Self {
        Self { tenant, site }
    }

    /// The default tenant's job of `site` (single-tenant deployments, tests).
    pub fn default_tenant(site: SiteId) -> Self {
        Self::new(TenantId::default_tenant(), site)
    }

    /// The bucket prefix of the job's tenant: empty for the default tenant (whose keys are as
    /// before tenants), `tenant/<id>/` for another.
    pub(crate) fn tenant_prefix(&self) -> String {
        if self.tenant.is_default() { String::new() } else { format!("tenant/{}/", self.tenant) }
    }
}

impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tenant.is_default() {
            write!(f, "site {}", self.site)
        } else {
            write!(f, "site {} of tenant {}", self.site, self.tenant)
        }
    }
}

/// Where a document is stored: `contracts/<site>/<quote>/<document uuid>/<file name>` (another
/// tenant's: `contracts/tenant/<tenant>/<site>/...`), the quote being `no-quote` when the event
/// named none and the name sanitised ([`sanitize_file_name`]).
pub fn document_key(job: &JobKey, quote: Option<QuoteId>, document: DocumentId, name: Option<&str>) -> String {
    let quote = quote.map_or_else(|| "no-quote".to_owned(), |q| q.to_string());
    let name = sanitize_file_name(name.unwrap_or_default());
    format!("contracts/{}{}/{quote}/{document}/{name}", job.tenant_prefix(), job.site)
}

/// A document's direct link on its tenant's EverBright, relative to the API's base URL
/// (`/api/v1/document/{uuid}/preview/`, seeds 000 to 002).
pub fn preview_path(document: DocumentId) -> String {
    format!("/api/v1/document/{document}/preview/")
}

/// Where a data-API read of a job's quote keeps its raw answers: `dal/<site>/<quote>/<stamp>`
/// (another tenant's: `dal/tenant/<tenant>/<site>/...`).
pub fn dal_prefix(job: &JobKey, quote: QuoteId, stamp: i64) -> String {
    format!("dal/{}{}/{quote}/{stamp}", job.tenant_prefix(), job.site)
}

/// Where a site read's workflow answer is kept: `dal/<site>/site/<version>-workflow.json`.
pub fn site_read_key(job: &JobKey, version: i64) -> String {
    format!("dal/{}{}/site/{version}-workflow.json", job.tenant_prefix(), job.site)
}

/// The longest file name kept, in bytes.
const MAX_FILE_NAME: usize = 200;

/// A file name safe as the last segment of an S3 key: path separators and control characters
/// become `_`, leading dots and surrounding spaces go, at most 200 bytes; `document.pdf` if
/// nothing is left.
pub(crate) fn sanitize_file_name(name: &str) -> String {
    let cleaned: String = name.chars().map(|c| if c.is_control() || c == '/' || c == '\\' { '_' } else { c }).collect();
    let trimmed = cleaned.trim_start_matches(|c: char| c == '.' || c.is_whitespace()).trim_end();
    let mut end = trimmed.len().min(MAX_FILE_NAME);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    match trimmed[..end].trim_end() {
        "" => "document.pdf".to_owned(),
        kept => kept.to_owned(),
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn file_names_cannot_climb_out_of_their_folder() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(sanitize_file_name("..\\..\\x.pdf"), "_.._x.pdf");
        assert_eq!(sanitize_file_name("a\u{0}b\nc.pdf"), "a_b_c.pdf");
        assert_eq!(sanitize_file_name("  ...  "), "document.pdf");
        assert_eq!(sanitize_file_name("Installation Agreement - Signed.pdf"), "Installation Agreement - Signed.pdf");
    }

    #[test]
    fn a_name_of_dots_and_spaces_in_turn_loses_every_leading_dot() {
        // Found by the key property below: dots, then spaces, then dots again kept a leading dot.
        assert_eq!(sanitize_file_name(". . .x"), "x");
        assert_eq!(sanitize_file_name(" . . ..hidden.pdf"), "hidden.pdf");
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let name = "é".repeat(300);
        let kept = sanitize_file_name(&name);
        assert!(kept.len() <= MAX_FILE_NAME && kept.chars().all(|c| c == 'é'));
    }

    proptest::proptest! {
        #[test]
        fn any_name_becomes_one_safe_key_segment(name in proptest::prelude::any::<String>()) {
            let site: SiteId = "34b6b5ee-f997-4044-86ae-0abbf611fc4d".parse().unwrap();
            let document: DocumentId = "3f230ca4-b147-49ae-9187-8b64c7eea62c".parse().unwrap();
            let key = document_key(&JobKey::default_tenant(site), None, document, Some(&name));
            let segments: Vec<&str> = key.split('/').collect();
            proptest::prop_assert_eq!(segments.len(), 5, "{:?}", key);
            let file = segments[4];
            proptest::prop_assert!(!file.is_empty() && !file.starts_with('.'), "{:?}", file);
            proptest::prop_assert!(!file.chars().any(|c| c.is_control() || c == '\\'), "{:?}", file);
            proptest::prop_assert!(file.len() <= MAX_FILE_NAME);
        }

        #[test]
        fn traversal_in_any_disguise_stays_in_its_folder(
            parts in proptest::collection::vec("(\\.\\.|\\.|/|\\\\|%2e|%2f|\\x00| |\\t|[a-z]{1,3})", 0..12)
        ) {
            let name = parts.concat();
            let file = sanitize_file_name(&name);
            proptest::prop_assert!(!file.contains('/') && !file.starts_with('.'), "{:?} -> {:?}", name, file);
        }
    }

    #[test]
    fn document_keys_name_site_quote_and_document() {
        let site: SiteId = "34b6b5ee-f997-4044-86ae-0abbf611fc4d".parse().unwrap();
        let document: DocumentId = "3f230ca4-b147-49ae-9187-8b64c7eea62c".parse().unwrap();
        assert_eq!(
            document_key(&JobKey::default_tenant(site), None, document, Some("a/b.pdf")),
            "contracts/34b6b5ee-f997-4044-86ae-0abbf611fc4d/no-quote/3f230ca4-b147-49ae-9187-8b64c7eea62c/a_b.pdf"
        );
        // Another tenant's job of the same site keeps its own objects.
        let acme = JobKey::new(TenantId::parse("acme").unwrap(), site);
        assert_eq!(
            document_key(&acme, None, document, Some("a.pdf")),
            "contracts/tenant/acme/34b6b5ee-f997-4044-86ae-0abbf611fc4d/no-quote/3f230ca4-b147-49ae-9187-8b64c7eea62c/a.pdf"
        );
    }
}

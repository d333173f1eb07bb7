//! Every way a request is refused, and the status each one answers.

use domain::event::PayloadError;
use domain::ports::BackendError;
use lambda_http::http::StatusCode;

/// Why a request was not accepted; each maps to one HTTP status and a message for the sender.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the caller is not allowed to send webhooks here")]
    Forbidden { caller: Option<String> },
    /// `AUTH_MODE=sigv4`: the signature was missing or refused; the reason goes only to the log.
    #[error("{}", .0.phrase())]
    Unauthenticated(sigv4::Refusal),
    #[error(
        "no credential: the request carries none of the headers (or Basic authorization) this webhook's credentials \
         name"
    )]
    NoCredential,
    #[error("the credential was refused")]
    CredentialRefused,
    /// The payload names a site-owning organization that is not the calling tenant's.
    #[error("{0}")]
    ForeignOrganization(String),
    #[error("the request could not be authenticated right now; retry later")]
    AuthUnavailable(#[source] BackendError),
    #[error("the path {path} has {reason}; a webhook URL is <base>/webhooks/<event>")]
    BadPath { path: String, reason: &'static str },
    #[error("no webhook route for {path}; the events are: {known}")]
    UnknownEvent { path: String, known: String },
    #[error("method {method} is not allowed; use PUT, POST or PATCH")]
    MethodNotAllowed { method: String },
    #[error(
        "the body is sent as {content_type}; this webhook takes JSON: choose JSON as the content type in the \
         EverBright webhook's credential"
    )]
    UnsupportedMediaType { content_type: String },
    #[error(transparent)]
    BadPayload(#[from] PayloadError),
    #[error("the request has {count} headers; the most accepted is {limit}")]
    TooManyHeaders { count: usize, limit: usize },
    #[error("a delivery with the same body is being applied right now; retry later")]
    InProgress,
    #[error("the request could not be archived; retry later")]
    NotArchived(#[source] BackendError),
    #[error("the request was archived but could not be applied; retry later")]
    NotApplied(#[source] BackendError),
    /// A replay: the archived record cannot be read back.
    #[error("the archived request cannot be replayed: {0}")]
    BadArchive(String),
}

impl Refusal {
    /// A refusal that says the sender did nothing wrong and nothing failed: another copy of the
    /// delivery is being applied, and applies it.
    pub(crate) fn is_in_progress(&self) -> bool {
        matches!(self, Self::InProgress)
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Forbidden { .. } | Self::CredentialRefused | Self::ForeignOrganization(_) => StatusCode::FORBIDDEN,
            Self::NoCredential => StatusCode::UNAUTHORIZED,
            Self::Unauthenticated(reason) => StatusCode::from_u16(reason.status()).unwrap_or(StatusCode::FORBIDDEN),
            Self::UnknownEvent { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BadPayload(PayloadError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyHeaders { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::BadPayload(_) | Self::BadArchive(_) | Self::BadPath { .. } => StatusCode::BAD_REQUEST,
            // Whether EverBright retries a 409 is not published; every sender retries a 503.
            Self::InProgress => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotArchived(_) | Self::NotApplied(_) | Self::AuthUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

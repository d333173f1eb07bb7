//! S3: the raw archive (`raw/`, one object per request) and the documents (`contracts/`),
//! streamed from EverBright in parts, checked against their declared size, with their SHA-256.

mod archive;
mod documents;

pub use archive::S3Archive;
pub use documents::{S3Documents, UploadSettings};

//! The domain: EverBright's payloads and contract rules, the job model and what one webhook
//! changes in it, the data API's profile and its answers made into typed details, drift, ids,
//! timestamps, a tenant's identity, the queued messages, the archived request's shape, EMF metric
//! lines and the ports the handlers talk to.
//!
//! It may depend on serde, serde_json, uuid, time, base64 and thiserror, and on nothing that does
//! I/O: no AWS SDK crate, no HTTP client, no TLS, no async runtime (`make layers` checks it). The
//! adapters that implement the ports live in the `aws` and `everbright` crates.

pub mod archive;
pub mod bus;
pub mod contract;
pub mod dal;
pub mod drift;
pub mod error;
pub mod event;
pub mod ids;
pub mod job;
mod lenient;
pub mod message;
pub mod metrics;
pub mod payload;
pub mod ports;
pub mod reconcile;
pub mod sweep;
pub mod tenant;
pub mod timestamp;

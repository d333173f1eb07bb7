//! The library both functions share: EverBright's payloads and rules, the job model, configuration
//! and the adapters to DynamoDB, S3 and SQS.

pub mod archive;
pub mod aws;
pub mod config;
pub mod contract;
pub mod credential;
pub mod dal;
pub mod drift;
pub mod egress;
pub mod error;
pub mod event;
pub mod everbright;
pub mod ids;
pub mod job;
mod lenient;
pub mod message;
pub mod metrics;
pub mod payload;
pub mod ports;
pub mod refresh;
pub mod sigv4;
pub mod tenant;
pub mod timestamp;
pub mod tls;

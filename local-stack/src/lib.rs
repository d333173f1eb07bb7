//! The local stack: what stands in for AWS and EverBright on this machine, used by the demo,
//! `serve` and the tests. None of it is in the functions or the operator's binary.
//!
//! - [`local`]: moto's server and dynalite on free loopback ports, and the table, bucket and
//!   queues the template defines, created on them through the SDK;
//! - [`gateway`]: API Gateway's REST API with `AWS_IAM` auth, played locally;
//! - [`queue`]: the SQS trigger, played locally;
//! - [`stand_in`]: a stand-in for EverBright's API (its data API's answers in `data_api.rs`, the
//!   PDFs it serves in `pdf.rs`);
//! - [`demo`] and [`serve`]: the pipeline on the sample events, and kept running; [`missed`]: the
//!   demo's lost message found by the sweeper and site found by reconciliation.

pub mod bus;
pub mod cli;
mod data_api;
pub mod demo;
pub mod gateway;
pub mod local;
pub mod missed;
mod pdf;
pub mod queue;
pub mod serve;
pub mod stand_in;

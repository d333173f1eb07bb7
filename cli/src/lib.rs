//! The operator's tools: read and put right a deployed stack (`job`, `replay`, `drift`,
//! `refetch`, `dlq`, `attention`, `backfill`) and send a webhook signed as EverBright signs it (`send`). The local stack
//! (moto, the gateway, the stand-in, the demo) is the `local-stack` crate.

pub mod job_view;
pub mod missed;
pub mod operate;
pub mod ops;
pub mod send;
pub mod tenants;

//! The project's local tools.

pub mod demo;
pub mod gateway;
pub mod job_view;
pub mod local;
pub mod operate;
pub mod ops;
pub mod queue;
pub mod send;
pub mod serve;
pub mod stand_in;

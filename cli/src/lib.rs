//! The project's local tools.

pub mod demo;
pub mod gateway;
pub mod local;
pub mod queue;
pub mod send;
pub mod serve;
pub mod stand_in;

//! The project's local tools.

pub mod demo;
pub mod local;
pub mod queue;
pub mod stand_in;

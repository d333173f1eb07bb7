//! The project's local tools.

pub mod stand_in;

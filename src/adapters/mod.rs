//! Implementations of the ports in `app::ports`: AWS services and their local stand-ins.

pub mod aws;
pub mod local;

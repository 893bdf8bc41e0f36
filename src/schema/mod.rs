//! Reading schemas from live databases. The model and the diff are pure and live in
//! `autodb_core::schema`.

pub mod codec;
pub mod effects;
pub mod introspect;

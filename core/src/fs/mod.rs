//! The file system, the only home of `unsafe` in core: atomic writes ([`atomic`]) and confinement
//! of request paths to a root ([`confine`]).

pub mod atomic;
pub mod confine;

//! `wa-worker` library: the parts of the worker the binary and the tests share.

pub mod store;

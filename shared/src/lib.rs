//! `wa-shared`: what the api, the workers and the tests agree on — configuration, Redis key names and
//! Lua scripts, wire types (commands, events, records), error codes, JWT claims and the encryption
//! envelope for auth state.

pub mod envelope;
pub mod keys;
pub mod scripts;

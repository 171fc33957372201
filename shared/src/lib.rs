//! `wa-shared`: what the api, the workers and the tests agree on — configuration, Redis key names and
//! Lua scripts, wire types (commands, events, records), error codes, JWT claims and the encryption
//! envelope for auth state.

pub mod claims;
pub mod commands;
pub mod config;
pub mod envelope;
pub mod errors;
pub mod events;
pub mod ids;
pub mod keys;
pub mod qr;
pub mod records;
pub mod scripts;

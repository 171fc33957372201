//! `wa-api`: the stateless REST and WebSocket front of the gateway. It validates and authorises
//! calls, writes session records, message records and commands to Redis (`sessions`, `messages`),
//! and forwards the fleet's events to WebSocket clients (`bus`, `ws`). It never talks to WhatsApp.
//!
//! Where things are: routes enter in `routes/`, the commands are written by the Lua steps that
//! `sessions` and `messages` invoke, events arrive through `bus` and leave through `ws`.

pub mod auth;
pub mod bus;
pub mod config;
pub mod doorbell;
pub mod error;
pub mod json;
pub mod messages;
pub mod metrics;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod sessions;
pub mod state;
pub mod token;
pub mod ws;

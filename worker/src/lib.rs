//! `wa-worker`: owns WhatsApp sessions through Redis leases and runs their connections.
//!
//! A newcomer's map: [`run`] starts everything; [`claims`] is where sessions are taken,
//! [`lease`] how ownership is proven, [`commands`] where the api's commands are picked up,
//! [`session`] where each session's client runs and executes them, [`report`] where events leave
//! (records first, then the event stream and the tenant's channel), [`store`] the encrypted
//! auth state behind every client. [`autoscale`] is the separate fleet autoscaler subcommand.

pub mod autoscale;
pub mod claims;
pub mod commands;
pub mod config;
pub mod connect_pacer;
pub mod fd_limit;
pub mod fleet;
pub mod heartbeat;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod orphans;
pub mod renewal;
pub mod report;
pub mod run;
pub mod session;
pub mod shutdown_signal;
pub mod store;

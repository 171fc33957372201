//! `wa-worker`: the worker that owns WhatsApp sessions, and the `autoscale` subcommand that sizes the
//! worker fleet on Kubernetes.

pub mod autoscale;

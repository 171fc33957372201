//! `wa-worker`: the worker that owns WhatsApp sessions (`store`: the encrypted Redis auth state of a
//! session), and the `autoscale` subcommand that sizes the worker fleet on Kubernetes.

pub mod autoscale;
pub mod store;

//! Test harness of the gateway: the fake WhatsApp server and helpers for end-to-end suites.

pub mod fake;

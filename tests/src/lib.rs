//! `wa-tests`: the fake WhatsApp server (`fake`) that real whatsapp-rust clients pair with, and the
//! harness (`harness`) that runs Redis and the api on free loopback ports for the suites in `tests/`.

pub mod fake;
pub mod harness;

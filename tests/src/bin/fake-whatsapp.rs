//! `fake-whatsapp --listen 127.0.0.1:PORT --admin 127.0.0.1:PORT2`: runs the fake WhatsApp server
//! and prints `{"listen":"…","admin":"…"}` on one stdout line once both listeners are bound.

use std::io::Write as _;
use std::net::SocketAddr;

use wa_tests::fake::{FakeConfig, FakeWhatsApp};

const USAGE: &str =
    "usage: fake-whatsapp --listen 127.0.0.1:PORT --admin 127.0.0.1:PORT2 (port 0 = free port)";

fn parse_args() -> Result<FakeConfig, String> {
    let mut config = FakeConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let target = match flag.as_str() {
            "--listen" => &mut config.listen,
            "--admin" => &mut config.admin,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        };
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs an address\n{USAGE}"))?;
        *target = value
            .parse::<SocketAddr>()
            .map_err(|e| format!("{flag} {value:?}: {e}\n{USAGE}"))?;
    }
    Ok(config)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let config = match parse_args() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let handle = match FakeWhatsApp::start(config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("fake-whatsapp: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let ready = serde_json::json!({
        "listen": handle.listen_addr().to_string(),
        "admin": handle.admin_addr().to_string(),
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{ready}");
    let _ = out.flush();
    drop(out);
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
}

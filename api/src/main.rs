//! The `wa-api` binary: read the configuration, start the server, stop on SIGTERM/SIGINT.

use std::process::ExitCode;

use wa_api::{config::ApiConfig, server};

#[tokio::main]
async fn main() -> ExitCode {
    wa_shared::config::load_dotenv();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("token") {
        return match wa_api::token::run_cli(&args[1..]) {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("wa-api token: {e}");
                ExitCode::from(2)
            }
        };
    }
    let config = match ApiConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wa-api: {e}");
            return ExitCode::from(2);
        }
    };
    config.common.init_tracing();
    let running = match server::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wa-api: {e:#}");
            return ExitCode::from(1);
        }
    };
    let stop = running.stopper();
    tokio::spawn(async move {
        server::shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    running.wait().await;
    ExitCode::SUCCESS
}

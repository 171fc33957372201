//! The `wa-worker` binary: by default the session worker ([`wa_worker::run`]);
//! `wa-worker autoscale` runs the fleet autoscaler instead.

use std::process::ExitCode;

use wa_worker::autoscale::{self, AutoscalerConfig};
use wa_worker::config::WorkerConfig;

fn main() -> ExitCode {
    wa_shared::config::load_dotenv();
    match std::env::args().nth(1).as_deref() {
        Some("autoscale") => run_autoscaler(),
        None => run_worker(),
        Some(other) => {
            eprintln!(
                "wa-worker: unknown subcommand {other:?}; run without arguments for the worker, or `wa-worker autoscale`"
            );
            ExitCode::from(2)
        }
    }
}

fn runtime(what: &str) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => Some(runtime),
        Err(error) => {
            eprintln!("{what}: cannot start the async runtime: {error}");
            None
        }
    }
}

fn run_worker() -> ExitCode {
    let config = match WorkerConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("wa-worker: {error}");
            return ExitCode::from(2);
        }
    };
    config.common.init_tracing();
    let Some(runtime) = runtime("wa-worker") else {
        return ExitCode::FAILURE;
    };
    let result = runtime.block_on(wa_worker::run::run(config));
    // Session tasks still closing after the grace period must not hold the exit up.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "worker failed");
            ExitCode::FAILURE
        }
    }
}

fn run_autoscaler() -> ExitCode {
    let config = match AutoscalerConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("wa-worker autoscale: {error}");
            return ExitCode::from(2);
        }
    };
    config.common.init_tracing();
    let Some(runtime) = runtime("wa-worker autoscale") else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(autoscale::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "autoscaler failed");
            ExitCode::FAILURE
        }
    }
}

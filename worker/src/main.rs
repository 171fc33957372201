//! The `wa-worker` binary. `wa-worker autoscale` runs the fleet autoscaler; the session runtime is
//! dispatched here once it is part of this binary.

use std::process::ExitCode;

use wa_worker::autoscale::{self, AutoscalerConfig};

fn main() -> ExitCode {
    wa_shared::config::load_dotenv();
    match std::env::args().nth(1).as_deref() {
        Some("autoscale") => run_autoscaler(),
        _ => {
            eprintln!(
                "wa-worker: the session runtime is not built into this binary yet; \
                 the only subcommand available is `wa-worker autoscale`"
            );
            ExitCode::from(2)
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
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wa-worker autoscale: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(autoscale::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "autoscaler failed");
            ExitCode::FAILURE
        }
    }
}

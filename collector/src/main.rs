//! `vigil-collector`: parse flags, load config, run until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use vigil_collector::config::{Cli, Config};
use vigil_collector::{app, demo};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(cli.log_filter())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::resolve(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vigil-collector: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vigil-collector: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, cli.demo)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil-collector: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config, with_demo: bool) -> anyhow::Result<()> {
    let running = app::start(&config).await?;
    let listen = running.listen_addr;
    eprintln!(
        "vigil-collector: metrics at http://{listen}/metrics, snapshot at http://{listen}/api/v1/snapshot"
    );
    let demo_stop = CancellationToken::new();
    let demo_task = match (with_demo, running.grpc_addr) {
        (true, Some(grpc)) => {
            eprintln!(
                "vigil-collector: demo service exporting to {grpc} every {:?}",
                demo::EXPORT_INTERVAL
            );
            let stop = demo_stop.clone();
            Some(tokio::spawn(async move {
                let result = demo::run(grpc, stop).await;
                if let Err(e) = &result {
                    tracing::error!("demo service stopped: {e}");
                }
                result
            }))
        }
        (true, None) => {
            anyhow::bail!("--demo needs the OTLP/gRPC receiver, which the configuration disables")
        }
        _ => None,
    };
    shutdown_signal().await;
    eprintln!("vigil-collector: shutting down");
    demo_stop.cancel();
    if let Some(task) = demo_task {
        match task.await {
            Ok(Err(_)) => {} // already logged
            Err(e) => eprintln!("vigil-collector: demo task failed: {e}"),
            Ok(Ok(())) => {}
        }
    }
    running.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

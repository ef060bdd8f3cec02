//! `vigil-collector`: parse flags, load config, run until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use vigil_collector::config::{Cli, Command, Config, LogFormat};
use vigil_collector::{app, demo};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { url, timeout }) = &cli.command {
        return vigil_collector::healthcheck::run(url, *timeout);
    }
    if cli.command == Some(Command::Components) {
        print!("{}", vigil_collector::config::keys::markdown());
        return ExitCode::SUCCESS;
    }
    let config = Config::resolve(&cli);
    if cli.command == Some(Command::Validate) {
        // Same loading and messages as a run; nothing is bound or started.
        return match (&cli.config, config) {
            (None, _) => {
                eprintln!("vigil-collector validate: give the file to check with --config FILE");
                ExitCode::FAILURE
            }
            (Some(path), Ok(_)) => {
                println!("{}: valid", path.display());
                ExitCode::SUCCESS
            }
            (_, Err(e)) => {
                eprintln!("vigil-collector: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vigil-collector: {e:#}");
            return ExitCode::from(2);
        }
    };
    // --log-level, else RUST_LOG, else service.telemetry.logs.level, else info.
    let filter = match cli
        .checked_log_filter(config.log_level.as_deref())
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(&f).map_err(|e| format!("{f:?}: {e}")))
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("vigil-collector: {e}");
            return ExitCode::from(2);
        }
    };
    // --log-format, else service.telemetry.logs.encoding, else text.
    let format = cli.log_format.or(config.telemetry.log_format);
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        Some(LogFormat::Json) => logs.json().with_current_span(false).init(),
        Some(LogFormat::Text) | None => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
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
    if let Some(listen) = running.listen_addr {
        eprintln!(
            "vigil-collector: metrics at http://{listen}/metrics, snapshot at http://{listen}/api/v1/snapshot"
        );
    }
    if let Some(addr) = running.telemetry_addr {
        eprintln!("vigil-collector: its own metrics at http://{addr}/metrics");
    }
    let demo_stop = CancellationToken::new();
    let demo_task = match (with_demo, running.grpc_addr) {
        (true, Some(grpc)) => {
            eprintln!(
                "vigil-collector: demo service exporting to {grpc} every {:?}",
                demo::EXPORT_INTERVAL
            );
            let stop = demo_stop.clone();
            Some(tokio::spawn(async move {
                let result = demo::run(grpc, demo::Settings::default(), stop).await;
                if let Err(e) = &result {
                    tracing::error!("demo service stopped: {e}");
                }
                result.map(drop)
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

//! The collector's command-line flags.
//!
//! Flags cover what an operator changes per run: which file to load, the three listen addresses,
//! the store's expiry, the demo service and the log level. Each listener and the expiry can also
//! be set in the file; a flag given on the command line wins over the file, and the file wins
//! over the built-in defaults (see [`super::Config::resolve`]). Values stay strings here and are
//! validated by the same code as the file, so an error names the flag and quotes the value the
//! same way. `--demo` and `--log-level` are runtime details with no file equivalent; `main` reads
//! them from [`Cli`] directly.

use std::path::PathBuf;

use clap::Parser;

/// Receives OTLP from many services, aggregates it, and serves Prometheus text and JSON snapshots.
///
/// Settings come from, in order of precedence: these flags, the --config file, the built-in
/// defaults. With no flags and no file the collector listens on 127.0.0.1 only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(name = "vigil-collector", version)]
pub struct Cli {
    /// What to do; without a command the collector runs.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// YAML configuration file in the OpenTelemetry Collector's shape (see otel-config/).
    ///
    /// `${env:NAME}` and `${env:NAME:-default}` in the file are replaced by environment
    /// variables before it is parsed. Without a file, the built-in defaults are used.
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Listen address for OTLP/gRPC [default: 127.0.0.1:4317].
    ///
    /// HOST:PORT with an IP address or `localhost` (taken as 127.0.0.1) as HOST. Overrides
    /// receivers.otlp.protocols.grpc.endpoint, and enables the gRPC receiver if the file
    /// disabled it.
    #[arg(long, value_name = "ADDR")]
    pub otlp_grpc: Option<String>,

    /// Listen address for OTLP/HTTP [default: 127.0.0.1:4318].
    ///
    /// HOST:PORT with an IP address or `localhost` (taken as 127.0.0.1) as HOST. Overrides
    /// receivers.otlp.protocols.http.endpoint, and enables the HTTP receiver if the file
    /// disabled it.
    #[arg(long, value_name = "ADDR")]
    pub otlp_http: Option<String>,

    /// Listen address for /metrics, /api/v1/snapshot, /healthz and /readyz [default: 127.0.0.1:9464].
    ///
    /// HOST:PORT with an IP address or `localhost` (taken as 127.0.0.1) as HOST. Overrides
    /// exporters.prometheus.endpoint.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Drop a series after it has not been updated for this long [default: 5m].
    ///
    /// A duration such as `30s`, `5m` or `1h 30m`; must be greater than zero. Overrides
    /// exporters.prometheus.metric_expiration.
    #[arg(long, value_name = "DURATION")]
    pub expire_after: Option<String>,

    /// Also run an in-process demo service that sends metrics to this collector.
    #[arg(long)]
    pub demo: bool,

    /// Log filter, such as `info` or `vigil_collector=debug,info` [default: $RUST_LOG, else info].
    ///
    /// Takes the `tracing-subscriber` env-filter syntax. When the flag is absent, a non-empty
    /// RUST_LOG is used instead.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log line format [default: service.telemetry.logs.encoding, else text].
    ///
    /// `text` writes colours only when stderr is a terminal.
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub log_format: Option<super::LogFormat>,
}

/// Subcommands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Check the --config file (and the flags) and exit: 0 when valid, 1 with the error when not.
    Validate,
    /// List the components Vigil has and the keys each accepts, and exit.
    Components,
    /// GET URL (http://IP:PORT/PATH) and exit 0 on a 2xx answer, 1 otherwise: a container
    /// HEALTHCHECK with no shell or curl, e.g. `healthcheck http://127.0.0.1:9464/healthz`.
    Healthcheck {
        /// The URL to GET.
        url: String,
        /// Give up after this long (`3s`, `500ms`).
        #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
}

impl Cli {
    /// The log filter to install: `--log-level` if given, else a non-empty `RUST_LOG`, else the
    /// file's `service.telemetry.logs.level`, else `info`.
    pub fn log_filter(&self, configured: Option<&str>) -> String {
        self.log_filter_with(std::env::var("RUST_LOG").ok(), configured)
    }

    /// The log filter, checked: a plain level must be one of `trace`, `debug`, `info`, `warn`,
    /// `error` or `off`, and a directive list (`target=level,...`) must parse, so that a typo
    /// is an error rather than a filter that silently logs nothing or everything.
    pub fn checked_log_filter(&self, configured: Option<&str>) -> Result<String, String> {
        let filter = self.log_filter(configured);
        check_log_filter(&filter)?;
        Ok(filter)
    }

    fn log_filter_with(&self, rust_log: Option<String>, configured: Option<&str>) -> String {
        self.log_level
            .clone()
            .or(rust_log.filter(|filter| !filter.trim().is_empty()))
            .or(configured.map(str::to_owned))
            .unwrap_or_else(|| "info".to_owned())
    }
}

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

fn check_log_filter(filter: &str) -> Result<(), String> {
    if filter.trim().is_empty() {
        return Err("the log level is empty".to_owned());
    }
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = match directive.rsplit_once('=') {
            Some(("", _)) => return Err(format!("log directive {directive:?} names no target")),
            Some((_, level)) => level,
            None => directive,
        };
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "invalid log level {level:?} in {filter:?}: use one of {}, or TARGET=LEVEL \
                 directives separated by commas",
                LEVELS.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::config::{
        DEFAULT_EXPIRE_AFTER, DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT,
        DEFAULT_PROMETHEUS_ENDPOINT,
    };

    #[test]
    fn log_levels_are_checked() {
        for good in [
            "info",
            "DEBUG",
            "vigil_collector=debug,info",
            "off",
            "h2=warn, info",
        ] {
            assert_eq!(check_log_filter(good), Ok(()), "{good}");
        }
        assert_eq!(
            check_log_filter("verbose"),
            Err(
                "invalid log level \"verbose\" in \"verbose\": use one of trace, debug, info, \
                 warn, error, off, or TARGET=LEVEL directives separated by commas"
                    .to_owned()
            )
        );
        assert!(check_log_filter("x=loud").is_err());
        assert!(check_log_filter("=info").is_err());
        assert!(check_log_filter(" ").is_err());
    }

    #[test]
    fn command_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_every_flag() {
        let cli = Cli::try_parse_from([
            "vigil-collector",
            "--config",
            "c.yaml",
            "--otlp-grpc",
            "0.0.0.0:1",
            "--otlp-http",
            "0.0.0.0:2",
            "--listen",
            "0.0.0.0:3",
            "--expire-after",
            "1h 30m",
            "--demo",
            "--log-level",
            "debug",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(
            cli,
            Cli {
                command: None,
                config: Some(PathBuf::from("c.yaml")),
                otlp_grpc: Some("0.0.0.0:1".into()),
                otlp_http: Some("0.0.0.0:2".into()),
                listen: Some("0.0.0.0:3".into()),
                expire_after: Some("1h 30m".into()),
                demo: true,
                log_level: Some("debug".into()),
                log_format: Some(crate::config::LogFormat::Json),
            }
        );
    }

    #[test]
    fn no_flags_leaves_everything_to_the_file() {
        let cli = Cli::try_parse_from(["vigil-collector"]).unwrap();
        assert_eq!(cli, Cli::default());
    }

    #[test]
    fn help_shows_the_real_defaults() {
        let help = Cli::command().render_help().to_string();
        for default in [
            DEFAULT_GRPC_ENDPOINT.to_string(),
            DEFAULT_HTTP_ENDPOINT.to_string(),
            DEFAULT_PROMETHEUS_ENDPOINT.to_string(),
            humantime::format_duration(DEFAULT_EXPIRE_AFTER).to_string(),
        ] {
            assert!(
                help.contains(&format!("[default: {default}]")),
                "{default} missing from:\n{help}"
            );
        }
    }

    #[test]
    fn log_level_flag_beats_rust_log_which_beats_info() {
        let flag = Cli {
            log_level: Some("debug".into()),
            ..Cli::default()
        };
        assert_eq!(
            flag.log_filter_with(Some("warn".into()), Some("error")),
            "debug"
        );
        let none = Cli::default();
        assert_eq!(
            none.log_filter_with(Some("warn".into()), Some("error")),
            "warn"
        );
        assert_eq!(none.log_filter_with(Some(" ".into()), None), "info");
        assert_eq!(none.log_filter_with(None, Some("error")), "error");
        assert_eq!(none.log_filter_with(None, None), "info");
    }
}

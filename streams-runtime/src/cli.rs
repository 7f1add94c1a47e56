//! Binaries: the standard flags of a streams application, signals, tracing, the embedded broker,
//! and the run loop that `#[streams::main]` expands to.
//!
//! Settings apply in this order, later ones winning: defaults, `STREAMS_*` environment variables,
//! command-line flags. Without bootstrap servers the binary starts the embedded broker.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::app::KafkaStreams;
use crate::config::{ProcessingGuarantee, StreamsConfig};
use crate::dsl::StreamsBuilder;
use crate::error::StreamsError;
use crate::kafka::{EmbeddedBroker, StoreSnapshot};
use crate::topology::Topology;

/// The flags every streams binary accepts (flatten it into your own `clap` parser).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AppArgs {
    /// Kafka bootstrap servers; without them an embedded broker is started in-process.
    #[arg(long)]
    pub bootstrap_servers: Option<String>,
    /// The application id (consumer group and internal topic prefix).
    #[arg(long)]
    pub application_id: Option<String>,
    /// The number of stream threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// The state directory.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// The processing guarantee.
    #[arg(long)]
    pub processing_guarantee: Option<ProcessingGuarantee>,
    /// Print the topology and exit.
    #[arg(long)]
    pub describe: bool,
    /// Exit cleanly once every assigned partition is drained and no record arrived for this many
    /// milliseconds (default: run until SIGINT or SIGTERM).
    #[arg(long)]
    pub idle_exit_ms: Option<u64>,
}

impl AppArgs {
    /// The configuration: defaults, then `STREAMS_*` variables from `env`, then these flags.
    pub fn config(
        &self,
        default_application_id: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<StreamsConfig, StreamsError> {
        let mut config = StreamsConfig::new(default_application_id);
        config.apply_env(env)?;
        if let Some(servers) = &self.bootstrap_servers {
            config.set("bootstrap.servers", servers)?;
        }
        if let Some(id) = &self.application_id {
            config.set("application.id", id)?;
        }
        if let Some(threads) = self.threads {
            config.set("num.stream.threads", &threads.to_string())?;
        }
        if let Some(dir) = &self.state_dir {
            config.state_dir = dir.clone();
        }
        if let Some(guarantee) = self.processing_guarantee {
            config.set("processing.guarantee", guarantee.as_str())?;
        }
        Ok(config)
    }
}

/// Sends log output (`RUST_LOG`, default `info`) to stderr. Safe to call more than once.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Which stop signal has arrived: SIGINT or SIGTERM.
///
/// Watching sets flags from the signal handler and nothing else, so no thread or async runtime is
/// needed: the run loop looks at [`received`](Self::received) between its checks. A second stop
/// signal, once the first was seen, exits the process at once (status 1), for an operator whose
/// clean shutdown is taking too long.
#[derive(Debug, Clone)]
pub struct StopSignals {
    interrupt: Arc<AtomicBool>,
    terminate: Arc<AtomicBool>,
}

impl StopSignals {
    /// Starts watching for SIGINT and SIGTERM.
    pub fn watch() -> Result<Self, StreamsError> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let signals = StopSignals {
            interrupt: Arc::default(),
            terminate: Arc::default(),
        };
        for (signal, flag) in [(SIGINT, &signals.interrupt), (SIGTERM, &signals.terminate)] {
            // The conditional shutdown is registered first, so it sees the flag as it was before
            // this delivery: set only by an earlier signal.
            signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(flag))
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(flag)))
                .map_err(StreamsError::Signals)?;
        }
        Ok(signals)
    }

    /// The name of the first stop signal that arrived, if any.
    pub fn received(&self) -> Option<&'static str> {
        if self.interrupt.load(Ordering::Acquire) {
            Some("SIGINT")
        } else if self.terminate.load(Ordering::Acquire) {
            Some("SIGTERM")
        } else {
            None
        }
    }
}

/// Where the instance's broker comes from.
#[derive(Debug)]
pub enum Broker {
    /// An external cluster named by `bootstrap.servers`.
    External,
    /// The in-process embedded broker (kept alive while the instance runs).
    Embedded(EmbeddedBroker),
}

/// Starts the embedded broker when `config` names no servers, and points `config` at it.
pub fn connect(config: &mut StreamsConfig) -> Result<Broker, StreamsError> {
    if config.bootstrap_servers.is_some() {
        return Ok(Broker::External);
    }
    let broker = EmbeddedBroker::start()?;
    tracing::info!(
        servers = broker.bootstrap_servers(),
        "started the embedded broker"
    );
    config.bootstrap_servers = Some(broker.bootstrap_servers().to_owned());
    Ok(Broker::Embedded(broker))
}

/// Runs `topology` until a signal, a failure, or (with `idle_exit`) quiet; then closes cleanly
/// and returns the final store contents of the tasks this instance owned.
pub fn run(
    topology: Topology,
    config: StreamsConfig,
    broker: &Broker,
    idle_exit: Option<Duration>,
) -> Result<Vec<StoreSnapshot>, StreamsError> {
    if let Broker::Embedded(embedded) = broker {
        embedded.prepare(&topology, &config)?;
    }
    let signals = StopSignals::watch()?;
    let mut app = KafkaStreams::new(topology, config)?;
    app.start()?;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(signal) = signals.received() {
            tracing::info!("{signal}: shutting down");
            break;
        }
        if app.has_failed() {
            break;
        }
        if let Some(quiet) = idle_exit
            && app.is_idle(quiet)
        {
            tracing::info!(quiet_ms = quiet.as_millis() as u64, "idle: shutting down");
            break;
        }
        app.refresh_state();
    }
    app.close()
}

/// The whole `main` of a `#[streams::main]` binary: flags, tracing, `--describe`, the
/// embedded broker when no servers are given, signals, and a clean shutdown.
pub fn run_main(
    default_application_id: &'static str,
    build: impl FnOnce(&StreamsBuilder),
) -> ExitCode {
    use clap::{Args, Command, FromArgMatches};
    let command = AppArgs::augment_args(Command::new(default_application_id));
    let args = match AppArgs::from_arg_matches(&command.get_matches()) {
        Ok(args) => args,
        Err(error) => error.exit(),
    };
    init_tracing();
    let builder = StreamsBuilder::new();
    build(&builder);
    let result = builder
        .build()
        .map_err(StreamsError::from)
        .and_then(|topology| {
            if args.describe {
                print!("{}", topology.describe());
                return Ok(());
            }
            let mut config = args.config(default_application_id, std::env::vars())?;
            let broker = connect(&mut config)?;
            run(
                topology,
                config,
                &broker,
                args.idle_exit_ms.map(Duration::from_millis),
            )
            .map(drop)
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

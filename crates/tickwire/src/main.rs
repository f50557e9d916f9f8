//! The `tickwire` command: glue between the command line and the libraries.
//!
//! - `tickwire serve`: run the game server.
//! - `tickwire bot`: run one headless bot against a server.
//! - `tickwire swarm`: run many bots from one process and report load figures.
//!
//! Each command runs one game, chosen by name from the games this binary links ([`GAMES`]);
//! [`with_game!`] turns the name into the game's types, so everything below is compiled once
//! per game with static dispatch.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tickwire_bot::swarm::{SwarmOptions, run_swarm};
use tickwire_bot::{BotGame, BotOptions, BotReport, run_bot};
use tickwire_net::{Game, Server, ServerConfig};
use tracing_subscriber::EnvFilter;

/// The games this binary runs, by name.
const GAMES: &[&str] = &["arena", "cards", "tag"];

/// Runs `$body` with `$Server` (the game's [`Game`]) and `$Wire` (its schema, a [`BotGame`])
/// bound to the types of the game named `$name`, or fails with the list of games.
macro_rules! with_game {
    ($name:expr, |$Server:ident, $Wire:ident| $body:expr) => {
        match $name {
            "arena" => {
                type $Server = tickwire_arena::ArenaGame;
                type $Wire = tickwire_arena::Arena;
                $body
            }
            "cards" => {
                type $Server = tickwire_cards::CardsGame;
                type $Wire = tickwire_cards::Cards;
                $body
            }
            "tag" => {
                type $Server = tickwire_tag::TagGame;
                type $Wire = tickwire_tag::Tag;
                $body
            }
            other => Err(anyhow::anyhow!(
                "unknown game {other:?}: this binary runs {}",
                GAMES.join(", ")
            )),
        }
    };
}

#[derive(Debug, Parser)]
#[command(
    name = "tickwire",
    version,
    about = "Authoritative multiplayer game-state server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the game server.
    Serve(ServeArgs),
    /// Run one headless bot that joins a server and plays.
    Bot(BotArgs),
    /// Run many bots from one process and report load figures (a load test).
    Swarm(SwarmArgs),
    /// Merge the JSON reports of swarms run at the same time (say, one per load machine against
    /// one cluster) into one report: counts add up, latency histograms merge exactly.
    SwarmMerge(SwarmMergeArgs),
    /// Re-simulate a recorded match (a file from the server's `record_dir`) and check every
    /// state hash: exits non-zero at the first tick that differs.
    Replay(ReplayArgs),
    /// Mint a signed session token for a server with `auth_secret` set (for testing).
    Token(TokenArgs),
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The match log (`records/*.twmatch`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Instead of checking it at full speed, host the match for spectators: the browser page
    /// and `tickwire bot --spectate` watch it (any room name joins it); each new spectator
    /// after the end starts it again.
    #[arg(long)]
    serve: bool,
    /// With --serve: the address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7700")]
    addr: std::net::SocketAddr,
    /// With --serve: how many times the recorded speed (0.01 to 100).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    speed: f64,
}

#[derive(Debug, clap::Args)]
struct SwarmMergeArgs {
    /// The reports (`tickwire swarm --report FILE.json` of each swarm).
    #[arg(value_name = "REPORT.json", required = true)]
    reports: Vec<PathBuf>,
    /// Write the merged JSON report to this file.
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// The server's shared secret (default: the TICKWIRE_AUTH_SECRET environment variable).
    #[arg(long, env = "TICKWIRE_AUTH_SECRET", hide_env_values = true)]
    secret: String,
    /// Your backend's id for the player.
    #[arg(long)]
    player: u64,
    /// The player's name; the Hello must use exactly this name.
    #[arg(long)]
    name: String,
    /// Seconds until the token expires.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    ttl: u64,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML; keys as in assets/server.toml). Flags below override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The game to run: arena (default), cards or tag (overrides the file's `game`).
    #[arg(long, value_name = "NAME")]
    game: Option<String>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<std::net::SocketAddr>,
    /// Simulation ticks per second (10-128).
    #[arg(long, value_name = "HZ")]
    tick_rate: Option<u32>,
    /// Arena only: wandering non-player entities per room (the [arena] table's `npcs`).
    #[arg(long, value_name = "N")]
    npcs: Option<usize>,
    /// Arena only: a built-in map name (arena, open) or a map file (the [arena] table's `map`).
    #[arg(long, value_name = "MAP")]
    map: Option<String>,
    /// Join a cluster whose room directory is this Redis (redis://HOST:PORT or
    /// redis+unix:///path/to/socket). Needs --public-url and TICKWIRE_CLUSTER_SECRET.
    #[arg(long, value_name = "REDIS_URL")]
    cluster: Option<String>,
    /// With --cluster: the WebSocket URL players reach this node at (ws://HOST:PORT/ws).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// With --cluster: this node's id, unique in the cluster (default: from the public URL).
    #[arg(long, value_name = "ID")]
    node_id: Option<String>,
    /// With --cluster: the cluster's shared secret (signs seats; 16 bytes or more).
    #[arg(long, env = "TICKWIRE_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: Option<String>,
    /// With --cluster: the most rooms this node owns at once.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    room_cap: u32,
    /// With --cluster: seconds rooms may finish after SIGTERM before their players are sent
    /// to matchmake again.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    drain_timeout: f64,
    /// Report the lifecycle to the Agones SDK sidecar (AGONES_SDK_HTTP_PORT): Ready, health,
    /// Counters, Allocate, Shutdown; with --cluster and no --public-url, the GameServer's
    /// address is the node's URL. (Built with the `agones` feature.)
    #[cfg(feature = "agones")]
    #[arg(long)]
    agones: bool,
}

/// How `serve` joins a cluster.
#[derive(Debug)]
struct ClusterArgs {
    redis: String,
    options: tickwire_net::server::cluster::ClusterOptions,
}

#[derive(Debug, clap::Args)]
struct BotArgs {
    /// The game the server runs: arena (default), cards or tag.
    #[arg(long, value_name = "NAME", default_value = "arena")]
    game: String,
    /// Server WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:7700/ws")]
    url: String,
    /// Display name.
    #[arg(long, default_value = "bot")]
    name: String,
    /// Room to join (default: any room with a free seat).
    #[arg(long)]
    room: Option<String>,
    /// Seconds to play (default: until the server closes the connection).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Write a JSON report to this file at the end.
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    /// Join as a spectator: see the whole room, send no game input.
    #[arg(long)]
    spectate: bool,
    /// Seed of the bot's brain (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Send this chat line once after joining (repeatable).
    #[arg(long, value_name = "TEXT")]
    chat: Vec<String>,
    /// Session token for a server with authentication on (see `tickwire token`).
    #[arg(long)]
    token: Option<String>,
    /// For a wss:// URL: trust the certificates in this PEM file (a private authority or a
    /// self-signed certificate) instead of the usual public authorities.
    #[arg(long, value_name = "FILE.pem")]
    ca_cert: Option<PathBuf>,
    /// Play through a cluster's matchmakers (http://HOST:PORT of any nodes, comma-separated)
    /// instead of --url: ask for a seat, join the node it names, and ask again (with backoff)
    /// whenever the session ends early, until --duration is over.
    #[arg(long, value_name = "URL[,URL...]", value_delimiter = ',')]
    matchmaker: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct SwarmArgs {
    /// The game the server runs: arena (default), cards or tag.
    #[arg(long, value_name = "NAME", default_value = "arena")]
    game: String,
    /// Server WebSocket URL; /metrics is scraped from the same host and port.
    #[arg(long, default_value = "ws://127.0.0.1:7700/ws")]
    url: String,
    /// Go through a cluster's matchmakers (http://HOST:PORT of any nodes, comma-separated)
    /// instead of --url: each bot asks one for a seat and joins the node it names; every node's
    /// /metrics is scraped and summed; the report adds matchmaking latency and bots per node.
    #[arg(long, value_name = "URL[,URL...]", value_delimiter = ',')]
    matchmaker: Vec<String>,
    /// Bots to run (each needs a file descriptor: raise `ulimit -n` for thousands).
    #[arg(long, value_name = "N")]
    bots: usize,
    /// Spread the bots over R rooms named swarm-0..swarm-{R-1} (default: let the server match).
    #[arg(long, value_name = "R")]
    rooms: Option<usize>,
    /// Seconds of the measured window.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    duration: f64,
    /// New connections per second during the ramp-up.
    #[arg(long, value_name = "PER_SEC", default_value_t = 200.0)]
    ramp: f64,
    /// Seconds to wait after the ramp-up before measuring.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    warmup: f64,
    /// Write the JSON report to this file at the end.
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    /// Brain seed of the first bot (bot i uses SEED + i).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Soak mode: every bot leaves after MIN..MAX seconds (default 3..12) and a fresh one joins in
    /// its place, all run long; the report compares the server's memory, file descriptors and
    /// tasks at both ends of the window.
    #[arg(long, value_name = "MIN..MAX", num_args = 0..=1, default_missing_value = "3..12")]
    soak: Option<String>,
    /// After the bots stop, measure the kernel's floor for the same traffic (as many loopback
    /// connections, the measured message sizes, one write and one read per connection per tick,
    /// nothing else) for SECS seconds, and quote the server's and the swarm's CPU as ratios to
    /// it.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "5")]
    floor: Option<f64>,
    /// Threads to run the bots on (default: one per CPU).
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    /// Bots that run prediction and interpolation as a player's client does (0 for none); the
    /// report's `sample` section has their prediction figures.
    #[arg(long, value_name = "N", default_value_t = 10)]
    sample: usize,
    /// Share of the bots (0..1) that read slowly, like players on a slow downlink; their
    /// figures are reported apart, in `slow`.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    slow_fraction: f64,
    /// Bytes per second a slow bot reads from its socket.
    #[arg(long, value_name = "BYTES", default_value_t = 2000)]
    slow_bytes_per_s: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Bot(args) => bot(args).await,
            Command::Swarm(args) => swarm(args).await,
            Command::Token(args) => token(args),
            Command::SwarmMerge(args) => swarm_merge(args),
            Command::Replay(args) => replay(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let mut config = match &args.config {
        Some(path) => ServerConfig::load(path)?,
        None => ServerConfig::default(),
    };
    if let Some(addr) = args.addr {
        config.addr = addr;
    }
    if let Some(tick_rate) = args.tick_rate {
        config.tick_rate = tick_rate;
    }
    if let Some(game) = args.game {
        config.game = game;
    }
    if args.npcs.is_some() || args.map.is_some() {
        if config.game != "arena" {
            anyhow::bail!(
                "--npcs and --map are arena settings; this server runs {}",
                config.game
            );
        }
        let arena = config.game_table_mut("arena");
        if let Some(npcs) = args.npcs {
            arena.insert("npcs".into(), (npcs.min(i64::MAX as usize) as i64).into());
        }
        if let Some(map) = args.map {
            arena.insert("map".into(), map.into());
        }
    }
    config.apply_env();
    config.validate()?;
    let cluster = match args.cluster {
        None => None,
        Some(redis) => {
            #[cfg(feature = "agones")]
            let from_agones = args.agones;
            #[cfg(not(feature = "agones"))]
            let from_agones = false;
            let public_url = match args.public_url {
                Some(url) => url,
                // Agones gives the address once its sidecar answers.
                None if from_agones => String::new(),
                None => anyhow::bail!("--cluster needs --public-url ws://HOST:PORT/ws"),
            };
            let secret = args.cluster_secret.ok_or_else(|| {
                anyhow::anyhow!("--cluster needs the cluster's secret in TICKWIRE_CLUSTER_SECRET")
            })?;
            let node_id = args.node_id.unwrap_or_else(|| {
                // From the public URL's host and port, or (under Agones) the pod's name.
                let source = if public_url.is_empty() {
                    std::env::var("HOSTNAME").unwrap_or_default()
                } else {
                    public_url
                        .trim_start_matches("wss://")
                        .trim_start_matches("ws://")
                        .split('/')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                };
                source
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .take(64)
                    .collect()
            });
            if !(args.drain_timeout >= 0.0 && args.drain_timeout <= 3600.0) {
                anyhow::bail!("--drain-timeout must be 0 to 3600 seconds");
            }
            let mut options = tickwire_net::server::cluster::ClusterOptions::new(
                node_id,
                public_url,
                secret.into_bytes(),
            );
            options.room_cap = args.room_cap;
            options.drain_timeout = Duration::from_secs_f64(args.drain_timeout);
            Some(ClusterArgs { redis, options })
        }
    };
    #[cfg(feature = "agones")]
    let agones = args.agones;
    #[cfg(not(feature = "agones"))]
    let agones = false;
    let game = config.game.clone();
    with_game!(game.as_str(), |G, _W| serve_game::<G>(
        config, cluster, agones
    )
    .await)
}

async fn serve_game<G: Game>(
    config: ServerConfig,
    cluster: Option<ClusterArgs>,
    agones: bool,
) -> Result<()> {
    let results_db = config.results_db.clone();
    let mut server = Server::<G>::bind(config).await?;
    if !results_db.is_empty() {
        let url = results_db.clone();
        let store = tokio::task::spawn_blocking(move || tickwire_records::open(&url))
            .await
            .context("opening the results database")?
            .map_err(|error| anyhow::anyhow!("results_db {}: {error}", redacted(&results_db)))?;
        server = server.with_match_store(store);
    }
    #[cfg(feature = "agones")]
    if agones {
        server = server.with_agones(tickwire_net::server::agones::AgonesOptions::from_env());
        println!("reporting to the Agones sidecar");
    }
    #[cfg(not(feature = "agones"))]
    let _ = agones;
    if let Some(cluster) = cluster {
        let directory = tickwire_cluster::RedisDirectory::connect(&cluster.redis, "tickwire")
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "cannot reach the cluster's Redis {}: {error}",
                    cluster.redis
                )
            })?;
        let node = cluster.options.node_id.clone();
        server = server.with_cluster(std::sync::Arc::new(directory), cluster.options)?;
        println!("cluster node {node} on {}", cluster.redis);
    }
    println!("listening on {}", server.url());
    server.run(shutdown_signal(), Duration::from_secs(5)).await;
    println!("server stopped");
    Ok(())
}

/// Completes on the first Ctrl-C or SIGTERM; a second one exits at once.
async fn shutdown_signal() {
    wait_for_signal().await;
    tracing::info!("shutdown requested (signal again to force)");
    tokio::spawn(async {
        wait_for_signal().await;
        eprintln!("forced exit");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn bot(args: BotArgs) -> Result<()> {
    let duration = match args.duration {
        Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
            Some(Duration::from_secs_f64(seconds))
        }
        Some(seconds) => {
            anyhow::bail!("--duration must be a positive number of seconds, got {seconds}")
        }
        None => None,
    };
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64)
    });
    let options = BotOptions {
        url: args.url.clone(),
        name: args.name.clone(),
        room: args.room.clone(),
        spectate: args.spectate,
        duration,
        seed,
        chat: args.chat.clone(),
        token: args.token.clone(),
        tls: args.ca_cert.as_deref().map(trusting).transpose()?,
        matchmakers: args.matchmaker.clone(),
        ..BotOptions::default()
    };
    let game = args.game.clone();
    with_game!(game.as_str(), |_G, W| bot_game::<W>(options, &args).await)
}

async fn bot_game<W: BotGame>(options: BotOptions, args: &BotArgs) -> Result<()> {
    let report = run_bot::<W>(options)
        .await
        .with_context(|| format!("bot could not join {}", args.url))?;
    print_summary(&report)?;
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write report {}", path.display()))?;
        println!("report written to {}", path.display());
    }
    Ok(())
}

async fn swarm(args: SwarmArgs) -> Result<()> {
    let seconds = |flag: &str, value: f64, zero_ok: bool| {
        let kind = if zero_ok { "non-negative" } else { "positive" };
        if value.is_finite() && (value > 0.0 || (zero_ok && value == 0.0)) {
            Ok(Duration::from_secs_f64(value))
        } else {
            anyhow::bail!("{flag} must be a {kind} number of seconds, got {value}")
        }
    };
    let options = SwarmOptions {
        url: args.url.clone(),
        bots: args.bots,
        rooms: args.rooms,
        duration: seconds("--duration", args.duration, false)?,
        warmup: seconds("--warmup", args.warmup, true)?,
        ramp_per_s: args.ramp,
        seed: args.seed,
        progress: true,
        soak: args.soak.as_deref().map(parse_soak).transpose()?,
        floor: args
            .floor
            .map(|value| seconds("--floor", value, false))
            .transpose()?,
        shards: args.shards,
        sample: args.sample,
        slow_fraction: args.slow_fraction,
        slow_bytes_per_s: args.slow_bytes_per_s,
        matchmakers: args.matchmaker.clone(),
        ..SwarmOptions::default()
    };
    let game = args.game.clone();
    with_game!(game.as_str(), |_G, W| swarm_game::<W>(options, &args).await)
}

async fn swarm_game<W: BotGame>(options: SwarmOptions, args: &SwarmArgs) -> Result<()> {
    let report = run_swarm::<W>(options).await?;
    print!("{report}");
    println!(
        "game figures: {}",
        serde_json::to_string(&report.game_figures)?
    );
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write report {}", path.display()))?;
        println!("report written to {}", path.display());
    }
    // A load test in which nothing connected measured nothing: say so in the exit status.
    if report.connected == 0 {
        anyhow::bail!(
            "no bot could connect to {} (see the connect failures above)",
            report.url
        );
    }
    Ok(())
}

async fn replay(args: ReplayArgs) -> Result<()> {
    let file = std::fs::read(&args.file)
        .with_context(|| format!("cannot read match log {}", args.file.display()))?;
    // The log names its game; the header is read again by the game's replayer.
    let (records, _) = tickwire_net::journal::inflate(&file)
        .map_err(|error| anyhow::anyhow!("{}: {error}", args.file.display()))?;
    let header = match tickwire_net::journal::Reader::new().next_entry::<()>(&records) {
        Some(Ok(tickwire_net::journal::Entry::Header(header))) => header,
        _ => anyhow::bail!("{}: the log has no header", args.file.display()),
    };
    let game = header.game.clone();
    if args.serve {
        return with_game!(game.as_str(), |G, _W| replay_serve::<G>(&args, &game, file)
            .await);
    }
    with_game!(game.as_str(), |G, _W| replay_game::<G>(&args.file, &file))
}

/// `tickwire replay FILE --serve`: a server whose one room replays the match for spectators.
/// `game` is the log's, which with_game! chose `G` from.
async fn replay_serve<G: Game>(args: &ReplayArgs, game: &str, file: Vec<u8>) -> Result<()> {
    let config = ServerConfig {
        addr: args.addr,
        game: game.to_string(),
        // A replay records nothing and stores no results.
        record_dir: PathBuf::new(),
        results_db: String::new(),
        ..ServerConfig::default()
    };
    let server = Server::<G>::bind(config)
        .await?
        .with_replay(file, args.speed)
        .map_err(|error| anyhow::anyhow!("{}: {error}", args.file.display()))?;
    println!(
        "replaying {} at {}x; spectate at {} (the browser page, or `tickwire bot --spectate --url ...`)",
        args.file.display(),
        args.speed,
        server.url()
    );
    println!("listening on {}", server.url());
    server.run(shutdown_signal(), Duration::from_secs(2)).await;
    Ok(())
}

fn replay_game<G: Game>(path: &std::path::Path, file: &[u8]) -> Result<()> {
    use tickwire_net::replay::Replayer;
    let started = std::time::Instant::now();
    let replayer = Replayer::<G>::open(file).map_err(|error| anyhow::anyhow!("{error}"))?;
    let header = replayer.header().clone();
    println!(
        "{}: {} room {:?}, seed {}, {} Hz, recorded by {}",
        path.display(),
        header.game,
        header.room,
        header.seed,
        header.tick_rate,
        header.server
    );
    // A step that panicked in the match panics here too: say where, as a divergence would.
    let verified = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| replayer.verify()))
        .map_err(|_| anyhow::anyhow!("the game panicked while replaying (see above)"))?
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let match_seconds = f64::from(verified.ticks) / f64::from(header.tick_rate.max(1));
    println!(
        "verified: {} ticks ({match_seconds:.1} s of play), {} joins, {} commands; {} checks and {} \
         whole hashes match; replayed in {seconds:.2} s ({:.0} ticks/s, {:.0}x real time)",
        verified.ticks,
        verified.joins,
        verified.inputs,
        verified.checks,
        verified.hashes,
        f64::from(verified.ticks) / seconds.max(1e-9),
        match_seconds / seconds.max(1e-9)
    );
    match (&verified.end, verified.truncated) {
        (Some(end), false) => println!("the match ended: {end}"),
        (Some(end), true) => println!("the log is truncated: it ends with \"{end}\""),
        (None, _) => println!(
            "the log is truncated: it stops after tick {} (the server stopped before the match \
             ended); everything in it matches",
            verified.ticks
        ),
    }
    Ok(())
}

fn swarm_merge(args: SwarmMergeArgs) -> Result<()> {
    let mut parts = Vec::with_capacity(args.reports.len());
    for path in &args.reports {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read report {}", path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON report", path.display()))?;
        parts.push((path, json));
    }
    let game = parts[0].1["game"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("{} has no \"game\"", parts[0].0.display()))?
        .to_string();
    with_game!(game.as_str(), |_G, W| swarm_merge_game::<W>(parts, &args))
}

fn swarm_merge_game<W: BotGame>(
    parts: Vec<(&PathBuf, serde_json::Value)>,
    args: &SwarmMergeArgs,
) -> Result<()> {
    let mut reports = Vec::with_capacity(parts.len());
    for (path, json) in parts {
        let report: tickwire_bot::swarm::SwarmReport<<W as BotGame>::Figures> =
            serde_json::from_value(json)
                .with_context(|| format!("{} is not a swarm report", path.display()))?;
        reports.push(report);
    }
    let merged = tickwire_bot::swarm::merge_reports(reports).map_err(anyhow::Error::msg)?;
    print!("{merged}");
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&merged)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write report {}", path.display()))?;
        println!("report written to {}", path.display());
    }
    Ok(())
}

/// A database URL with its password, if any, replaced by `***` (for error lines).
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{scheme}://{name}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Parses `MIN..MAX` seconds for --soak.
fn parse_soak(text: &str) -> Result<(Duration, Duration)> {
    let parsed = text.split_once("..").and_then(|(min, max)| {
        let (min, max): (f64, f64) = (min.trim().parse().ok()?, max.trim().parse().ok()?);
        (min.is_finite() && max.is_finite() && min > 0.0 && max >= min).then_some((min, max))
    });
    let (min, max) = parsed.ok_or_else(|| {
        anyhow::anyhow!("--soak takes MIN..MAX seconds with 0 < MIN <= MAX, got {text:?}")
    })?;
    Ok((Duration::from_secs_f64(min), Duration::from_secs_f64(max)))
}

fn token(args: TokenArgs) -> Result<()> {
    if args.secret.is_empty() {
        anyhow::bail!("--secret (or TICKWIRE_AUTH_SECRET) must not be empty");
    }
    tickwire_protocol_validate_name(&args.name)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("system clock before 1970")?
        .as_secs();
    let claims = tickwire_net::auth::Claims {
        player_id: args.player,
        name: args.name,
        expires_at: now.saturating_add(args.ttl),
    };
    println!(
        "{}",
        tickwire_net::auth::mint(args.secret.as_bytes(), &claims)
    );
    Ok(())
}

fn tickwire_protocol_validate_name(name: &str) -> Result<()> {
    tickwire_net::validate_name(name).map_err(|error| anyhow::anyhow!("invalid --name: {error}"))
}

fn print_summary<F: serde::Serialize>(report: &BotReport<F>) -> Result<()> {
    println!(
        "room {} player {}: {} snapshots in {:.1} s ({:.1}/s at {} Hz), up to {} entities seen, last tick {}",
        report.room,
        report.player,
        report.snapshots,
        report.duration_s,
        report.snapshots_per_s,
        report.tick_rate,
        report.entities_seen_max,
        report.last_tick
    );
    println!(
        "inputs sent {}, last acked {}; {:.1} bytes/snapshot, {} snapshot errors; chat received {}",
        report.inputs_sent,
        report.last_input_acked,
        report.bytes_per_snapshot_avg,
        report.snapshot_errors,
        report.chat_received
    );
    println!("game figures: {}", serde_json::to_string(&report.game)?);
    if report.rejoins > 0 || report.matchmake_failures > 0 {
        println!(
            "rejoined {} times through the matchmakers ({} failed attempts)",
            report.rejoins, report.matchmake_failures
        );
    }
    match &report.disconnect_reason {
        None => println!("ended by itself"),
        Some(info) => println!(
            "disconnected: {} ({}) {}",
            info.code,
            tickwire_protocol_name(info.code),
            info.reason
        ),
    }
    Ok(())
}

fn tickwire_protocol_name(code: u16) -> &'static str {
    tickwire_net::close_name(code)
}

/// A TLS client config that trusts exactly the certificates in a PEM file.
fn trusting(path: &std::path::Path) -> Result<std::sync::Arc<rustls::ClientConfig>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path)
        .map_err(|error| anyhow::anyhow!("--ca-cert {}: {error}", path.display()))?
    {
        let cert =
            cert.map_err(|error| anyhow::anyhow!("--ca-cert {}: {error}", path.display()))?;
        roots
            .add(cert)
            .map_err(|error| anyhow::anyhow!("--ca-cert {}: {error}", path.display()))?;
    }
    if roots.is_empty() {
        anyhow::bail!("--ca-cert {}: no certificate in the file", path.display());
    }
    Ok(std::sync::Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

//! Three real `tickwire serve --cluster` processes on a real Redis, with bots playing through
//! `--matchmaker`: one node is killed with SIGKILL, one is stopped with SIGTERM (it drains), one
//! is paused with SIGSTOP past its lifetime and resumed, and Redis is killed and restarted
//! empty. The directory never lists a room twice; the bots keep playing; each node's end is
//! seen by the others within bounds. Bounded to about 45 seconds; ports from the kernel.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tickwire_cluster::RedisDirectory;
use tickwire_cluster::testing::RedisServer;
use tickwire_net::directory::{Directory, RoomEntry};

const SECRET: &str = "the test cluster's shared secret";

struct Node {
    id: String,
    port: u16,
    child: Child,
}

impl Node {
    fn start(id: &str, redis: &str) -> Node {
        // A free port from the kernel (the node binds it right after).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        // Every bot here matchmakes from 127.0.0.1: lift the per-address seat limit.
        let config = std::env::temp_dir().join(format!(
            "tickwire-cluster-node-{}-{id}.toml",
            std::process::id()
        ));
        std::fs::write(
            &config,
            "matchmake_rate = 10000.0\nmatchmake_burst = 10000.0\nrecord_dir = \"\"\nresults_db = \"\"\n",
        )
        .expect("writes the node's config");
        let child = Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args([
                "serve",
                "--config",
                config.to_str().expect("utf-8"),
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--cluster",
                redis,
                "--public-url",
                &format!("ws://127.0.0.1:{port}/ws"),
                "--node-id",
                id,
                "--drain-timeout",
                "2",
            ])
            .env("TICKWIRE_CLUSTER_SECRET", SECRET)
            .env("RUST_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tickwire serve starts");
        Node {
            id: id.to_string(),
            port,
            child,
        }
    }

    fn matchmaker(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 50 ms for at most `limit`; returns how long it took to hold.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

async fn rooms(directory: &RedisDirectory) -> Vec<RoomEntry> {
    directory.rooms().await.unwrap_or_default()
}

/// One matchmaking request, timed: (HTTP status, how long it took).
async fn matchmake(node: &Node) -> (u16, Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let start = Instant::now();
    let body = r#"{"name":"probe"}"#;
    let request = format!(
        "POST /api/matchmake HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", node.port)).await else {
        return (0, start.elapsed());
    };
    let _ = stream.write_all(request.as_bytes()).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    let status = String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_die_drain_stall_and_redis_restarts_while_bots_play() {
    let Some(mut redis) = RedisServer::start("processes") else {
        return;
    };
    let url = redis.url();
    let directory = RedisDirectory::connect(&url, "tickwire")
        .await
        .expect("connects");
    let nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|id| Node::start(id, &url))
        .collect();
    assert!(
        within(Duration::from_secs(10), async || directory
            .nodes()
            .await
            .is_ok_and(|nodes| nodes.len() == 3))
        .await
        .is_some(),
        "three nodes register"
    );

    // Six bots in six rooms, through every node's matchmaker.
    let matchmakers = nodes
        .iter()
        .map(Node::matchmaker)
        .collect::<Vec<_>>()
        .join(",");
    let dir = std::env::temp_dir().join(format!("tickwire-cluster-bots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let mut bots: Vec<Child> = (0..6)
        .map(|index| {
            Command::new(env!("CARGO_BIN_EXE_tickwire"))
                .args([
                    "bot",
                    "--matchmaker",
                    &matchmakers,
                    "--room",
                    &format!("r{index}"),
                    "--name",
                    &format!("bot{index}"),
                    "--duration",
                    "34",
                    "--seed",
                    &index.to_string(),
                    "--report",
                ])
                .arg(dir.join(format!("bot{index}.json")))
                .env("RUST_LOG", "off")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("tickwire bot starts")
        })
        .collect();
    assert!(
        within(Duration::from_secs(10), async || rooms(&directory)
            .await
            .iter()
            .filter(|room| room.players == 1)
            .count()
            == 6)
        .await
        .is_some(),
        "six rooms with a player each: {:?}",
        rooms(&directory).await
    );
    let on =
        |rooms: &[RoomEntry], node: &str| rooms.iter().filter(|room| room.node == node).count();
    let placed = rooms(&directory).await;
    assert!(
        nodes.iter().all(|node| on(&placed, &node.id) == 2),
        "two rooms per node: {placed:?}"
    );

    // kill -9 n1: its rooms leave the directory, and its bots' rooms come back on other nodes.
    nodes[0].signal("-KILL");
    let gone = within(Duration::from_secs(6), async || {
        on(&rooms(&directory).await, "n1") == 0
    })
    .await
    .expect("n1's rooms leave the directory");
    let back = within(Duration::from_secs(12), async || {
        let now = rooms(&directory).await;
        now.len() == 6
            && now
                .iter()
                .all(|room| room.node != "n1" && room.players == 1)
    })
    .await
    .expect("n1's bots play again elsewhere");
    eprintln!("kill -9: rooms gone after {gone:?}, bots seated again after {back:?}");

    // SIGTERM n2: it drains (no new seats), closes its rooms with 1012 after 2 s, deregisters and
    // exits 0; its bots move to n3.
    nodes[1].signal("-TERM");
    let mut n2 = nodes.into_iter().skip(1);
    let mut drained = n2.next().expect("n2");
    let n3 = n2.next().expect("n3");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = drained.child.try_wait().expect("waits") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(12), "n2 exits");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "n2 exits 0: {status:?}");
    eprintln!("SIGTERM: n2 exited 0 after {:?}", started.elapsed());
    let left = directory.nodes().await.expect("nodes");
    assert!(left.iter().all(|node| node.id != "n2"), "{left:?}");
    assert_eq!(on(&rooms(&directory).await, "n2"), 0);
    within(Duration::from_secs(12), async || {
        let now = rooms(&directory).await;
        now.len() == 6 && now.iter().all(|room| room.node == "n3")
    })
    .await
    .expect("every bot plays on n3");

    // SIGSTOP n3 past its lifetime (a new node n4 reaps it), then SIGCONT: n3 learns it was
    // evicted, registers again and claims its rooms back (nobody took their names meanwhile).
    let n4 = Node::start("n4", &url);
    within(Duration::from_secs(10), async || {
        directory
            .nodes()
            .await
            .is_ok_and(|nodes| nodes.iter().any(|node| node.id == "n4"))
    })
    .await
    .expect("n4 registers");
    n3.signal("-STOP");
    let evicted = within(Duration::from_secs(8), async || {
        directory
            .nodes()
            .await
            .is_ok_and(|nodes| nodes.iter().all(|node| node.id != "n3"))
    })
    .await
    .expect("n4 reaps the stalled n3");
    tokio::time::sleep(Duration::from_secs(1)).await;
    n3.signal("-CONT");
    let reclaimed = within(Duration::from_secs(6), async || {
        let now = rooms(&directory).await;
        now.len() == 6 && now.iter().all(|room| room.node == "n3")
    })
    .await
    .expect("n3 claims its six rooms back");
    eprintln!(
        "SIGSTOP: n3 reaped after {evicted:?}; after SIGCONT its rooms back in {reclaimed:?}"
    );

    // Redis dies: matchmaking answers 503 quickly, the rooms keep running; Redis comes back
    // empty: n3 registers again, claims its rooms, and matchmaking works again.
    redis.kill();
    let (status, took) = matchmake(&n3).await;
    assert_eq!(status, 503, "matchmaking without Redis");
    assert!(took < Duration::from_millis(1500), "503 in {took:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.restart_empty();
    let directory = RedisDirectory::connect(&url, "tickwire")
        .await
        .expect("connects again");
    let recovered = within(Duration::from_secs(6), async || {
        matchmake(&n3).await.0 == 200
    })
    .await
    .expect("matchmaking works again after Redis returns");
    within(Duration::from_secs(5), async || {
        rooms(&directory).await.len() >= 6
    })
    .await
    .expect("n3 claims its rooms back into the empty directory");
    eprintln!("Redis restart: matchmaking 503 in {took:?}, back {recovered:?} after Redis");

    // Every bot played the whole time without a snapshot error, rejoining as needed.
    for bot in &mut bots {
        let status = bot.wait().expect("bot ends");
        assert!(status.success(), "{status:?}");
    }
    let mut rejoins = 0;
    for index in 0..6 {
        let text = std::fs::read_to_string(dir.join(format!("bot{index}.json"))).expect("report");
        let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(report["snapshot_errors"], 0, "{report}");
        assert!(report["snapshots"].as_u64().unwrap_or(0) > 200, "{report}");
        rejoins += report["rejoins"].as_u64().unwrap_or(0);
    }
    // Bots of n1 (2) and n2 (2) rejoined at least once each.
    assert!(rejoins >= 4, "{rejoins} rejoins");
    drop((n3, n4));
    let _ = std::fs::remove_dir_all(dir);
}

/// A swarm through two nodes' matchmakers; one node is killed with SIGKILL during the measured
/// window: every bot session it held comes back on the other node through a new matchmake
/// (backoff and jitter, the matchmakers in turn), and the swarm's report says how long that took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_matchmakes_again_when_its_node_dies() {
    let Some(redis) = RedisServer::start("swarm") else {
        return;
    };
    let url = redis.url();
    let directory = RedisDirectory::connect(&url, "tickwire")
        .await
        .expect("connects");
    let n1 = Node::start("s1", &url);
    let n2 = Node::start("s2", &url);
    within(Duration::from_secs(10), async || {
        directory.nodes().await.is_ok_and(|nodes| nodes.len() == 2)
    })
    .await
    .expect("two nodes register");
    let report =
        std::env::temp_dir().join(format!("tickwire-swarm-rejoin-{}.json", std::process::id()));
    let mut swarm = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args([
            "swarm",
            "--matchmaker",
            &format!("{},{}", n1.matchmaker(), n2.matchmaker()),
            "--bots",
            "16",
            "--rooms",
            "8",
            "--warmup",
            "1",
            "--duration",
            "9",
            "--sample",
            "0",
            "--shards",
            "1",
            "--report",
        ])
        .arg(&report)
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tickwire swarm starts");
    within(Duration::from_secs(10), async || {
        rooms(&directory)
            .await
            .iter()
            .map(|room| room.players)
            .sum::<u32>()
            == 16
    })
    .await
    .expect("the swarm's 16 bots play");
    let on_n1 = rooms(&directory)
        .await
        .iter()
        .filter(|room| room.node == "s1")
        .map(|room| room.players)
        .sum::<u32>();
    assert!(on_n1 > 0, "some rooms on s1: {:?}", rooms(&directory).await);
    // Into the measured window (ramp-up of 16 bots plus 1 s of warm-up), then kill s1.
    tokio::time::sleep(Duration::from_secs(2)).await;
    n1.signal("-KILL");
    let status = swarm.wait().expect("the swarm ends");
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&report).expect("the report");
    let _ = std::fs::remove_file(&report);
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let lost: u64 = json["disconnects"]
        .as_object()
        .expect("disconnects")
        .values()
        .filter_map(serde_json::Value::as_u64)
        .sum();
    let rejoin = &json["rejoin_ms"];
    assert_eq!(lost, u64::from(on_n1), "s1's sessions were lost: {json}");
    assert_eq!(
        rejoin["count"].as_u64(),
        Some(lost),
        "every lost session came back: {json}"
    );
    assert!(
        rejoin["max"].as_f64().is_some_and(|max| max < 10_000.0),
        "back within 10 s: {rejoin}"
    );
    assert_eq!(json["snapshot_errors"], 0, "{json}");
    // Afterwards every room is on s2.
    let now = rooms(&directory).await;
    assert!(now.iter().all(|room| room.node == "s2"), "{now:?}");
    eprintln!(
        "swarm: {lost} sessions lost with s1, back playing after p50 {} / max {} ms",
        rejoin["p50"], rejoin["max"]
    );
    drop(n2);
}

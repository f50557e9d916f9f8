//! The Agones lifecycle against a fake SDK sidecar speaking the documented REST paths and JSON,
//! started two seconds after the server (which retries): Ready, health pings that stop while a
//! room stalls, the rooms and players Counters equal to /api/rooms, Allocate on the first
//! player, Shutdown after a graceful stop.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickwire_arena::{Arena, ArenaGame};
use tickwire_net::server::agones::AgonesOptions;
use tickwire_net::{Client, Server, ServerConfig};
use tickwire_tests::{hello, http_get};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request the fake sidecar received: when, method, path, body.
type Seen = Arc<Mutex<Vec<(Instant, String, String, String)>>>;

/// A fake Agones SDK sidecar on `port`: answers every documented path, records each request.
async fn fake_sidecar(port: u16, seen: Seen) {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the sidecar's port is free");
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head and the body (Content-Length).
            let (head, body) = loop {
                let Ok(read) = stream.read(&mut chunk).await else {
                    return;
                };
                if read == 0 {
                    return;
                }
                buffer.extend_from_slice(&chunk[..read]);
                let text = String::from_utf8_lossy(&buffer).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|line| {
                            line.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .and_then(|value| value.trim().parse::<usize>().ok())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break (head.to_string(), body.to_string());
                    }
                }
            };
            let mut words = head.split_whitespace();
            let method = words.next().unwrap_or("").to_string();
            let path = words.next().unwrap_or("").to_string();
            let reply = match (method.as_str(), path.as_str()) {
                ("GET", "/gameserver") => serde_json::json!({
                    "object_meta": {"name": "gs-1"},
                    "status": {"state": "Scheduled", "address": "10.1.2.3",
                               "ports": [{"name": "default", "port": 7654}]}
                })
                .to_string(),
                ("PATCH", counter) if counter.starts_with("/v1beta1/counters/") => {
                    let name = counter.trim_start_matches("/v1beta1/counters/");
                    let count: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                    serde_json::json!({"name": name, "count": count["count"], "capacity": "1000"})
                        .to_string()
                }
                _ => "{}".to_string(),
            };
            seen.lock()
                .expect("not poisoned")
                .push((Instant::now(), method, path, body));
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

fn requests(seen: &Seen, path: &str) -> Vec<(Instant, String)> {
    seen.lock()
        .expect("not poisoned")
        .iter()
        .filter(|(_, _, seen_path, _)| seen_path == path)
        .map(|(at, _, _, body)| (*at, body.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_reaches_a_late_sidecar() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let config = ServerConfig {
        addr: "127.0.0.1:0".parse().expect("an address"),
        record_dir: std::path::PathBuf::new(),
        ..ServerConfig::default()
    };
    let server = Server::<ArenaGame>::bind(config)
        .await
        .expect("binds")
        .with_agones(AgonesOptions {
            sdk_port: port,
            interval: Duration::from_millis(200),
            watchdog: Duration::from_millis(600),
        });
    let (url, addr, control) = (server.url(), server.local_addr(), server.control());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(2),
    ));

    // The sidecar comes up two seconds late; the server keeps trying.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen: Seen = Arc::default();
    let sidecar = tokio::spawn(fake_sidecar(port, Arc::clone(&seen)));
    let wait = async |path: &str, count: usize| {
        for _ in 0..100 {
            if requests(&seen, path).len() >= count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(wait("/ready", 1).await, "Ready");
    assert!(wait("/health", 3).await, "health pings");
    assert!(
        requests(&seen, "/allocate").is_empty(),
        "no Allocate before a player"
    );

    // A player: Allocate, and the counters follow /api/rooms.
    let mut client =
        Client::<Arena>::connect(&url, hello("ann", Some("match")), Duration::from_secs(5))
            .await
            .expect("joins");
    assert!(wait("/allocate", 1).await, "Allocate on the first player");
    let (_, rooms) = http_get(addr, "/api/rooms").await;
    let rooms: serde_json::Value = serde_json::from_str(&rooms).expect("JSON");
    assert_eq!(rooms.as_array().map(Vec::len), Some(1));
    let last_count = |path: &str| {
        requests(&seen, path)
            .last()
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(body).ok())
            .and_then(|value| value["count"].as_str().map(str::to_string))
    };
    assert!(
        {
            let mut matched = false;
            for _ in 0..40 {
                if last_count("/v1beta1/counters/rooms").as_deref() == Some("1")
                    && last_count("/v1beta1/counters/players").as_deref() == Some("1")
                {
                    matched = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            matched
        },
        "counters rooms=1 players=1: {:?} {:?}",
        last_count("/v1beta1/counters/rooms"),
        last_count("/v1beta1/counters/players")
    );

    // The room stalls for 2 s: no health pings while it is stuck, then they resume.
    let pings_before = requests(&seen, "/health").len();
    assert!(control.inject_room_stall("match", Duration::from_secs(2)));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = requests(&seen, "/health").len() - pings_before;
    assert!(
        during <= 2,
        "{during} health pings while the room was stuck"
    );
    assert!(
        wait("/health", pings_before + during + 3).await,
        "pings resume"
    );

    // A graceful stop: Shutdown is asked for after the players were told.
    let _ = client.recv().await;
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the server stops")
        .expect("the server task");
    assert_eq!(requests(&seen, "/shutdown").len(), 1, "Shutdown once");
    sidecar.abort();
}

//! Two server nodes on one real Redis directory, in this process: matchmaking over HTTP on
//! either node sends players to the room's one owner; a seatless Hello to the wrong node is
//! redirected; forged and expired seats are refused before the directory is asked, a used one
//! by the directory; leaving empties the directory; a stopped node leaves it.

use std::sync::Arc;
use std::time::Duration;

use tickwire_arena::Arena;
use tickwire_cluster::RedisDirectory;
use tickwire_cluster::testing::RedisServer;
use tickwire_net::Client;
use tickwire_net::directory::Directory;
use tickwire_net::seat;
use tickwire_protocol::{Hello, ServerMsg, close};
use tickwire_tests::{hello, http_get, http_post, metric, start_cluster_node};

const SECRET: &[u8] = b"a cluster secret of some length";

async fn directory(url: &str, prefix: &str) -> RedisDirectory {
    RedisDirectory::connect(url, prefix)
        .await
        .expect("connects to Redis")
}

/// Waits until `check` holds, for at most `seconds`.
async fn eventually(seconds: u64, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn seated(name: &str, seat: &str) -> Hello {
    Hello {
        seat: Some(seat.to_string()),
        ..hello(name, None)
    }
}

async fn refused(url: &str, hello: Hello) -> (u16, String) {
    match Client::<Arena>::connect(url, hello, Duration::from_secs(5)).await {
        Ok(_) => panic!("joined with a bad seat"),
        Err(tickwire_net::ClientError::Closed(info)) => (info.code, info.reason),
        Err(error) => panic!("expected a close, got {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_directory() {
    let Some(redis) = RedisServer::start("cluster") else {
        return;
    };
    let url = redis.url();
    let view = directory(&url, "c1").await;
    let a = start_cluster_node(Arc::new(directory(&url, "c1").await), "a", SECRET, |_| {}).await;
    let b = start_cluster_node(Arc::new(directory(&url, "c1").await), "b", SECRET, |_| {}).await;
    assert!(
        eventually(5, async || view
            .nodes()
            .await
            .is_ok_and(|nodes| nodes.len() == 2))
        .await,
        "both nodes register"
    );

    // Matchmaking on either node names the one owner of "duel".
    let (status, body) =
        http_post(a.addr, "/api/matchmake", r#"{"name":"ann","room":"duel"}"#).await;
    assert_eq!(status, 200, "{body}");
    let first: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let (status, body) =
        http_post(b.addr, "/api/matchmake", r#"{"name":"bob","room":"duel"}"#).await;
    assert_eq!(status, 200, "{body}");
    let second: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(first["url"], second["url"]);
    assert_eq!(first["room"], "duel");
    let owner_url = first["url"].as_str().expect("a url").to_string();
    let (owner, other) = if owner_url == a.url {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert_eq!(owner.url, owner_url);

    // Both join the owner with their seats: one room, two players.
    let ann_seat = first["seat"].as_str().expect("a seat").to_string();
    let mut ann =
        Client::<Arena>::connect(&owner_url, seated("ann", &ann_seat), Duration::from_secs(5))
            .await
            .expect("ann joins with her seat");
    assert_eq!(ann.welcome().room, "duel");
    let bob = Client::<Arena>::connect(
        &owner_url,
        seated("bob", second["seat"].as_str().expect("a seat")),
        Duration::from_secs(5),
    )
    .await
    .expect("bob joins with his seat");
    assert_eq!(bob.welcome().room, "duel");

    // A seatless Hello to the other node is redirected to the owner (the client follows).
    let calls_before = metric(other.addr, "tickwire_cluster_redirects_total").await;
    let cat = Client::<Arena>::connect(
        &other.url,
        hello("cat", Some("duel")),
        Duration::from_secs(5),
    )
    .await
    .expect("cat is redirected and joins");
    assert_eq!(cat.welcome().room, "duel");
    assert_eq!(
        metric(other.addr, "tickwire_cluster_redirects_total").await,
        calls_before + 1.0
    );
    let rooms = view.rooms().await.expect("rooms");
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    assert_eq!((rooms[0].players, rooms[0].reserved_players), (3, 0));
    // Every node shows the cluster's rooms and nodes.
    let (status, body) = http_get(other.addr, "/api/rooms?scope=cluster").await;
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(listed[0]["id"], "duel");
    assert_eq!(listed[0]["players"], 3);
    let (status, body) = http_get(other.addr, "/api/nodes").await;
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    // A flood of listing requests shares one directory read per second.
    let reads = metric(other.addr, "tickwire_cluster_listings_read_total").await;
    for _ in 0..30 {
        assert_eq!(
            http_get(other.addr, "/api/rooms?scope=cluster").await.0,
            200
        );
    }
    let flood_reads = metric(other.addr, "tickwire_cluster_listings_read_total").await - reads;
    assert!(
        flood_reads <= 2.0,
        "30 listings read the directory {flood_reads} times"
    );

    // Seats refused before the directory is asked: forged (one character changed) and expired.
    let redeems = metric(owner.addr, "tickwire_cluster_redeem_calls_total").await;
    let mut forged = ann_seat.clone();
    let last = forged.pop().expect("non-empty");
    forged.push(if last == '0' { '1' } else { '0' });
    let (code, reason) = refused(&owner_url, seated("mallory", &forged)).await;
    assert_eq!(code, close::SEAT_INVALID, "{reason}");
    let node_id = if owner.url == a.url { "a" } else { "b" };
    let stale = seat::mint(
        SECRET,
        &seat::Seat {
            id: "00112233445566778899aabbccddeeff".into(),
            node: node_id.into(),
            room: "duel".into(),
            spectate: false,
            expires_at_ms: 1,
        },
    );
    let (code, reason) = refused(&owner_url, seated("mallory", &stale)).await;
    assert_eq!(code, close::SEAT_EXPIRED, "{reason}");
    let foreign = seat::mint(
        SECRET,
        &seat::Seat {
            id: "00112233445566778899aabbccddeeff".into(),
            node: "someone-else".into(),
            room: "duel".into(),
            spectate: false,
            expires_at_ms: u64::MAX,
        },
    );
    let (code, reason) = refused(&owner_url, seated("mallory", &foreign)).await;
    assert_eq!(code, close::SEAT_INVALID, "{reason}");
    assert_eq!(
        metric(owner.addr, "tickwire_cluster_redeem_calls_total").await,
        redeems,
        "forged, expired and foreign seats cost the directory nothing"
    );
    // A used seat is refused by the directory (one call).
    let (code, reason) = refused(&owner_url, seated("ann2", &ann_seat)).await;
    assert_eq!(code, close::SEAT_INVALID, "{reason}");
    assert_eq!(
        metric(owner.addr, "tickwire_cluster_redeem_calls_total").await,
        redeems + 1.0
    );

    // Everyone leaves: the directory forgets the room.
    for mut client in [bob, cat] {
        client.close().await;
    }
    loop {
        match tokio::time::timeout(Duration::from_millis(10), ann.recv()).await {
            Ok(Ok(ServerMsg::Snapshot(_))) | Err(_) => break,
            Ok(Ok(_)) => continue,
            Ok(Err(error)) => panic!("ann lost her connection: {error}"),
        }
    }
    ann.close().await;
    assert!(
        eventually(5, async || view
            .rooms()
            .await
            .is_ok_and(|rooms| rooms.is_empty()))
        .await,
        "the room leaves the directory"
    );

    // A node that stops leaves the directory.
    b.stop().await;
    assert!(
        eventually(5, async || view
            .nodes()
            .await
            .is_ok_and(|nodes| nodes.iter().all(|node| node.id != "b")))
        .await,
        "b deregisters"
    );
    a.stop().await;
}

/// A node whose room name was placed elsewhere while it was gone from the directory (reaped
/// after a stall) learns of its eviction at its next heartbeat and closes that room with 1012,
/// so its players matchmake again; at most one room per name is ever listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_node_closes_the_rooms_it_lost() {
    let Some(redis) = RedisServer::start("evicted") else {
        return;
    };
    let url = redis.url();
    let view = directory(&url, "c2").await;
    let a = start_cluster_node(Arc::new(directory(&url, "c2").await), "a", SECRET, |_| {}).await;
    assert!(
        eventually(5, async || view
            .nodes()
            .await
            .is_ok_and(|nodes| nodes.len() == 1))
        .await,
        "a registers"
    );
    let mut ann =
        Client::<Arena>::connect(&a.url, hello("ann", Some("keep")), Duration::from_secs(5))
            .await
            .expect("ann joins on a");
    // ann plays (acknowledging every snapshot) until told to stop; she must never be closed.
    let (stop_ann, mut ann_stops) = tokio::sync::oneshot::channel::<()>();
    let ann_plays = tokio::spawn(async move {
        let mut snapshots = 0u32;
        loop {
            tokio::select! {
                _ = &mut ann_stops => break,
                message = ann.recv() => match message {
                    Ok(ServerMsg::Snapshot(snapshot)) => {
                        snapshots += 1;
                        let ack = tickwire_protocol::ClientMsg::Input(tickwire_protocol::Input {
                            ack_tick: snapshot.tick,
                            first_seq: 0,
                            cmds: Vec::new(),
                        });
                        ann.send(&ack).await.expect("ann sends");
                    }
                    Ok(_) => {}
                    Err(error) => panic!("ann lost her room: {error}"),
                },
            }
        }
        ann.close().await;
        snapshots
    });
    let mut bob =
        Client::<Arena>::connect(&a.url, hello("bob", Some("lost")), Duration::from_secs(5))
            .await
            .expect("bob joins on a");
    // As if a had stalled past its lifetime: reaped behind its back, and "lost" placed on b.
    view.deregister("a").await.expect("deregisters");
    let b = start_cluster_node(Arc::new(directory(&url, "c2").await), "b", SECRET, |_| {}).await;
    assert!(
        eventually(5, async || view
            .nodes()
            .await
            .is_ok_and(|nodes| nodes.iter().any(|node| node.id == "b")))
        .await
    );
    let (status, body) =
        http_post(b.addr, "/api/matchmake", r#"{"name":"cat","room":"lost"}"#).await;
    assert_eq!(status, 200, "{body}");
    // a's next heartbeat: evicted; it registers again, keeps "keep", closes "lost" with 1012.
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), bob.recv()).await {
            Ok(Ok(ServerMsg::Error { code, reason })) => break (code, reason),
            Ok(Ok(_)) => continue,
            other => panic!("bob expected an Error, got {other:?}"),
        }
    };
    assert_eq!(closed.0, close::SERVICE_RESTART, "{closed:?}");
    assert!(
        eventually(5, async || view.rooms().await.is_ok_and(|rooms| {
            rooms
                .iter()
                .any(|room| room.name == "keep" && room.node == "a")
                && rooms
                    .iter()
                    .any(|room| room.name == "lost" && room.node == "b")
                && rooms.len() == 2
        }))
        .await,
        "a claimed keep back; lost stays b's: {:?}",
        view.rooms().await
    );
    // ann played on throughout (and a second more).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop_ann.send(());
    let snapshots = ann_plays.await.expect("ann played without losing her room");
    assert!(snapshots > 20, "{snapshots} snapshots");
    a.stop().await;
    b.stop().await;
}

/// The swarm through the matchmakers of two nodes: every bot is seated where its room lives,
/// the report gives matchmaking latency and bots per node, and both nodes' CPU is measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_swarm_plays_through_the_matchmakers() {
    let Some(redis) = RedisServer::start("swarm") else {
        return;
    };
    let url = redis.url();
    let view = directory(&url, "c3").await;
    let a = start_cluster_node(Arc::new(directory(&url, "c3").await), "a", SECRET, |_| {}).await;
    let b = start_cluster_node(Arc::new(directory(&url, "c3").await), "b", SECRET, |_| {}).await;
    assert!(
        eventually(5, async || view
            .nodes()
            .await
            .is_ok_and(|nodes| nodes.len() == 2))
        .await,
        "both nodes register"
    );
    let options = tickwire_bot::swarm::SwarmOptions {
        url: a.url.clone(),
        bots: 40,
        rooms: Some(4),
        duration: Duration::from_secs(2),
        warmup: Duration::from_millis(500),
        ramp_per_s: 400.0,
        matchmakers: vec![format!("http://{}", a.addr), format!("http://{}", b.addr)],
        ..tickwire_bot::swarm::SwarmOptions::default()
    };
    let report = tickwire_bot::swarm::run_swarm::<Arena>(options)
        .await
        .expect("valid options");
    assert_eq!(report.connected, 40, "{report}");
    let matchmake = report.matchmake_ms.clone().expect("matchmaking figures");
    assert_eq!(matchmake.count, 40, "{report}");
    // Four rooms, placed least-loaded first: two per node, ten bots each.
    assert_eq!(report.bots_per_node.len(), 2, "{report}");
    assert!(
        report.bots_per_node.values().all(|&bots| bots == 20),
        "{report}"
    );
    assert_eq!(report.snapshot_errors, 0, "{report}");
    assert!(report.server_cpu_cores.is_some(), "{report}");
    let rooms = view.rooms().await.expect("rooms");
    let mut names: Vec<_> = rooms.iter().map(|room| room.name.clone()).collect();
    names.dedup();
    assert!(names.len() <= 4, "{rooms:?}");
    a.stop().await;
    b.stop().await;
}

/// One address asking for seats faster than `matchmake_rate` with bursts past
/// `matchmake_burst` gets HTTP 429 (and a seatless Hello close 1013) without a directory call,
/// so it cannot hold a room's places unused; seats come back at the rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seat_requests_are_limited_per_address() {
    let Some(redis) = RedisServer::start("limit") else {
        return;
    };
    let url = redis.url();
    let node = tickwire_tests::start_cluster_node_with(
        Arc::new(directory(&url, "c4").await),
        "a",
        SECRET,
        |_| {},
        |config| {
            config.matchmake_rate = 2.0;
            config.matchmake_burst = 3.0;
        },
    )
    .await;
    let view = directory(&url, "c4").await;
    assert!(
        eventually(5, async || view
            .nodes()
            .await
            .is_ok_and(|nodes| nodes.len() == 1))
        .await
    );
    let ask = r#"{"name":"mallory","room":"duel"}"#;
    for _ in 0..3 {
        assert_eq!(http_post(node.addr, "/api/matchmake", ask).await.0, 200);
    }
    let (status, body) = http_post(node.addr, "/api/matchmake", ask).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("too many seat requests"), "{body}");
    let (code, reason) = refused(&node.url, hello("mallory", Some("duel"))).await;
    assert_eq!(code, close::TRY_AGAIN_LATER, "{reason}");
    assert!(reason.contains("too many seat requests"), "{reason}");
    assert_eq!(
        metric(node.addr, "tickwire_cluster_matchmakes_limited_total").await,
        2.0
    );
    // Three seats reserved, not five.
    let rooms = view.rooms().await.expect("rooms");
    assert_eq!(rooms[0].reserved_players, 3, "{rooms:?}");
    // At 2 a second, a seat is granted again after half a second.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(http_post(node.addr, "/api/matchmake", ask).await.0, 200);
}

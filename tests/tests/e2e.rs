//! The whole stack over loopback: a real server, real bots, real sockets.

use std::time::Duration;

use tickwire_arena::Arena;
use tickwire_arena::client::ArenaFigures;
use tickwire_bot::{BotOptions, BotReport, run_bot};
use tickwire_net::Client;
use tickwire_protocol::{ClientMsg, Hello, PROTOCOL_VERSION, ServerMsg, close, encode_client};
use tickwire_tests::{
    expect_close, hello, http_get, raw_connect, raw_send, set_arena, start_server,
};
use tokio_tungstenite::tungstenite::Message;

fn bot(url: &str, name: &str, room: &str, seconds: f64, seed: u64) -> BotOptions {
    BotOptions {
        url: url.to_string(),
        name: name.to_string(),
        room: Some(room.to_string()),
        duration: Some(Duration::from_secs_f64(seconds)),
        seed,
        ..BotOptions::default()
    }
}

fn check_played_well(report: &BotReport<ArenaFigures>, players: usize, seconds: f64) {
    assert_eq!(report.disconnect_reason, None, "{report:?}");
    assert_eq!(report.snapshot_errors, 0, "{report:?}");
    assert_eq!(report.game.players_seen_max, players, "{report:?}");
    // Roughly one snapshot per tick (a loaded CI machine may lose a few).
    let expected = report.tick_rate as f64 * seconds;
    assert!(
        report.snapshots as f64 > expected * 0.6,
        "{} snapshots, expected ~{expected}",
        report.snapshots
    );
    // Inputs are acknowledged, nearly all of them by the end.
    assert!(report.last_input_acked > 0, "{report:?}");
    assert!(
        report.inputs_sent - report.last_input_acked <= 15,
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_bots_play_chat_and_survive_bad_peers() {
    let server = start_server(|_| {}).await;
    let seconds = 3.0;
    let mut chatty = bot(&server.url, "ann", "e2e", seconds, 1);
    chatty.chat = vec!["hello from ann".into()];
    let bots = [
        tokio::spawn(run_bot::<Arena>(chatty)),
        tokio::spawn(run_bot::<Arena>(bot(&server.url, "bob", "e2e", seconds, 2))),
        tokio::spawn(run_bot::<Arena>(bot(&server.url, "cat", "e2e", seconds, 3))),
    ];

    // While they play, hostile peers try their luck in the same room.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let url = server.url.clone();
    let garbage = async {
        let mut socket = raw_connect(&url).await;
        raw_send(
            &mut socket,
            Message::Binary(vec![0xde, 0xad, 0xbe, 0xef, 0x01].into()),
        )
        .await;
        expect_close(&mut socket).await
    };
    let text = async {
        let mut socket = raw_connect(&url).await;
        raw_send(&mut socket, Message::Text("{\"hello\": 1}".into())).await;
        expect_close(&mut socket).await
    };
    let wrong_version = async {
        let mut socket = raw_connect(&url).await;
        let mut bytes = Vec::new();
        encode_client(
            &ClientMsg::<Arena>::Hello(Hello {
                version: PROTOCOL_VERSION + 1,
                ..hello("old", Some("e2e"))
            }),
            &mut bytes,
        );
        raw_send(&mut socket, Message::Binary(bytes.into())).await;
        expect_close(&mut socket).await
    };
    let garbage_after_join = async {
        let mut client =
            Client::<Arena>::connect(&url, hello("mallory", Some("e2e")), Duration::from_secs(5))
                .await
                .expect("joins");
        client
            .send_raw(Message::Binary(vec![9, 9, 9, 9].into()))
            .await
            .expect("sends");
        loop {
            match client.recv().await {
                Ok(ServerMsg::Error { code, reason }) => break (code, reason),
                Ok(_) => continue,
                Err(error) => panic!("expected an Error message first, got {error}"),
            }
        }
    };
    let (garbage, text, wrong_version, after_join) =
        tokio::join!(garbage, text, wrong_version, garbage_after_join);
    assert_eq!(garbage.0, close::PROTOCOL_ERROR, "{garbage:?}");
    assert!(garbage.1.contains("undecodable"), "{garbage:?}");
    // A text first message is JSON mode; this one is not a message at all.
    assert_eq!(text.0, close::PROTOCOL_ERROR, "{text:?}");
    assert!(text.1.contains("unknown variant `hello`"), "{text:?}");
    assert_eq!(
        wrong_version.0,
        close::VERSION_MISMATCH,
        "{wrong_version:?}"
    );
    assert!(wrong_version.1.contains("version"), "{wrong_version:?}");
    assert_eq!(after_join.0, close::PROTOCOL_ERROR, "{after_join:?}");

    let mut reports = Vec::new();
    for handle in bots {
        reports.push(handle.await.expect("bot task").expect("bot joined"));
    }
    for report in &reports {
        // mallory joined and left mid-game: the bots may have seen four players at once.
        assert!(report.game.players_seen_max >= 3, "{report:?}");
        check_played_well(report, report.game.players_seen_max, seconds);
        assert_eq!(
            report.chat_received, 1,
            "everyone hears ann once: {report:?}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_bots_see_exactly_three_players() {
    let server = start_server(|_| {}).await;
    let seconds = 2.5;
    let handles: Vec<_> = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(seed, name)| {
            tokio::spawn(run_bot::<Arena>(bot(
                &server.url,
                name,
                "trio",
                seconds,
                seed as u64,
            )))
        })
        .collect();
    for handle in handles {
        let report = handle.await.expect("bot task").expect("bot joined");
        check_played_well(&report, 3, seconds);
        assert_eq!(report.room, "trio");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_and_spectator_reconstruct_npc_crowd_exactly() {
    let server = start_server(|config| {
        set_arena(config, "npcs", 150);
        set_arena(config, "map", "open");
    })
    .await;
    let seconds = 2.5;
    let mut spectator = bot(&server.url, "eye", "crowd", seconds, 9);
    spectator.spectate = true;
    let spectator = tokio::spawn(run_bot::<Arena>(spectator));
    let players: Vec<_> = (0..2)
        .map(|seed| {
            tokio::spawn(run_bot::<Arena>(bot(
                &server.url,
                "p",
                "crowd",
                seconds,
                seed,
            )))
        })
        .collect();
    for handle in players {
        let report = handle.await.expect("task").expect("joined");
        assert_eq!(report.snapshot_errors, 0, "{report:?}");
        assert!(report.snapshots > 20);
    }
    let spectator = spectator.await.expect("task").expect("joined");
    // Every snapshot's checksum matched: the spectator rebuilt all 150 NPCs plus the players.
    assert_eq!(spectator.snapshot_errors, 0, "{spectator:?}");
    assert!(spectator.entities_seen_max >= 152, "{spectator:?}");
    assert_eq!(spectator.inputs_sent, 0);
    assert!(spectator.snapshots > 20);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_routes_answer() {
    let server = start_server(|_| {}).await;
    let (status, body) = http_get(server.addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let client = Client::<Arena>::connect(
        &server.url,
        hello("ann", Some("lobby-a")),
        Duration::from_secs(5),
    )
    .await
    .expect("joins");
    let (status, body) = http_get(server.addr, "/api/rooms").await;
    assert_eq!(status, 200);
    let rooms: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(rooms[0]["id"], "lobby-a");
    assert_eq!(rooms[0]["game"], "arena");
    assert_eq!(rooms[0]["players"], 1);
    let (status, body) = http_get(server.addr, "/metrics").await;
    assert_eq!(status, 200);
    check_prometheus_text(&body);
    assert!(body.contains("tickwire_players 1"), "{body}");
    let (status, _) = http_get(server.addr, "/nope").await;
    assert_eq!(status, 404);
    drop(client);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_players_why() {
    let server = start_server(|_| {}).await;
    let mut client =
        Client::<Arena>::connect(&server.url, hello("ann", None), Duration::from_secs(5))
            .await
            .expect("joins");
    let stopping = tokio::spawn(server.stop());
    let close = loop {
        match client.recv().await {
            Ok(_) => continue,
            Err(tickwire_net::ClientError::Closed(info)) => break info,
            Err(error) => panic!("unexpected {error}"),
        }
    };
    assert_eq!(close.code, close::GOING_AWAY);
    assert_eq!(close.reason, "server shutting down");
    stopping.await.expect("server stopped");
}

/// Reads the Prometheus text format back: every sample is `name{labels} value` with a numeric
/// value, every metric has HELP and TYPE lines before its samples, histograms are cumulative.
fn check_prometheus_text(text: &str) {
    let mut typed = std::collections::HashMap::new();
    let mut previous_bucket: Option<f64> = None;
    for line in text.lines().filter(|line| !line.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().unwrap();
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| typed.get(*base).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            typed.contains_key(family),
            "sample before its TYPE line: {line}"
        );
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        if name.ends_with("_bucket") {
            if let Some(previous) = previous_bucket {
                assert!(
                    value >= previous,
                    "histogram buckets must be cumulative: {line}"
                );
            }
            previous_bucket = Some(value);
        }
    }
    assert!(
        typed
            .get("tickwire_tick_duration_seconds")
            .is_some_and(|kind| kind == "histogram")
    );
}

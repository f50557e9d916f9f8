//! JSON mode over loopback: a client speaking JSON text frames joins a real server next to a
//! binary bot, chats with it, moves, and reads whole-view snapshots; and every rule of the
//! binary protocol holds in JSON with the same close codes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tickwire_arena::Arena;
use tickwire_bot::{BotOptions, run_bot};
use tickwire_protocol::{PROTOCOL_VERSION, Schema, close, json::SUBPROTOCOL};
use tickwire_tests::{RawSocket, expect_close, raw_connect, set_arena, start_server};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn json_hello(name: &str, room: &str) -> Value {
    json!({"Hello": {
        "version": PROTOCOL_VERSION,
        "game": Arena::NAME,
        "schema": Arena::VERSION,
        "name": name,
        "room": room,
    }})
}

async fn send(socket: &mut RawSocket, value: &Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .expect("sends");
}

/// The next JSON message (pings skipped); panics on a binary frame or a close.
async fn next(socket: &mut RawSocket) -> Value {
    loop {
        let frame = timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .expect("open")
            .expect("readable");
        match frame {
            Message::Text(text) => return serde_json::from_str(&text).expect("valid JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_client_plays_next_to_a_binary_bot() {
    // A view that covers the map, so each player sees the other.
    let server = start_server(|config| set_arena(config, "view_radius", 1000.0)).await;
    let mut socket = raw_connect(&server.url).await;
    send(&mut socket, &json_hello("py", "mixed")).await;
    let welcome = next(&mut socket).await;
    let welcome = &welcome["Welcome"];
    assert_eq!(welcome["room"], "mixed", "{welcome}");
    assert_eq!(welcome["tick_rate"], 30, "{welcome}");
    assert_eq!(welcome["resume_token"].as_array().map(Vec::len), Some(16));
    assert!(welcome["setup"]["map"]["walls"].is_array(), "{welcome}");
    let me = welcome["entity"].as_u64().expect("an entity");

    let bot = tokio::spawn(run_bot::<Arena>(BotOptions {
        url: server.url.clone(),
        name: "bin".into(),
        room: Some("mixed".into()),
        duration: Some(Duration::from_secs(3)),
        chat: vec!["hi from binary".into()],
        seed: 4,
        ..BotOptions::default()
    }));

    let mut seq = 1u32;
    let mut ticks = Vec::new();
    let mut my_x = Vec::new();
    let mut last_input = 0;
    let mut saw_bin = false;
    let mut chats = Vec::new();
    let mut chatted = false;
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        let msg = next(&mut socket).await;
        if let Some(chat) = msg.get("Chat") {
            chats.push(format!("{}: {}", chat["name"], chat["text"]));
        }
        let Some(snapshot) = msg.get("Snapshot") else {
            continue;
        };
        ticks.push(snapshot["tick"].as_u64().expect("tick"));
        last_input = snapshot["last_input"].as_u64().expect("last_input");
        let entities = snapshot["entities"].as_array().expect("entities");
        if let Some(mine) = entities.iter().find(|entity| entity["id"] == me) {
            my_x.push(mine["x"].as_u64().expect("x"));
        }
        let names: Vec<&str> = snapshot["scores"]
            .as_array()
            .expect("scores")
            .iter()
            .filter_map(|row| row["name"].as_str())
            .collect();
        if names.contains(&"bin") && entities.len() >= 2 {
            saw_bin = true;
            if !chatted {
                send(&mut socket, &json!({"Chat": {"text": "hello from json"}})).await;
                chatted = true;
            }
        }
        // Three commands per snapshot (one per tick): east for a second, then west.
        let move_x = if ticks.len() < 10 { 127 } else { -127 };
        let cmd = json!({"move_x": move_x, "move_y": 0, "aim": 0, "buttons": 0, "view_age": 0});
        send(
            &mut socket,
            &json!({"Input": {"ack_tick": 0, "first_seq": seq, "cmds": [cmd, cmd, cmd]}}),
        )
        .await;
        seq += 3;
    }
    socket.close(None).await.expect("closes");
    let report = bot.await.expect("bot task").expect("bot joined");

    // Whole views at the JSON rate (every third tick at 30 Hz), none skipped on loopback but
    // for a slow machine's hiccup.
    assert!(
        ticks
            .windows(2)
            .all(|pair| (pair[1] - pair[0]) % 3 == 0 && pair[1] > pair[0]),
        "{ticks:?}"
    );
    // 10 a second (json_snapshot_rate); a loaded machine may lose a few.
    assert!(ticks.len() >= 15, "{} snapshots in 2.5 s", ticks.len());
    assert!(
        saw_bin,
        "the binary bot appears in the JSON client's view and scores"
    );
    // Inputs applied, and the player moved.
    assert!(
        u64::from(seq) - last_input <= 15 && last_input > 0,
        "{last_input} of {seq}"
    );
    let (low, high) = (my_x.iter().min(), my_x.iter().max());
    assert!(high > low, "own entity never moved: {my_x:?}");
    // Chat both ways between the two formats.
    assert!(
        chats.contains(&"\"bin\": \"hi from binary\"".to_string()),
        "{chats:?}"
    );
    assert!(
        chats.contains(&"\"py\": \"hello from json\"".to_string()),
        "{chats:?}"
    );
    assert_eq!(report.snapshot_errors, 0, "{report:?}");
    assert_eq!(
        report.chat_received, 2,
        "the bot hears itself and py: {report:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mode_keeps_the_rules_and_their_close_codes() {
    let server = start_server(|_| {}).await;
    let url = server.url.clone();

    // The subprotocol is echoed; its session must then speak text.
    let mut request = url.as_str().into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        SUBPROTOCOL.parse().expect("header"),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.as_bytes()),
        Some(SUBPROTOCOL.as_bytes())
    );
    socket
        .send(Message::Binary(vec![0, 3].into()))
        .await
        .expect("sends");
    let (code, reason) = expect_close(&mut socket).await;
    assert_eq!(code, close::UNSUPPORTED_DATA, "{reason}");
    assert!(reason.contains("speaks JSON"), "{reason}");

    // After a JSON Hello, each broken rule closes with the binary protocol's code.
    let after_hello = |room: &'static str, message: Message| {
        let url = url.clone();
        async move {
            let mut socket = raw_connect(&url).await;
            send(&mut socket, &json_hello("rules", room)).await;
            assert!(next(&mut socket).await.get("Welcome").is_some());
            socket.send(message).await.expect("sends");
            expect_close(&mut socket).await
        }
    };
    let nine = json!({"Input": {"ack_tick": 0, "first_seq": 1, "cmds": vec![
        json!({"move_x": 0, "move_y": 0, "aim": 0, "buttons": 0, "view_age": 0}); 9]}});
    let cases = [
        (
            Message::Binary(vec![3, 1].into()),
            close::UNSUPPORTED_DATA,
            "speaks JSON",
        ),
        (
            Message::Text(r#"{"Chat":{"text":1}}"#.into()),
            close::PROTOCOL_ERROR,
            "undecodable message: malformed message: invalid type: integer `1`",
        ),
        (
            Message::Text(nine.to_string().into()),
            close::PROTOCOL_ERROR,
            "undecodable message: cmds is 9 long, the limit is 8",
        ),
        (
            Message::Text(json_hello("again", "r").to_string().into()),
            close::PROTOCOL_ERROR,
            "Hello sent twice",
        ),
        (
            Message::Text(" ".repeat(5000).into()),
            close::MESSAGE_TOO_BIG,
            "message larger than 4096 bytes",
        ),
    ];
    for (index, (message, code, text)) in cases.into_iter().enumerate() {
        let room = ["r0", "r1", "r2", "r3", "r4"][index];
        let (got, reason) = after_hello(room, message).await;
        assert_eq!((got, reason.contains(text)), (code, true), "{reason}");
    }

    // The Hello's own checks, in JSON.
    let refused = |hello: Value| {
        let url = url.clone();
        async move {
            let mut socket = raw_connect(&url).await;
            send(&mut socket, &hello).await;
            expect_close(&mut socket).await
        }
    };
    let mut wrong_game = json_hello("x", "r");
    wrong_game["Hello"]["game"] = json!("cards");
    let (code, reason) = refused(wrong_game).await;
    assert_eq!(code, close::GAME_MISMATCH, "{reason}");
    assert!(reason.contains("cards"), "{reason}");
    let mut old = json_hello("x", "r");
    old["Hello"]["version"] = json!(PROTOCOL_VERSION - 1);
    let (code, reason) = refused(old).await;
    assert_eq!(code, close::VERSION_MISMATCH, "{reason}");
    let mut typo = json_hello("x", "r");
    typo["Hello"]["spectator"] = json!(true);
    let (code, reason) = refused(typo).await;
    assert_eq!(code, close::PROTOCOL_ERROR, "{reason}");
    assert!(reason.contains("unknown field `spectator`"), "{reason}");
    // A game name cut inside a character (32 bytes fall in the middle of "é").
    let mut long_game = json_hello("x", "r");
    long_game["Hello"]["game"] = json!(format!("{}é", "a".repeat(31)));
    let (code, reason) = refused(long_game).await;
    assert_eq!(code, close::GAME_MISMATCH, "{reason}");
    assert!(reason.contains(&"a".repeat(31)), "{reason}");
    // A first text frame over the JSON limit: refused in JSON, as its sender speaks.
    let mut socket = raw_connect(&url).await;
    socket
        .send(Message::Text(" ".repeat(5000).into()))
        .await
        .expect("sends");
    let first = timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an answer")
        .expect("open")
        .expect("readable");
    assert!(
        matches!(&first, Message::Text(text) if text.contains(r#""code":1009"#)),
        "{first:?}"
    );
    let (code, _) = expect_close(&mut socket).await;
    assert_eq!(code, close::MESSAGE_TOO_BIG);
    let mut control = json_hello("x", "r");
    control["Hello"]["name"] = json!("bad\nname");
    let (code, reason) = refused(control).await;
    assert_eq!(code, close::BAD_HELLO, "{reason}");
    assert!(reason.starts_with("bad Hello: name is invalid"), "{reason}");
    server.stop().await;
}

//! wss:// from the binary: a certificate made at test time, a server with `[tls]` pointing at
//! it, and Rust clients that trust only that certificate: they join, play, chat and are told
//! why they are closed, all through TLS; a plain client on the TLS port is refused without
//! disturbing them; https serves the routes; a bad `[tls]` section is a clear error.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tickwire_arena::Arena;
use tickwire_net::{Client, Server, ServerConfig};
use tickwire_protocol::{ClientMsg, Input, ServerMsg, close};
use tickwire_tests::{expect_close, hello, set_arena, start_server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files into a fresh
/// directory; returns the directory and the certificate (to trust it).
fn certificate(tag: &str) -> (PathBuf, rcgen::CertifiedKey<rcgen::KeyPair>) {
    let dir = std::env::temp_dir().join(format!("tickwire-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("a certificate");
    std::fs::write(dir.join("cert.pem"), made.cert.pem()).expect("writes cert");
    std::fs::write(dir.join("key.pem"), made.signing_key.serialize_pem()).expect("writes key");
    (dir, made)
}

/// A client config that trusts exactly `cert`.
fn trusting(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("a valid root");
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_play_over_wss_and_hear_why_they_are_closed() {
    let (dir, cert) = certificate("play");
    let server = start_server(|config| {
        config.tls.cert = dir.join("cert.pem");
        config.tls.key = dir.join("key.pem");
        // Big views, so a JSON snapshot spans several TLS records (about 45 KB each).
        set_arena(config, "npcs", 500);
        set_arena(config, "view_radius", 1000.0);
        config.client_bytes_per_s = 0;
    })
    .await;
    assert!(server.url.starts_with("wss://127.0.0.1:"), "{}", server.url);
    let tls = trusting(&cert);

    let connect = |name: &'static str| {
        let (url, tls) = (server.url.clone(), Arc::clone(&tls));
        async move {
            Client::<Arena>::connect_with_tls(
                &url,
                hello(name, Some("secure")),
                Duration::from_secs(5),
                Some(tls),
            )
            .await
            .expect("joins over TLS")
        }
    };
    let mut ann = connect("ann").await;
    let mut bob = connect("bob").await;
    assert!(ann.welcome().player > 0);
    // cat speaks JSON over TLS: whole views, each larger than one TLS record.
    let (mut cat, _) = tokio_tungstenite::connect_async_tls_with_config(
        server.url.as_str(),
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(Arc::clone(&tls))),
    )
    .await
    .expect("connects over TLS");
    let cat_hello = serde_json::json!({"Hello": {"version": tickwire_protocol::PROTOCOL_VERSION,
        "game": "arena", "schema": 1, "name": "cat", "room": "secure"}});
    cat.send(Message::Text(cat_hello.to_string().into()))
        .await
        .expect("sends");
    let cat_reads = tokio::spawn(async move {
        let mut views = Vec::new();
        while views.len() < 15 {
            match tokio::time::timeout(Duration::from_secs(5), cat.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
                    if let Some(entities) = value["Snapshot"]["entities"].as_array() {
                        views.push((text.len(), entities.len()));
                    }
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("cat lost the connection: {other:?}"),
            }
        }
        views
    });

    // A plain ws:// client on the TLS port fails its handshake, and nobody else notices.
    let plain = server.url.replacen("wss://", "ws://", 1);
    assert!(tokio_tungstenite::connect_async(&plain).await.is_err());

    ann.send(&ClientMsg::Chat {
        text: "over tls".into(),
    })
    .await
    .expect("sends");
    let mut snapshots = 0;
    let mut largest = 0;
    let mut chat = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline {
        // ann acknowledges, so it gets deltas; bob never does, so it keeps getting full ones.
        match tokio::time::timeout(Duration::from_secs(2), ann.recv()).await {
            Ok(Ok(ServerMsg::Snapshot(snapshot))) => {
                snapshots += 1;
                largest = largest.max(snapshot.body.len());
                ann.send(&ClientMsg::Input(Input {
                    ack_tick: snapshot.tick,
                    first_seq: 0,
                    cmds: Vec::new(),
                }))
                .await
                .expect("acks");
            }
            Ok(Ok(ServerMsg::Chat(line))) => chat = Some(line.text),
            Ok(Ok(_)) => {}
            Ok(Err(error)) => panic!("ann lost the connection: {error}"),
            Err(_) => panic!("nothing from the server for 2 s"),
        }
    }
    assert!(snapshots >= 30, "{snapshots} snapshots in 2 s over TLS");
    assert!(largest > 3_000, "full snapshot of {largest} bytes");
    let views = cat_reads.await.expect("cat's task");
    assert!(
        views
            .iter()
            .all(|&(bytes, entities)| bytes > 16 * 1024 && entities == 503),
        "{views:?}"
    );
    assert_eq!(chat.as_deref(), Some("over tls"));

    // bob breaks a rule: the Error message and the close frame arrive through TLS.
    bob.send_raw(Message::Binary(vec![9, 9, 9].into()))
        .await
        .expect("sends");
    let error = loop {
        match bob.recv().await {
            Ok(ServerMsg::Error { code, reason }) => break (code, reason),
            Ok(_) => continue,
            Err(error) => panic!("expected an Error message first, got {error}"),
        }
    };
    assert_eq!(error.0, close::PROTOCOL_ERROR, "{error:?}");
    assert!(error.1.starts_with("undecodable message"), "{error:?}");
    server.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_routes_a_refusal_and_a_plain_peer_over_the_tls_port() {
    let (dir, cert) = certificate("routes");
    let server = start_server(|config| {
        config.tls.cert = dir.join("cert.pem");
        config.tls.key = dir.join("key.pem");
    })
    .await;
    let tls = trusting(&cert);

    // GET /healthz over https.
    let response = https_get(&server.addr, &tls, "/healthz").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok\n"), "{response}");

    // A refusal in the handshake (a bad Hello) is heard through TLS: Error, then close.
    let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(
        server.url.as_str(),
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(Arc::clone(&tls))),
    )
    .await
    .expect("connects over TLS");
    socket
        .send(Message::Binary(vec![0, 99].into()))
        .await
        .expect("sends");
    let (code, reason) = expect_close(&mut socket).await;
    assert_eq!(code, close::VERSION_MISMATCH, "{reason}");
    let _ = socket.next().await;

    // Plain bytes on the TLS port: the handshake fails and is counted.
    let mut plain = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connects");
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\n\r\n")
        .await
        .expect("writes");
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut sink)).await;
    assert!(
        !String::from_utf8_lossy(&sink).contains("200 OK"),
        "no plain HTTP on a TLS port"
    );
    let mut failures = 0.0;
    for _ in 0..50 {
        failures = metric_tls(&server.addr, &tls).await;
        if failures >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(failures >= 1.0, "tls failures counted: {failures}");
    server.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// tickwire_tls_failures_total, read from /metrics over https.
async fn metric_tls(addr: &std::net::SocketAddr, tls: &Arc<rustls::ClientConfig>) -> f64 {
    https_get(addr, tls, "/metrics")
        .await
        .lines()
        .find(|line| line.starts_with("tickwire_tls_failures_total"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .expect("the metric")
}

/// One GET over https, trusting `tls`; the whole response as text.
async fn https_get(
    addr: &std::net::SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    path: &str,
) -> String {
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(tls));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("a name");
    let mut stream = connector.connect(name, tcp).await.expect("TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_bad_tls_section_is_one_clear_error() {
    let (dir, _) = certificate("bad");
    let mut config = ServerConfig {
        addr: "127.0.0.1:0".parse().expect("an address"),
        record_dir: std::path::PathBuf::new(),
        ..ServerConfig::default()
    };
    config.tls.cert = dir.join("missing.pem");
    config.tls.key = dir.join("key.pem");
    let error = Server::<tickwire_arena::ArenaGame>::bind(config.clone())
        .await
        .expect_err("refused");
    let text = error.to_string();
    assert!(text.contains("[tls] cannot read cert"), "{text}");
    assert!(text.contains("missing.pem"), "{text}");
    // The key in place of the certificate: no certificate in it.
    config.tls.cert = dir.join("key.pem");
    let text = Server::<tickwire_arena::ArenaGame>::bind(config.clone())
        .await
        .expect_err("refused")
        .to_string();
    assert!(text.contains("holds no certificate"), "{text}");
    // Only one of the two paths.
    config.tls.cert = dir.join("cert.pem");
    config.tls.key = PathBuf::new();
    let text = Server::<tickwire_arena::ArenaGame>::bind(config)
        .await
        .expect_err("refused")
        .to_string();
    assert!(text.contains("needs both cert and key"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A TLS client that stopped reading while big snapshots kept coming, then broke a rule: the
/// goodbye goes out after everything already written (TLS records the server still held
/// included), so once it reads again it reaches the Error message and the close frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_goodbye_of_a_slow_tls_reader_is_not_cut_off() {
    let (dir, cert) = certificate("slow");
    let server = start_server(|config| {
        config.tls.cert = dir.join("cert.pem");
        config.tls.key = dir.join("key.pem");
        set_arena(config, "npcs", 500);
        set_arena(config, "view_radius", 1000.0);
        config.client_bytes_per_s = 0;
        config.json_snapshot_rate = 30.0;
    })
    .await;
    let tls = trusting(&cert);
    // A small receive window, so the server's buffers (the kernel's, then rustls') fill fast.
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    socket.connect(&server.addr.into()).expect("connects");
    socket.set_nonblocking(true).expect("non-blocking");
    let tcp = tokio::net::TcpStream::from_std(socket.into()).expect("a tokio socket");
    let (mut ws, _) = tokio_tungstenite::client_async_tls_with_config(
        server.url.as_str(),
        tcp,
        None,
        Some(tokio_tungstenite::Connector::Rustls(Arc::clone(&tls))),
    )
    .await
    .expect("connects over TLS");
    let hello = serde_json::json!({"Hello": {"version": tickwire_protocol::PROTOCOL_VERSION,
        "game": "arena", "schema": 1, "name": "slow"}});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .expect("sends");
    // Not reading for a while: 30 snapshots of ~45 KB a second fill the kernel's buffers (up
    // to 4 MiB on the server's side), then rustls' 64 KiB.
    tokio::time::sleep(Duration::from_secs(4)).await;
    ws.send(Message::Binary(vec![1].into()))
        .await
        .expect("sends");
    // Reading again, slowly (a snapshot every 50 ms), so the server's buffers stay full while
    // its goodbye waits behind what it already wrote.
    let mut error = None;
    let close = loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.starts_with(r#"{"Error""#) => {
                error = Some(text.to_string());
            }
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => {}
            other => panic!("no close frame: {other:?} (Error message: {error:?})"),
        }
    };
    let close = close.expect("a close code");
    assert_eq!(u16::from(close.code), close::UNSUPPORTED_DATA, "{close:?}");
    assert!(error.is_some_and(|text| text.contains("1003")));
    server.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

//! Checks the fault-injecting proxy itself against a tiny echo server, so the end-to-end tests
//! that use it can trust what it does. Timings are asserted only as lower bounds.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tickwire_tests::proxy::{FaultProxy, Faults};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

#[tokio::test]
async fn bytes_pass_unchanged_and_in_order() {
    let (echo, _reads) = start_echo().await;
    let proxy = FaultProxy::start(echo).await;
    let mut client = connect(&proxy).await;

    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let echoed = roundtrip(&mut client, &payload).await;
    assert!(echoed == payload, "echo differs from what was sent");
}

#[tokio::test]
async fn jitter_never_reorders_bytes() {
    let (echo, _reads) = start_echo().await;
    let proxy = FaultProxy::start(echo).await;
    proxy.set(Faults {
        latency: Duration::from_millis(5),
        jitter: Duration::from_millis(30),
        ..Faults::default()
    });
    let mut client = connect(&proxy).await;

    // Many small writes spaced apart, so each is its own chunk with its own jitter.
    let (mut read_half, mut write_half) = client.split();
    let writer = async {
        for i in 0..100u8 {
            write_half.write_all(&[i]).await.expect("writes");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let reader = async {
        let mut received = vec![0u8; 100];
        read_half.read_exact(&mut received).await.expect("reads");
        received
    };
    let ((), received) = within(Duration::from_secs(3), async {
        tokio::join!(writer, reader)
    })
    .await;
    assert_eq!(received, (0..100u8).collect::<Vec<_>>());
}

#[tokio::test]
async fn latency_delays_each_direction() {
    let (echo, _reads) = start_echo().await;
    let proxy = FaultProxy::start(echo).await;
    let mut client = connect(&proxy).await;
    let latency = Duration::from_millis(100);
    proxy.set(Faults {
        latency,
        ..Faults::default()
    });

    let started = Instant::now();
    assert_eq!(roundtrip(&mut client, b"ping").await, b"ping");
    let round_trip = started.elapsed();
    assert!(
        round_trip >= 2 * latency,
        "round trip took {round_trip:?}, expected at least {:?}",
        2 * latency
    );
}

#[tokio::test]
async fn blackhole_drops_bytes_but_keeps_the_connection_open() {
    let (echo, mut reads) = start_echo().await;
    let proxy = FaultProxy::start(echo).await;
    let mut client = connect(&proxy).await;
    assert_eq!(roundtrip(&mut client, b"hello").await, b"hello");
    assert_eq!(reads.recv().await.expect("server read"), b"hello");

    proxy.set(Faults {
        blackhole: true,
        ..Faults::default()
    });
    client
        .write_all(b"lost")
        .await
        .expect("writes into the void");
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_millis(300), client.read(&mut buffer)).await;
    assert!(
        read.is_err(),
        "nothing comes back from a black hole, got {read:?}"
    );
    assert!(reads.try_recv().is_err(), "the server saw nothing");

    // Both connections stayed open: once the fault clears, new bytes flow again.
    proxy.set(Faults::default());
    assert_eq!(roundtrip(&mut client, b"back").await, b"back");
    assert_eq!(reads.recv().await.expect("server read"), b"back");
}

#[tokio::test]
async fn stall_to_client_holds_replies_until_cleared() {
    let (echo, _reads) = start_echo().await;
    let proxy = FaultProxy::start(echo).await;
    let mut client = connect(&proxy).await;

    proxy.set(Faults {
        stall_to_client: true,
        ..Faults::default()
    });
    client.write_all(b"waiting").await.expect("writes");
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_millis(300), client.read(&mut buffer)).await;
    assert!(
        read.is_err(),
        "a stalled direction delivers nothing, got {read:?}"
    );

    proxy.set(Faults::default());
    let mut reply = [0u8; 7];
    within(Duration::from_secs(2), client.read_exact(&mut reply))
        .await
        .expect("reads");
    assert_eq!(&reply, b"waiting");
}

#[tokio::test]
async fn reset_all_aborts_connections() {
    let (echo, _reads) = start_echo().await;
    let proxy = FaultProxy::start(echo).await;
    let mut client = connect(&proxy).await;
    assert_eq!(roundtrip(&mut client, b"hi").await, b"hi");

    proxy.reset_all();
    let mut buffer = [0u8; 16];
    match within(Duration::from_secs(2), client.read(&mut buffer)).await {
        Ok(0) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected a reset or end of stream, got {other:?}"),
    }

    // Later connections are unaffected.
    let mut later = connect(&proxy).await;
    assert_eq!(roundtrip(&mut later, b"again").await, b"again");
}

#[tokio::test]
async fn trickle_delivers_byte_by_byte() {
    let (echo, mut reads) = start_echo().await;
    let proxy = FaultProxy::start(echo).await;
    let mut client = connect(&proxy).await;
    let pause = Duration::from_millis(20);
    proxy.set(Faults {
        trickle_to_server: Some(pause),
        ..Faults::default()
    });

    let started = Instant::now();
    client.write_all(b"GET /").await.expect("writes");
    let mut arrived = Vec::new();
    while arrived.len() < 5 {
        let chunk = within(Duration::from_secs(2), reads.recv())
            .await
            .expect("server reads");
        assert_eq!(chunk.len(), 1, "trickled bytes arrive one at a time");
        arrived.extend_from_slice(&chunk);
    }
    assert_eq!(arrived, b"GET /");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= 4 * pause,
        "five bytes took {elapsed:?}, expected at least {:?}",
        4 * pause
    );
}

/// Starts an echo server on 127.0.0.1 port 0; every chunk it reads is also sent to the receiver.
async fn start_echo() -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("has an address");
    let (reads_tx, reads) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let reads_tx = reads_tx.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 64 * 1024];
                while let Ok(len) = stream.read(&mut buffer).await {
                    if len == 0 {
                        break;
                    }
                    let _ = reads_tx.send(buffer[..len].to_vec());
                    if stream.write_all(&buffer[..len]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, reads)
}

async fn connect(proxy: &FaultProxy) -> TcpStream {
    TcpStream::connect(proxy.addr())
        .await
        .expect("connects to the proxy")
}

/// Writes `payload` while reading its echo; returns what came back.
async fn roundtrip(client: &mut TcpStream, payload: &[u8]) -> Vec<u8> {
    let (mut read_half, mut write_half) = client.split();
    let mut echoed = vec![0u8; payload.len()];
    let (written, read) = within(Duration::from_secs(3), async {
        tokio::join!(
            write_half.write_all(payload),
            read_half.read_exact(&mut echoed)
        )
    })
    .await;
    written.expect("writes");
    read.expect("reads the echo");
    echoed
}

async fn within<T>(limit: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .expect("finishes in time")
}

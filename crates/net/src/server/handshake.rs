//! A connection's way in: the HTTP request (a route, or the WebSocket upgrade on `/ws` or `/`),
//! the origin check, the Hello (protocol version, then game and schema, then its rules), the
//! session token, and the seat. Then the socket leaves tokio's reactor and moves, with whatever
//! the client already sent after its Hello, into its room's task, which does all of its IO from
//! then on. A refusal here gets its goodbye here: an Error message and a close frame, a
//! half-close, and a bounded read of what the client still sends, so it reads the reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tickwire_protocol::json::{self, Format};
use tickwire_protocol::limits::{CLIENT_MSG_MAX, GAME_NAME_MAX, JSON_CLIENT_MSG_MAX};
use tickwire_protocol::{
    ClientMsg, DecodeError, Hello, PROTOCOL_VERSION, Schema, ServerMsg, decode_client,
    encode_server,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, timeout, timeout_at};
use tracing::{debug, info};

use super::Shared;
use super::admission::ConnectionSlot;
use super::driver::{Handoff, RoomCmd};
use super::lobby::{lock, release_seat, reserve_seat};
use super::routes::serve_http;
use super::stream::Stream;
use crate::auth;
use crate::close_reason::CloseReason;
use crate::connection::{LINGER, LINGER_BYTES};
use crate::directory::MatchError;
use crate::game::Game;
use crate::http;
use crate::room::{ClientId, SessionToken};
use crate::tls::Socket;
use crate::ws::{self, Decoder, FrameError, Incoming, Side};

/// The game's wire types.
type Wire<G> = <G as Game>::Wire;

/// Runs one accepted connection up to its room (or its refusal).
pub(crate) async fn handle_connection<G: Game>(
    shared: Arc<Shared<G>>,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot<G>,
) {
    let _ = tcp.set_nodelay(true);
    let deadline = Instant::now() + shared.config.handshake_timeout();
    let mut stream = match &shared.tls {
        None => Stream::Plain(tcp),
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(tls));
            match timeout_at(deadline, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
                Ok(Err(error)) => {
                    debug!(%peer, %error, "TLS handshake failed");
                    shared.metrics.tls_failures.fetch_add(1, Relaxed);
                    return;
                }
                Err(_) => {
                    debug!(%peer, "TLS handshake not done in time");
                    shared.metrics.tls_failures.fetch_add(1, Relaxed);
                    return;
                }
            }
        }
    };

    let (request, rest) = match timeout_at(deadline, http::read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(error)) => {
            debug!(%peer, %error, "bad request");
            let _ = timeout(
                Duration::from_secs(1),
                http::respond(
                    &mut stream,
                    "400 Bad Request",
                    "text/plain",
                    error.to_string().as_bytes(),
                ),
            )
            .await;
            return;
        }
        Err(_) => {
            debug!(%peer, "request head not received in time");
            shared
                .metrics
                .record_disconnect(CloseReason::HandshakeTimeout.code());
            return;
        }
    };

    // The WebSocket answers on /ws and on / (so `ws://host:port` works); a plain GET of / is
    // the browser page.
    let wants_socket =
        request.path == "/ws" || (request.path == "/" && request.is_websocket_upgrade());
    if request.method == "POST" && request.path == "/api/matchmake" {
        let _ = timeout_at(
            deadline,
            super::routes::matchmake(&shared, &mut stream, &request, rest, peer.ip()),
        )
        .await;
        return;
    }
    if !wants_socket {
        let _ = timeout_at(deadline, serve_http(&shared, &mut stream, &request)).await;
        return;
    }
    if slot.http_only {
        shared.metrics.refused_connections.fetch_add(1, Relaxed);
        debug!(%peer, "refused: per-address connection cap");
        let _ = http::respond(
            &mut stream,
            "503 Service Unavailable",
            "text/plain",
            b"server full: too many connections from this address\n",
        )
        .await;
        return;
    }
    if !request.is_websocket_upgrade() {
        let _ = http::respond(
            &mut stream,
            "426 Upgrade Required",
            "text/plain",
            b"/ws speaks WebSocket only",
        )
        .await;
        return;
    }
    if let Some(origin) = request.header("origin")
        && !shared.config.origin_allowed(origin)
    {
        debug!(%peer, %origin, "origin refused");
        let _ = http::respond(
            &mut stream,
            "403 Forbidden",
            "text/plain",
            b"origin not allowed\n",
        )
        .await;
        return;
    }
    // JSON mode by subprotocol (or, below, by a Hello sent as text).
    let json_offered = request
        .headers
        .iter()
        .filter(|(name, _)| name == "sec-websocket-protocol")
        .flat_map(|(_, offered)| offered.split(','))
        .any(|protocol| protocol.trim() == json::SUBPROTOCOL);
    let subprotocol = json_offered.then_some(json::SUBPROTOCOL);
    match timeout_at(
        deadline,
        http::accept_upgrade(&mut stream, &request, subprotocol),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => {
            debug!(%peer, %reason, "bad upgrade");
            return;
        }
        Err(_) => return,
    }
    // The request's headers are not needed past the upgrade: free them for the session.
    drop(request);

    // The Hello must arrive before the same deadline.
    let mut buffer = rest;
    let mut format = if json_offered {
        Format::Json
    } else {
        Format::Binary
    };
    let hello = match timeout_at(deadline, read_message(&mut stream, &mut buffer)).await {
        Err(_) => Err(CloseReason::HandshakeTimeout),
        Ok(Err((reason, text))) => {
            // A text frame that broke a rule is refused in JSON, as its sender speaks.
            if text {
                format = Format::Json;
            }
            Err(reason)
        }
        Ok(Ok(None)) => return, // the client left before saying anything
        Ok(Ok(Some((sent_as, message, used)))) => {
            buffer.drain(..used);
            match (format, sent_as) {
                // A JSON session was asked for: its Hello must be text.
                (Format::Json, Format::Binary) => Err(CloseReason::BinaryFrame),
                _ => {
                    format = sent_as;
                    first_hello::<G>(&shared, format, &message)
                }
            }
        }
    };
    let hello = match hello {
        Ok(hello) => hello,
        Err(reason) => {
            debug!(%peer, %reason, "refused");
            goodbye::<G>(&shared, stream, format, &reason).await;
            return;
        }
    };
    let auth_guard = match authenticate(&shared, &hello) {
        Ok(guard) => guard,
        Err(reason) => {
            debug!(%peer, %reason, "authentication refused");
            goodbye::<G>(&shared, stream, format, &reason).await;
            return;
        }
    };

    // In a cluster: take the seat the Hello brings, or matchmake here (and send the client to
    // the owning node when that is another).
    let mut hello = hello;
    match enter_cluster(&shared, &mut hello, peer.ip()).await {
        Ok(None) => {}
        Ok(Some(redirect)) => {
            debug!(%peer, "redirected");
            goodbye_after::<G>(
                &shared,
                stream,
                format,
                &CloseReason::Redirect,
                Some(redirect),
            )
            .await;
            return;
        }
        Err(reason) => {
            debug!(%peer, %reason, "refused");
            goodbye::<G>(&shared, stream, format, &reason).await;
            return;
        }
    }

    let client = ClientId(shared.next_client.fetch_add(1, Relaxed));
    // The connection's belongings (its admission slot, its token in use) live in this closure
    // until the socket is handed to its room, and end with it if it never is.
    let name = hello.name.clone();
    let handoff = move |stream: Stream| {
        Ok::<_, std::io::Error>(Handoff {
            socket: stream.into_socket()?,
            initial: buffer,
            format,
            peer,
            name,
            slot,
            auth: auth_guard,
        })
    };
    if let Some(token) = hello.resume {
        resume(&shared, client, token, stream, handoff, format).await;
    } else {
        join(&shared, client, &hello, stream, handoff, format).await;
    }
}

/// A cluster node's part of the way in: a Hello with a seat takes it (checked, then redeemed;
/// its room and kind replace the Hello's); a Hello without one is matchmade here, and either
/// stays (the room is on this node: the seat is redeemed at once) or is answered with a
/// `Redirect` to the owning node. A resume is this node's own business. Outside a cluster a seat
/// is refused.
async fn enter_cluster<G: Game>(
    shared: &Shared<G>,
    hello: &mut Hello,
    ip: std::net::IpAddr,
) -> Result<Option<ServerMsg<Wire<G>>>, CloseReason> {
    let Some(cluster) = shared.cluster.get() else {
        return match hello.seat {
            Some(_) => Err(CloseReason::SeatInvalid(
                "this server is not part of a cluster".into(),
            )),
            None => Ok(None),
        };
    };
    if hello.resume.is_some() {
        return Ok(None);
    }
    let seat = match hello.seat.take() {
        Some(seat) => seat,
        None => {
            if cluster.draining.load(Relaxed) {
                return Err(CloseReason::ServiceRestart("the node is draining"));
            }
            let config = &shared.config;
            if !cluster.admit_matchmake(ip, config.matchmake_rate, config.matchmake_burst) {
                return Err(CloseReason::MatchmakingUnavailable(
                    "too many seat requests from this address: wait and try again".into(),
                ));
            }
            let capacity = crate::directory::Capacity {
                players: shared.max_players as u32,
                spectators: shared.config.max_spectators_per_room as u32,
            };
            let (placement, seat) = cluster
                .matchmake(hello.room.clone(), hello.spectate, capacity)
                .await
                .map_err(|error| match error {
                    MatchError::RoomFull => CloseReason::RoomFull("room is full".into()),
                    MatchError::Closing => {
                        CloseReason::ServiceRestart("the room's node is shutting down")
                    }
                    error => CloseReason::MatchmakingUnavailable(error.to_string()),
                })?;
            if placement.node != cluster.options.node_id {
                cluster.count_redirect();
                return Ok(Some(ServerMsg::Redirect {
                    url: placement.url,
                    room: placement.room,
                    seat,
                }));
            }
            seat
        }
    };
    let redeemed = cluster.redeem(&seat).await?;
    hello.room = Some(redeemed.room);
    hello.spectate = redeemed.spectate;
    Ok(None)
}

/// Reads until one whole message has arrived; returns how it came (a binary frame, or a text
/// frame: JSON mode), the message (owned) and how many bytes of `buffer` it used, or None when
/// the client left first. Pings before the Hello are ignored. An error says whether the client
/// had started a text message (so the refusal can be in JSON).
async fn read_message(
    stream: &mut Stream,
    buffer: &mut Vec<u8>,
) -> Result<Option<(Format, Vec<u8>, usize)>, (CloseReason, bool)> {
    // A text Hello may be as long as any JSON message.
    let mut decoder =
        Decoder::new(Side::Server, CLIENT_MSG_MAX).with_text_limit(JSON_CLIENT_MSG_MAX);
    let mut consumed = 0;
    let mut text = false;
    loop {
        // The opcode of the next frame, read ahead of the decoder: a text message started.
        text |= buffer.get(consumed).map(|byte| byte & 0x0f) == Some(ws::opcode::TEXT);
        let (item, used) = decoder
            .decode(&mut buffer[consumed..])
            .map_err(|error| (frame_error(error), text))?;
        consumed += used;
        match item {
            Some(Incoming::Binary(bytes)) => {
                return Ok(Some((Format::Binary, bytes.to_vec(), consumed)));
            }
            Some(Incoming::Text(text)) => {
                return Ok(Some((Format::Json, text.as_bytes().to_vec(), consumed)));
            }
            Some(Incoming::Close(_)) => return Ok(None),
            Some(Incoming::Ping(_) | Incoming::Pong) => continue,
            None => {}
        }
        if buffer.len() > 2 * (JSON_CLIENT_MSG_MAX + ws::HEADER_MAX) {
            return Err((CloseReason::BadHello("expected Hello".into()), text));
        }
        let mut chunk = [0u8; 2048];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

fn frame_error(error: FrameError) -> CloseReason {
    match error {
        FrameError::TooBig { max, .. } => CloseReason::TooBig { max },
        FrameError::InvalidUtf8 => CloseReason::InvalidUtf8,
        FrameError::Protocol(why) => {
            CloseReason::Protocol(format!("websocket protocol error: {why}"))
        }
    }
}

/// Checks that the first message is a valid Hello of our protocol version and game, in that
/// order: a client of another version or game may not decode as ours at all.
fn first_hello<G: Game>(
    shared: &Shared<G>,
    format: Format,
    bytes: &[u8],
) -> Result<Hello, CloseReason> {
    shared
        .metrics
        .bytes_in
        .fetch_add(bytes.len() as u64, Relaxed);
    shared.metrics.messages_in.fetch_add(1, Relaxed);
    let (version, game_stated) = match format {
        Format::Binary => (
            tickwire_protocol::hello_version(bytes),
            tickwire_protocol::hello_game(bytes),
        ),
        Format::Json => match json::hello_head(bytes) {
            Some((version, game, schema)) => (Some(version), Some((game, schema))),
            None => (None, None),
        },
    };
    if let Some(version) = version
        && version != PROTOCOL_VERSION
    {
        return Err(CloseReason::VersionMismatch { client: version });
    }
    let game = Wire::<G>::NAME;
    let schema = Wire::<G>::VERSION;
    if let Some((client_game, client_schema)) = game_stated
        && (client_game != game || client_schema != schema)
    {
        // Cut to the longest game name, on a character boundary (a JSON Hello's name may be
        // any text).
        let mut client_game = client_game;
        let mut end = client_game.len().min(GAME_NAME_MAX);
        while !client_game.is_char_boundary(end) {
            end -= 1;
        }
        client_game.truncate(end);
        return Err(CloseReason::GameMismatch {
            game,
            schema,
            client_game,
            client_schema,
        });
    }
    let decoded = match format {
        Format::Binary => decode_client::<Wire<G>>(bytes),
        Format::Json => json::decode_client::<Wire<G>>(bytes),
    };
    match decoded {
        Ok(ClientMsg::Hello(hello)) if hello.version != PROTOCOL_VERSION => {
            Err(CloseReason::VersionMismatch {
                client: hello.version,
            })
        }
        Ok(ClientMsg::Hello(hello)) => Ok(hello),
        Ok(_) => Err(CloseReason::BadHello(
            "the first message must be Hello".into(),
        )),
        Err(DecodeError::Invalid(error)) => {
            Err(CloseReason::BadHello(format!("bad Hello: {error}")))
        }
        Err(error) => Err(CloseReason::Protocol(format!(
            "undecodable message: {error}"
        ))),
    }
}

/// Checks the session token when authentication is on; the guard frees the token when the
/// connection ends.
fn authenticate<G: Game>(
    shared: &Arc<Shared<G>>,
    hello: &Hello,
) -> Result<Option<AuthGuard<G>>, CloseReason> {
    let Some(secret) = shared.config.auth_secret() else {
        return Ok(None);
    };
    let token = hello.token.as_deref().ok_or(CloseReason::AuthRequired)?;
    match auth::verify_now(secret, token, &hello.name) {
        Ok(_) => {}
        Err(auth::TokenError::Expired) => return Err(CloseReason::AuthExpired),
        Err(error) => return Err(CloseReason::AuthInvalid(error.to_string())),
    }
    let mut lobby = lock(&shared.lobby);
    // A resume takes the session over from the connection it replaces, token included.
    let uses = lobby.auth_in_use.entry(token.to_string()).or_insert(0);
    if *uses > 0 && hello.resume.is_none() {
        return Err(CloseReason::TokenInUse);
    }
    *uses += 1;
    Ok(Some(AuthGuard {
        shared: Arc::clone(shared),
        token: token.to_string(),
    }))
}

/// A signed session token in use by a connection, freed when the connection ends (it moves
/// with the socket into the room's task).
#[derive(Debug)]
pub(crate) struct AuthGuard<G: Game> {
    shared: Arc<Shared<G>>,
    token: String,
}

impl<G: Game> Drop for AuthGuard<G> {
    fn drop(&mut self) {
        let mut lobby = lock(&self.shared.lobby);
        if let Some(uses) = lobby.auth_in_use.get_mut(&self.token) {
            *uses -= 1;
            if *uses == 0 {
                lobby.auth_in_use.remove(&self.token);
            }
        }
    }
}

/// Hands a resuming connection to the room that holds its session.
async fn resume<G: Game>(
    shared: &Arc<Shared<G>>,
    client: ClientId,
    token: SessionToken,
    stream: Stream,
    handoff: impl FnOnce(Stream) -> std::io::Result<Handoff<G>>,
    format: Format,
) {
    let found = {
        let lobby = lock(&shared.lobby);
        lobby.sessions.get(&token).and_then(|name| {
            let entry = lobby.rooms.get(name)?;
            Some((name.clone(), entry.inbox.clone()))
        })
    };
    let Some((name, inbox)) = found else {
        let reason =
            CloseReason::ResumeFailed("no session to resume: it expired or never existed".into());
        goodbye::<G>(shared, stream, format, &reason).await;
        return;
    };
    let Ok(handoff) = handoff(stream) else {
        return; // the socket failed in our hands: nothing to say goodbye on
    };
    let (reply, replied) = oneshot::channel();
    let command = RoomCmd::Resume {
        client,
        token,
        handoff,
        reply,
    };
    if let Some(handoff) = send(&inbox, command).await {
        let reason =
            CloseReason::ResumeFailed("no session to resume: it expired or never existed".into());
        close_handoff(shared, handoff, &reason).await;
        return;
    }
    if let Ok(Ok(())) = replied.await {
        shared.metrics.resumes.fetch_add(1, Relaxed);
        info!(room = %name, "resumed");
    }
}

/// Takes a seat and hands the connection to its room.
async fn join<G: Game>(
    shared: &Arc<Shared<G>>,
    client: ClientId,
    hello: &Hello,
    stream: Stream,
    handoff: impl FnOnce(Stream) -> std::io::Result<Handoff<G>>,
    format: Format,
) {
    let (name, inbox, room_id) = match reserve_seat(shared, hello) {
        Ok(seat) => seat,
        Err(reason) => {
            // In a cluster the directory already counts this player (its seat was redeemed):
            // the seat goes back.
            if let (Some(cluster), Some(room)) = (shared.cluster.get(), &hello.room) {
                cluster.report_leave(room, hello.spectate);
            }
            goodbye::<G>(shared, stream, format, &reason).await;
            return;
        }
    };
    let mut token = SessionToken::default();
    if getrandom::fill(&mut token).is_err() {
        release_seat(shared, &name, room_id, hello.spectate);
        goodbye::<G>(
            shared,
            stream,
            format,
            &CloseReason::Internal("no randomness"),
        )
        .await;
        return;
    }
    // Registered before the room hears of the player, so its departure always finds it.
    if !hello.spectate {
        lock(&shared.lobby).sessions.insert(token, name.clone());
    }
    let forget = || {
        lock(&shared.lobby).sessions.remove(&token);
        release_seat(shared, &name, room_id, hello.spectate);
    };
    let Ok(handoff) = handoff(stream) else {
        forget();
        return;
    };
    let (reply, replied) = oneshot::channel();
    let command = RoomCmd::Join {
        client,
        hello: hello.clone(),
        token,
        handoff,
        reply,
    };
    if let Some(handoff) = send(&inbox, command).await {
        forget();
        close_handoff(
            shared,
            handoff,
            &CloseReason::RoomFull("room is closing".into()),
        )
        .await;
        return;
    }
    match replied.await {
        Ok(Ok(())) => {}
        // The room refused the seat and already said goodbye on the socket.
        _ => forget(),
    }
}

/// Sends a command to a room; when the room is gone, returns the connection it carried.
async fn send<G: Game>(
    inbox: &mpsc::Sender<RoomCmd<G>>,
    command: RoomCmd<G>,
) -> Option<Handoff<G>> {
    match inbox.send(command).await {
        Ok(()) => None,
        Err(mpsc::error::SendError(command)) => command.into_handoff(),
    }
}

/// Says goodbye on a connection that was handed off but never reached its room.
async fn close_handoff<G: Game>(shared: &Shared<G>, handoff: Handoff<G>, reason: &CloseReason) {
    match handoff.socket {
        Socket::Plain(tcp) => {
            if let Ok(stream) = Stream::from_socket(Socket::Plain(tcp)) {
                goodbye::<G>(shared, stream, handoff.format, reason).await;
            }
        }
        mut socket @ Socket::Tls(_) => {
            // A TLS session cannot go back to tokio: one non-blocking try at the goodbye.
            shared.metrics.record_disconnect(reason.code());
            let bytes = goodbye_frames::<G>(handoff.format, reason);
            let _ = std::io::Write::write(&mut socket, &bytes);
            socket.shutdown_write();
        }
    }
}

/// The goodbye before a connection reaches a room: the Error message and a close frame with
/// the same code and reason, a half-close, then reading and discarding until the peer closes,
/// `LINGER` passes or `LINGER_BYTES` were read, so the peer reads the close even if it was
/// still writing.
pub(crate) async fn goodbye<G: Game>(
    shared: &Shared<G>,
    stream: Stream,
    format: Format,
    reason: &CloseReason,
) {
    goodbye_after::<G>(shared, stream, format, reason, None).await;
}

/// [`goodbye`], with one message (a `Redirect`) before the Error message.
async fn goodbye_after<G: Game>(
    shared: &Shared<G>,
    mut stream: Stream,
    format: Format,
    reason: &CloseReason,
    before: Option<ServerMsg<Wire<G>>>,
) {
    shared.metrics.record_disconnect(reason.code());
    let mut bytes = Vec::new();
    if let Some(message) = before {
        let mut encoded = Vec::new();
        let opcode = match format {
            Format::Binary => {
                encode_server(&message, &mut encoded);
                ws::opcode::BINARY
            }
            Format::Json => {
                json::encode_server(&message, &mut encoded);
                ws::opcode::TEXT
            }
        };
        ws::encode_frame(opcode, &encoded, None, &mut bytes);
    }
    bytes.extend(goodbye_frames::<G>(format, reason));
    let linger = async {
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 4096];
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(read) => discarded += read,
            }
        }
    };
    let _ = timeout(LINGER, linger).await;
}

/// The goodbye's bytes: the Error message (in the session's format) and a close frame with the
/// same code and reason.
fn goodbye_frames<G: Game>(format: Format, reason: &CloseReason) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut message = Vec::new();
    let error = ServerMsg::<Wire<G>>::Error {
        code: reason.code(),
        reason: reason.text().into_owned(),
    };
    let opcode = match format {
        Format::Binary => {
            encode_server(&error, &mut message);
            ws::opcode::BINARY
        }
        Format::Json => {
            json::encode_server(&error, &mut message);
            ws::opcode::TEXT
        }
    };
    ws::encode_frame(opcode, &message, None, &mut bytes);
    ws::encode_close(reason.code(), &reason.text(), None, &mut bytes);
    bytes
}

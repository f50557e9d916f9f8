//! Why the server ends a session: one typed reason per cause, each with its close code and the
//! text the peer reads (in the Error message and the close frame), and what happens to the
//! player. Every close the server makes goes through here, so the codes, texts and resume rules
//! live in one place; docs/PROTOCOL.md's close-code table is checked against
//! `tickwire_protocol::close`.

use std::borrow::Cow;

use tickwire_protocol::{close, limits};

/// Why a session ends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed the connection (it sent a close frame).
    ClientLeft,
    /// The connection dropped without a close handshake (or a write failed): nothing can be
    /// sent; the player is held for a resume.
    ConnectionLost(String),
    /// The server is shutting down.
    ShuttingDown,
    /// The peer broke the protocol after the handshake: undecodable bytes, a second Hello, bad
    /// WebSocket framing.
    Protocol(String),
    /// A text frame in a binary session.
    TextFrame,
    /// A binary frame in a JSON session.
    BinaryFrame,
    /// A text message that is not UTF-8.
    InvalidUtf8,
    /// Far more messages than the budget, for a whole second.
    RateLimited,
    /// A message or frame larger than the limit (`max` bytes).
    TooBig {
        /// The limit.
        max: usize,
    },
    /// The room's simulation crashed.
    RoomCrashed,
    /// The server failed in a way that is not the client's doing.
    Internal(&'static str),
    /// The Hello would create a room past `max_rooms`.
    NoRoomForARoom,
    /// The client's protocol version differs.
    VersionMismatch {
        /// The client's.
        client: u16,
    },
    /// The client speaks another game, or another version of this game's types.
    GameMismatch {
        /// The server's game.
        game: &'static str,
        /// The server's schema version.
        schema: u16,
        /// The client's game.
        client_game: String,
        /// The client's schema version.
        client_schema: u16,
    },
    /// The Hello broke a rule, or something else came first.
    BadHello(String),
    /// The room has no free seat of the kind asked for.
    RoomFull(String),
    /// No Hello before the handshake deadline.
    HandshakeTimeout,
    /// No traffic at all (pongs included) for the idle timeout: the player is held.
    Idle,
    /// The client let its reliable queue overflow: the player is held.
    QueueOverflow,
    /// The client stopped acknowledging snapshots: the player leaves.
    StoppedAcknowledging,
    /// A write did not complete within the stall deadline: nothing more can be sent; the player
    /// is held.
    Stalled,
    /// Another connection resumed this session.
    SessionReplaced,
    /// The resume token names no session the server holds.
    ResumeFailed(String),
    /// The server requires a session token and the Hello had none.
    AuthRequired,
    /// The session token is malformed, forged or for another name.
    AuthInvalid(String),
    /// The session token has expired.
    AuthExpired,
    /// The session token is in use by a live connection.
    TokenInUse,
    /// The node drains or lost the room to another node: matchmake again.
    ServiceRestart(&'static str),
    /// The Hello's seat is forged, foreign, used or no longer reserved.
    SeatInvalid(String),
    /// The Hello's seat expired.
    SeatExpired,
    /// The room is on another node (a Redirect message was queued before the close).
    Redirect,
    /// Matchmaking could not be done now (the directory is unreachable, or no node can take a
    /// room).
    MatchmakingUnavailable(String),
    /// A replayed match ended (or its replay stopped), and why: the normal end of a session.
    ReplayOver(String),
}

impl CloseReason {
    /// The close code (tickwire_protocol::close); 1006 for a lost connection.
    pub fn code(&self) -> u16 {
        match self {
            CloseReason::ClientLeft => close::NORMAL,
            CloseReason::ConnectionLost(_) | CloseReason::Stalled => 1006,
            CloseReason::ShuttingDown => close::GOING_AWAY,
            CloseReason::Protocol(_) => close::PROTOCOL_ERROR,
            CloseReason::TextFrame | CloseReason::BinaryFrame => close::UNSUPPORTED_DATA,
            CloseReason::InvalidUtf8 => close::INVALID_DATA,
            CloseReason::RateLimited => close::POLICY_VIOLATION,
            CloseReason::TooBig { .. } => close::MESSAGE_TOO_BIG,
            CloseReason::RoomCrashed | CloseReason::Internal(_) => close::INTERNAL_ERROR,
            CloseReason::NoRoomForARoom => close::TRY_AGAIN_LATER,
            CloseReason::VersionMismatch { .. } => close::VERSION_MISMATCH,
            CloseReason::GameMismatch { .. } => close::GAME_MISMATCH,
            CloseReason::BadHello(_) => close::BAD_HELLO,
            CloseReason::RoomFull(_) => close::ROOM_FULL,
            CloseReason::HandshakeTimeout | CloseReason::Idle => close::TIMEOUT,
            CloseReason::QueueOverflow | CloseReason::StoppedAcknowledging => close::TOO_SLOW,
            CloseReason::SessionReplaced => close::SESSION_REPLACED,
            CloseReason::ResumeFailed(_) => close::RESUME_FAILED,
            CloseReason::AuthRequired => close::AUTH_REQUIRED,
            CloseReason::AuthInvalid(_) => close::AUTH_INVALID,
            CloseReason::AuthExpired => close::AUTH_EXPIRED,
            CloseReason::TokenInUse => close::TOKEN_IN_USE,
            CloseReason::ServiceRestart(_) => close::SERVICE_RESTART,
            CloseReason::SeatInvalid(_) => close::SEAT_INVALID,
            CloseReason::SeatExpired => close::SEAT_EXPIRED,
            CloseReason::Redirect => close::REDIRECT,
            CloseReason::MatchmakingUnavailable(_) => close::TRY_AGAIN_LATER,
            CloseReason::ReplayOver(_) => close::NORMAL,
        }
    }

    /// The text the peer reads, at most `REASON_MAX` bytes.
    pub fn text(&self) -> Cow<'static, str> {
        let text: Cow<'static, str> = match self {
            CloseReason::ClientLeft => "client left".into(),
            CloseReason::ConnectionLost(why) => format!("connection lost: {why}").into(),
            CloseReason::ShuttingDown => "server shutting down".into(),
            CloseReason::Protocol(why) | CloseReason::BadHello(why) => why.clone().into(),
            CloseReason::TextFrame => {
                "this session speaks binary (its Hello was binary): send binary frames".into()
            }
            CloseReason::BinaryFrame => {
                "this session speaks JSON (its Hello was text): send text frames".into()
            }
            CloseReason::InvalidUtf8 => "text message is not valid UTF-8".into(),
            CloseReason::RateLimited => "message rate limit exceeded".into(),
            CloseReason::TooBig { max } => format!("message larger than {max} bytes").into(),
            CloseReason::RoomCrashed => "room crashed; please rejoin".into(),
            CloseReason::Internal(what) => format!("internal error: {what}").into(),
            CloseReason::NoRoomForARoom => "server has no room for another room".into(),
            CloseReason::VersionMismatch { client } => format!(
                "protocol version mismatch: client {client}, server {}",
                tickwire_protocol::PROTOCOL_VERSION
            )
            .into(),
            CloseReason::GameMismatch {
                game,
                schema,
                client_game,
                client_schema,
            } => format!(
                "wrong game: this server runs {game} (schema {schema}), the client speaks \
                 {client_game} (schema {client_schema})"
            )
            .into(),
            CloseReason::RoomFull(why) | CloseReason::ResumeFailed(why) => why.clone().into(),
            CloseReason::HandshakeTimeout => "no Hello before the handshake deadline".into(),
            CloseReason::Idle => "no traffic from the client: timed out".into(),
            CloseReason::QueueOverflow => "too slow: message queue overflowed".into(),
            CloseReason::StoppedAcknowledging => "too slow: stopped acknowledging snapshots".into(),
            CloseReason::Stalled => "too slow: stalled past the deadline".into(),
            CloseReason::SessionReplaced => "session resumed by another connection".into(),
            CloseReason::AuthRequired => "this server requires a session token".into(),
            CloseReason::AuthInvalid(why) => format!("session token refused: {why}").into(),
            CloseReason::AuthExpired => "session token expired".into(),
            CloseReason::TokenInUse => "session token already in use by another connection".into(),
            CloseReason::ServiceRestart(why) => {
                format!("service restart: {why}; matchmake again").into()
            }
            CloseReason::SeatInvalid(why) => format!("seat refused: {why}").into(),
            CloseReason::SeatExpired => "seat expired: matchmake again".into(),
            CloseReason::Redirect => "the room is on another node: follow the Redirect".into(),
            CloseReason::MatchmakingUnavailable(why) => {
                format!("matchmaking unavailable: {why}; try again later").into()
            }
            CloseReason::ReplayOver(why) => format!("replay over: {why}").into(),
        };
        match text {
            Cow::Owned(mut owned) if owned.len() > limits::REASON_MAX => {
                let mut end = limits::REASON_MAX;
                while !owned.is_char_boundary(end) {
                    end -= 1;
                }
                owned.truncate(end);
                Cow::Owned(owned)
            }
            text => text,
        }
    }

    /// Whether the player is held for a resume (the connection failed under it) rather than
    /// removed (it left, or the server ended the session for cause).
    pub fn holds_player(&self) -> bool {
        matches!(
            self,
            CloseReason::ConnectionLost(_)
                | CloseReason::Idle
                | CloseReason::QueueOverflow
                | CloseReason::Stalled
        )
    }

    /// Whether the server can still say goodbye (an Error message and a close frame): not when
    /// the connection is gone or stuck, and not when the client closed (its close frame is
    /// echoed instead).
    pub fn says_goodbye(&self) -> bool {
        !matches!(
            self,
            CloseReason::ConnectionLost(_) | CloseReason::Stalled | CloseReason::ClientLeft
        )
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) {}",
            self.code(),
            close::name(self.code()),
            self.text()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_fits_a_close_frame_and_has_a_named_code() {
        let long = "x".repeat(500);
        for reason in [
            CloseReason::ShuttingDown,
            CloseReason::Protocol(long.clone()),
            CloseReason::TextFrame,
            CloseReason::BinaryFrame,
            CloseReason::InvalidUtf8,
            CloseReason::RateLimited,
            CloseReason::TooBig {
                max: limits::CLIENT_MSG_MAX,
            },
            CloseReason::RoomCrashed,
            CloseReason::NoRoomForARoom,
            CloseReason::VersionMismatch { client: 1 },
            CloseReason::GameMismatch {
                game: "arena",
                schema: 1,
                client_game: long.clone(),
                client_schema: 2,
            },
            CloseReason::BadHello(long.clone()),
            CloseReason::RoomFull("room is full".into()),
            CloseReason::HandshakeTimeout,
            CloseReason::Idle,
            CloseReason::QueueOverflow,
            CloseReason::StoppedAcknowledging,
            CloseReason::SessionReplaced,
            CloseReason::ResumeFailed("gone".into()),
            CloseReason::AuthRequired,
            CloseReason::AuthInvalid(long.clone()),
            CloseReason::AuthExpired,
            CloseReason::TokenInUse,
            CloseReason::ServiceRestart("draining"),
            CloseReason::SeatInvalid(long.clone()),
            CloseReason::SeatExpired,
            CloseReason::Redirect,
            CloseReason::MatchmakingUnavailable(long.clone()),
            CloseReason::ReplayOver(long.clone()),
        ] {
            assert!(reason.text().len() <= limits::REASON_MAX, "{reason:?}");
            assert_ne!(close::name(reason.code()), "other", "{reason:?}");
            assert!(reason.says_goodbye(), "{reason:?}");
        }
        assert_eq!(
            CloseReason::TooBig {
                max: limits::CLIENT_MSG_MAX
            }
            .text(),
            "message larger than 1024 bytes"
        );
        assert!(!CloseReason::ClientLeft.says_goodbye());
        assert!(CloseReason::Idle.holds_player());
        assert!(!CloseReason::StoppedAcknowledging.holds_player());
        assert!(!CloseReason::Stalled.says_goodbye());
    }
}

//! WebSocket close codes the server uses, with their meaning. docs/PROTOCOL.md has the same table.
//!
//! 1000-1015 are the standard codes (RFC 6455); 4000-4999 are tickwire's own.

/// The session ended normally (the client asked to leave).
pub const NORMAL: u16 = 1000;
/// The server is shutting down; reconnect later.
pub const GOING_AWAY: u16 = 1001;
/// The peer broke the protocol: undecodable bytes, a message out of order, a bad value.
pub const PROTOCOL_ERROR: u16 = 1002;
/// The peer sent a frame type the protocol does not use (a text frame).
pub const UNSUPPORTED_DATA: u16 = 1003;
/// A text message was not valid UTF-8.
pub const INVALID_DATA: u16 = 1007;
/// The peer broke a policy: for example a message rate far over the budget.
pub const POLICY_VIOLATION: u16 = 1008;
/// A message or frame was larger than the limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server failed (for example the room's simulation crashed); nothing the client did.
pub const INTERNAL_ERROR: u16 = 1011;
/// The node is going away (draining, or it lost its rooms to another node after a stall):
/// matchmake again.
pub const SERVICE_RESTART: u16 = 1012;
/// The server cannot open another room (`max_rooms`); try again later. (The connection caps
/// answer HTTP 503 before any WebSocket exists.)
pub const TRY_AGAIN_LATER: u16 = 1013;
/// The client's protocol version differs from the server's.
pub const VERSION_MISMATCH: u16 = 4000;
/// The Hello was invalid (bad name, bad room name) or did not come first.
pub const BAD_HELLO: u16 = 4001;
/// The named room is full.
pub const ROOM_FULL: u16 = 4002;
/// The client did not complete the handshake or went silent past the deadline.
pub const TIMEOUT: u16 = 4003;
/// The client could not keep up: its outgoing queue overflowed.
pub const TOO_SLOW: u16 = 4004;

/// Another connection resumed this session; this one is closed.
pub const SESSION_REPLACED: u16 = 4005;
/// The resume token names no session the server still holds (expired or unknown).
pub const RESUME_FAILED: u16 = 4006;
/// The server requires a session token and the Hello had none.
pub const AUTH_REQUIRED: u16 = 4007;
/// The session token is malformed, forged, or issued for another name.
pub const AUTH_INVALID: u16 = 4008;
/// The session token has expired.
pub const AUTH_EXPIRED: u16 = 4009;
/// The session token is already in use by a live connection.
pub const TOKEN_IN_USE: u16 = 4010;
/// The client speaks another game, or another version of this game's wire types.
pub const GAME_MISMATCH: u16 = 4011;
/// The Hello's seat is forged, for another node, already used, or no longer reserved.
pub const SEAT_INVALID: u16 = 4012;
/// The Hello's seat expired before it was presented: matchmake again.
pub const SEAT_EXPIRED: u16 = 4013;
/// This node does not own the room: a `Redirect` message named the node and the seat to use.
pub const REDIRECT: u16 = 4014;

/// A short name for a close code, for logs, metrics and reports.
pub fn name(code: u16) -> &'static str {
    match code {
        NORMAL => "normal",
        GOING_AWAY => "going_away",
        PROTOCOL_ERROR => "protocol_error",
        UNSUPPORTED_DATA => "unsupported_data",
        INVALID_DATA => "invalid_data",
        POLICY_VIOLATION => "policy_violation",
        MESSAGE_TOO_BIG => "message_too_big",
        INTERNAL_ERROR => "internal_error",
        SERVICE_RESTART => "service_restart",
        TRY_AGAIN_LATER => "try_again_later",
        VERSION_MISMATCH => "version_mismatch",
        BAD_HELLO => "bad_hello",
        ROOM_FULL => "room_full",
        TIMEOUT => "timeout",
        TOO_SLOW => "too_slow",
        SESSION_REPLACED => "session_replaced",
        RESUME_FAILED => "resume_failed",
        AUTH_REQUIRED => "auth_required",
        AUTH_INVALID => "auth_invalid",
        AUTH_EXPIRED => "auth_expired",
        TOKEN_IN_USE => "token_in_use",
        GAME_MISMATCH => "game_mismatch",
        SEAT_INVALID => "seat_invalid",
        SEAT_EXPIRED => "seat_expired",
        REDIRECT => "redirect",
        _ => "other",
    }
}

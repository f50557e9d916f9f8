//! Every limit the wire enforces. A decoder rejects anything past these before allocating for it.

/// Largest client message (bytes) a server accepts; also the WebSocket frame cap for clients.
pub const CLIENT_MSG_MAX: usize = 1024;
/// Largest client message (bytes of JSON text) a server accepts in JSON mode: the binary limit's
/// messages, spelled out with field names.
pub const JSON_CLIENT_MSG_MAX: usize = 4096;
/// Largest server message (bytes of JSON text) in JSON mode: a whole view spelt out; a larger
/// view is not sent.
pub const JSON_SERVER_MSG_MAX: usize = 1 << 20;
/// Largest server message (bytes) a client accepts.
pub const SERVER_MSG_MAX: usize = 256 * 1024;
/// Longest player name (bytes of UTF-8).
pub const NAME_MAX: usize = 24;
/// Longest game name in a Hello (bytes; `a-z`, `0-9`, `-` and `_`).
pub const GAME_NAME_MAX: usize = 32;
/// Longest room name (bytes; ASCII letters, digits, `-` and `_`).
pub const ROOM_NAME_MAX: usize = 32;
/// Longest chat text (bytes of UTF-8).
pub const CHAT_MAX: usize = 200;
/// Longest close/error reason (bytes); WebSocket close frames allow 123.
pub const REASON_MAX: usize = 120;
/// Most input commands in one [`crate::Input`] message (the newest plus redundant resends).
pub const INPUTS_PER_MSG_MAX: usize = 8;
/// Most entities one snapshot may describe (in view at once).
pub const VIEW_ENTITIES_MAX: usize = 8192;
/// Most rows in a stats (score) table, and so most players in a room.
pub const SCORES_MAX: usize = 1024;
/// Snapshots a client keeps as possible baselines: the newest this many it decoded. A server
/// never encodes against an older one (it sends a full snapshot instead).
pub const CLIENT_BASELINES: usize = 32;
/// Oldest baseline a delta may refer to, in ticks before the snapshot's tick.
pub const BASELINE_AGE_MAX: u32 = 255;
/// Longest session token in a Hello (bytes).
pub const TOKEN_MAX: usize = 256;
/// Most events in one [`crate::ServerMsg::Events`].
pub const EVENTS_MAX: usize = 256;
/// Longest URL in a `Redirect` (bytes).
pub const URL_MAX: usize = 256;

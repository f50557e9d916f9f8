//! The typed messages: an envelope the engine defines, generic over a game's [`Schema`]. One
//! message travels in one binary WebSocket frame; [`crate::codec`] turns them into bytes. Field
//! order is wire order: changing it changes the protocol version.

use serde::{Deserialize, Serialize};

use crate::limits;
use crate::schema::{Schema, Wire};

/// Messages a client sends to the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub enum ClientMsg<G: Schema> {
    /// First message of every session; anything else first is a protocol error.
    Hello(Hello),
    /// The client's newest commands (with redundant resends) and its snapshot acknowledgement.
    Input(Input<G::Input>),
    /// A chat line for everyone in the room.
    Chat {
        /// UTF-8 text, at most [`limits::CHAT_MAX`] bytes.
        text: String,
    },
    /// Round-trip probe; the server answers [`ServerMsg::Pong`] with the same nonce.
    Ping {
        /// Any value the client picks.
        nonce: u32,
    },
}

/// Opens a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// Must equal [`crate::PROTOCOL_VERSION`].
    pub version: u16,
    /// The game the client speaks ([`Schema::NAME`]); must be the server's.
    pub game: String,
    /// The version of that game's wire types ([`Schema::VERSION`]); must be the server's.
    pub schema: u16,
    /// Display name, 1..=[`limits::NAME_MAX`] bytes, no control characters.
    pub name: String,
    /// Room to join or create; `None` joins the fullest room with a free seat.
    pub room: Option<String>,
    /// Join as a spectator: sees what the game shows spectators, has no seat, sends no
    /// commands. (JSON mode: may be left out, meaning false.)
    #[serde(default)]
    pub spectate: bool,
    /// A resume token from an earlier [`Welcome`]: take that player back (same seat, stats and
    /// input sequence) if the server still holds it. `room` and `spectate` are then ignored.
    pub resume: Option<[u8; 16]>,
    /// A signed session token, required when the server has authentication on (at most
    /// [`limits::TOKEN_MAX`] bytes; see docs/PROTOCOL.md for its format).
    pub token: Option<String>,
    /// A seat from a cluster's matchmaker (`POST /api/matchmake`, or a [`ServerMsg::Redirect`]):
    /// the node takes the seat it reserved instead of placing the client itself; `room` and
    /// `spectate` are then the seat's. At most [`limits::TOKEN_MAX`] bytes. (JSON mode: may be
    /// left out.)
    #[serde(default)]
    pub seat: Option<String>,
}

impl Hello {
    /// A Hello for game `G` with everything optional left out.
    pub fn new<G: Schema>(name: impl Into<String>) -> Hello {
        Hello {
            version: crate::PROTOCOL_VERSION,
            game: G::NAME.to_string(),
            schema: G::VERSION,
            name: name.into(),
            room: None,
            spectate: false,
            resume: None,
            token: None,
            seat: None,
        }
    }
}

/// Commands `first_seq`, `first_seq + 1`, ... in order, plus the snapshot acknowledgement.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input<C> {
    /// Tick of the newest snapshot the client has decoded (0 = none yet, which also asks for a
    /// full snapshot). The server encodes later snapshots as deltas against it.
    pub ack_tick: u32,
    /// Sequence number of `cmds[0]`; sequence numbers start at 1 and increase by one per tick.
    pub first_seq: u32,
    /// At most [`limits::INPUTS_PER_MSG_MAX`] commands: the newest last, older unacknowledged
    /// ones before it so a lost message loses no command.
    pub cmds: Vec<C>,
}

/// Messages the server sends to a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub enum ServerMsg<G: Schema> {
    /// Answer to [`Hello`]: who you are and how the room runs.
    Welcome(Welcome<G::Setup>),
    /// The world as this client may see it at one tick.
    Snapshot(Snapshot<G::Stats>),
    /// A chat line from someone in the room, in the order the server received them.
    Chat(ChatBroadcast),
    /// Things that happened in one tick that a snapshot does not show; reliable, so none is
    /// lost when a snapshot is replaced.
    Events(Events<G::Event>),
    /// Answer to [`ClientMsg::Ping`].
    Pong {
        /// The nonce from the ping.
        nonce: u32,
        /// The room's tick when the ping was answered.
        tick: u32,
    },
    /// Sent just before the server closes the connection; the same code and reason are in the
    /// WebSocket close frame (see [`crate::close`]).
    Error {
        /// A close code from [`crate::close`].
        code: u16,
        /// Human-readable reason, at most [`limits::REASON_MAX`] bytes.
        reason: String,
    },
    /// The answer to a Hello without a seat on one node of a cluster whose room is (or is
    /// placed) on another: connect to `url` and send the Hello again with `seat`. The server
    /// closes with [`crate::close::REDIRECT`] right after.
    Redirect {
        /// The owning node's WebSocket URL, at most [`limits::URL_MAX`] bytes.
        url: String,
        /// The room the seat is in.
        room: String,
        /// The seat to present in the next Hello, at most [`limits::TOKEN_MAX`] bytes.
        seat: String,
    },
}

/// The server's answer to a [`Hello`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Welcome<S> {
    /// The server's protocol version.
    pub version: u16,
    /// Your player id (0 for a spectator).
    pub player: u32,
    /// The network id of your own entity (0 for a spectator, or in a game without avatars).
    pub entity: u32,
    /// The room you joined.
    pub room: String,
    /// Simulation ticks per second.
    pub tick_rate: u16,
    /// A snapshot is sent every this many ticks.
    pub snapshot_interval: u8,
    /// The room's tick now.
    pub tick: u32,
    /// The game's setup data (its map and rules, say).
    pub setup: S,
    /// Present this in a later [`Hello::resume`] to get this player back after a dropped
    /// connection (within the server's grace window).
    pub resume_token: [u8; 16],
    /// Whether this session resumed an earlier one.
    pub resumed: bool,
}

/// One viewer's view of the world at one tick, as a delta against an acknowledged baseline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot<R> {
    /// Server tick this snapshot describes.
    pub tick: u32,
    /// How many ticks before `tick` the baseline is (0 = no baseline: a full snapshot). At most
    /// [`limits::BASELINE_AGE_MAX`].
    pub baseline_age: u8,
    /// Sequence number of the last command the server applied for you (0 = none).
    pub last_input: u32,
    /// Checksum of the whole view after applying this delta ([`crate::delta::checksum`]).
    pub checksum: u32,
    /// Stats rows that are new or changed since the baseline (every row in a full snapshot),
    /// sorted by player id.
    pub scores: Vec<R>,
    /// Player ids whose rows were in the baseline's table and are gone (players who left).
    pub scores_removed: Vec<u32>,
    /// The entity delta, bit-packed as in [`crate::delta`].
    pub body: Vec<u8>,
}

impl<R> Default for Snapshot<R> {
    fn default() -> Self {
        Snapshot {
            tick: 0,
            baseline_age: 0,
            last_input: 0,
            checksum: 0,
            scores: Vec::new(),
            scores_removed: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// The events of one tick that this client may hear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Events<E> {
    /// The tick they happened in (the snapshot of that tick shows their outcome).
    pub tick: u32,
    /// The events, in the order the game produced them; at most [`limits::EVENTS_MAX`].
    pub events: Vec<E>,
}

/// A chat line relayed to a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatBroadcast {
    /// Sender's player id (0 for a spectator).
    pub from: u32,
    /// Sender's name.
    pub name: String,
    /// The text.
    pub text: String,
}

/// Why a message is malformed even though it decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A string or list is longer than its limit.
    #[error("{field} is {len} long, the limit is {max}")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field holds a value the protocol does not allow.
    #[error("{field} is invalid: {why}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        why: &'static str,
    },
}

/// Checks a length against its limit (a helper for [`Wire::validate`] implementations).
pub fn check_len(field: &'static str, len: usize, max: usize) -> Result<(), ValidationError> {
    if len > max {
        Err(ValidationError::TooLong { field, len, max })
    } else {
        Ok(())
    }
}

/// Refuses text with control characters (a helper for [`Wire::validate`] implementations).
pub fn no_control(field: &'static str, text: &str) -> Result<(), ValidationError> {
    if text.chars().any(char::is_control) {
        Err(ValidationError::Invalid {
            field,
            why: "control characters",
        })
    } else {
        Ok(())
    }
}

/// Checks a player name: 1..=NAME_MAX bytes, no control characters, not only whitespace.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    check_len("name", name.len(), limits::NAME_MAX)?;
    if name.trim().is_empty() {
        return Err(ValidationError::Invalid {
            field: "name",
            why: "empty",
        });
    }
    no_control("name", name)
}

/// Checks a room name: 1..=ROOM_NAME_MAX bytes of ASCII letters, digits, `-` and `_`.
pub fn validate_room(room: &str) -> Result<(), ValidationError> {
    check_len("room", room.len(), limits::ROOM_NAME_MAX)?;
    if room.is_empty()
        || !room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ValidationError::Invalid {
            field: "room",
            why: "must be 1-32 of A-Z a-z 0-9 - _",
        });
    }
    Ok(())
}

/// Checks a game name: 1..=GAME_NAME_MAX bytes of `a-z`, `0-9`, `-` and `_`.
pub fn validate_game_name(game: &str) -> Result<(), ValidationError> {
    check_len("game", game.len(), limits::GAME_NAME_MAX)?;
    if game.is_empty()
        || !game
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(ValidationError::Invalid {
            field: "game",
            why: "must be 1-32 of a-z 0-9 - _",
        });
    }
    Ok(())
}

impl<G: Schema> ClientMsg<G> {
    /// Checks every limit and value rule of the message (the codec calls this after decoding).
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            ClientMsg::Hello(hello) => {
                validate_game_name(&hello.game)?;
                validate_name(&hello.name)?;
                if let Some(room) = &hello.room {
                    validate_room(room)?;
                }
                if let Some(token) = &hello.token {
                    check_len("token", token.len(), limits::TOKEN_MAX)?;
                }
                if let Some(seat) = &hello.seat {
                    check_len("seat", seat.len(), limits::TOKEN_MAX)?;
                }
                Ok(())
            }
            ClientMsg::Input(input) => {
                check_len("cmds", input.cmds.len(), limits::INPUTS_PER_MSG_MAX)?;
                if !input.cmds.is_empty() && input.first_seq == 0 {
                    return Err(ValidationError::Invalid {
                        field: "first_seq",
                        why: "sequence numbers start at 1",
                    });
                }
                if input
                    .first_seq
                    .checked_add(input.cmds.len() as u32)
                    .is_none()
                {
                    return Err(ValidationError::Invalid {
                        field: "first_seq",
                        why: "sequence overflows",
                    });
                }
                input.cmds.iter().try_for_each(Wire::validate)
            }
            ClientMsg::Chat { text } => {
                check_len("text", text.len(), limits::CHAT_MAX)?;
                no_control("text", text)
            }
            ClientMsg::Ping { .. } => Ok(()),
        }
    }
}

impl<G: Schema> ServerMsg<G> {
    /// Checks every limit of the message (the codec calls this after decoding).
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            ServerMsg::Welcome(welcome) => {
                validate_room(&welcome.room)?;
                if welcome.tick_rate == 0 {
                    return Err(ValidationError::Invalid {
                        field: "tick_rate",
                        why: "zero",
                    });
                }
                if welcome.snapshot_interval == 0 {
                    return Err(ValidationError::Invalid {
                        field: "snapshot_interval",
                        why: "zero",
                    });
                }
                welcome.setup.validate()
            }
            ServerMsg::Snapshot(snapshot) => {
                check_len("scores", snapshot.scores.len(), limits::SCORES_MAX)?;
                check_len(
                    "scores_removed",
                    snapshot.scores_removed.len(),
                    limits::SCORES_MAX,
                )?;
                snapshot.scores.iter().try_for_each(Wire::validate)
            }
            ServerMsg::Chat(chat) => {
                check_len("name", chat.name.len(), limits::NAME_MAX)?;
                no_control("name", &chat.name)?;
                check_len("text", chat.text.len(), limits::CHAT_MAX)?;
                no_control("text", &chat.text)
            }
            ServerMsg::Events(events) => {
                check_len("events", events.events.len(), limits::EVENTS_MAX)?;
                events.events.iter().try_for_each(Wire::validate)
            }
            ServerMsg::Pong { .. } => Ok(()),
            ServerMsg::Error { reason, .. } => {
                check_len("reason", reason.len(), limits::REASON_MAX)
            }
            ServerMsg::Redirect { url, room, seat } => {
                check_len("url", url.len(), limits::URL_MAX)?;
                no_control("url", url)?;
                validate_room(room)?;
                check_len("seat", seat.len(), limits::TOKEN_MAX)
            }
        }
    }
}

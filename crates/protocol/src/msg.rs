//! The typed messages. One message travels in one binary WebSocket frame; [`crate::codec`] turns
//! them into bytes. Field order is wire order: changing it changes the protocol version.

use serde::{Deserialize, Serialize};

use crate::limits;

/// Messages a client sends to the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// First message of every session; anything else first is a protocol error.
    Hello(Hello),
    /// The client's newest inputs (with redundant resends) and its snapshot acknowledgement.
    Input(Input),
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal [`crate::PROTOCOL_VERSION`].
    pub version: u16,
    /// Display name, 1..=[`limits::NAME_MAX`] bytes, no control characters.
    pub name: String,
    /// Room to join or create; `None` joins the fullest room with a free seat.
    pub room: Option<String>,
    /// Join as a spectator: sees the whole room, has no entity, sends no game inputs.
    pub spectate: bool,
    /// A resume token from an earlier [`Welcome`]: take that player back (same entity, score
    /// and input sequence) if the server still holds it. `room` and `spectate` are then ignored.
    pub resume: Option<[u8; 16]>,
    /// A signed session token, required when the server has authentication on (at most
    /// [`limits::TOKEN_MAX`] bytes; see docs/PROTOCOL.md for its format).
    pub token: Option<String>,
}

/// One tick's worth of player intent, quantized on the client so client and server agree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputCmd {
    /// Horizontal movement, -127..=127 maps to -1.0..=1.0 (-128 is treated as -127).
    pub move_x: i8,
    /// Vertical movement, same scale as `move_x`.
    pub move_y: i8,
    /// Aim angle: 0..=65535 maps to [0, 2π).
    pub aim: u16,
    /// Button bits: bit 0 fires the projectile weapon, bit 1 the hitscan weapon. Unknown bits
    /// are ignored.
    pub buttons: u8,
    /// How many ticks before the message's `ack_tick` the client was showing other entities
    /// when it sampled this input (its interpolation delay, rounded). The server rewinds
    /// hitscan targets by this much (bounded by its maximum rewind).
    pub view_age: u8,
}

/// Inputs `first_seq`, `first_seq + 1`, ... in order, plus the snapshot acknowledgement.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// Tick of the newest snapshot the client has decoded (0 = none yet). The server encodes later
    /// snapshots as deltas against it.
    pub ack_tick: u32,
    /// Sequence number of `cmds[0]`; sequence numbers start at 1 and increase by one per tick.
    pub first_seq: u32,
    /// At most [`limits::INPUTS_PER_MSG_MAX`] commands: the newest last, older unacknowledged ones
    /// before it so a lost message loses no input.
    pub cmds: Vec<InputCmd>,
}

/// Messages the server sends to a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// Answer to [`Hello`]: who you are and how the room runs.
    Welcome(Welcome),
    /// The world as this client may see it at one tick.
    Snapshot(Snapshot),
    /// A chat line from a player in the room, in the order the server received them.
    Chat(ChatBroadcast),
    /// Things that happened this tick that a snapshot does not show (kills, hitscan shots);
    /// reliable, so none is lost when a snapshot is replaced.
    Events(Vec<GameEvent>),
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
}

/// The server's answer to a [`Hello`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The server's protocol version.
    pub version: u16,
    /// Your player id (0 for a spectator).
    pub player: u32,
    /// The network id of your entity (0 for a spectator).
    pub entity: u32,
    /// The room you joined.
    pub room: String,
    /// Simulation ticks per second.
    pub tick_rate: u16,
    /// A snapshot is sent every this many ticks.
    pub snapshot_interval: u8,
    /// The room's tick now.
    pub tick: u32,
    /// The arena.
    pub map: MapInfo,
    /// The movement rules, so the client can predict its own movement exactly.
    pub rules: MoveRules,
    /// Present this in a later [`Hello::resume`] to get this player back after a dropped
    /// connection (within the server's grace window).
    pub resume_token: [u8; 16],
    /// Whether this session resumed an earlier one.
    pub resumed: bool,
}

/// The player movement rules (tickwire-sim's `move_player`), for client-side prediction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MoveRules {
    /// Player radius in meters.
    pub player_radius: f32,
    /// Top speed in m/s.
    pub max_speed: f32,
    /// Acceleration toward the input direction in m/s².
    pub accel: f32,
    /// Deceleration without movement input in m/s².
    pub friction: f32,
}

/// Something that happened in a tick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GameEvent {
    /// An entity was killed.
    Killed {
        /// Player id of the killer (0: none, e.g. self-inflicted).
        killer: u32,
        /// Entity id of the victim.
        victim: u32,
    },
    /// A hitscan shot, from the shooter to where it stopped (a wall, a target or its range).
    Shot {
        /// Entity id of the shooter.
        shooter: u32,
        /// Start x, in position units (1/256 m).
        from_x: u32,
        /// Start y.
        from_y: u32,
        /// End x.
        to_x: u32,
        /// End y.
        to_y: u32,
        /// Entity id hit (0: none).
        hit: u32,
    },
}

/// The arena's geometry, enough to draw it and to predict movement against its walls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapInfo {
    /// Map name.
    pub name: String,
    /// Width in meters (x from 0 to width).
    pub width: f32,
    /// Height in meters (y from 0 to height).
    pub height: f32,
    /// Axis-aligned walls as `[min_x, min_y, max_x, max_y]`, at most [`limits::WALLS_MAX`].
    pub walls: Vec<[f32; 4]>,
}

/// One player's view of the world at one tick, as a delta against an acknowledged baseline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Server tick this snapshot describes.
    pub tick: u32,
    /// How many ticks before `tick` the baseline is (0 = no baseline: a full snapshot). At most
    /// [`limits::BASELINE_AGE_MAX`].
    pub baseline_age: u8,
    /// Sequence number of the last input the server applied for you (0 = none).
    pub last_input: u32,
    /// FNV-1a checksum of the whole view after applying this delta ([`crate::delta::checksum`]).
    pub checksum: u32,
    /// Score rows that are new or changed since the baseline (every row in a full snapshot),
    /// sorted by player id.
    pub scores: Vec<ScoreEntry>,
    /// Player ids whose rows were in the baseline's table and are gone (players who left).
    pub scores_removed: Vec<u32>,
    /// The entity delta, bit-packed as in [`crate::delta`].
    pub body: Vec<u8>,
}

/// One row of the score table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreEntry {
    /// Player id.
    pub player: u32,
    /// The player's entity network id.
    pub entity: u32,
    /// Display name.
    pub name: String,
    /// Kills.
    pub kills: u32,
    /// Deaths.
    pub deaths: u32,
}

/// A chat line relayed to a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatBroadcast {
    /// Sender's player id.
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

fn check_len(field: &'static str, len: usize, max: usize) -> Result<(), ValidationError> {
    if len > max {
        Err(ValidationError::TooLong { field, len, max })
    } else {
        Ok(())
    }
}

fn no_control(field: &'static str, text: &str) -> Result<(), ValidationError> {
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
    if name.chars().any(char::is_control) {
        return Err(ValidationError::Invalid {
            field: "name",
            why: "control characters",
        });
    }
    Ok(())
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

impl ClientMsg {
    /// Checks every limit and value rule of the message (the codec calls this after decoding).
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            ClientMsg::Hello(hello) => {
                validate_name(&hello.name)?;
                if let Some(room) = &hello.room {
                    validate_room(room)?;
                }
                if let Some(token) = &hello.token {
                    check_len("token", token.len(), limits::TOKEN_MAX)?;
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
                Ok(())
            }
            ClientMsg::Chat { text } => {
                check_len("text", text.len(), limits::CHAT_MAX)?;
                if text.chars().any(char::is_control) {
                    return Err(ValidationError::Invalid {
                        field: "text",
                        why: "control characters",
                    });
                }
                Ok(())
            }
            ClientMsg::Ping { .. } => Ok(()),
        }
    }
}

impl ServerMsg {
    /// Checks every limit of the message (the codec calls this after decoding).
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            ServerMsg::Welcome(welcome) => {
                validate_room(&welcome.room)?;
                check_len("map.name", welcome.map.name.len(), limits::ROOM_NAME_MAX)?;
                check_len("map.walls", welcome.map.walls.len(), limits::WALLS_MAX)?;
                let map = &welcome.map;
                let size_ok = map.width.is_finite()
                    && map.height.is_finite()
                    && map.width > 0.0
                    && map.height > 0.0;
                let walls_ok = map
                    .walls
                    .iter()
                    .all(|w| w.iter().all(|v| v.is_finite()) && w[0] <= w[2] && w[1] <= w[3]);
                if !size_ok || !walls_ok {
                    return Err(ValidationError::Invalid {
                        field: "map",
                        why: "non-finite or inverted geometry",
                    });
                }
                let rules = &welcome.rules;
                let rules_ok = [
                    rules.player_radius,
                    rules.max_speed,
                    rules.accel,
                    rules.friction,
                ]
                .iter()
                .all(|v| v.is_finite() && *v >= 0.0)
                    && rules.player_radius > 0.0;
                if !rules_ok {
                    return Err(ValidationError::Invalid {
                        field: "rules",
                        why: "non-finite, negative or zero radius",
                    });
                }
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
                Ok(())
            }
            ServerMsg::Snapshot(snapshot) => {
                check_len("scores", snapshot.scores.len(), limits::SCORES_MAX)?;
                check_len(
                    "scores_removed",
                    snapshot.scores_removed.len(),
                    limits::SCORES_MAX,
                )?;
                for row in &snapshot.scores {
                    check_len("scores.name", row.name.len(), limits::NAME_MAX)?;
                    no_control("scores.name", &row.name)?;
                }
                Ok(())
            }
            ServerMsg::Chat(chat) => {
                check_len("name", chat.name.len(), limits::NAME_MAX)?;
                no_control("name", &chat.name)?;
                check_len("text", chat.text.len(), limits::CHAT_MAX)?;
                no_control("text", &chat.text)
            }
            ServerMsg::Events(events) => check_len("events", events.len(), limits::EVENTS_MAX),
            ServerMsg::Pong { .. } => Ok(()),
            ServerMsg::Error { reason, .. } => {
                check_len("reason", reason.len(), limits::REASON_MAX)
            }
        }
    }
}

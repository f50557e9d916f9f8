//! JSON mode: the same messages as the binary protocol, as JSON text frames, for clients that
//! cannot or will not write a bit-packed codec (a script, a tool, a first prototype). A client
//! picks it with the WebSocket subprotocol [`SUBPROTOCOL`] or by sending its Hello as a text
//! frame.
//!
//! Every message is serde's external tagging of the binary message: `{"Hello": {...}}`,
//! `{"Input": {...}}`, `{"Chat": {"text": "hi"}}`, `{"Ping": {"nonce": 1}}` from the client;
//! `{"Welcome": {...}}`, `{"Chat": {...}}`, `{"Events": {...}}`, `{"Pong": {...}}`,
//! `{"Error": {...}}` from the server, with the fields of docs/PROTOCOL.md. A Hello may leave
//! out `room`, `spectate`, `resume` and `token`. The one message that differs is the snapshot:
//! no delta, no checksum, no acknowledgement needed: [`JsonSnapshot`], the whole view the client
//! may see (the game's records as its own serde shape) and the whole stats table.
//!
//! Decoding has the binary codec's guarantees: a byte limit checked first, then serde_json
//! (which allocates only for what it reads), then the same validation.

use serde::Serialize;

use crate::codec::DecodeError;
use crate::limits::JSON_CLIENT_MSG_MAX;
use crate::msg::{ClientMsg, ServerMsg};
use crate::schema::Schema;

/// The WebSocket subprotocol a client offers to speak JSON.
pub const SUBPROTOCOL: &str = "tickwire.json";

/// How a session's messages travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// Binary frames, bincode messages, delta-coded snapshots (the protocol proper).
    #[default]
    Binary,
    /// Text frames, JSON messages, whole-view snapshots.
    Json,
}

/// A whole view at one tick, as a JSON client receives it:
/// `{"Snapshot": {"tick", "last_input", "entities", "scores"}}`.
#[derive(Debug, Serialize)]
#[serde(rename = "Snapshot")]
pub struct JsonSnapshot<'a, R, S> {
    /// Server tick this snapshot describes.
    pub tick: u32,
    /// Sequence number of the last command the server applied for you (0 = none).
    pub last_input: u32,
    /// Every entity the client may see, sorted by id, in the game's record shape.
    pub entities: &'a [R],
    /// The whole stats table, sorted by player id.
    pub scores: &'a [S],
}

/// Appends `msg` as JSON to `out`.
pub fn encode_server<G: Schema>(msg: &ServerMsg<G>, out: &mut Vec<u8>) {
    // Invariant: serializing plain serde data into a Vec cannot fail (no maps with non-string
    // keys in the engine's messages; a game's types are plain data).
    serde_json::to_writer(&mut *out, msg).expect("encoding a ServerMsg as JSON cannot fail");
}

/// Appends a whole-view snapshot as JSON to `out`.
pub fn encode_snapshot<R: Serialize, S: Serialize>(
    snapshot: &JsonSnapshot<'_, R, S>,
    out: &mut Vec<u8>,
) {
    #[derive(Serialize)]
    enum Tagged<'s, 'a, R, S> {
        Snapshot(&'s JsonSnapshot<'a, R, S>),
    }
    // Invariant: as in encode_server.
    serde_json::to_writer(&mut *out, &Tagged::Snapshot(snapshot))
        .expect("encoding a snapshot as JSON cannot fail");
}

/// Appends `msg` as JSON to `out` (what a JSON client sends).
pub fn encode_client<G: Schema>(msg: &ClientMsg<G>, out: &mut Vec<u8>) {
    // Invariant: as in encode_server.
    serde_json::to_writer(&mut *out, msg).expect("encoding a ClientMsg as JSON cannot fail");
}

/// Decodes one client message from a whole text frame, then validates it.
pub fn decode_client<G: Schema>(text: &[u8]) -> Result<ClientMsg<G>, DecodeError> {
    if text.len() > JSON_CLIENT_MSG_MAX {
        return Err(DecodeError::TooLarge {
            len: text.len(),
            max: JSON_CLIENT_MSG_MAX,
        });
    }
    let msg: ClientMsg<G> =
        serde_json::from_slice(text).map_err(|error| DecodeError::Malformed(error.to_string()))?;
    msg.validate()?;
    Ok(msg)
}

/// The protocol version, game and schema a JSON Hello states, read without the rest of it (a
/// client of another version or game gets a clear mismatch rather than a decoding error). None
/// when the text is not a Hello with those three fields.
pub fn hello_head(text: &[u8]) -> Option<(u16, String, u16)> {
    #[derive(serde::Deserialize)]
    enum Head {
        Hello {
            version: u16,
            game: String,
            schema: u16,
        },
    }
    if text.len() > JSON_CLIENT_MSG_MAX {
        return None;
    }
    match serde_json::from_slice::<Head>(text).ok()? {
        Head::Hello {
            version,
            game,
            schema,
        } => Some((version, game, schema)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{ChatBroadcast, Hello, Input};
    use crate::schema::test_game::{Cmd, Row, TestGame};

    #[test]
    fn a_minimal_hello_decodes_with_defaults() {
        let text = br#"{"Hello":{"version":4,"game":"test","schema":7,"name":"py"}}"#;
        let msg = decode_client::<TestGame>(text).expect("decodes");
        assert_eq!(msg, ClientMsg::Hello(Hello::new::<TestGame>("py")));
        assert_eq!(
            hello_head(text),
            Some((4, "test".to_string(), 7)),
            "the head reads the same"
        );
    }

    #[test]
    fn client_messages_round_trip_and_are_validated() {
        let input = ClientMsg::<TestGame>::Input(Input {
            ack_tick: 4,
            first_seq: 9,
            cmds: vec![Cmd { x: -3, view_age: 2 }],
        });
        let mut text = Vec::new();
        encode_client(&input, &mut text);
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            r#"{"Input":{"ack_tick":4,"first_seq":9,"cmds":[{"x":-3,"view_age":2}]}}"#
        );
        assert_eq!(decode_client::<TestGame>(&text), Ok(input));
        // The binary protocol's rules hold: nine commands is one too many.
        let nine = format!(
            r#"{{"Input":{{"ack_tick":0,"first_seq":1,"cmds":[{}]}}}}"#,
            [r#"{"x":0,"view_age":0}"#; 9].join(",")
        );
        assert_eq!(
            decode_client::<TestGame>(nine.as_bytes())
                .unwrap_err()
                .to_string(),
            "cmds is 9 long, the limit is 8"
        );
        let error = decode_client::<TestGame>(br#"{"Chat":{"txt":"hi"}}"#).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("malformed message: missing field `text`"),
            "{error}"
        );
        // A misspelt Hello field is named, not ignored.
        let error = decode_client::<TestGame>(
            br#"{"Hello":{"version":4,"game":"test","schema":7,"name":"py","spectator":true}}"#,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("malformed message: unknown field `spectator`"),
            "{error}"
        );
        let long = vec![b' '; JSON_CLIENT_MSG_MAX + 1];
        assert!(matches!(
            decode_client::<TestGame>(&long),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn server_messages_and_snapshots_are_tagged_objects() {
        let mut out = Vec::new();
        encode_server::<TestGame>(
            &ServerMsg::Chat(ChatBroadcast {
                from: 2,
                name: "ann".into(),
                text: "hi".into(),
            }),
            &mut out,
        );
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"Chat":{"from":2,"name":"ann","text":"hi"}}"#
        );
        out.clear();
        let rows = [Row {
            player: 1,
            name: "ann".into(),
            points: 3,
        }];
        let dots = [crate::delta::test_record::Dot {
            id: 5,
            kind: 1,
            x: 10,
            vx: -2,
            color: 3,
        }];
        encode_snapshot(
            &JsonSnapshot {
                tick: 30,
                last_input: 7,
                entities: &dots,
                scores: &rows,
            },
            &mut out,
        );
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"Snapshot":{"tick":30,"last_input":7,"entities":[{"id":5,"kind":1,"x":10,"vx":-2,"color":3}],"scores":[{"player":1,"name":"ann","points":3}]}}"#
        );
    }
}

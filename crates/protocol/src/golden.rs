//! Golden-vector machinery, for any game (feature `golden`, for tests): fixed messages and their
//! exact bytes, kept in a committed JSON file that pins the wire format for every other
//! implementation (the browser's JavaScript codec reads the same file).
//!
//! A game's test lists its vectors ([`client`], [`server`], [`snapshot`]) and calls [`check`]:
//! it renders them, compares the result with the file (writing it instead when
//! `TICKWIRE_BLESS=1`), then checks the file on its own terms: every vector's bytes decode to
//! its message and re-encode to its bytes, and every snapshot body turns its baseline into its
//! view with a matching checksum. The file is a JSON array of
//! `{"name", "direction": "client"|"server", "hex", "message", "baseline"?, "view"?}`, one key
//! per line and one record per line, so diffs are readable.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::bits::BitWriter;
use crate::codec::{decode_client, decode_server, encode_client, encode_server};
use crate::delta;
use crate::msg::{ClientMsg, ServerMsg, Snapshot};
use crate::schema::Schema;

/// One golden vector: a message, and for snapshots the views its body relates.
#[derive(Debug)]
pub struct Vector<G: Schema> {
    /// A stable name; other implementations look vectors up by it.
    pub name: &'static str,
    message: Message<G>,
    /// For snapshots: the view the body is relative to (empty for a full snapshot) and the view
    /// it decodes to.
    views: Option<Views<G::Record>>,
}

/// A snapshot vector's baseline view and the view its body decodes to.
type Views<R> = (Vec<R>, Vec<R>);

#[derive(Debug, Serialize)]
#[serde(untagged, bound = "")]
enum Message<G: Schema> {
    Client(ClientMsg<G>),
    Server(ServerMsg<G>),
}

impl<G: Schema> Message<G> {
    fn direction(&self) -> &'static str {
        match self {
            Message::Client(_) => "client",
            Message::Server(_) => "server",
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        match self {
            Message::Client(msg) => encode_client(msg, &mut bytes),
            Message::Server(msg) => encode_server(msg, &mut bytes),
        }
        bytes
    }
}

/// A vector of a client message.
pub fn client<G: Schema>(name: &'static str, msg: ClientMsg<G>) -> Vector<G> {
    Vector {
        name,
        message: Message::Client(msg),
        views: None,
    }
}

/// A vector of a server message (use [`snapshot`] for snapshots, so their views are checked).
pub fn server<G: Schema>(name: &'static str, msg: ServerMsg<G>) -> Vector<G> {
    Vector {
        name,
        message: Message::Server(msg),
        views: None,
    }
}

/// A snapshot vector whose body encodes `view` against `baseline`, `age` ticks older (0 and an
/// empty baseline: a full snapshot), with its checksum and the given score rows.
pub fn snapshot<G: Schema>(
    name: &'static str,
    tick: u32,
    last_input: u32,
    scores: (Vec<G::Stats>, Vec<u32>),
    (baseline, age): (Vec<G::Record>, u8),
    view: Vec<G::Record>,
) -> Vector<G> {
    let mut body = BitWriter::default();
    delta::encode(&baseline, &view, age as u32, &mut body);
    Vector {
        name,
        message: Message::Server(ServerMsg::Snapshot(Snapshot {
            tick,
            baseline_age: age,
            last_input,
            checksum: delta::checksum(&view),
            scores: scores.0,
            scores_removed: scores.1,
            body: body.as_bytes().to_vec(),
        })),
        views: Some((baseline, view)),
    }
}

/// Checks `vectors` against the file at `path` (or writes it when `TICKWIRE_BLESS=1`), then the
/// file on its own terms. `bless_command` is the command that regenerates it, for the message.
///
/// # Panics
/// When the file is missing or differs (naming the vectors that differ), or when any vector in
/// it does not decode, re-encode or apply.
pub fn check<G: Schema>(vectors: &[Vector<G>], path: &Path, bless_command: &str) {
    let expected = render(vectors);
    let hint = format!(
        "If the change is intended, bump PROTOCOL_VERSION (an engine change) or the game's \
         schema VERSION (a game change), update docs/PROTOCOL.md (or the game's appendix) and the \
         JavaScript codec, then regenerate the vectors with `{bless_command}` and review the diff."
    );
    if std::env::var_os("TICKWIRE_BLESS").is_some_and(|value| value == "1") {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the vectors' directory");
        }
        std::fs::write(path, &expected).expect("write the golden vectors");
        eprintln!(
            "blessed {} golden vectors into {}",
            vectors.len(),
            path.display()
        );
    }
    let actual = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}\n{hint}", path.display()));
    if actual != expected {
        let file: Vec<Value> = serde_json::from_str(&actual).unwrap_or_default();
        let differing: Vec<&str> = vectors
            .iter()
            .filter(|vector| {
                let rendered: Value = serde_json::from_str(&render(std::slice::from_ref(*vector)))
                    .expect("valid JSON");
                file.iter().find(|entry| entry["name"] == vector.name) != Some(&rendered[0])
            })
            .map(|vector| vector.name)
            .collect();
        panic!(
            "the wire format changed: the encoder no longer produces {} (vectors that differ or \
             are missing: {differing:?}).\n{hint}",
            path.display()
        );
    }
    check_file::<G>(&actual);
}

/// Renders the vectors as JSON, one key per line and one record per line.
fn render<G: Schema>(vectors: &[Vector<G>]) -> String {
    let mut out = String::from("[\n");
    for (index, vector) in vectors.iter().enumerate() {
        out.push_str("  {\n");
        let _ = writeln!(out, "    \"name\": {},", compact(vector.name));
        let _ = writeln!(
            out,
            "    \"direction\": {},",
            compact(vector.message.direction())
        );
        let _ = write!(
            out,
            "    \"hex\": {},\n    \"message\": {}",
            compact(&hex(&vector.message.encode())),
            compact(&vector.message)
        );
        if let Some((baseline, view)) = &vector.views {
            for (key, records) in [("baseline", baseline), ("view", view)] {
                let _ = write!(out, ",\n    \"{key}\": [");
                for (position, record) in records.iter().enumerate() {
                    let separator = if position == 0 { "" } else { "," };
                    let _ = write!(out, "{separator}\n      {}", compact(record));
                }
                out.push_str(if records.is_empty() { "]" } else { "\n    ]" });
            }
        }
        out.push_str(if index + 1 == vectors.len() {
            "\n  }\n"
        } else {
            "\n  },\n"
        });
    }
    out.push_str("]\n");
    out
}

fn compact<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("wire types serialize to JSON")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).expect("hex digit"))
        .collect()
}

/// Every vector in the file: its bytes decode to its message, the message re-encodes to its
/// bytes, and a snapshot's body turns its baseline into its view.
fn check_file<G: Schema>(text: &str) {
    let file: Vec<Value> = serde_json::from_str(text).expect("the vectors file is a JSON array");
    assert!(!file.is_empty(), "the vectors file holds no vectors");
    for entry in &file {
        let name = entry["name"].as_str().expect("a vector has a name");
        let bytes = unhex(entry["hex"].as_str().expect("a vector has hex"));
        let message = entry["message"].clone();
        match entry["direction"].as_str() {
            Some("client") => {
                let expected: ClientMsg<G> = serde_json::from_value(message)
                    .unwrap_or_else(|error| panic!("{name}: not a ClientMsg: {error}"));
                assert_eq!(
                    decode_client(&bytes),
                    Ok(expected.clone()),
                    "{name}: decode"
                );
                let mut encoded = Vec::new();
                encode_client(&expected, &mut encoded);
                assert_eq!(hex(&encoded), hex(&bytes), "{name}: encode");
            }
            Some("server") => {
                let expected: ServerMsg<G> = serde_json::from_value(message)
                    .unwrap_or_else(|error| panic!("{name}: not a ServerMsg: {error}"));
                assert_eq!(
                    decode_server(&bytes),
                    Ok(expected.clone()),
                    "{name}: decode"
                );
                let mut encoded = Vec::new();
                encode_server(&expected, &mut encoded);
                assert_eq!(hex(&encoded), hex(&bytes), "{name}: encode");
                if let ServerMsg::Snapshot(snapshot) = &expected {
                    check_snapshot::<G>(name, snapshot, entry);
                }
            }
            other => panic!("{name}: direction {other:?} is neither client nor server"),
        }
    }
}

fn check_snapshot<G: Schema>(name: &str, snapshot: &Snapshot<G::Stats>, entry: &Value) {
    let records = |key: &str| -> Vec<G::Record> {
        serde_json::from_value(entry[key].clone())
            .unwrap_or_else(|error| panic!("{name}: snapshot vector's {key}: {error}"))
    };
    let (baseline, view) = (records("baseline"), records("view"));
    let mut decoded = Vec::new();
    delta::decode(
        &baseline,
        snapshot.baseline_age as u32,
        &snapshot.body,
        &mut decoded,
    )
    .unwrap_or_else(|error| panic!("{name}: body does not decode: {error}"));
    assert_eq!(decoded, view, "{name}: decoded view");
    assert_eq!(
        delta::checksum(&view),
        snapshot.checksum,
        "{name}: checksum"
    );
}

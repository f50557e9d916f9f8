//! The protocol documents against the encoder: docs/PROTOCOL.md (the engine) and every game
//! appendix in docs/protocol/ are read, and every example in them that names a golden vector is
//! compared with that vector, which the Rust encoder produces (each game's
//! `crates/<game>/tests/golden/vectors.json`). So the documents cannot drift from the bytes.
//!
//! The conventions (docs/PROTOCOL.md, "Conformance", lists them for authors):
//!
//! - A fenced block whose info string is `hex` must be labelled: the last non-blank line before
//!   it names ``vector `game/name` ``, and the block's bytes are exactly that vector's frame. The
//!   label stays the *current vector* for the tables that follow it.
//! - A table whose first column is headed `Bytes` walks the current vector in order: its first
//!   column's byte spans, top to bottom, spell the whole frame, `…` standing for bytes left out.
//! - A table with a `Stream bits` column lists the current (snapshot) vector's body in stream
//!   order: its bits are the whole body, and its `Bits` column numbers them.
//! - A table whose first column is headed `Vector` names a vector per row and spells its whole
//!   frame in the `Bytes` column (again with `…` for bytes left out).
//! - A table headed by exactly a record's fields (as the vectors' JSON writes them) is the view
//!   or the baseline of one of the snapshot vectors.
//! - A table whose first column is headed `Word` folds the checksum word by word, from
//!   `0x811c9dc5` to the current vector's checksum.
//! - The close code table names every code the engine has, as `close::name` does, and the
//!   limits table gives every limit's value.
//! - The table of games names every game's `Schema` (its name and version) and links its
//!   appendix, whose first table gives the same name and version; every game with golden vectors
//!   has an appendix.
//! - Relative links lead to a file, and links to `#anchors` in these documents to a heading.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tickwire_arena::Arena;
use tickwire_cards::Cards;
use tickwire_protocol::{Schema, close, limits};
use tickwire_tag::Tag;

#[test]
fn every_labelled_example_matches_its_golden_vector() {
    let mut vectors = Vectors::default();
    for doc in documents() {
        let checked = check_document(&doc, &mut vectors);
        // Every document works through a dozen examples or more; a parser that silently
        // stopped recognising them would check nothing.
        assert!(
            checked >= 10,
            "{}: only {checked} examples were checked",
            doc.name()
        );
    }
}

/// A game's name and schema version, as its `Schema` says.
fn schema<G: Schema>() -> (String, u16) {
    (G::NAME.to_string(), G::VERSION)
}

#[test]
fn every_game_has_its_row_and_its_appendix() {
    let games = [schema::<Arena>(), schema::<Cards>(), schema::<Tag>()];
    let doc = engine_document();
    let table = doc
        .tables()
        .into_iter()
        .find(|table| table.header.first().is_some_and(|cell| cell == "Game"))
        .expect("docs/PROTOCOL.md has a table of games");
    let (game_column, schema_column, appendix_column) = (
        column(&table, "`Hello.game`", "the table of games"),
        column(&table, "Schema version", "the table of games"),
        column(&table, "Appendix", "the table of games"),
    );
    let mut listed = BTreeSet::new();
    for row in &table.rows {
        let name = code_spans(&row[game_column])
            .pop()
            .expect("a game's row names it in `code`");
        let version: u16 = row[schema_column]
            .parse()
            .unwrap_or_else(|_| panic!("{name}'s schema version is not a number"));
        assert!(
            games.contains(&(name.clone(), version)),
            "the table of games lists {name} schema {version}; the games are {games:?}"
        );
        let target = links_in(&row[appendix_column])
            .pop()
            .unwrap_or_else(|| panic!("{name}'s row links no appendix"));
        let appendix = normalize(&root().join("docs").join(&target));
        assert_eq!(
            appendix,
            root().join(format!("docs/protocol/{name}.md")),
            "{name}'s appendix"
        );
        let appendix = Document::read(appendix);
        let envelope = appendix
            .tables()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{} has no table", appendix.name()));
        let value = |field: &str| {
            envelope
                .rows
                .iter()
                .find(|row| row[0] == format!("`{field}`"))
                .map(|row| row[1].trim_matches('`').to_string())
                .unwrap_or_else(|| panic!("{}'s first table has no {field}", appendix.name()))
        };
        assert_eq!(value("Hello.game"), name, "{}", appendix.name());
        assert_eq!(
            value("Hello.schema"),
            version.to_string(),
            "{}",
            appendix.name()
        );
        listed.insert(name);
    }
    for (name, _) in &games {
        assert!(listed.contains(name), "the table of games lacks {name}");
    }
    let crates = std::fs::read_dir(root().join("crates")).expect("crates/ is readable");
    for entry in crates {
        let path = entry.expect("a directory entry").path();
        if path.join("tests/golden/vectors.json").is_file() {
            let game = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            assert!(
                listed.contains(game),
                "{game} has golden vectors but no row in the table of games"
            );
        }
    }
}

#[test]
fn the_close_code_table_is_the_engines() {
    let doc = engine_document();
    let table = doc
        .tables()
        .into_iter()
        .find(|table| table.header.first().is_some_and(|cell| cell == "Code"))
        .expect("docs/PROTOCOL.md has a close code table");
    let mut listed = BTreeSet::new();
    for row in &table.rows {
        let code: u16 = row[0].parse().expect("a close code is a number");
        let name = code_spans(&row[1])
            .pop()
            .expect("a close code has a `name`");
        assert_eq!(name, close::name(code), "close code {code}'s name");
        listed.insert(code);
    }
    for code in 1000..=4999u16 {
        if close::name(code) != "other" {
            assert!(
                listed.contains(&code),
                "close code {code} is not in the table"
            );
        }
    }
}

#[test]
fn the_limits_table_is_the_engines() {
    let engine_limits: BTreeMap<&str, usize> = [
        ("CLIENT_MSG_MAX", limits::CLIENT_MSG_MAX),
        ("JSON_CLIENT_MSG_MAX", limits::JSON_CLIENT_MSG_MAX),
        ("JSON_SERVER_MSG_MAX", limits::JSON_SERVER_MSG_MAX),
        ("SERVER_MSG_MAX", limits::SERVER_MSG_MAX),
        ("NAME_MAX", limits::NAME_MAX),
        ("GAME_NAME_MAX", limits::GAME_NAME_MAX),
        ("ROOM_NAME_MAX", limits::ROOM_NAME_MAX),
        ("CHAT_MAX", limits::CHAT_MAX),
        ("REASON_MAX", limits::REASON_MAX),
        ("INPUTS_PER_MSG_MAX", limits::INPUTS_PER_MSG_MAX),
        ("VIEW_ENTITIES_MAX", limits::VIEW_ENTITIES_MAX),
        ("SCORES_MAX", limits::SCORES_MAX),
        ("CLIENT_BASELINES", limits::CLIENT_BASELINES),
        ("BASELINE_AGE_MAX", limits::BASELINE_AGE_MAX as usize),
        ("TOKEN_MAX", limits::TOKEN_MAX),
        ("EVENTS_MAX", limits::EVENTS_MAX),
        ("URL_MAX", limits::URL_MAX),
    ]
    .into();
    let doc = engine_document();
    let table = doc
        .tables()
        .into_iter()
        .find(|table| {
            table
                .header
                .starts_with(&["Name".to_string(), "Value".to_string()])
        })
        .expect("docs/PROTOCOL.md has a limits table");
    let mut listed = BTreeSet::new();
    for row in &table.rows {
        let name = code_spans(&row[0]).pop().expect("a limit has a `NAME`");
        let expected = engine_limits
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{name} is not a limit of crates/protocol/src/limits.rs"));
        let value: usize = row[1]
            .split_whitespace()
            .next()
            .and_then(|word| word.parse().ok())
            .unwrap_or_else(|| panic!("{name}'s value {:?} is not a number", row[1]));
        assert_eq!(value, *expected, "{name}");
        listed.insert(name);
    }
    for name in engine_limits.keys() {
        assert!(listed.contains(*name), "{name} is not in the limits table");
    }
}

#[test]
fn links_between_the_documents_lead_to_files_and_headings() {
    let docs = documents();
    let anchors: BTreeMap<PathBuf, BTreeSet<String>> = docs
        .iter()
        .map(|doc| (doc.path.clone(), doc.anchors()))
        .collect();
    for doc in &docs {
        for (line, target) in doc.links() {
            if target.contains("://") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let path = if file.is_empty() {
                doc.path.clone()
            } else {
                normalize(&doc.path.parent().expect("a document's folder").join(file))
            };
            assert!(
                path.exists(),
                "{}:{line}: the link {target} leads to no file",
                doc.name()
            );
            if anchor.is_empty() {
                continue;
            }
            // Anchors in files outside these documents are not checked.
            if let Some(headings) = anchors.get(&path) {
                assert!(
                    headings.contains(anchor),
                    "{}:{line}: no heading for the link {target}",
                    doc.name()
                );
            }
        }
    }
}

/// The documents: the engine's protocol, then every appendix.
fn documents() -> Vec<Document> {
    let mut docs = vec![engine_document()];
    let appendices = root().join("docs/protocol");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&appendices)
        .expect("docs/protocol/ holds the game appendices")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    paths.sort();
    docs.extend(paths.into_iter().map(Document::read));
    docs
}

fn engine_document() -> Document {
    Document::read(root().join("docs/PROTOCOL.md"))
}

/// Checks one document's examples; returns how many it checked.
fn check_document(doc: &Document, vectors: &mut Vectors) -> usize {
    let mut checked = 0;
    let mut current: Option<String> = None;
    for block in &doc.blocks {
        match block {
            Block::Hex { line, label, bytes } => {
                let at = format!("{}:{line}", doc.name());
                let label = label.clone().unwrap_or_else(|| {
                    panic!("{at}: a hex block needs a (vector `game/name`) label")
                });
                let vector = vectors.get(&label, &at);
                assert_eq!(
                    spaced(bytes),
                    spaced(&vector.bytes),
                    "{at}: the bytes of vector {label}"
                );
                current = Some(label);
                checked += 1;
            }
            Block::Table(table) => {
                let at = format!("{}:{}", doc.name(), table.line);
                checked += check_table(table, current.as_deref(), vectors, &at);
            }
        }
    }
    checked
}

/// Checks a table if it is one of the kinds the conventions name; returns 1 if it was.
fn check_table(table: &Table, current: Option<&str>, vectors: &mut Vectors, at: &str) -> usize {
    let first = table.header.first().map(String::as_str);
    let current_vector = |vectors: &mut Vectors| {
        let label =
            current.unwrap_or_else(|| panic!("{at}: this table follows no labelled hex block"));
        vectors.get(label, at)
    };
    if first == Some("Bytes") {
        let vector = current_vector(vectors);
        let pattern: Vec<Piece> = table
            .rows
            .iter()
            .flat_map(|row| byte_pieces(&row[0], at))
            .collect();
        check_spelling(
            &pattern,
            &vector.bytes,
            &format!("{at}: vector {}", vector.label),
        );
        return 1;
    }
    if first == Some("Vector") {
        let bytes_column = column(table, "Bytes", at);
        for row in &table.rows {
            let label = code_spans(&row[0])
                .pop()
                .unwrap_or_else(|| panic!("{at}: a row names no `game/name`"));
            let vector = vectors.get(&label, at);
            let pattern = byte_pieces(&row[bytes_column], at);
            check_spelling(&pattern, &vector.bytes, &format!("{at}: vector {label}"));
        }
        return 1;
    }
    if table.header.iter().any(|cell| cell == "Stream bits") {
        let vector = current_vector(vectors);
        check_bits(table, &vector, at);
        return 1;
    }
    if first == Some("Word") {
        let vector = current_vector(vectors);
        check_checksum(table, &vector, at);
        return 1;
    }
    if vectors.is_record_header(&table.header) {
        let rows: Vec<Vec<i64>> = table
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|cell| {
                        cell.replace('−', "-")
                            .parse()
                            .unwrap_or_else(|_| panic!("{at}: {cell:?} is not a number"))
                    })
                    .collect()
            })
            .collect();
        assert!(
            vectors.has_view(&table.header, &rows),
            "{at}: this table is no view or baseline of any snapshot vector"
        );
        return 1;
    }
    0
}

/// A `Stream bits` table: its bits, in order, are the whole body; its `Bits` column counts them.
fn check_bits(table: &Table, vector: &Vector, at: &str) {
    let body = vector.message["Snapshot"]["body"]
        .as_array()
        .unwrap_or_else(|| panic!("{at}: vector {} is not a snapshot", vector.label));
    let body_bits: String = body
        .iter()
        .map(|byte| byte.as_u64().expect("a body byte") as u8)
        .flat_map(|byte| (0..8).map(move |bit| if byte >> bit & 1 == 1 { '1' } else { '0' }))
        .collect();
    let numbers = column(table, "Bits", at);
    let stream = column(table, "Stream bits", at);
    let mut bits = String::new();
    for row in &table.rows {
        let row_bits: String = code_spans(&row[stream])
            .concat()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        assert!(
            !row_bits.is_empty() && row_bits.chars().all(|c| c == '0' || c == '1'),
            "{at}: {:?} is not a bit string",
            row[stream]
        );
        let (first, last) = match row[numbers].split_once(['–', '-']) {
            Some((first, last)) => (first.trim(), last.trim()),
            None => (row[numbers].trim(), row[numbers].trim()),
        };
        let first: usize = first.parse().expect("a bit number");
        let last: usize = last.parse().expect("a bit number");
        assert_eq!(
            first,
            bits.len(),
            "{at}: row {:?} starts at the wrong bit",
            row[numbers]
        );
        assert!(
            last >= first,
            "{at}: row {:?} counts backwards",
            row[numbers]
        );
        assert_eq!(
            last + 1 - first,
            row_bits.len(),
            "{at}: row {:?} has {} bits",
            row[numbers],
            row_bits.len()
        );
        bits.push_str(&row_bits);
    }
    assert_eq!(
        bits, body_bits,
        "{at}: the bits of vector {}'s body",
        vector.label
    );
}

/// A `Word` table: FNV-1a folded over whole words, ending at the vector's checksum.
fn check_checksum(table: &Table, vector: &Vector, at: &str) {
    let hex = |cell: &str| {
        let span = code_spans(cell).pop().unwrap_or_default();
        u32::from_str_radix(span.trim_start_matches("0x"), 16)
            .unwrap_or_else(|_| panic!("{at}: {cell:?} holds no `0x…` word"))
    };
    let mut hash: u32 = 0x811c_9dc5;
    for row in &table.rows {
        let (word, xored, product) = (hex(&row[0]), hex(&row[1]), hex(&row[2]));
        assert_eq!(xored, hash ^ word, "{at}: hash XOR {word:#010x}");
        hash = xored.wrapping_mul(0x0100_0193);
        assert_eq!(product, hash, "{at}: {xored:#010x} × 16777619");
    }
    let checksum = vector.message["Snapshot"]["checksum"]
        .as_u64()
        .unwrap_or_else(|| panic!("{at}: vector {} is not a snapshot", vector.label));
    assert_eq!(
        hash as u64, checksum,
        "{at}: vector {}'s checksum",
        vector.label
    );
}

/// A piece of a spelled frame: a byte, or `…` for one or more bytes left out.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Piece {
    Byte(u8),
    Gap,
}

/// The byte spans of a table cell, in order: every code span must be hex byte pairs (with `…`
/// inside for bytes left out), and a `…` between spans leaves bytes out too.
fn byte_pieces(cell: &str, at: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for (index, part) in cell.split('`').enumerate() {
        let inside = index % 2 == 1;
        if !inside {
            if part.contains('…') || part.contains("...") {
                pieces.push(Piece::Gap);
            }
            continue;
        }
        for token in part.split_whitespace() {
            if token == "…" || token == "..." {
                pieces.push(Piece::Gap);
            } else if token.len() == 2
                && let Ok(byte) = u8::from_str_radix(token, 16)
            {
                pieces.push(Piece::Byte(byte));
            } else {
                panic!("{at}: `{part}` is not a span of hex bytes");
            }
        }
    }
    pieces
}

/// Checks that `pattern` spells all of `bytes`, each gap standing for at least one byte.
fn check_spelling(pattern: &[Piece], bytes: &[u8], what: &str) {
    let parts: Vec<Vec<u8>> = pattern
        .split(|piece| *piece == Piece::Gap)
        .map(|part| {
            part.iter()
                .map(|piece| match piece {
                    Piece::Byte(byte) => *byte,
                    Piece::Gap => unreachable!("split at gaps"),
                })
                .collect()
        })
        .collect();
    let shown = || {
        pattern
            .iter()
            .map(|piece| match piece {
                Piece::Byte(byte) => format!("{byte:02x}"),
                Piece::Gap => "…".into(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    if parts.len() == 1 {
        assert_eq!(shown(), spaced(bytes), "{what}: spelled in full");
        return;
    }
    let (head, tail) = (&parts[0], &parts[parts.len() - 1]);
    let misfit = format!("{what}: {} does not fit {}", shown(), spaced(bytes));
    assert!(bytes.starts_with(head) && bytes.ends_with(tail), "{misfit}");
    // Each gap holds at least one byte; the leftmost fit of each middle part leaves the most
    // room for the rest.
    let mut end = head.len();
    for middle in &parts[1..parts.len() - 1] {
        let start = (end + 1..=bytes.len().saturating_sub(middle.len()))
            .find(|&start| bytes[start..].starts_with(middle))
            .unwrap_or_else(|| panic!("{misfit}"));
        end = start + middle.len();
    }
    assert!(end < bytes.len() - tail.len(), "{misfit}");
}

fn spaced(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text of every code span (`...`) in a cell.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn column(table: &Table, name: &str, at: &str) -> usize {
    table
        .header
        .iter()
        .position(|cell| cell == name)
        .unwrap_or_else(|| panic!("{at}: the table has no {name} column"))
}

/// The golden vectors, loaded per game on first use.
#[derive(Default)]
struct Vectors {
    games: BTreeMap<String, Vec<Value>>,
    found: BTreeMap<String, Vector>,
}

/// One golden vector.
#[derive(Clone)]
struct Vector {
    label: String,
    bytes: Vec<u8>,
    message: Value,
}

impl Vectors {
    /// The vector a label (`game/name`) names.
    fn get(&mut self, label: &str, at: &str) -> Vector {
        if !self.found.contains_key(label) {
            let (game, name) = label
                .split_once('/')
                .unwrap_or_else(|| panic!("{at}: vector `{label}` is not `game/name`"));
            let entry = self
                .game(game)
                .iter()
                .find(|entry| entry["name"] == name)
                .unwrap_or_else(|| panic!("{at}: the {game} vectors have no `{name}`"))
                .clone();
            let hex = entry["hex"].as_str().expect("a vector has hex");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex"))
                .collect();
            self.found.insert(
                label.to_string(),
                Vector {
                    label: label.to_string(),
                    bytes,
                    message: entry["message"].clone(),
                },
            );
        }
        self.found[label].clone()
    }

    fn game(&mut self, game: &str) -> &Vec<Value> {
        self.games.entry(game.to_string()).or_insert_with(|| {
            let path = root().join(format!("crates/{game}/tests/golden/vectors.json"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            serde_json::from_str(&text).expect("a vectors file is a JSON array")
        })
    }

    /// Every record list (baseline or view) of every game's snapshot vectors.
    fn views(&mut self) -> Vec<Value> {
        let crates = std::fs::read_dir(root().join("crates")).expect("crates/ is readable");
        for entry in crates {
            let path = entry.expect("a directory entry").path();
            if path.join("tests/golden/vectors.json").is_file()
                && let Some(game) = path.file_name().and_then(|name| name.to_str())
            {
                self.game(game);
            }
        }
        self.games
            .values()
            .flatten()
            .flat_map(|entry| [entry["baseline"].clone(), entry["view"].clone()])
            .filter(Value::is_array)
            .collect()
    }

    /// Whether `header` is exactly the fields of some game's record (in any order: the JSON
    /// objects do not keep theirs).
    fn is_record_header(&mut self, header: &[String]) -> bool {
        let header: BTreeSet<&str> = header.iter().map(String::as_str).collect();
        self.views()
            .iter()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_object)
            .any(|fields| {
                fields.len() == header.len()
                    && fields.keys().all(|key| header.contains(key.as_str()))
            })
    }

    /// Whether some snapshot vector's baseline or view is exactly `rows` of `header`'s fields.
    fn has_view(&mut self, header: &[String], rows: &[Vec<i64>]) -> bool {
        self.views().iter().any(|view| {
            let records = view.as_array().expect("filtered to arrays");
            records.len() == rows.len()
                && records.iter().zip(rows).all(|(record, row)| {
                    header
                        .iter()
                        .zip(row)
                        .all(|(field, value)| record[field].as_i64() == Some(*value))
                })
        })
    }
}

/// A markdown document, reduced to what the checks read: its hex blocks and tables in order,
/// its headings and its links.
struct Document {
    path: PathBuf,
    text: String,
    blocks: Vec<Block>,
}

enum Block {
    /// A ```hex fenced block, with the label on the line before it.
    Hex {
        line: usize,
        label: Option<String>,
        bytes: Vec<u8>,
    },
    Table(Table),
}

#[derive(Clone)]
struct Table {
    line: usize,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Document {
    fn read(path: PathBuf) -> Document {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let mut blocks = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        let mut index = 0;
        let mut last_text = "";
        while index < lines.len() {
            let line = lines[index];
            if let Some(info) = line.trim_start().strip_prefix("```") {
                let start = index;
                index += 1;
                let mut content = Vec::new();
                while index < lines.len() && !lines[index].trim_start().starts_with("```") {
                    content.push(lines[index]);
                    index += 1;
                }
                if info.trim() == "hex" {
                    let at = format!("{}:{}", path.display(), start + 1);
                    blocks.push(Block::Hex {
                        line: start + 1,
                        label: label(last_text),
                        bytes: content
                            .iter()
                            .flat_map(|line| line.split_whitespace())
                            .map(|token| {
                                assert!(token.len() == 2, "{at}: {token:?} is not a hex byte");
                                u8::from_str_radix(token, 16)
                                    .unwrap_or_else(|_| panic!("{at}: {token:?} is not a hex byte"))
                            })
                            .collect(),
                    });
                }
                last_text = "";
                index += 1;
                continue;
            }
            if line.starts_with('|') && lines.get(index + 1).is_some_and(|next| is_rule(next)) {
                let start = index;
                let header = cells(line);
                index += 2;
                let mut rows = Vec::new();
                while index < lines.len() && lines[index].starts_with('|') {
                    rows.push(cells(lines[index]));
                    index += 1;
                }
                blocks.push(Block::Table(Table {
                    line: start + 1,
                    header,
                    rows,
                }));
                last_text = "";
                continue;
            }
            if !line.trim().is_empty() {
                last_text = line;
            }
            index += 1;
        }
        Document { path, text, blocks }
    }

    fn name(&self) -> String {
        self.path
            .strip_prefix(root())
            .unwrap_or(&self.path)
            .display()
            .to_string()
    }

    fn tables(&self) -> Vec<Table> {
        self.blocks
            .iter()
            .filter_map(|block| match block {
                Block::Table(table) => Some(table.clone()),
                Block::Hex { .. } => None,
            })
            .collect()
    }

    /// GitHub's anchors for the headings (outside code blocks).
    fn anchors(&self) -> BTreeSet<String> {
        let mut anchors = BTreeSet::new();
        let mut in_code = false;
        for line in self.text.lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if in_code || !line.starts_with('#') {
                continue;
            }
            let title = line.trim_start_matches('#').trim();
            let slug: String = title
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            let mut unique = slug.clone();
            let mut count = 0;
            while !anchors.insert(unique.clone()) {
                count += 1;
                unique = format!("{slug}-{count}");
            }
        }
        anchors
    }

    /// Every inline link target `](target)` outside code blocks, with its line number.
    fn links(&self) -> Vec<(usize, String)> {
        let mut links = Vec::new();
        let mut in_code = false;
        for (number, line) in self.text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if in_code {
                continue;
            }
            links.extend(
                links_in(line)
                    .into_iter()
                    .map(|target| (number + 1, target)),
            );
        }
        links
    }
}

/// The link targets `](target)` in a line.
fn links_in(line: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find(')') {
            links.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    links
}

/// The vector a label line names: ``vector `game/name` ``.
fn label(line: &str) -> Option<String> {
    let start = line.find("vector `")? + "vector `".len();
    let end = line[start..].find('`')? + start;
    Some(line[start..end].to_string())
}

fn is_rule(line: &str) -> bool {
    line.starts_with('|') && line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// A table row's cells, split at unescaped `|`, trimmed.
fn cells(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = line.trim().trim_start_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell).trim().to_string()),
            other => cell.push(other),
        }
    }
    if !cell.trim().is_empty() {
        cells.push(cell.trim().to_string());
    }
    cells
}

/// `a/b/../c` as `a/c` (the documents link with relative paths).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

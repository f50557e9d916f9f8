//! The engine's twins in the browser core (assets/web): values both sides must agree on, written
//! by this test from the Rust definitions into `tests/twins/*.json`, which the JavaScript tests
//! compare against (assets/web/twins.test.mjs).
//!
//! - `constants.json`: the protocol version, every limit, every close code with its name, the
//!   quantization constants, the resume token length, and samples of every quantization
//!   function (f32 values as their bits, so equality is exact);
//! - `codec.json`: messages of a probe game whose types use every shape the browser's schema
//!   language can describe (signed and wide integers, f64, tuples, unit and data enum variants,
//!   options, fixed arrays), with their exact bytes from the Rust codec.
//!
//! When a value changes on purpose, regenerate with
//! `TICKWIRE_BLESS=1 cargo test -p tickwire-protocol --test web_twins`, update the JavaScript
//! side, and review the diff.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tickwire_protocol::bits::{BitReader, BitWriter};
use tickwire_protocol::{
    Checksum, Command, DeltaError, Events, Hello, PROTOCOL_VERSION, Record, Schema, ServerMsg,
    StatsRow, Welcome, Wire, close, encode_client, encode_server, limits, quant,
};

#[test]
fn constants_match_the_committed_twin() {
    check_twin("constants.json", &render(&constants()));
}

#[test]
fn codec_probe_matches_the_committed_twin() {
    check_twin("codec.json", &render(&codec_probe()));
}

/// Every limit, by name, as limits.rs defines it.
fn limits() -> Vec<(&'static str, u64)> {
    vec![
        ("CLIENT_MSG_MAX", limits::CLIENT_MSG_MAX as u64),
        ("JSON_CLIENT_MSG_MAX", limits::JSON_CLIENT_MSG_MAX as u64),
        ("JSON_SERVER_MSG_MAX", limits::JSON_SERVER_MSG_MAX as u64),
        ("SERVER_MSG_MAX", limits::SERVER_MSG_MAX as u64),
        ("NAME_MAX", limits::NAME_MAX as u64),
        ("GAME_NAME_MAX", limits::GAME_NAME_MAX as u64),
        ("ROOM_NAME_MAX", limits::ROOM_NAME_MAX as u64),
        ("CHAT_MAX", limits::CHAT_MAX as u64),
        ("REASON_MAX", limits::REASON_MAX as u64),
        ("INPUTS_PER_MSG_MAX", limits::INPUTS_PER_MSG_MAX as u64),
        ("VIEW_ENTITIES_MAX", limits::VIEW_ENTITIES_MAX as u64),
        ("SCORES_MAX", limits::SCORES_MAX as u64),
        ("CLIENT_BASELINES", limits::CLIENT_BASELINES as u64),
        ("BASELINE_AGE_MAX", limits::BASELINE_AGE_MAX as u64),
        ("TOKEN_MAX", limits::TOKEN_MAX as u64),
        ("EVENTS_MAX", limits::EVENTS_MAX as u64),
        ("URL_MAX", limits::URL_MAX as u64),
    ]
}

/// Every close code, by constant name.
fn close_codes() -> Vec<(&'static str, u16)> {
    vec![
        ("NORMAL", close::NORMAL),
        ("GOING_AWAY", close::GOING_AWAY),
        ("PROTOCOL_ERROR", close::PROTOCOL_ERROR),
        ("UNSUPPORTED_DATA", close::UNSUPPORTED_DATA),
        ("INVALID_DATA", close::INVALID_DATA),
        ("POLICY_VIOLATION", close::POLICY_VIOLATION),
        ("MESSAGE_TOO_BIG", close::MESSAGE_TOO_BIG),
        ("INTERNAL_ERROR", close::INTERNAL_ERROR),
        ("SERVICE_RESTART", close::SERVICE_RESTART),
        ("TRY_AGAIN_LATER", close::TRY_AGAIN_LATER),
        ("VERSION_MISMATCH", close::VERSION_MISMATCH),
        ("BAD_HELLO", close::BAD_HELLO),
        ("ROOM_FULL", close::ROOM_FULL),
        ("TIMEOUT", close::TIMEOUT),
        ("TOO_SLOW", close::TOO_SLOW),
        ("SESSION_REPLACED", close::SESSION_REPLACED),
        ("RESUME_FAILED", close::RESUME_FAILED),
        ("AUTH_REQUIRED", close::AUTH_REQUIRED),
        ("AUTH_INVALID", close::AUTH_INVALID),
        ("AUTH_EXPIRED", close::AUTH_EXPIRED),
        ("TOKEN_IN_USE", close::TOKEN_IN_USE),
        ("GAME_MISMATCH", close::GAME_MISMATCH),
        ("SEAT_INVALID", close::SEAT_INVALID),
        ("SEAT_EXPIRED", close::SEAT_EXPIRED),
        ("REDIRECT", close::REDIRECT),
    ]
}

/// The quantization constants (floats as numbers: they are small powers of two).
fn quant_constants() -> Vec<(&'static str, Value)> {
    vec![
        ("POS_UNITS_PER_M", json!(quant::POS_UNITS_PER_M)),
        ("POS_BITS", json!(quant::POS_BITS)),
        ("POS_MAX", json!(quant::POS_MAX)),
        ("VEL_MAX", json!(quant::VEL_MAX)),
        ("AIM_BITS", json!(quant::AIM_BITS)),
        ("AIM_STEPS", json!(quant::AIM_STEPS)),
    ]
}

/// Lists above are written by hand; this keeps them complete: every `pub const` in each source
/// file must be listed, so a new limit or close code fails here until it has a twin.
#[test]
fn every_constant_has_a_twin() {
    let sources = [
        (
            "limits.rs",
            include_str!("../src/limits.rs"),
            names(&limits()),
        ),
        (
            "close.rs",
            include_str!("../src/close.rs"),
            names(&close_codes()),
        ),
        (
            "quant.rs",
            include_str!("../src/quant.rs"),
            names(&quant_constants()),
        ),
    ];
    for (file, source, listed) in sources {
        let mut declared = public_constants(source);
        declared.sort_unstable();
        let mut listed = listed;
        listed.sort_unstable();
        assert_eq!(
            declared, listed,
            "src/{file}: the constants rendered for the browser's twin differ from those declared"
        );
    }
}

fn names<T>(pairs: &[(&'static str, T)]) -> Vec<String> {
    pairs.iter().map(|(name, _)| name.to_string()).collect()
}

/// The names of `pub const NAME: ...` items at the start of a line (not in a test module).
fn public_constants(source: &str) -> Vec<String> {
    source
        .lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .filter_map(|line| line.strip_prefix("pub const "))
        .filter_map(|rest| rest.split(':').next())
        .map(|name| name.trim().to_string())
        .collect()
}

fn constants() -> Value {
    let hello = Hello {
        version: PROTOCOL_VERSION,
        game: String::new(),
        schema: 0,
        name: String::new(),
        room: None,
        spectate: false,
        resume: None,
        token: None,
        seat: None,
    };
    json!({
        "protocol_version": PROTOCOL_VERSION,
        "resume_token_len": token_len(&hello.resume),
        "limits": limits().into_iter().map(|(name, value)| (name.to_string(), json!(value)))
            .collect::<serde_json::Map<_, _>>(),
        "close_codes": close_codes().into_iter()
            .map(|(constant, code)| json!({"constant": constant, "code": code, "name": close::name(code)}))
            .collect::<Vec<_>>(),
        "quant": quant_constants().into_iter().map(|(name, value)| (name.to_string(), value))
            .collect::<serde_json::Map<_, _>>(),
        "quant_samples": quant_samples(),
    })
}

fn token_len<const N: usize>(_: &Option<[u8; N]>) -> usize {
    N
}

/// Inputs and outputs of every quantization function; floats are f32 bits.
fn quant_samples() -> Value {
    let mut rng = 0x2545_f491u32;
    let mut random = move || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        rng
    };
    let special = [
        0.0f32,
        -0.0,
        0.5,
        -0.5,
        1.0,
        -1.0,
        0.001_953_125,
        -0.001_953_125,
        std::f32::consts::PI,
        -std::f32::consts::FRAC_PI_2,
        std::f32::consts::TAU,
        1e9,
        -1e9,
        f32::MAX,
        f32::MIN_POSITIVE,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    // Specials, then values spread over a few magnitudes (meters, m/s, radians, axes).
    let mut floats: Vec<f32> = special.to_vec();
    for scale in [1.5f32, 12.0, 400.0, 5000.0] {
        for _ in 0..40 {
            let unit = random() as f32 / u32::MAX as f32 * 2.0 - 1.0;
            floats.push(unit * scale);
        }
    }
    let dts = [1.0f32 / 30.0, 1.0 / 60.0, 1.0 / 20.0, 1.0 / 128.0];
    let mut units: Vec<u32> = vec![0, 1, 255, 256, 12_345, quant::POS_MAX];
    units.extend((0..40).map(|_| random() % (quant::POS_MAX + 1)));
    let mut velocities: Vec<i32> = vec![0, 1, -1, quant::VEL_MAX, -quant::VEL_MAX, 300, -301];
    velocities.extend((0..40).map(|_| (random() % 20_001) as i32 - 10_000));
    let mut aims: Vec<u16> = vec![0, 1, 511, 1023, 1024, 65_535];
    aims.extend((0..40).map(|_| random() as u16));
    let axes: Vec<i8> = (i8::MIN..=i8::MAX).collect();

    let bits = |value: f32| value.to_bits();
    json!({
        "pos_to_wire": floats.iter().map(|&m| json!([bits(m), quant::pos_to_wire(m)])).collect::<Vec<_>>(),
        "pos_from_wire": units.iter().map(|&u| json!([u, bits(quant::pos_from_wire(u))])).collect::<Vec<_>>(),
        "vel_to_wire": dts.iter().flat_map(|&dt| floats.iter().map(move |&v| json!([bits(v), bits(dt), quant::vel_to_wire(v, dt)]))).collect::<Vec<_>>(),
        "vel_from_wire": dts.iter().flat_map(|&dt| velocities.iter().map(move |&v| json!([v, bits(dt), bits(quant::vel_from_wire(v, dt))]))).collect::<Vec<_>>(),
        "aim_to_wire": floats.iter().map(|&a| json!([bits(a), quant::aim_to_wire(a)])).collect::<Vec<_>>(),
        "aim_from_wire": aims.iter().map(|&s| json!([s, bits(quant::aim_from_wire(s))])).collect::<Vec<_>>(),
        "input_aim_to_wire": floats.iter().map(|&a| json!([bits(a), quant::input_aim_to_wire(a)])).collect::<Vec<_>>(),
        "input_aim_from_wire": aims.iter().map(|&s| json!([s, bits(quant::input_aim_from_wire(s))])).collect::<Vec<_>>(),
        "axis_to_wire": floats.iter().map(|&v| json!([bits(v), quant::axis_to_wire(v)])).collect::<Vec<_>>(),
        "axis_from_wire": axes.iter().map(|&a| json!([a, bits(quant::axis_from_wire(a))])).collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------------------------------------
// The probe game: one type of every shape, through the real codec.

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Probe;

impl Schema for Probe {
    const NAME: &'static str = "probe";
    const VERSION: u16 = 1;
    type Setup = ProbeSetup;
    type Input = ProbeCmd;
    type Record = ProbeRecord;
    type Stats = ProbeRow;
    type Event = Suit;
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ProbeSetup {
    small: i16,
    signed: i32,
    wide: i64,
    big: u64,
    ratio: f64,
    pair: (u8, String),
    trump: Suit,
    maybe: Option<i32>,
    hand: Vec<Suit>,
    corners: [i16; 2],
    flag: bool,
}

impl Wire for ProbeSetup {}

/// Unit, newtype, tuple and struct variants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Suit {
    Hearts,
    Spades,
    Wild(u8),
    Pair(i32, u16),
    Named { name: String, rank: u8 },
}

impl Wire for Suit {}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ProbeCmd {
    card: Option<u16>,
    delta: i8,
}

impl Wire for ProbeCmd {}
impl Command for ProbeCmd {}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ProbeRow {
    player: u32,
    points: i32,
}

impl Wire for ProbeRow {}

impl StatsRow for ProbeRow {
    fn player(&self) -> u32 {
        self.player
    }
}

/// A record that codes nothing but its id (the probe is about the envelope's types).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ProbeRecord {
    id: u32,
}

impl Record for ProbeRecord {
    fn id(&self) -> u32 {
        self.id
    }
    fn write_full(&self, _: &mut BitWriter) {}
    fn read_full(id: u32, _: &mut BitReader<'_>) -> Result<Self, DeltaError> {
        Ok(ProbeRecord { id })
    }
    fn changes(&self, _: &Self, _: u32) -> u32 {
        0
    }
    fn write_changes(&self, _: &Self, _: u32, _: u32, _: &mut BitWriter) {}
    fn read_changes(base: &Self, _: u32, _: &mut BitReader<'_>) -> Result<Self, DeltaError> {
        Ok(*base)
    }
    fn is_valid(&self) -> bool {
        self.id != 0
    }
    fn checksum(&self, sum: &mut Checksum) {
        sum.word(self.id);
    }
}

fn codec_probe() -> Value {
    let setups = [
        ProbeSetup {
            small: -300,
            signed: -70_000,
            wide: -(1 << 40) - 3,
            big: (1 << 52) + 17,
            ratio: -0.1,
            pair: (7, "seven".into()),
            trump: Suit::Hearts,
            maybe: Some(i32::MIN),
            hand: vec![
                Suit::Spades,
                Suit::Wild(250),
                Suit::Pair(-1, 65_535),
                Suit::Named {
                    name: "queen ♛".into(),
                    rank: 12,
                },
            ],
            corners: [i16::MIN, i16::MAX],
            flag: true,
        },
        ProbeSetup {
            small: 0,
            signed: i32::MAX,
            wide: (1 << 31) + 1,
            big: u32::MAX as u64 + 1,
            ratio: 1e300,
            pair: (0, String::new()),
            trump: Suit::Named {
                name: String::new(),
                rank: 0,
            },
            maybe: None,
            hand: Vec::new(),
            corners: [-1, 1],
            flag: false,
        },
    ];
    let mut vectors: Vec<Value> = setups
        .into_iter()
        .enumerate()
        .map(|(index, setup)| {
            server_vector(
                &format!("welcome_{index}"),
                ServerMsg::Welcome(Welcome {
                    version: PROTOCOL_VERSION,
                    player: 1,
                    entity: 0,
                    room: "probe".into(),
                    tick_rate: 20,
                    snapshot_interval: 1,
                    tick: 9,
                    setup,
                    resume_token: [3; 16],
                    resumed: false,
                }),
            )
        })
        .collect();
    vectors.push(server_vector(
        "events",
        ServerMsg::Events(Events {
            tick: 1 << 20,
            events: vec![
                Suit::Hearts,
                Suit::Pair(i32::MIN, 0),
                Suit::Wild(0),
                Suit::Spades,
            ],
        }),
    ));
    let mut hello = Hello::new::<Probe>("probe");
    hello.spectate = true;
    let client_messages = [
        ("hello", tickwire_protocol::ClientMsg::<Probe>::Hello(hello)),
        (
            "input",
            tickwire_protocol::ClientMsg::Input(tickwire_protocol::Input {
                ack_tick: 5,
                first_seq: 1,
                cmds: vec![
                    ProbeCmd::default(),
                    ProbeCmd {
                        card: Some(300),
                        delta: -128,
                    },
                ],
            }),
        ),
    ];
    for (name, msg) in client_messages {
        let mut bytes = Vec::new();
        encode_client(&msg, &mut bytes);
        vectors.push(json!({
            "name": name,
            "direction": "client",
            "hex": hex(&bytes),
            "message": msg,
        }));
    }
    json!({ "game": Probe::NAME, "schema": Probe::VERSION, "vectors": vectors })
}

fn server_vector(name: &str, msg: ServerMsg<Probe>) -> Value {
    let mut bytes = Vec::new();
    encode_server(&msg, &mut bytes);
    json!({ "name": name, "direction": "server", "hex": hex(&bytes), "message": msg })
}

// ---------------------------------------------------------------------------------------------
// Writing and checking the files.

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// JSON for readable diffs: a container whose one-line form is short stays on one line, longer
/// ones get a line per item.
fn render(value: &Value) -> String {
    let mut out = String::new();
    render_into(value, 0, &mut out);
    out.push('\n');
    out
}

fn render_into(value: &Value, depth: usize, out: &mut String) {
    let compact = value.to_string();
    let indent = |depth: usize| "  ".repeat(depth);
    match value {
        Value::Array(items) if compact.len() > 100 => {
            out.push_str("[\n");
            for (index, item) in items.iter().enumerate() {
                out.push_str(&indent(depth + 1));
                render_into(item, depth + 1, out);
                out.push_str(if index + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&indent(depth));
            out.push(']');
        }
        Value::Object(fields) if compact.len() > 100 => {
            out.push_str("{\n");
            for (index, (key, item)) in fields.iter().enumerate() {
                out.push_str(&indent(depth + 1));
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                render_into(item, depth + 1, out);
                out.push_str(if index + 1 < fields.len() {
                    ",\n"
                } else {
                    "\n"
                });
            }
            out.push_str(&indent(depth));
            out.push('}');
        }
        _ => out.push_str(&compact),
    }
}

fn check_twin(file: &str, expected: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/twins")
        .join(file);
    if std::env::var_os("TICKWIRE_BLESS").is_some_and(|value| value == "1") {
        std::fs::create_dir_all(path.parent().expect("the path has a parent"))
            .expect("create tests/twins");
        std::fs::write(&path, expected).expect("write the twin");
        eprintln!("blessed {}", path.display());
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{} is not what the Rust side renders now. If the change is intended, update the \
         JavaScript side (assets/web), regenerate with \
         `TICKWIRE_BLESS=1 cargo test -p tickwire-protocol --test web_twins`, and review the diff.",
        path.display()
    );
}

// tickwire's wire protocol for JavaScript: the browser client's twin of crates/protocol.
//
// A plain ES module with no dependencies and no build step (browsers and node >= 20). It follows
// docs/PROTOCOL.md, and crates/protocol/tests/golden/vectors.json keeps it honest (see
// protocol.test.mjs). Message objects have serde_json's shape of the Rust types, for example
// {Hello: {version, name, room, spectate, resume, token}}, {Ping: {nonce}} or
// {Events: [{Killed: {killer, victim}}, ...]}; a snapshot's body is a Uint8Array; fixed byte
// arrays (Hello.resume, Welcome.resume_token) decode to arrays of 16 numbers and encode from an
// array or a Uint8Array. Entity states are plain objects {id, kind, x, y, vx, vy, aim, health, flags}.
//
// Everything that takes a peer's bytes throws a ProtocolError (an Error) on bad input and never
// loops or allocates past the limits below.

/** The protocol version this module speaks (Hello.version). */
export const PROTOCOL_VERSION = 2;

/** Every limit the wire enforces (crates/protocol/src/limits.rs). */
export const LIMITS = Object.freeze({
  CLIENT_MSG_MAX: 1024,
  SERVER_MSG_MAX: 256 * 1024,
  NAME_MAX: 24,
  ROOM_NAME_MAX: 32,
  CHAT_MAX: 200,
  REASON_MAX: 120,
  INPUTS_PER_MSG_MAX: 8,
  VIEW_ENTITIES_MAX: 8192,
  SCORES_MAX: 1024,
  WALLS_MAX: 1024,
  BASELINE_AGE_MAX: 255,
  TOKEN_MAX: 256,
  EVENTS_MAX: 256,
});

/** Length of a resume token (Hello.resume, Welcome.resume_token), in bytes. */
export const RESUME_TOKEN_LEN = 16;

/** Quantization constants (crates/protocol/src/quant.rs). */
export const QUANT = Object.freeze({
  POS_UNITS_PER_M: 256,
  POS_BITS: 20,
  POS_MAX: (1 << 20) - 1,
  VEL_MAX: 1 << 16,
  AIM_BITS: 10,
  AIM_STEPS: 1 << 10,
});

/** Entity kind codes. */
export const KIND = Object.freeze({ PLAYER: 0, PROJECTILE: 1, NPC: 2, MAX: 2 });

/** Entity flag bits. */
export const FLAGS = Object.freeze({ ALIVE: 1, ALL: 1 });

/** Input button bits: bit 0 fires the projectile weapon, bit 1 the hitscan weapon. */
export const BUTTONS = Object.freeze({ FIRE: 1, HITSCAN: 2 });

/** An error from decoding, validating or applying protocol data. `kind` says which class. */
export class ProtocolError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = "ProtocolError";
    /** One of: too_large, incomplete, malformed, trailing, invalid, encode, delta, replica. */
    this.kind = kind;
  }
}

// ---------------------------------------------------------------------------------------------
// Close codes (crates/protocol/src/close.rs)

/** Close codes by name. */
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
  VERSION_MISMATCH: 4000,
  BAD_HELLO: 4001,
  ROOM_FULL: 4002,
  TIMEOUT: 4003,
  TOO_SLOW: 4004,
  SESSION_REPLACED: 4005,
  RESUME_FAILED: 4006,
  AUTH_REQUIRED: 4007,
  AUTH_INVALID: 4008,
  AUTH_EXPIRED: 4009,
  TOKEN_IN_USE: 4010,
});

/** Every close code the server uses: code, short name (as in logs and metrics), text for UI. */
export const CLOSE_CODES = Object.freeze([
  { code: 1000, name: "normal", message: "You left the game." },
  { code: 1001, name: "going_away", message: "The server is shutting down. Try again later." },
  { code: 1002, name: "protocol_error", message: "The client broke the protocol (a bug, or a version mismatch)." },
  { code: 1003, name: "unsupported_data", message: "The client sent data the server does not accept." },
  { code: 1008, name: "policy_violation", message: "Disconnected for sending too much, too fast." },
  { code: 1009, name: "message_too_big", message: "The client sent a message larger than allowed." },
  { code: 1011, name: "internal_error", message: "The server hit an internal error. Not your fault; try again." },
  { code: 1013, name: "try_again_later", message: "The server is full. Try again later." },
  { code: 4000, name: "version_mismatch", message: "This client is out of date (protocol version mismatch). Reload the page." },
  { code: 4001, name: "bad_hello", message: "The server refused the join request (check the name and room name)." },
  { code: 4002, name: "room_full", message: "That room is full. Pick another room." },
  { code: 4003, name: "timeout", message: "The connection timed out." },
  { code: 4004, name: "too_slow", message: "The connection could not keep up with the game." },
  { code: 4005, name: "session_replaced", message: "This game was taken over by another tab or device." },
  { code: 4006, name: "resume_failed", message: "The earlier session could not be resumed (it expired). Join again." },
  { code: 4007, name: "auth_required", message: "This server requires signing in (a session token)." },
  { code: 4008, name: "auth_invalid", message: "The session token was refused (invalid, or issued for another name)." },
  { code: 4009, name: "auth_expired", message: "The session token has expired. Sign in again." },
  { code: 4010, name: "token_in_use", message: "This session token is already in use by another connection." },
]);

const CLOSE_BY_CODE = new Map(CLOSE_CODES.map((entry) => [entry.code, entry]));

/** The short name of a close code ("other" when unknown), as close::name in Rust. */
export function closeName(code) {
  return CLOSE_BY_CODE.get(code)?.name ?? "other";
}

/** A human-readable sentence for a close code, for the UI. */
export function closeMessage(code) {
  return CLOSE_BY_CODE.get(code)?.message ?? `The connection closed (code ${code}).`;
}

// ---------------------------------------------------------------------------------------------
// Validation (crates/protocol/src/msg.rs)

const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, as in Rust; ignoreBOM: a leading U+FEFF is kept, not eaten.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function utf8Length(text) {
  return utf8Encoder.encode(text).length;
}

function invalid(message) {
  return new ProtocolError("invalid", message);
}

function checkLen(field, len, max) {
  if (len > max) throw invalid(`${field} is ${len} long, the limit is ${max}`);
}

// Rust's char::is_control is the Cc category; str::trim strips the White_Space property.
const CONTROL = /\p{Cc}/u;
const ONLY_WHITESPACE = /^\p{White_Space}*$/u;
const ROOM_CHARS = /^[A-Za-z0-9_-]+$/;

/** Checks a player name: 1..=24 bytes of UTF-8, no control characters, not only whitespace. */
export function validateName(name) {
  checkLen("name", utf8Length(name), LIMITS.NAME_MAX);
  if (ONLY_WHITESPACE.test(name)) throw invalid("name is invalid: empty");
  if (CONTROL.test(name)) throw invalid("name is invalid: control characters");
}

/** Checks a room name: 1..=32 ASCII letters, digits, '-' and '_'. */
export function validateRoom(room) {
  checkLen("room", utf8Length(room), LIMITS.ROOM_NAME_MAX);
  if (!ROOM_CHARS.test(room)) throw invalid("room is invalid: must be 1-32 of A-Z a-z 0-9 - _");
}

/** Checks every limit and value rule of a client message (as ClientMsg::validate). */
export function validateClient(msg) {
  const [variant, body] = unwrap(msg);
  switch (variant) {
    case "Hello":
      validateName(body.name);
      if (body.room !== null && body.room !== undefined) validateRoom(body.room);
      if (body.token !== null && body.token !== undefined) {
        checkLen("token", utf8Length(body.token), LIMITS.TOKEN_MAX);
      }
      return;
    case "Input":
      checkLen("cmds", body.cmds.length, LIMITS.INPUTS_PER_MSG_MAX);
      if (body.cmds.length > 0 && body.first_seq === 0) {
        throw invalid("first_seq is invalid: sequence numbers start at 1");
      }
      if (body.first_seq + body.cmds.length > 0xffffffff) {
        throw invalid("first_seq is invalid: sequence overflows");
      }
      return;
    case "Chat":
      checkLen("text", utf8Length(body.text), LIMITS.CHAT_MAX);
      if (CONTROL.test(body.text)) throw invalid("text is invalid: control characters");
      return;
    case "Ping":
      return;
    default:
      throw new ProtocolError("encode", `unknown client message ${variant}`);
  }
}

/** Checks every limit of a server message (as ServerMsg::validate). */
export function validateServer(msg) {
  const [variant, body] = unwrap(msg);
  switch (variant) {
    case "Welcome": {
      checkLen("room", utf8Length(body.room), LIMITS.ROOM_NAME_MAX);
      checkLen("map.walls", body.map.walls.length, LIMITS.WALLS_MAX);
      const finite =
        Number.isFinite(body.map.width) &&
        Number.isFinite(body.map.height) &&
        body.map.walls.every((wall) => Array.from(wall).every(Number.isFinite));
      if (!finite) throw invalid("map is invalid: non-finite value");
      // The Rust error names tick_rate for either field.
      if (body.snapshot_interval === 0 || body.tick_rate === 0) {
        throw invalid("tick_rate is invalid: zero");
      }
      return;
    }
    case "Snapshot":
      checkLen("scores", body.scores.length, LIMITS.SCORES_MAX);
      checkLen("scores_removed", body.scores_removed.length, LIMITS.SCORES_MAX);
      for (const row of body.scores) checkLen("scores.name", utf8Length(row.name), LIMITS.NAME_MAX);
      return;
    case "Chat":
      checkLen("name", utf8Length(body.name), LIMITS.NAME_MAX);
      checkLen("text", utf8Length(body.text), LIMITS.CHAT_MAX);
      return;
    case "Events":
      checkLen("events", body.length, LIMITS.EVENTS_MAX);
      return;
    case "Pong":
      return;
    case "Error":
      checkLen("reason", utf8Length(body.reason), LIMITS.REASON_MAX);
      return;
    default:
      throw new ProtocolError("encode", `unknown server message ${variant}`);
  }
}

function unwrap(msg) {
  if (msg === null || typeof msg !== "object") {
    throw new ProtocolError("encode", "a message is an object like {Ping: {nonce: 1}}");
  }
  const keys = Object.keys(msg);
  if (keys.length !== 1) {
    throw new ProtocolError("encode", `a message has exactly one key (its variant), got ${keys.length}`);
  }
  return [keys[0], msg[keys[0]]];
}

// ---------------------------------------------------------------------------------------------
// Message schemas: field order is wire order (crates/protocol/src/msg.rs).

const INPUT_CMD = ["struct", [["move_x", "i8"], ["move_y", "i8"], ["aim", "u16"], ["buttons", "u8"], ["view_age", "u8"]]];
const RESUME_TOKEN = ["array", RESUME_TOKEN_LEN, "u8"];
const MOVE_RULES = ["struct", [["player_radius", "f32"], ["max_speed", "f32"], ["accel", "f32"], ["friction", "f32"]]];
const GAME_EVENT = ["enum", [
  ["Killed", ["struct", [["killer", "u32"], ["victim", "u32"]]]],
  ["Shot", ["struct", [["shooter", "u32"], ["from_x", "u32"], ["from_y", "u32"], ["to_x", "u32"], ["to_y", "u32"], ["hit", "u32"]]]],
]];
const SCORE_ENTRY = ["struct", [["player", "u32"], ["entity", "u32"], ["name", "string"], ["kills", "u32"], ["deaths", "u32"]]];
const MAP_INFO = ["struct", [["name", "string"], ["width", "f32"], ["height", "f32"], ["walls", ["vec", ["array", 4, "f32"]]]]];

/** Client message variants in variant-index order. */
const CLIENT_VARIANTS = [
  ["Hello", ["struct", [["version", "u16"], ["name", "string"], ["room", ["option", "string"]], ["spectate", "bool"], ["resume", ["option", RESUME_TOKEN]], ["token", ["option", "string"]]]]],
  ["Input", ["struct", [["ack_tick", "u32"], ["first_seq", "u32"], ["cmds", ["vec", INPUT_CMD]]]]],
  ["Chat", ["struct", [["text", "string"]]]],
  ["Ping", ["struct", [["nonce", "u32"]]]],
];

/** Server message variants in variant-index order. */
const SERVER_VARIANTS = [
  ["Welcome", ["struct", [["version", "u16"], ["player", "u32"], ["entity", "u32"], ["room", "string"], ["tick_rate", "u16"], ["snapshot_interval", "u8"], ["tick", "u32"], ["map", MAP_INFO], ["rules", MOVE_RULES], ["resume_token", RESUME_TOKEN], ["resumed", "bool"]]]],
  ["Snapshot", ["struct", [["tick", "u32"], ["baseline_age", "u8"], ["last_input", "u32"], ["checksum", "u32"], ["scores", ["vec", SCORE_ENTRY]], ["scores_removed", ["vec", "u32"]], ["body", "bytes"]]]],
  ["Chat", ["struct", [["from", "u32"], ["name", "string"], ["text", "string"]]]],
  // A newtype variant: the message is {Events: [event, ...]}.
  ["Events", ["vec", GAME_EVENT]],
  ["Pong", ["struct", [["nonce", "u32"], ["tick", "u32"]]]],
  ["Error", ["struct", [["code", "u16"], ["reason", "string"]]]],
];

// ---------------------------------------------------------------------------------------------
// bincode 2 "standard" encoding: little endian, varint integers.

const U16_TAG = 251;
const U32_TAG = 252;
const U64_TAG = 253;

class ByteWriter {
  constructor() {
    this.bytes = new Uint8Array(64);
    this.length = 0;
  }

  reserve(count) {
    if (this.length + count > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + count));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
  }

  byte(value) {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  raw(bytes) {
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Unsigned varint (value < 2^53). */
  varint(value) {
    if (value < 251) {
      this.byte(value);
    } else if (value <= 0xffff) {
      this.byte(U16_TAG);
      this.byte(value & 0xff);
      this.byte(value >>> 8);
    } else if (value <= 0xffffffff) {
      this.byte(U32_TAG);
      for (let shift = 0; shift < 32; shift += 8) this.byte((value >>> shift) & 0xff);
    } else {
      this.byte(U64_TAG);
      let rest = value;
      for (let index = 0; index < 8; index++) {
        this.byte(rest % 256);
        rest = Math.floor(rest / 256);
      }
    }
  }

  f32(value) {
    this.reserve(4);
    new DataView(this.bytes.buffer).setFloat32(this.length, value, true);
    this.length += 4;
  }

  finish() {
    return this.bytes.slice(0, this.length);
  }
}

function encodeError(path, message) {
  return new ProtocolError("encode", `cannot encode ${path}: ${message}`);
}

function checkInt(path, value, min, max, type) {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw encodeError(path, `${type} must be an integer in ${min}..=${max}, got ${value}`);
  }
}

function encodeValue(writer, type, value, path) {
  if (typeof type === "string") {
    switch (type) {
      case "u8":
        checkInt(path, value, 0, 0xff, "u8");
        writer.byte(value);
        return;
      case "i8":
        checkInt(path, value, -128, 127, "i8");
        writer.byte(value & 0xff);
        return;
      case "u16":
        checkInt(path, value, 0, 0xffff, "u16");
        writer.varint(value);
        return;
      case "u32":
        checkInt(path, value, 0, 0xffffffff, "u32");
        writer.varint(value);
        return;
      case "bool":
        if (typeof value !== "boolean") throw encodeError(path, `expected a boolean, got ${value}`);
        writer.byte(value ? 1 : 0);
        return;
      case "f32":
        if (typeof value !== "number") throw encodeError(path, `expected a number, got ${value}`);
        writer.f32(value);
        return;
      case "string": {
        if (typeof value !== "string") throw encodeError(path, `expected a string, got ${value}`);
        const bytes = utf8Encoder.encode(value);
        writer.varint(bytes.length);
        writer.raw(bytes);
        return;
      }
      case "bytes": {
        if (!(value instanceof Uint8Array) && !Array.isArray(value)) {
          throw encodeError(path, "expected a Uint8Array or an array of bytes");
        }
        writer.varint(value.length);
        for (let index = 0; index < value.length; index++) {
          checkInt(`${path}[${index}]`, value[index], 0, 0xff, "u8");
        }
        writer.raw(value);
        return;
      }
      default:
        throw new Error(`unknown schema type ${type}`);
    }
  }
  switch (type[0]) {
    case "struct":
      if (value === null || typeof value !== "object") throw encodeError(path, "expected an object");
      for (const [field, fieldType] of type[1]) {
        if (!(field in value)) throw encodeError(`${path}.${field}`, "missing");
        encodeValue(writer, fieldType, value[field], `${path}.${field}`);
      }
      return;
    case "option":
      if (value === null || value === undefined) {
        writer.byte(0);
      } else {
        writer.byte(1);
        encodeValue(writer, type[1], value, path);
      }
      return;
    case "vec":
      if (!Array.isArray(value)) throw encodeError(path, "expected an array");
      writer.varint(value.length);
      value.forEach((item, index) => encodeValue(writer, type[1], item, `${path}[${index}]`));
      return;
    case "array": {
      const isArray = Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
      if (!isArray || value.length !== type[1]) {
        throw encodeError(path, `expected an array of exactly ${type[1]}`);
      }
      for (let index = 0; index < value.length; index++) {
        encodeValue(writer, type[2], value[index], `${path}[${index}]`);
      }
      return;
    }
    case "enum": {
      const [variant, body] = unwrapAt(value, path);
      const index = type[1].findIndex(([name]) => name === variant);
      if (index < 0) throw encodeError(path, `unknown variant ${variant}`);
      writer.varint(index);
      encodeValue(writer, type[1][index][1], body, `${path}.${variant}`);
      return;
    }
    default:
      throw new Error(`unknown schema type ${type[0]}`);
  }
}

function unwrapAt(value, path) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw encodeError(path, "expected an object with one key (its variant)");
  }
  const keys = Object.keys(value);
  if (keys.length !== 1) throw encodeError(path, `expected exactly one key (its variant), got ${keys.length}`);
  return [keys[0], value[keys[0]]];
}

function encodeMessage(variants, msg) {
  const [variant, body] = unwrap(msg);
  const index = variants.findIndex(([name]) => name === variant);
  if (index < 0) throw new ProtocolError("encode", `unknown message variant ${variant}`);
  const writer = new ByteWriter();
  writer.varint(index);
  encodeValue(writer, variants[index][1], body, variant);
  return writer.finish();
}

function malformed(message) {
  return new ProtocolError("malformed", `malformed message: ${message}`);
}

class ByteReader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.position = 0;
  }

  remaining() {
    return this.bytes.length - this.position;
  }

  need(count) {
    if (this.remaining() < count) throw new ProtocolError("incomplete", "message is truncated");
  }

  byte() {
    this.need(1);
    return this.bytes[this.position++];
  }

  /** A varint for an integer of `bits` bits (16, 32 or 64). Non-canonical forms are accepted. */
  varint(bits) {
    const tag = this.byte();
    if (tag < 251) return tag;
    if (tag === U16_TAG) {
      this.need(2);
      const value = this.view.getUint16(this.position, true);
      this.position += 2;
      return value;
    }
    if (tag === U32_TAG && bits >= 32) {
      this.need(4);
      const value = this.view.getUint32(this.position, true);
      this.position += 4;
      return value;
    }
    if (tag === U64_TAG && bits >= 64) {
      this.need(8);
      const low = this.view.getUint32(this.position, true);
      const high = this.view.getUint32(this.position + 4, true);
      this.position += 8;
      // Only lengths are u64 here, and no length can reach 2^32 within a message.
      return high === 0 ? low : Number.MAX_SAFE_INTEGER;
    }
    throw malformed(`invalid varint tag ${tag} for a u${bits}`);
  }

  f32() {
    this.need(4);
    const value = this.view.getFloat32(this.position, true);
    this.position += 4;
    return value;
  }

  /** A collection length: a u64 varint that must fit in the bytes left. */
  length(minItemBytes) {
    const len = this.varint(64);
    if (len * minItemBytes > this.remaining()) {
      throw new ProtocolError("incomplete", "message is truncated");
    }
    return len;
  }
}

function decodeValue(reader, type) {
  if (typeof type === "string") {
    switch (type) {
      case "u8":
        return reader.byte();
      case "i8":
        return (reader.byte() << 24) >> 24;
      case "u16":
        return reader.varint(16);
      case "u32":
        return reader.varint(32);
      case "bool": {
        const byte = reader.byte();
        if (byte > 1) throw malformed(`invalid boolean value ${byte}`);
        return byte === 1;
      }
      case "f32":
        return reader.f32();
      case "string": {
        const len = reader.length(1);
        const bytes = reader.bytes.subarray(reader.position, reader.position + len);
        reader.position += len;
        try {
          return utf8Decoder.decode(bytes);
        } catch {
          throw malformed("invalid UTF-8 in a string");
        }
      }
      case "bytes": {
        const len = reader.length(1);
        const bytes = reader.bytes.slice(reader.position, reader.position + len);
        reader.position += len;
        return bytes;
      }
      default:
        throw new Error(`unknown schema type ${type}`);
    }
  }
  switch (type[0]) {
    case "struct": {
      const out = {};
      for (const [field, fieldType] of type[1]) out[field] = decodeValue(reader, fieldType);
      return out;
    }
    case "option": {
      const tag = reader.byte();
      if (tag === 0) return null;
      if (tag === 1) return decodeValue(reader, type[1]);
      throw malformed(`invalid Option tag ${tag}`);
    }
    case "vec": {
      // Every item takes at least one byte, so a length past the bytes left is rejected before
      // anything is allocated for it.
      const len = reader.length(1);
      const out = [];
      for (let index = 0; index < len; index++) out.push(decodeValue(reader, type[1]));
      return out;
    }
    case "array": {
      const out = [];
      for (let index = 0; index < type[1]; index++) out.push(decodeValue(reader, type[2]));
      return out;
    }
    case "enum": {
      const index = reader.varint(32);
      if (index >= type[1].length) {
        throw malformed(`unknown enum variant index ${index} (expected 0..${type[1].length - 1})`);
      }
      const [name, body] = type[1][index];
      return { [name]: decodeValue(reader, body) };
    }
    default:
      throw new Error(`unknown schema type ${type[0]}`);
  }
}

function toBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (Array.isArray(bytes)) return Uint8Array.from(bytes);
  throw new ProtocolError("malformed", "expected a Uint8Array, an ArrayBuffer or an array of bytes");
}

function decodeMessage(variants, input, max, validate) {
  const bytes = toBytes(input);
  if (bytes.length > max) {
    throw new ProtocolError("too_large", `message is ${bytes.length} bytes, the limit is ${max}`);
  }
  const reader = new ByteReader(bytes);
  const index = reader.varint(32);
  if (index >= variants.length) {
    throw malformed(`unknown message variant index ${index} (expected 0..${variants.length - 1})`);
  }
  const [name, type] = variants[index];
  const msg = { [name]: decodeValue(reader, type) };
  if (reader.remaining() > 0) {
    throw new ProtocolError("trailing", `${reader.remaining()} trailing bytes after the message`);
  }
  validate(msg);
  return msg;
}

/**
 * Encodes a client message to the bytes of one binary WebSocket frame. Validates it first (the
 * server would refuse an invalid one) unless `options.validate` is false.
 */
export function encodeClient(msg, options = {}) {
  const bytes = encodeMessage(CLIENT_VARIANTS, msg);
  if (options.validate !== false) validateClient(msg);
  return bytes;
}

/** Decodes and validates one client message from a whole frame (what the server does). */
export function decodeClient(bytes) {
  return decodeMessage(CLIENT_VARIANTS, bytes, LIMITS.CLIENT_MSG_MAX, validateClient);
}

/** Encodes a server message (for tests and tools). Validates it unless `options.validate` is false. */
export function encodeServer(msg, options = {}) {
  const bytes = encodeMessage(SERVER_VARIANTS, msg);
  if (options.validate !== false) validateServer(msg);
  return bytes;
}

/** Decodes and validates one server message from a whole frame (Uint8Array or ArrayBuffer). */
export function decodeServer(bytes) {
  return decodeMessage(SERVER_VARIANTS, bytes, LIMITS.SERVER_MSG_MAX, validateServer);
}

// ---------------------------------------------------------------------------------------------
// Bits (crates/protocol/src/bits.rs): LSB-first; bit i of the stream is bit i % 8 of byte i / 8.

const POW2 = Array.from({ length: 65 }, (_, exponent) => 2 ** exponent);

/** Appends bits; the last byte is zero-padded. */
export class BitWriter {
  constructor() {
    this.bytes = [];
    this.used = 0; // bits used in the last byte (0: full or none)
  }

  /** Number of bits written. */
  bitLength() {
    return this.used === 0 ? this.bytes.length * 8 : (this.bytes.length - 1) * 8 + this.used;
  }

  /** The bytes written so far. */
  toBytes() {
    return Uint8Array.from(this.bytes);
  }

  /** Writes the low `count` bits (count <= 32) of the unsigned `value`. */
  write(value, count) {
    let rest = count === 32 ? value >>> 0 : (value >>> 0) % POW2[count];
    let remaining = count;
    while (remaining > 0) {
      if (this.used === 0) this.bytes.push(0);
      const take = Math.min(8 - this.used, remaining);
      this.bytes[this.bytes.length - 1] |= (rest % POW2[take]) << this.used;
      rest = Math.floor(rest / POW2[take]);
      remaining -= take;
      this.used = (this.used + take) % 8;
    }
  }

  writeBit(bit) {
    this.write(bit ? 1 : 0, 1);
  }

  /** Order-k exp-Golomb: z zero bits, a one bit, then the low z + k bits of value + 2^k. */
  writeGolomb(value, k) {
    const shifted = value + POW2[k];
    const bitLength = shifted >= POW2[32] ? 33 : 32 - Math.clz32(shifted);
    let zeros = bitLength - k - 1;
    while (zeros >= 32) {
      this.write(0, 32);
      zeros -= 32;
    }
    this.write(0, zeros);
    this.write(1, 1);
    const suffixLength = bitLength - 1;
    const suffix = shifted - POW2[suffixLength];
    if (suffixLength > 32) {
      this.write(suffix % POW2[32], 32);
      this.write(Math.floor(suffix / POW2[32]), suffixLength - 32);
    } else {
      this.write(suffix, suffixLength);
    }
  }

  writeSignedGolomb(value, k) {
    this.writeGolomb(zigzag(value), k);
  }
}

function bitsError(position) {
  return new ProtocolError("delta", `bit stream ended or held a malformed code at bit ${position}`);
}

/** Reads bits written by BitWriter; every read is bounds-checked. */
export class BitReader {
  constructor(bytes) {
    this.bytes = toBytes(bytes);
    this.position = 0;
  }

  /** Bits not yet read (including padding). */
  remaining() {
    return this.bytes.length * 8 - this.position;
  }

  /** Reads `count` bits (count <= 32) as an unsigned number. */
  read(count) {
    if (this.remaining() < count) throw bitsError(this.position);
    let value = 0;
    let got = 0;
    while (got < count) {
      const byte = this.bytes[this.position >>> 3];
      const offset = this.position & 7;
      const take = Math.min(8 - offset, count - got);
      value += ((byte >>> offset) & ((1 << take) - 1)) * POW2[got];
      got += take;
      this.position += take;
    }
    return value;
  }

  readBit() {
    return this.read(1) === 1;
  }

  /** Reads an order-k exp-Golomb code whose value must fit in a u32. */
  readGolomb(k) {
    const start = this.position;
    let zeros = 0;
    while (!this.readBit()) {
      zeros += 1;
      if (zeros + k > 32) throw bitsError(start);
    }
    const suffixLength = zeros + k;
    let suffix;
    if (suffixLength > 32) {
      const low = this.read(32);
      suffix = low + this.read(suffixLength - 32) * POW2[32];
    } else {
      suffix = this.read(suffixLength);
    }
    const value = POW2[suffixLength] + suffix - POW2[k];
    if (value > 0xffffffff) throw bitsError(start);
    return value;
  }

  readSignedGolomb(k) {
    return unzigzag(this.readGolomb(k));
  }
}

/** Signed to unsigned: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ... (i32 range). */
export function zigzag(value) {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

/** Inverse of zigzag (u32 range). */
export function unzigzag(value) {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

// ---------------------------------------------------------------------------------------------
// Snapshot deltas (crates/protocol/src/delta.rs)

const KIND_BITS = 2;
const HEALTH_BITS = 8;
const FLAG_BITS = 2;
const MASK_BITS = 5;
const MASK_POS = 1;
const MASK_VEL = 2;
const MASK_AIM = 4;
const MASK_HEALTH = 8;
const MASK_FLAGS = 16;
const K_COUNT = 0;
const K_ID_GAP = 2;
const K_INDEX_GAP = 0;
const K_POS = 0;
const K_VEL = 1;
const K_AIM = 2;
const K_FULL_VEL = 4;

function deltaError(message) {
  return new ProtocolError("delta", message);
}

/** Whether every field of an entity state is within the wire's ranges. */
export function isValidEntity(state) {
  return (
    state.id !== 0 &&
    state.kind <= KIND.MAX &&
    state.x <= QUANT.POS_MAX &&
    state.y <= QUANT.POS_MAX &&
    Math.abs(state.vx) <= QUANT.VEL_MAX &&
    Math.abs(state.vy) <= QUANT.VEL_MAX &&
    state.aim < QUANT.AIM_STEPS &&
    (state.flags & ~FLAGS.ALL) === 0
  );
}

/** Predicted coordinate: base + floor((baseVel + curVel) * elapsed / 2). */
function predict(basePos, baseVel, curVel, elapsed) {
  return basePos + Math.floor(((baseVel + curVel) * elapsed) / 2);
}

function inPosRange(value) {
  return value >= 0 && value <= QUANT.POS_MAX;
}

function advance(state, elapsed) {
  const x = predict(state.x, state.vx, state.vx, elapsed);
  const y = predict(state.y, state.vy, state.vy, elapsed);
  if (!inPosRange(x) || !inPosRange(y)) throw deltaError(`entity ${state.id} has an out-of-range field`);
  state.x = x;
  state.y = y;
}

function readFull(id, reader) {
  const state = {
    id,
    kind: reader.read(KIND_BITS),
    x: reader.read(QUANT.POS_BITS),
    y: reader.read(QUANT.POS_BITS),
    vx: reader.readSignedGolomb(K_FULL_VEL),
    vy: reader.readSignedGolomb(K_FULL_VEL),
    aim: reader.read(QUANT.AIM_BITS),
    health: reader.read(HEALTH_BITS),
    flags: reader.read(FLAG_BITS),
  };
  if (!isValidEntity(state)) throw deltaError(`entity ${id} has an out-of-range field`);
  return state;
}

function readChanges(base, elapsed, reader) {
  const cur = { ...base };
  const range = () => deltaError(`entity ${base.id} has an out-of-range field`);
  const mask = reader.read(MASK_BITS);
  if (mask & MASK_VEL) {
    cur.vx = base.vx + reader.readSignedGolomb(K_VEL);
    cur.vy = base.vy + reader.readSignedGolomb(K_VEL);
    if (Math.abs(cur.vx) > QUANT.VEL_MAX || Math.abs(cur.vy) > QUANT.VEL_MAX) throw range();
  }
  let x = predict(base.x, base.vx, cur.vx, elapsed);
  let y = predict(base.y, base.vy, cur.vy, elapsed);
  if (mask & MASK_POS) {
    x += reader.readSignedGolomb(K_POS);
    y += reader.readSignedGolomb(K_POS);
  }
  if (!inPosRange(x) || !inPosRange(y)) throw range();
  cur.x = x;
  cur.y = y;
  if (mask & MASK_AIM) {
    const delta = reader.readSignedGolomb(K_AIM);
    cur.aim = (((base.aim + delta) % QUANT.AIM_STEPS) + QUANT.AIM_STEPS) % QUANT.AIM_STEPS;
  }
  if (mask & MASK_HEALTH) cur.health = reader.read(HEALTH_BITS);
  if (mask & MASK_FLAGS) {
    cur.flags = reader.read(FLAG_BITS);
    if (cur.flags & ~FLAGS.ALL) throw range();
  }
  return cur;
}

function readId(reader, previousId) {
  const id = previousId + reader.readGolomb(K_ID_GAP) + 1;
  if (id > 0xffffffff) throw deltaError(`entity id ${0xffffffff} does not fit the baseline`);
  return id;
}

/**
 * Decodes a snapshot body against `baseline` (entity states sorted by id; empty for a full
 * snapshot), `elapsed` ticks apart (the snapshot's baseline_age). Returns a new view sorted by
 * id; the baseline is not modified. Throws a ProtocolError on any malformed body.
 */
export function decodeDelta(baseline, elapsed, body) {
  const reader = new BitReader(body);
  const out = [];

  const removed = reader.readGolomb(K_COUNT);
  if (removed > baseline.length) {
    throw deltaError(`removed count ${removed} exceeds ${baseline.length}`);
  }
  let nextBase = 0;
  let previousId = 0;
  for (let count = 0; count < removed; count++) {
    const id = readId(reader, previousId);
    while (nextBase < baseline.length && baseline[nextBase].id < id) out.push({ ...baseline[nextBase++] });
    if (nextBase === baseline.length || baseline[nextBase].id !== id) {
      throw deltaError(`entity id ${id} does not fit the baseline`);
    }
    nextBase += 1;
    previousId = id;
  }
  while (nextBase < baseline.length) out.push({ ...baseline[nextBase++] });
  const kept = out.length;

  const entered = reader.readGolomb(K_COUNT);
  const enterMax = Math.max(0, LIMITS.VIEW_ENTITIES_MAX - kept);
  if (entered > enterMax) throw deltaError(`entered count ${entered} exceeds ${enterMax}`);
  previousId = 0;
  for (let count = 0; count < entered; count++) {
    const id = readId(reader, previousId);
    previousId = id;
    out.push(readFull(id, reader));
  }

  const changed = reader.readGolomb(K_COUNT);
  if (changed > kept) throw deltaError(`changed count ${changed} exceeds ${kept}`);
  let index = 0;
  for (let count = 0; count < changed; count++) {
    const target = index + reader.readGolomb(K_INDEX_GAP);
    if (target >= kept) throw deltaError(`changed index count ${target} exceeds ${kept}`);
    for (; index < target; index++) advance(out[index], elapsed);
    out[target] = readChanges(out[target], elapsed, reader);
    index = target + 1;
  }
  for (; index < kept; index++) advance(out[index], elapsed);

  const rest = reader.remaining();
  if (rest >= 8 || (rest > 0 && reader.read(rest) !== 0)) throw deltaError("trailing bits after the delta");

  if (entered > 0) {
    if (kept > 0) out.sort((a, b) => a.id - b.id);
    for (let at = 1; at < out.length; at++) {
      if (out[at - 1].id === out[at].id) throw deltaError(`entity id ${out[at].id} does not fit the baseline`);
    }
  }
  return out;
}

function changeMask(base, cur, elapsed) {
  let mask = 0;
  if (predict(base.x, base.vx, cur.vx, elapsed) !== cur.x || predict(base.y, base.vy, cur.vy, elapsed) !== cur.y) {
    mask |= MASK_POS;
  }
  if (base.vx !== cur.vx || base.vy !== cur.vy) mask |= MASK_VEL;
  if (base.aim !== cur.aim) mask |= MASK_AIM;
  if (base.health !== cur.health) mask |= MASK_HEALTH;
  if (base.flags !== cur.flags) mask |= MASK_FLAGS;
  return mask;
}

function wrapAim(delta) {
  const steps = QUANT.AIM_STEPS;
  return ((((delta + steps / 2) % steps) + steps) % steps) - steps / 2;
}

/**
 * Encodes `current` against `baseline` (both sorted by id; an empty baseline gives a full
 * snapshot), `elapsed` ticks apart, exactly as the server does. For tests and tools.
 */
export function encodeDelta(baseline, current, elapsed) {
  // Walk both views in id order; an id whose kind changed is removed and entered afresh.
  const removedList = [];
  const enteredList = [];
  const keptPairs = [];
  let b = 0;
  let c = 0;
  while (b < baseline.length || c < current.length) {
    const base = baseline[b];
    const cur = current[c];
    if (base && cur && base.id === cur.id) {
      if (base.kind === cur.kind) {
        keptPairs.push([base, cur]);
      } else {
        removedList.push(base);
        enteredList.push(cur);
      }
      b++;
      c++;
    } else if (base && (!cur || base.id < cur.id)) {
      removedList.push(base);
      b++;
    } else {
      enteredList.push(cur);
      c++;
    }
  }
  const out = new BitWriter();
  out.writeGolomb(removedList.length, K_COUNT);
  let previousId = 0;
  for (const base of removedList) {
    out.writeGolomb(base.id - previousId - 1, K_ID_GAP);
    previousId = base.id;
  }
  out.writeGolomb(enteredList.length, K_COUNT);
  previousId = 0;
  for (const cur of enteredList) {
    out.writeGolomb(cur.id - previousId - 1, K_ID_GAP);
    previousId = cur.id;
    out.write(cur.kind, KIND_BITS);
    out.write(cur.x, QUANT.POS_BITS);
    out.write(cur.y, QUANT.POS_BITS);
    out.writeSignedGolomb(cur.vx, K_FULL_VEL);
    out.writeSignedGolomb(cur.vy, K_FULL_VEL);
    out.write(cur.aim, QUANT.AIM_BITS);
    out.write(cur.health, HEALTH_BITS);
    out.write(cur.flags, FLAG_BITS);
  }
  const masks = keptPairs.map(([base, cur]) => changeMask(base, cur, elapsed));
  out.writeGolomb(masks.filter((mask) => mask !== 0).length, K_COUNT);
  let previousIndex = 0;
  keptPairs.forEach(([base, cur], keptIndex) => {
    const mask = masks[keptIndex];
    if (mask === 0) return;
    out.writeGolomb(keptIndex - previousIndex, K_INDEX_GAP);
    previousIndex = keptIndex + 1;
    out.write(mask, MASK_BITS);
    if (mask & MASK_VEL) {
      out.writeSignedGolomb(cur.vx - base.vx, K_VEL);
      out.writeSignedGolomb(cur.vy - base.vy, K_VEL);
    }
    if (mask & MASK_POS) {
      out.writeSignedGolomb(cur.x - predict(base.x, base.vx, cur.vx, elapsed), K_POS);
      out.writeSignedGolomb(cur.y - predict(base.y, base.vy, cur.vy, elapsed), K_POS);
    }
    if (mask & MASK_AIM) out.writeSignedGolomb(wrapAim(cur.aim - base.aim), K_AIM);
    if (mask & MASK_HEALTH) out.write(cur.health, HEALTH_BITS);
    if (mask & MASK_FLAGS) out.write(cur.flags, FLAG_BITS);
  });
  return out.toBytes();
}

/**
 * FNV-1a (32 bit) over every field of every entity in order, little endian: id (4 bytes),
 * kind (1), x (4), y (4), vx (4, two's complement), vy (4), aim (2), health (1), flags (1).
 */
/** The baseline's score table without the removed rows, with the changed rows put in. */
function applyScores(base, changed, removed) {
  const changedIds = new Set(changed.map((row) => row.player));
  const removedIds = new Set(removed);
  const table = base.filter((row) => !removedIds.has(row.player) && !changedIds.has(row.player));
  table.push(...changed);
  table.sort((a, b) => a.player - b.player);
  return table;
}

export function checksum(view) {
  // FNV-1a over six 32-bit words per entity (see docs/PROTOCOL.md): id, x, y, vx, vy, and
  // aim | health << 16 | kind << 24 | flags << 28.
  let hash = 0x811c9dc5;
  for (const state of view) {
    const packed = (state.aim | (state.health << 16) | (state.kind << 24) | (state.flags << 28)) >>> 0;
    for (const word of [state.id, state.x, state.y, state.vx, state.vy, packed]) {
      hash = Math.imul((hash ^ word) >>> 0, 0x01000193) >>> 0;
    }
  }
  return hash >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Replica (crates/protocol/src/replica.rs)

const HISTORY_MAX = 33;

/**
 * Rebuilds the client's view of the world from a stream of snapshots.
 *
 * Feed every snapshot to handleSnapshot in arrival order; read the newest view with view();
 * put ackTick() into every Input so the server encodes against a baseline this replica still
 * holds. On error a snapshot is rejected (a ProtocolError is thrown) and the replica is
 * unchanged.
 */
export class Replica {
  constructor() {
    /** Decoded frames {tick, view, scores}, oldest first, ticks strictly increasing. */
    this.history = [];
    /** Number of snapshots applied so far. */
    this.decoded = 0;
  }

  /** Applies one snapshot: the inner object ({tick, baseline_age, ...}) or {Snapshot: {...}}. */
  handleSnapshot(snapshot) {
    const snap = snapshot.Snapshot ?? snapshot;
    const tick = snap.tick;
    const newest = this.history[this.history.length - 1];
    if (newest && tick <= newest.tick) {
      throw new ProtocolError("replica", `snapshot ${tick} is not newer than ${newest.tick}`);
    }
    const age = snap.baseline_age;
    let baseIndex = -1;
    if (age !== 0) {
      const baselineTick = (tick - age) >>> 0;
      baseIndex = this.history.findIndex((frame) => frame.tick === baselineTick);
      if (baseIndex < 0) {
        throw new ProtocolError(
          "replica",
          `snapshot ${tick} is relative to tick ${baselineTick}, which this client does not hold`,
        );
      }
    }
    const base = baseIndex >= 0 ? this.history[baseIndex] : { view: [], scores: [] };
    let view;
    try {
      view = decodeDelta(base.view, age, snap.body);
    } catch (error) {
      throw new ProtocolError("replica", `snapshot ${tick}: ${error.message}`);
    }
    const actual = checksum(view);
    if (actual !== snap.checksum >>> 0) {
      const hex = (value) => `0x${value.toString(16).padStart(8, "0")}`;
      throw new ProtocolError(
        "replica",
        `snapshot ${tick}: checksum mismatch: server ${hex(snap.checksum)}, client ${hex(actual)}`,
      );
    }
    const scores =
      snap.scores.length === 0 && snap.scores_removed.length === 0
        ? base.scores
        : applyScores(base.scores, snap.scores, snap.scores_removed);

    // Baselines older than this snapshot's will never be used again.
    const keepFrom = baseIndex >= 0 ? baseIndex : Math.max(0, this.history.length - (HISTORY_MAX - 1));
    this.history.splice(0, keepFrom);
    while (this.history.length >= HISTORY_MAX) this.history.shift();
    while (this.history.length > 0 && ((tick - this.history[0].tick) >>> 0) > LIMITS.BASELINE_AGE_MAX) {
      this.history.shift();
    }
    this.history.push({ tick, view, scores });
    this.decoded += 1;
  }

  /** The newest view, sorted by entity id (empty before the first snapshot). */
  view() {
    return this.history.length ? this.history[this.history.length - 1].view : [];
  }

  /** The score table as of the newest snapshot. */
  scores() {
    return this.history.length ? this.history[this.history.length - 1].scores : [];
  }

  /** The tick to acknowledge: the newest decoded snapshot's (0 before the first). */
  ackTick() {
    return this.history.length ? this.history[this.history.length - 1].tick : 0;
  }

  /** Number of views held as possible baselines. */
  held() {
    return this.history.length;
  }

  /** Looks an entity up in the newest view (undefined when absent). */
  entity(id) {
    const view = this.view();
    let low = 0;
    let high = view.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (view[middle].id < id) low = middle + 1;
      else high = middle;
    }
    return low < view.length && view[low].id === id ? view[low] : undefined;
  }

  /** Forgets every view, so the next acknowledgement is 0 and the server sends a full snapshot. */
  reset() {
    this.history = [];
  }
}

// ---------------------------------------------------------------------------------------------
// Quantization (crates/protocol/src/quant.rs), in f32 arithmetic like the Rust side.

const f32 = Math.fround;
const TAU32 = f32(2 * Math.PI);

/** f32::round: halves round away from zero. */
function roundHalfAway(value) {
  return Math.sign(value) * Math.round(Math.abs(value));
}

function clamp(value, min, max) {
  return Math.min(Math.max(value, min), max);
}

/** Meters to position units (1/256 m), rounded and clamped to 0..=POS_MAX; non-finite is 0. */
export function posToWire(meters) {
  if (!Number.isFinite(meters)) return 0;
  return clamp(roundHalfAway(f32(f32(meters) * QUANT.POS_UNITS_PER_M)), 0, QUANT.POS_MAX);
}

/** Position units to meters. */
export function posFromWire(units) {
  return f32(units / QUANT.POS_UNITS_PER_M);
}

/** m/s to position units per tick of `dt` seconds, rounded and clamped to ±VEL_MAX. */
export function velToWire(metersPerSecond, dt) {
  const units = f32(f32(f32(metersPerSecond) * f32(dt)) * QUANT.POS_UNITS_PER_M);
  if (!Number.isFinite(units)) return 0;
  return clamp(roundHalfAway(units), -QUANT.VEL_MAX, QUANT.VEL_MAX) + 0;
}

/** Position units per tick back to m/s. */
export function velFromWire(unitsPerTick, dt) {
  return f32(f32(f32(unitsPerTick) / QUANT.POS_UNITS_PER_M) / f32(dt));
}

function angleToSteps(radians, steps) {
  if (!Number.isFinite(radians)) return 0;
  let turns = f32(f32(radians) / TAU32) % 1;
  if (turns < 0) turns = f32(turns + 1);
  return roundHalfAway(f32(turns * steps)) % steps;
}

/** Radians to a snapshot aim step (0..1024). */
export function aimToWire(radians) {
  return angleToSteps(radians, QUANT.AIM_STEPS);
}

/** A snapshot aim step to radians in [0, 2π). */
export function aimFromWire(steps) {
  return f32(f32(f32((steps >>> 0) % QUANT.AIM_STEPS) / QUANT.AIM_STEPS) * TAU32);
}

/** Radians to an input aim (0..=65535 for a full turn). */
export function inputAimToWire(radians) {
  return angleToSteps(radians, 65536);
}

/** An input aim to radians in [0, 2π). */
export function inputAimFromWire(aim) {
  return f32(f32(aim / 65536) * TAU32);
}

/** A movement axis in -1..=1 to -127..=127; non-finite is 0. */
export function axisToWire(value) {
  if (!Number.isFinite(value)) return 0;
  return roundHalfAway(f32(clamp(f32(value), -1, 1) * 127)) + 0;
}

/** -127..=127 to -1..=1 (-128 is treated as -127). */
export function axisFromWire(value) {
  return f32(Math.max(value, -127) / 127);
}

// tickwire's wire protocol for JavaScript: the browser core's twin of crates/protocol (the
// envelope, its limits and close codes, and the bincode encoding), generic over a game's schema.
//
// A plain ES module with no dependencies and no build step (browsers and node >= 20). It follows
// docs/PROTOCOL.md. The engine's messages are an envelope; the game fills in its own types
// (setup, input command, stats row, event) through a schema object, the twin of the Rust
// `Schema` trait (see README.md in this directory). `createCodec(schema)` returns the encoders and
// decoders for that game.
//
// Message objects have serde_json's shape of the Rust types, for example
// {Hello: {version, game, schema, name, room, spectate, resume, token, seat}}, {Ping: {nonce}} or
// {Events: {tick, events: [...]}}; a snapshot's body is a Uint8Array; fixed byte arrays
// (Hello.resume, Welcome.resume_token) decode to arrays of numbers and encode from an array or a
// Uint8Array.
//
// Everything that takes a peer's bytes throws a ProtocolError (an Error) on bad input and never
// loops or allocates past the limits below.

/** The protocol version this module speaks (Hello.version). */
export const PROTOCOL_VERSION = 4;

/** Every limit the wire enforces (crates/protocol/src/limits.rs). */
export const LIMITS = Object.freeze({
  CLIENT_MSG_MAX: 1024,
  JSON_CLIENT_MSG_MAX: 4096,
  JSON_SERVER_MSG_MAX: 1024 * 1024,
  SERVER_MSG_MAX: 256 * 1024,
  NAME_MAX: 24,
  GAME_NAME_MAX: 32,
  ROOM_NAME_MAX: 32,
  CHAT_MAX: 200,
  REASON_MAX: 120,
  INPUTS_PER_MSG_MAX: 8,
  VIEW_ENTITIES_MAX: 8192,
  SCORES_MAX: 1024,
  CLIENT_BASELINES: 32,
  BASELINE_AGE_MAX: 255,
  TOKEN_MAX: 256,
  EVENTS_MAX: 256,
  URL_MAX: 256,
});

/** Length of a resume token (Hello.resume, Welcome.resume_token), in bytes. */
export const RESUME_TOKEN_LEN = 16;

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

/** Every close code the server uses: constant, code, short name (as in logs), text for the UI. */
export const CLOSE_CODES = Object.freeze([
  { constant: "NORMAL", code: 1000, name: "normal", message: "You left the game." },
  { constant: "GOING_AWAY", code: 1001, name: "going_away", message: "The server is shutting down. Try again later." },
  { constant: "PROTOCOL_ERROR", code: 1002, name: "protocol_error", message: "The client broke the protocol (a bug, or a version mismatch)." },
  { constant: "UNSUPPORTED_DATA", code: 1003, name: "unsupported_data", message: "The client sent data the server does not accept." },
  { constant: "INVALID_DATA", code: 1007, name: "invalid_data", message: "The client sent data that is not valid (for example a text frame that is not UTF-8)." },
  { constant: "POLICY_VIOLATION", code: 1008, name: "policy_violation", message: "Disconnected for sending too much, too fast." },
  { constant: "MESSAGE_TOO_BIG", code: 1009, name: "message_too_big", message: "The client sent a message larger than allowed." },
  { constant: "INTERNAL_ERROR", code: 1011, name: "internal_error", message: "The server hit an internal error. Not your fault; try again." },
  { constant: "SERVICE_RESTART", code: 1012, name: "service_restart", message: "This game server is restarting. Joining again finds another." },
  { constant: "TRY_AGAIN_LATER", code: 1013, name: "try_again_later", message: "The server is full. Try again later." },
  { constant: "VERSION_MISMATCH", code: 4000, name: "version_mismatch", message: "This client is out of date (protocol version mismatch). Reload the page." },
  { constant: "BAD_HELLO", code: 4001, name: "bad_hello", message: "The server refused the join request (check the name and room name)." },
  { constant: "ROOM_FULL", code: 4002, name: "room_full", message: "That room is full. Pick another room." },
  { constant: "TIMEOUT", code: 4003, name: "timeout", message: "The connection timed out." },
  { constant: "TOO_SLOW", code: 4004, name: "too_slow", message: "The connection could not keep up with the game." },
  { constant: "SESSION_REPLACED", code: 4005, name: "session_replaced", message: "This game was taken over by another tab or device." },
  { constant: "RESUME_FAILED", code: 4006, name: "resume_failed", message: "The earlier session could not be resumed (it expired). Join again." },
  { constant: "AUTH_REQUIRED", code: 4007, name: "auth_required", message: "This server requires signing in (a session token)." },
  { constant: "AUTH_INVALID", code: 4008, name: "auth_invalid", message: "The session token was refused (invalid, or issued for another name)." },
  { constant: "AUTH_EXPIRED", code: 4009, name: "auth_expired", message: "The session token has expired. Sign in again." },
  { constant: "TOKEN_IN_USE", code: 4010, name: "token_in_use", message: "This session token is already in use by another connection." },
  { constant: "GAME_MISMATCH", code: 4011, name: "game_mismatch", message: "This page speaks another game (or another version of it) than the server runs. Reload the page." },
  { constant: "SEAT_INVALID", code: 4012, name: "seat_invalid", message: "The seat from the matchmaker was refused. Join again." },
  { constant: "SEAT_EXPIRED", code: 4013, name: "seat_expired", message: "The seat from the matchmaker expired. Join again." },
  { constant: "REDIRECT", code: 4014, name: "redirect", message: "The game is on another server; following it." },
]);

/** Close codes by constant name, e.g. CLOSE.ROOM_FULL. */
export const CLOSE = Object.freeze(Object.fromEntries(CLOSE_CODES.map((entry) => [entry.constant, entry.code])));

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
// Validation (crates/protocol/src/msg.rs). The helpers are exported for games' validate hooks,
// which throw the same errors as the Rust `Wire::validate` implementations.

const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, as in Rust; ignoreBOM: a leading U+FEFF is kept, not eaten.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Length of a string in bytes of UTF-8 (what every text limit counts). */
export function utf8Length(text) {
  return utf8Encoder.encode(text).length;
}

/** ValidationError::Invalid: "{field} is invalid: {why}". */
export function invalid(field, why) {
  return new ProtocolError("invalid", `${field} is invalid: ${why}`);
}

/** ValidationError::TooLong when `len` is past `max`: "{field} is {len} long, the limit is {max}". */
export function checkLen(field, len, max) {
  if (len > max) throw new ProtocolError("invalid", `${field} is ${len} long, the limit is ${max}`);
}

// Rust's char::is_control is the Cc category; str::trim strips the White_Space property.
const CONTROL = /\p{Cc}/u;
const ONLY_WHITESPACE = /^\p{White_Space}*$/u;
const ROOM_CHARS = /^[A-Za-z0-9_-]+$/;
const GAME_CHARS = /^[a-z0-9_-]+$/;

/** Refuses text with control characters (msg::no_control). */
export function noControl(field, text) {
  if (CONTROL.test(text)) throw invalid(field, "control characters");
}

/** Checks a player name: 1..=24 bytes of UTF-8, no control characters, not only whitespace. */
export function validateName(name) {
  checkLen("name", utf8Length(name), LIMITS.NAME_MAX);
  if (ONLY_WHITESPACE.test(name)) throw invalid("name", "empty");
  noControl("name", name);
}

/** Checks a room name: 1..=32 ASCII letters, digits, '-' and '_'. */
export function validateRoom(room) {
  checkLen("room", utf8Length(room), LIMITS.ROOM_NAME_MAX);
  if (!ROOM_CHARS.test(room)) throw invalid("room", "must be 1-32 of A-Z a-z 0-9 - _");
}

/** Checks a game name: 1..=32 of a-z, 0-9, '-' and '_'. */
export function validateGameName(game) {
  checkLen("game", utf8Length(game), LIMITS.GAME_NAME_MAX);
  if (!GAME_CHARS.test(game)) throw invalid("game", "must be 1-32 of a-z 0-9 - _");
}

// ---------------------------------------------------------------------------------------------
// The bincode 2 "standard" encoding (little endian, varint integers), driven by type shapes.
//
// A type is a string for a primitive, or an array for a compound:
//   "u8" "i8" "u16" "i16" "u32" "i32" "u64" "i64" "f32" "f64" "bool" "string" "bytes" "unit"
//   ["struct", [[field, type], ...]]    an object; fields in wire (declaration) order
//   ["tuple", [type, ...]]              an array of fixed length (a Rust tuple or tuple struct)
//   ["option", type]                    null or the value
//   ["vec", type]                       an array (length-prefixed)
//   ["array", length, type]             a fixed-size array [T; N]
//   ["enum", [[variant, type], ...]]    {Variant: value}; a variant whose type is "unit" is the
//                                       plain string "Variant", as serde_json writes it
// u64 and i64 are numbers and must be safe integers (|value| < 2^53); a peer's larger value is
// refused rather than rounded.

const U16_TAG = 251;
const U32_TAG = 252;
const U64_TAG = 253;

class ByteWriter {
  constructor() {
    this.bytes = new Uint8Array(64);
    this.view = new DataView(this.bytes.buffer);
    this.length = 0;
  }

  reserve(count) {
    if (this.length + count > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + count));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
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

  /** Unsigned varint of a BigInt below 2^64 (u64 and zigzagged i64 fields). */
  varintBig(value) {
    if (value <= 0xffffffffn) {
      this.varint(Number(value));
      return;
    }
    this.byte(U64_TAG);
    this.reserve(8);
    this.view.setBigUint64(this.length, value, true);
    this.length += 8;
  }

  f32(value) {
    this.reserve(4);
    this.view.setFloat32(this.length, value, true);
    this.length += 4;
  }

  f64(value) {
    this.reserve(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
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

/** Zigzag for bincode's signed varints (i16, i32): 0, -1, 1, -2, ... -> 0, 1, 2, 3, ... */
function zigzag32(value) {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

function unzigzag32(value) {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

const INT_RANGES = {
  u8: [0, 0xff],
  i8: [-128, 127],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
  u64: [0, Number.MAX_SAFE_INTEGER],
  i64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

function encodeValue(writer, type, value, path) {
  if (typeof type === "string") {
    const range = INT_RANGES[type];
    if (range !== undefined) {
      checkInt(path, value, range[0], range[1], type);
      if (type === "u8") writer.byte(value);
      else if (type === "i8") writer.byte(value & 0xff);
      else if (type === "u64") writer.varintBig(BigInt(value));
      else if (type === "i64") writer.varintBig(value >= 0 ? BigInt(value) << 1n : (BigInt(-value) << 1n) - 1n);
      else if (type[0] === "u") writer.varint(value);
      else writer.varint(zigzag32(value));
      return;
    }
    switch (type) {
      case "bool":
        if (typeof value !== "boolean") throw encodeError(path, `expected a boolean, got ${value}`);
        writer.byte(value ? 1 : 0);
        return;
      case "f32":
      case "f64":
        if (typeof value !== "number") throw encodeError(path, `expected a number, got ${value}`);
        if (type === "f32") writer.f32(value);
        else writer.f64(value);
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
      case "unit":
        return;
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
    case "tuple":
      if (!Array.isArray(value) || value.length !== type[1].length) {
        throw encodeError(path, `expected an array of exactly ${type[1].length}`);
      }
      type[1].forEach((itemType, index) => encodeValue(writer, itemType, value[index], `${path}[${index}]`));
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
      const [variant, body] = unwrapVariant(value, path);
      const index = type[1].findIndex(([name]) => name === variant);
      if (index < 0) throw encodeError(path, `unknown variant ${variant}`);
      const bodyType = type[1][index][1];
      if (typeof value === "string" && bodyType !== "unit") {
        throw encodeError(path, `variant ${variant} carries a value: write {${variant}: ...}`);
      }
      writer.varint(index);
      encodeValue(writer, bodyType, body, `${path}.${variant}`);
      return;
    }
    default:
      throw new Error(`unknown schema type ${type[0]}`);
  }
}

/** An enum value's variant and body: {Variant: body}, or "Variant" for a unit variant. */
function unwrapVariant(value, path) {
  if (typeof value === "string") return [value, null];
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw encodeError(path, "expected an object with one key (its variant)");
  }
  const keys = Object.keys(value);
  if (keys.length !== 1) throw encodeError(path, `expected exactly one key (its variant), got ${keys.length}`);
  return [keys[0], value[keys[0]]];
}

function malformed(message) {
  return new ProtocolError("malformed", `malformed message: ${message}`);
}

function truncated() {
  return new ProtocolError("incomplete", "message is truncated");
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
    if (this.remaining() < count) throw truncated();
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
      // Only lengths read this way, and no length reaches 2^53 within a message.
      return high * 2 ** 32 + low;
    }
    throw malformed(`invalid varint tag ${tag} for a u${bits}`);
  }

  /** A u64 varint as a BigInt (u64 and zigzagged i64 fields). */
  varintBig() {
    if (this.bytes[this.position] === U64_TAG) {
      this.position += 1;
      this.need(8);
      const value = this.view.getBigUint64(this.position, true);
      this.position += 8;
      return value;
    }
    return BigInt(this.varint(64));
  }

  /** A collection length: a u64 varint that must fit in the bytes left. */
  length(minItemBytes) {
    const len = this.varint(64);
    if (len * minItemBytes > this.remaining()) throw truncated();
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
      case "i16":
        return unzigzag32(reader.varint(16));
      case "i32":
        return unzigzag32(reader.varint(32));
      case "u64":
      case "i64": {
        const wide = reader.varintBig();
        const value = type === "u64" ? wide : wide & 1n ? -(wide >> 1n) - 1n : wide >> 1n;
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw malformed(`a ${type} past 2^53 (not representable as a JavaScript number)`);
        }
        return Number(value);
      }
      case "bool": {
        const byte = reader.byte();
        if (byte > 1) throw malformed(`invalid boolean value ${byte}`);
        return byte === 1;
      }
      case "f32": {
        reader.need(4);
        const value = reader.view.getFloat32(reader.position, true);
        reader.position += 4;
        return value;
      }
      case "f64": {
        reader.need(8);
        const value = reader.view.getFloat64(reader.position, true);
        reader.position += 8;
        return value;
      }
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
      case "unit":
        return null;
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
    case "tuple":
      return type[1].map((itemType) => decodeValue(reader, itemType));
    case "option": {
      const tag = reader.byte();
      if (tag === 0) return null;
      if (tag === 1) return decodeValue(reader, type[1]);
      throw malformed(`invalid Option tag ${tag}`);
    }
    case "vec": {
      // Every item takes at least one byte (a zero-sized item type is not allowed in a vec
      // here), so a length past the bytes left is rejected before anything is allocated.
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
      return body === "unit" ? name : { [name]: decodeValue(reader, body) };
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

/** Encodes one value of `type` on its own (for tests and tools). */
export function encodeValueBytes(type, value) {
  const writer = new ByteWriter();
  encodeValue(writer, type, value, "value");
  return writer.finish();
}

/** Decodes one value of `type` that must fill `bytes` exactly (for tests and tools). */
export function decodeValueBytes(type, bytes) {
  const reader = new ByteReader(toBytes(bytes));
  const value = decodeValue(reader, type);
  if (reader.remaining() > 0) {
    throw new ProtocolError("trailing", `${reader.remaining()} trailing bytes after the message`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// The envelope (crates/protocol/src/msg.rs): field order is wire order.

function unwrapMessage(msg) {
  if (msg === null || typeof msg !== "object") {
    throw new ProtocolError("encode", "a message is an object like {Ping: {nonce: 1}}");
  }
  const keys = Object.keys(msg);
  if (keys.length !== 1) {
    throw new ProtocolError("encode", `a message has exactly one key (its variant), got ${keys.length}`);
  }
  return [keys[0], msg[keys[0]]];
}

const RESUME_TOKEN = ["array", RESUME_TOKEN_LEN, "u8"];

/** Runs a Wire's validate hook, if it has one. */
function validateWire(wire, value) {
  if (typeof wire.validate === "function") wire.validate(value);
}

/**
 * The codec for one game: encoders, decoders and validators of the engine's envelope with the
 * game's types inside. `schema` is the game's schema object (README.md: `schema`); only its
 * `setup`, `input`, `stats` and `event` parts are used here.
 */
export function createCodec(schema) {
  const clientVariants = [
    ["Hello", ["struct", [
      ["version", "u16"],
      ["game", "string"],
      ["schema", "u16"],
      ["name", "string"],
      ["room", ["option", "string"]],
      ["spectate", "bool"],
      ["resume", ["option", RESUME_TOKEN]],
      ["token", ["option", "string"]],
      ["seat", ["option", "string"]],
    ]]],
    ["Input", ["struct", [["ack_tick", "u32"], ["first_seq", "u32"], ["cmds", ["vec", schema.input.type]]]]],
    ["Chat", ["struct", [["text", "string"]]]],
    ["Ping", ["struct", [["nonce", "u32"]]]],
  ];
  const serverVariants = [
    ["Welcome", ["struct", [
      ["version", "u16"],
      ["player", "u32"],
      ["entity", "u32"],
      ["room", "string"],
      ["tick_rate", "u16"],
      ["snapshot_interval", "u8"],
      ["tick", "u32"],
      ["setup", schema.setup.type],
      ["resume_token", RESUME_TOKEN],
      ["resumed", "bool"],
    ]]],
    ["Snapshot", ["struct", [
      ["tick", "u32"],
      ["baseline_age", "u8"],
      ["last_input", "u32"],
      ["checksum", "u32"],
      ["scores", ["vec", schema.stats.type]],
      ["scores_removed", ["vec", "u32"]],
      ["body", "bytes"],
    ]]],
    ["Chat", ["struct", [["from", "u32"], ["name", "string"], ["text", "string"]]]],
    ["Events", ["struct", [["tick", "u32"], ["events", ["vec", schema.event.type]]]]],
    ["Pong", ["struct", [["nonce", "u32"], ["tick", "u32"]]]],
    ["Error", ["struct", [["code", "u16"], ["reason", "string"]]]],
    ["Redirect", ["struct", [["url", "string"], ["room", "string"], ["seat", "string"]]]],
  ];

  /** Checks every limit and value rule of a client message (as ClientMsg::validate). */
  function validateClient(msg) {
    const [variant, body] = unwrapMessage(msg);
    switch (variant) {
      case "Hello":
        validateGameName(body.game);
        validateName(body.name);
        if (body.room !== null && body.room !== undefined) validateRoom(body.room);
        if (body.token !== null && body.token !== undefined) {
          checkLen("token", utf8Length(body.token), LIMITS.TOKEN_MAX);
        }
        if (body.seat !== null && body.seat !== undefined) {
          checkLen("seat", utf8Length(body.seat), LIMITS.TOKEN_MAX);
        }
        return;
      case "Input":
        checkLen("cmds", body.cmds.length, LIMITS.INPUTS_PER_MSG_MAX);
        if (body.cmds.length > 0 && body.first_seq === 0) throw invalid("first_seq", "sequence numbers start at 1");
        if (body.first_seq + body.cmds.length > 0xffffffff) throw invalid("first_seq", "sequence overflows");
        for (const cmd of body.cmds) validateWire(schema.input, cmd);
        return;
      case "Chat":
        checkLen("text", utf8Length(body.text), LIMITS.CHAT_MAX);
        noControl("text", body.text);
        return;
      case "Ping":
        return;
      default:
        throw new ProtocolError("encode", `unknown client message ${variant}`);
    }
  }

  /** Checks every limit of a server message (as ServerMsg::validate). */
  function validateServer(msg) {
    const [variant, body] = unwrapMessage(msg);
    switch (variant) {
      case "Welcome":
        validateRoom(body.room);
        if (body.tick_rate === 0) throw invalid("tick_rate", "zero");
        if (body.snapshot_interval === 0) throw invalid("snapshot_interval", "zero");
        validateWire(schema.setup, body.setup);
        return;
      case "Snapshot":
        checkLen("scores", body.scores.length, LIMITS.SCORES_MAX);
        checkLen("scores_removed", body.scores_removed.length, LIMITS.SCORES_MAX);
        for (const row of body.scores) validateWire(schema.stats, row);
        return;
      case "Chat":
        checkLen("name", utf8Length(body.name), LIMITS.NAME_MAX);
        noControl("name", body.name);
        checkLen("text", utf8Length(body.text), LIMITS.CHAT_MAX);
        noControl("text", body.text);
        return;
      case "Events":
        checkLen("events", body.events.length, LIMITS.EVENTS_MAX);
        for (const event of body.events) validateWire(schema.event, event);
        return;
      case "Pong":
        return;
      case "Error":
        checkLen("reason", utf8Length(body.reason), LIMITS.REASON_MAX);
        return;
      case "Redirect":
        checkLen("url", utf8Length(body.url), LIMITS.URL_MAX);
        noControl("url", body.url);
        validateRoom(body.room);
        checkLen("seat", utf8Length(body.seat), LIMITS.TOKEN_MAX);
        return;
      default:
        throw new ProtocolError("encode", `unknown server message ${variant}`);
    }
  }

  function encodeMessage(variants, msg) {
    const [variant, body] = unwrapMessage(msg);
    const index = variants.findIndex(([name]) => name === variant);
    if (index < 0) throw new ProtocolError("encode", `unknown message variant ${variant}`);
    const writer = new ByteWriter();
    writer.varint(index);
    encodeValue(writer, variants[index][1], body, variant);
    return writer.finish();
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

  return Object.freeze({
    schema,
    validateClient,
    validateServer,

    /** A Hello for this game with everything optional left out (as Hello::new). */
    hello(name, extra = {}) {
      return {
        Hello: {
          version: PROTOCOL_VERSION,
          game: schema.name,
          schema: schema.version,
          name,
          room: null,
          spectate: false,
          resume: null,
          token: null,
          seat: null,
          ...extra,
        },
      };
    },

    /**
     * Encodes a client message to the bytes of one binary WebSocket frame. Validates it first
     * (the server would refuse an invalid one) unless `options.validate` is false.
     */
    encodeClient(msg, options = {}) {
      const bytes = encodeMessage(clientVariants, msg);
      if (options.validate !== false) validateClient(msg);
      return bytes;
    },

    /** Decodes and validates one client message from a whole frame (what the server does). */
    decodeClient(bytes) {
      return decodeMessage(clientVariants, bytes, LIMITS.CLIENT_MSG_MAX, validateClient);
    },

    /** Encodes a server message (for tests and tools); validates it unless `options.validate` is false. */
    encodeServer(msg, options = {}) {
      const bytes = encodeMessage(serverVariants, msg);
      if (options.validate !== false) validateServer(msg);
      return bytes;
    },

    /** Decodes and validates one server message from a whole frame (Uint8Array or ArrayBuffer). */
    decodeServer(bytes) {
      return decodeMessage(serverVariants, bytes, LIMITS.SERVER_MSG_MAX, validateServer);
    },
  });
}

export { toBytes };

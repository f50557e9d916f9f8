// The core's constants against the Rust definitions, which crates/protocol/tests/web_twins.rs
// writes into crates/protocol/tests/twins/constants.json: the protocol version, every limit,
// every close code and its name, the quantization constants and functions, the resume token
// length and the replica's history size. Run: node --test assets/web/*.test.mjs
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { BitWriter } from "./bits.js";
import { CLOSE, CLOSE_CODES, LIMITS, PROTOCOL_VERSION, RESUME_TOKEN_LEN, closeMessage, closeName } from "./protocol.js";
import * as quant from "./quant.js";
import { HISTORY_MAX, Replica } from "./replica.js";

const rust = JSON.parse(
  readFileSync(new URL("../../crates/protocol/tests/twins/constants.json", import.meta.url), "utf8"),
);

/** An f32 from its bits, and the bits of a number rounded to f32. */
const bitsView = new DataView(new ArrayBuffer(4));
function fromBits(bits) {
  bitsView.setUint32(0, bits);
  return bitsView.getFloat32(0);
}
function toBits(value) {
  bitsView.setFloat32(0, value);
  return bitsView.getUint32(0);
}

test("protocol version and resume token length", () => {
  assert.equal(PROTOCOL_VERSION, rust.protocol_version);
  assert.equal(RESUME_TOKEN_LEN, rust.resume_token_len);
});

test("every limit, both ways", () => {
  assert.deepEqual({ ...LIMITS }, rust.limits);
});

test("every close code with its name, both ways", () => {
  assert.deepEqual(
    CLOSE_CODES.map(({ constant, code, name }) => ({ constant, code, name })),
    rust.close_codes,
  );
  for (const { constant, code, name } of rust.close_codes) {
    assert.equal(CLOSE[constant], code);
    assert.equal(closeName(code), name);
    assert.ok(closeMessage(code).length > 0 && !closeMessage(code).includes(String(code)), name);
  }
  assert.equal(closeName(4999), "other");
  assert.match(closeMessage(4999), /4999/);
});

test("quantization constants", () => {
  assert.deepEqual({ ...quant.QUANT }, rust.quant);
});

test("quantization functions give the Rust answers bit for bit", () => {
  const samples = rust.quant_samples;
  const check = (name, rows, run) => {
    assert.ok(rows.length > 10, name);
    for (const row of rows) {
      const expected = row[row.length - 1];
      const actual = run(...row.slice(0, -1));
      assert.equal(actual, expected, `${name}(${row.slice(0, -1).join(", ")})`);
    }
  };
  check("pos_to_wire", samples.pos_to_wire, (meters) => quant.posToWire(fromBits(meters)));
  check("pos_from_wire", samples.pos_from_wire, (units) => toBits(quant.posFromWire(units)));
  check("vel_to_wire", samples.vel_to_wire, (v, dt) => quant.velToWire(fromBits(v), fromBits(dt)));
  check("vel_from_wire", samples.vel_from_wire, (v, dt) => toBits(quant.velFromWire(v, fromBits(dt))));
  check("aim_to_wire", samples.aim_to_wire, (radians) => quant.aimToWire(fromBits(radians)));
  check("aim_from_wire", samples.aim_from_wire, (steps) => toBits(quant.aimFromWire(steps)));
  check("input_aim_to_wire", samples.input_aim_to_wire, (radians) => quant.inputAimToWire(fromBits(radians)));
  check("input_aim_from_wire", samples.input_aim_from_wire, (aim) => toBits(quant.inputAimFromWire(aim)));
  check("axis_to_wire", samples.axis_to_wire, (value) => quant.axisToWire(fromBits(value)));
  check("axis_from_wire", samples.axis_from_wire, (axis) => toBits(quant.axisFromWire(axis)));
});

test("the replica holds the newest snapshot and CLIENT_BASELINES before it", () => {
  assert.equal(HISTORY_MAX, rust.limits.CLIENT_BASELINES + 1);
  // A record that is only an id; every snapshot is a full one, so nothing is pruned as unused.
  const schema = {
    record: {
      writeFull() {},
      readFull: (id) => ({ id }),
      changes: () => 0,
      writeChanges() {},
      readChanges: (base) => base,
      isValid: (record) => record.id !== 0,
      checksum: (record, sum) => sum.word(record.id),
    },
    stats: {},
  };
  const empty = new BitWriter();
  for (const count of [0, 0, 0]) empty.writeGolomb(count, 0);
  const replica = new Replica(schema);
  for (let tick = 1; tick <= 100; tick++) {
    replica.handleSnapshot({ tick, baseline_age: 0, last_input: 0, checksum: 0x811c9dc5, scores: [], scores_removed: [], body: empty.toBytes() });
    assert.ok(replica.held() <= rust.limits.CLIENT_BASELINES + 1);
  }
  assert.equal(replica.held(), rust.limits.CLIENT_BASELINES + 1);
});

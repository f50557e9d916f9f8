// Bit I/O (crates/protocol/src/bits.rs): LSB-first; bit i of the stream is bit i % 8 of byte
// i / 8. Snapshot bodies are written with these; a game's record codec reads and writes its
// fields through them (README.md: `schema.record`).

import { ProtocolError, toBytes } from "./protocol.js";

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

  /** A signed value (i32 range) as the exp-Golomb code of its zigzag. */
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

  /** Reads a signed value written by writeSignedGolomb (i32 range). */
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

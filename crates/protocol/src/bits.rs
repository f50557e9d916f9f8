//! Bit-level packing for snapshot bodies: fixed-width fields and exp-Golomb codes, LSB-first.
//!
//! Bits are written least significant first into bytes filled from their lowest bit (bit `i` of the
//! stream is bit `i % 8` of byte `i / 8`). The last byte is zero-padded.

/// Appends bits to a reusable byte buffer.
///
/// Bits collect in a 64-bit word and move to the buffer 32 at a time, so most writes touch no
/// memory. [`BitWriter::as_bytes`] moves out what is left (the last byte zero-padded); writing
/// after it simply carries on.
#[derive(Debug, Default, Clone)]
pub struct BitWriter {
    /// Whole 32-bit groups written, plus (while `tail` is set) the pending bits' bytes.
    bytes: Vec<u8>,
    /// Pending bits, the oldest in bit 0; fewer than 32 between calls.
    pending: u64,
    /// Number of pending bits.
    pending_bits: u32,
    /// Bytes of `pending` that `as_bytes` appended to `bytes` and the next write takes back.
    tail: usize,
}

impl BitWriter {
    /// Empties the writer, keeping its allocation.
    #[inline]
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.pending = 0;
        self.pending_bits = 0;
        self.tail = 0;
    }

    /// The bytes written so far (the last one zero-padded).
    pub fn as_bytes(&mut self) -> &[u8] {
        if self.tail == 0 && self.pending_bits > 0 {
            self.tail = self.pending_bits.div_ceil(8) as usize;
            self.bytes
                .extend_from_slice(&self.pending.to_le_bytes()[..self.tail]);
        }
        &self.bytes
    }

    /// Number of bits written.
    #[inline]
    pub fn bit_len(&self) -> usize {
        (self.bytes.len() - self.tail) * 8 + self.pending_bits as usize
    }

    /// Writes the low `count` bits of `value` (count <= 32).
    #[inline]
    pub fn write(&mut self, value: u32, count: u32) {
        debug_assert!(count <= 32);
        if self.tail > 0 {
            self.bytes.truncate(self.bytes.len() - self.tail);
            self.tail = 0;
        }
        let value = (value as u64) & ((1u64 << count) - 1);
        // pending_bits < 32 and count <= 32: the sum fits the word.
        self.pending |= value << self.pending_bits;
        self.pending_bits += count;
        if self.pending_bits >= 32 {
            self.bytes
                .extend_from_slice(&(self.pending as u32).to_le_bytes());
            self.pending >>= 32;
            self.pending_bits -= 32;
        }
    }

    /// Writes one bit.
    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        self.write(bit as u32, 1);
    }

    /// Writes `value` as an order-`k` exp-Golomb code: `z` zero bits, then a one bit, then the
    /// low `z + k` bits of `value + 2^k`, where `z + k + 1` is the bit length of `value + 2^k`.
    /// Zero costs `k + 1` bits.
    #[inline]
    pub fn write_golomb(&mut self, value: u32, k: u32) {
        let shifted = value as u64 + (1u64 << k);
        let bit_len = 64 - shifted.leading_zeros();
        let zeros = bit_len - k - 1;
        // Most codes are short: write the whole code (zeros, the one bit, then the suffix, all
        // LSB-first) in one call.
        let total = zeros + bit_len;
        if total <= 32 {
            let suffix = shifted & ((1u64 << (bit_len - 1)) - 1);
            let code = (1u64 << zeros) | (suffix << (zeros + 1));
            self.write(code as u32, total);
            return;
        }
        // Prefix: `zeros` zero bits then a one bit.
        let mut prefix = zeros;
        while prefix >= 32 {
            self.write(0, 32);
            prefix -= 32;
        }
        self.write(1 << prefix, prefix + 1);
        // Suffix: the remaining bit_len - 1 bits below the leading one.
        let suffix_len = bit_len - 1;
        let suffix = shifted & ((1u64 << suffix_len) - 1);
        if suffix_len > 32 {
            self.write(suffix as u32, 32);
            self.write((suffix >> 32) as u32, suffix_len - 32);
        } else {
            self.write(suffix as u32, suffix_len);
        }
    }

    /// Writes a signed value as zigzag (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...) exp-Golomb.
    #[inline]
    pub fn write_signed_golomb(&mut self, value: i32, k: u32) {
        self.write_golomb(zigzag(value), k);
    }
}

/// Reads bits written by [`BitWriter`]; every read is bounds-checked.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

/// The bit stream ended before a field was complete, or a code was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bit stream ended or held a malformed code at bit {position}")]
pub struct BitsError {
    /// Bit offset where reading failed.
    pub position: usize,
}

impl<'a> BitReader<'a> {
    /// A reader over `bytes`, starting at bit 0.
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, position: 0 }
    }

    /// Bits not yet read (including padding).
    #[inline]
    pub fn remaining(&self) -> usize {
        self.bytes.len() * 8 - self.position
    }

    /// Bits read so far.
    #[inline]
    pub fn position(&self) -> usize {
        self.position
    }

    /// Reads `count` bits (count <= 32).
    #[inline]
    pub fn read(&mut self, count: u32) -> Result<u32, BitsError> {
        debug_assert!(count <= 32);
        if self.remaining() < count as usize {
            return Err(BitsError {
                position: self.position,
            });
        }
        let mut value: u64 = 0;
        let mut got = 0;
        while got < count {
            let byte = self.bytes[self.position / 8];
            let offset = (self.position % 8) as u32;
            let take = (8 - offset).min(count - got);
            let bits = (byte >> offset) as u64 & ((1 << take) - 1);
            value |= bits << got;
            got += take;
            self.position += take as usize;
        }
        Ok(value as u32)
    }

    /// Reads one bit.
    #[inline]
    pub fn read_bit(&mut self) -> Result<bool, BitsError> {
        Ok(self.read(1)? == 1)
    }

    /// Reads an order-`k` exp-Golomb code whose value must fit in a u32.
    #[inline]
    pub fn read_golomb(&mut self, k: u32) -> Result<u32, BitsError> {
        let start = self.position;
        let mut zeros = 0u32;
        while !self.read_bit()? {
            zeros += 1;
            // A u32 value plus 2^k has at most 33 bits: anything longer is malformed.
            if zeros + k > 32 {
                return Err(BitsError { position: start });
            }
        }
        let suffix_len = zeros + k;
        let suffix = if suffix_len > 32 {
            let low = self.read(32)? as u64;
            low | ((self.read(suffix_len - 32)? as u64) << 32)
        } else {
            self.read(suffix_len)? as u64
        };
        let shifted = (1u64 << suffix_len) | suffix;
        let value = shifted - (1u64 << k);
        u32::try_from(value).map_err(|_| BitsError { position: start })
    }

    /// Reads a zigzag exp-Golomb signed value.
    #[inline]
    pub fn read_signed_golomb(&mut self, k: u32) -> Result<i32, BitsError> {
        Ok(unzigzag(self.read_golomb(k)?))
    }
}

/// Maps signed to unsigned so small magnitudes get small codes: 0, -1, 1, -2 -> 0, 1, 2, 3.
#[inline]
pub fn zigzag(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

/// Inverse of [`zigzag`].
#[inline]
pub fn unzigzag(value: u32) -> i32 {
    ((value >> 1) as i32) ^ -((value & 1) as i32)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn golomb_sizes() {
        let mut writer = BitWriter::default();
        writer.write_golomb(0, 0);
        assert_eq!(writer.bit_len(), 1);
        writer.clear();
        writer.write_golomb(1, 0);
        assert_eq!(writer.bit_len(), 3);
        writer.clear();
        writer.write_golomb(u32::MAX, 0);
        assert_eq!(writer.bit_len(), 65);
    }

    proptest! {
        #[test]
        fn roundtrip(fields in proptest::collection::vec((any::<u32>(), 0u32..=32, any::<i32>(), 0u32..8), 0..64)) {
            let mut writer = BitWriter::default();
            for &(value, count, signed, k) in &fields {
                writer.write(value, count);
                writer.write_golomb(value, k);
                writer.write_signed_golomb(signed, k);
            }
            let mut reader = BitReader::new(writer.as_bytes());
            for &(value, count, signed, k) in &fields {
                let mask = if count == 32 { u32::MAX } else { (1u32 << count) - 1 };
                prop_assert_eq!(reader.read(count).unwrap(), value & mask);
                prop_assert_eq!(reader.read_golomb(k).unwrap(), value);
                prop_assert_eq!(reader.read_signed_golomb(k).unwrap(), signed);
            }
            prop_assert!(reader.remaining() < 8);
        }

        /// The bytes are exactly the documented layout: bit `i` of the stream is bit `i % 8` of
        /// byte `i / 8`, each value least significant bit first, the last byte zero-padded
        /// (checked against a one-bit-at-a-time reference).
        #[test]
        fn bytes_follow_the_documented_layout(fields in proptest::collection::vec((any::<u32>(), 0u32..=32), 0..64)) {
            let mut writer = BitWriter::default();
            let mut reference = Vec::new();
            let mut bit = 0usize;
            for &(value, count) in &fields {
                writer.write(value, count);
                for index in 0..count {
                    if bit.is_multiple_of(8) {
                        reference.push(0u8);
                    }
                    reference[bit / 8] |= (((value >> index) & 1) as u8) << (bit % 8);
                    bit += 1;
                }
            }
            prop_assert_eq!(writer.bit_len(), bit);
            prop_assert_eq!(writer.as_bytes(), &reference[..]);
        }

        /// Reading the bytes midway changes nothing: writing carries on where it was.
        #[test]
        fn as_bytes_midway_is_transparent(fields in proptest::collection::vec((any::<u32>(), 0u32..=32, any::<bool>()), 0..64)) {
            let mut plain = BitWriter::default();
            let mut peeked = BitWriter::default();
            for &(value, count, peek) in &fields {
                plain.write(value, count);
                peeked.write(value, count);
                if peek {
                    let bytes = peeked.as_bytes().len();
                    prop_assert_eq!(bytes, peeked.bit_len().div_ceil(8));
                }
                prop_assert_eq!(plain.bit_len(), peeked.bit_len());
            }
            prop_assert_eq!(plain.as_bytes(), peeked.as_bytes());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), k in 0u32..8) {
            let mut reader = BitReader::new(&bytes);
            while reader.read_golomb(k).is_ok() {}
        }
    }
}

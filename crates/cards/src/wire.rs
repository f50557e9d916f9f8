//! The card game's wire types: its [`Schema`] ([`Cards`]), the record snapshots carry
//! ([`CardRecord`]: the table, the piles, and the cards in hands), the command ([`CardsInput`]),
//! the setup ([`CardsSetup`]), the stats row ([`CardsStats`]) and the events ([`CardsEvent`]).
//! docs/protocol/cards.md, docs/PROTOCOL.md's cards appendix, gives every bit.

use serde::{Deserialize, Serialize};
use tickwire_protocol::bits::{BitReader, BitWriter};
use tickwire_protocol::{
    Checksum, Command, DeltaError, Record, Schema, StatsRow, ValidationError, Wire, check_len,
    limits, no_control,
};

/// The card game's wire vocabulary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cards;

impl Schema for Cards {
    const NAME: &'static str = "cards";
    const VERSION: u16 = 1;
    type Setup = CardsSetup;
    type Input = CardsInput;
    type Record = CardRecord;
    type Stats = CardsStats;
    type Event = CardsEvent;
}

/// Record kinds.
pub mod kind {
    /// The table: the round's phase and when it ends (one per room, everyone sees it).
    pub const TABLE: u8 = 0;
    /// A shared pile: its top card and how many cards it holds (everyone sees them).
    pub const PILE: u8 = 1;
    /// A card in a player's hand: only that player ever receives it.
    pub const HAND: u8 = 2;
    /// Highest valid kind code.
    pub const MAX: u8 = HAND;
}

/// The table's phases (its record's `slot`).
pub mod phase {
    /// Fewer than two players: waiting for another.
    pub const WAITING: u8 = 0;
    /// A round starts at the table's `count` tick.
    pub const COUNTDOWN: u8 = 1;
    /// Cards are being played.
    pub const PLAYING: u8 = 2;
    /// The round is over; the next countdown starts at the table's `count` tick.
    pub const BREAK: u8 = 3;
}

/// Why a play was refused ([`CardsEvent::Refused`]).
pub mod refusal {
    /// No card with that id is in the player's hand (already played, or never dealt).
    pub const NOT_IN_HAND: u8 = 1;
    /// No round is being played, or the player is waiting for the next round.
    pub const NOT_PLAYING: u8 = 2;
    /// There is no such pile.
    pub const NO_SUCH_PILE: u8 = 3;
    /// The card's rank is not one above or below the pile's top (another player was first).
    pub const NOT_ADJACENT: u8 = 4;
}

/// Ranks run 1 (ace) to 13 (king); a pile's top of rank 0 means the pile is empty.
pub const RANK_MAX: u8 = 13;
/// Suits run 0 to 3.
pub const SUIT_MAX: u8 = 3;
/// Most slots a record's `slot` names (piles, hand positions, phases).
pub const SLOT_MAX: u8 = 7;

const KIND_BITS: u32 = 2;
const SLOT_BITS: u32 = 3;
const RANK_BITS: u32 = 4;
const SUIT_BITS: u32 = 2;
const MASK_BITS: u32 = 3;
const MASK_SLOT: u32 = 1;
const MASK_CARD: u32 = 2;
const MASK_COUNT: u32 = 4;
const K_COUNT: u32 = 3;
const K_COUNT_CHANGE: u32 = 1;

/// One entity of the card table as the wire sees it.
///
/// - table (`kind` 0): `slot` = phase (see [`phase`]), `count` = the tick the phase ends (0 when
///   it has no end); rank and suit 0.
/// - pile (`kind` 1): `slot` = pile index, `rank`/`suit` = its top card (rank 0: empty),
///   `count` = cards in the pile.
/// - hand card (`kind` 2): `slot` = its position in the hand, `rank`/`suit` = the card, `count`
///   0. Sent only to the hand's owner; its id is a fresh number each time a card is drawn, so it
///   tells nothing about the card.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CardRecord {
    /// Network id (never 0).
    pub id: u32,
    /// Kind code from [`kind`].
    pub kind: u8,
    /// Phase, pile index or hand position, 0..=[`SLOT_MAX`].
    pub slot: u8,
    /// 0..=[`RANK_MAX`].
    pub rank: u8,
    /// 0..=[`SUIT_MAX`].
    pub suit: u8,
    /// A tick (table) or a number of cards (pile).
    pub count: u32,
}

impl Record for CardRecord {
    #[inline]
    fn id(&self) -> u32 {
        self.id
    }

    #[inline]
    fn continues(&self, base: &Self) -> bool {
        self.kind == base.kind
    }

    #[inline]
    fn write_full(&self, out: &mut BitWriter) {
        out.write(self.kind as u32, KIND_BITS);
        out.write(self.slot as u32, SLOT_BITS);
        out.write(self.rank as u32, RANK_BITS);
        out.write(self.suit as u32, SUIT_BITS);
        out.write_golomb(self.count, K_COUNT);
    }

    #[inline]
    fn read_full(id: u32, input: &mut BitReader<'_>) -> Result<Self, DeltaError> {
        Ok(CardRecord {
            id,
            kind: input.read(KIND_BITS)? as u8,
            slot: input.read(SLOT_BITS)? as u8,
            rank: input.read(RANK_BITS)? as u8,
            suit: input.read(SUIT_BITS)? as u8,
            count: input.read_golomb(K_COUNT)?,
        })
    }

    #[inline]
    fn changes(&self, base: &Self, _elapsed: u32) -> u32 {
        let mut mask = 0;
        if self.slot != base.slot {
            mask |= MASK_SLOT;
        }
        if (self.rank, self.suit) != (base.rank, base.suit) {
            mask |= MASK_CARD;
        }
        if self.count != base.count {
            mask |= MASK_COUNT;
        }
        mask
    }

    #[inline]
    fn write_changes(&self, base: &Self, _elapsed: u32, mask: u32, out: &mut BitWriter) {
        out.write(mask, MASK_BITS);
        if mask & MASK_SLOT != 0 {
            out.write(self.slot as u32, SLOT_BITS);
        }
        if mask & MASK_CARD != 0 {
            out.write(self.rank as u32, RANK_BITS);
            out.write(self.suit as u32, SUIT_BITS);
        }
        if mask & MASK_COUNT != 0 {
            // The difference modulo 2^32, as a signed number: a pile grows or shrinks by one.
            out.write_signed_golomb(self.count.wrapping_sub(base.count) as i32, K_COUNT_CHANGE);
        }
    }

    #[inline]
    fn read_changes(
        base: &Self,
        _elapsed: u32,
        input: &mut BitReader<'_>,
    ) -> Result<Self, DeltaError> {
        let mut next = *base;
        let mask = input.read(MASK_BITS)?;
        if mask & MASK_SLOT != 0 {
            next.slot = input.read(SLOT_BITS)? as u8;
        }
        if mask & MASK_CARD != 0 {
            next.rank = input.read(RANK_BITS)? as u8;
            next.suit = input.read(SUIT_BITS)? as u8;
        }
        if mask & MASK_COUNT != 0 {
            next.count = base
                .count
                .wrapping_add(input.read_signed_golomb(K_COUNT_CHANGE)? as u32);
        }
        if next.is_valid() {
            Ok(next)
        } else {
            Err(DeltaError::Range(base.id))
        }
    }

    #[inline]
    fn is_valid(&self) -> bool {
        self.id != 0
            && self.kind <= kind::MAX
            && self.slot <= SLOT_MAX
            && self.rank <= RANK_MAX
            && self.suit <= SUIT_MAX
            && (self.kind != kind::HAND || self.rank >= 1)
    }

    /// Three words: id, `kind | slot << 8 | rank << 16 | suit << 24`, count.
    #[inline]
    fn checksum(&self, sum: &mut Checksum) {
        sum.word(self.id);
        sum.word(
            self.kind as u32
                | (self.slot as u32) << 8
                | (self.rank as u32) << 16
                | (self.suit as u32) << 24,
        );
        sum.word(self.count);
    }
}

/// A player's command for one tick: play one card of its hand onto a pile, or nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardsInput {
    /// The id of a hand card record to play (0: no play this tick).
    pub card: u32,
    /// The pile to play it on.
    pub pile: u8,
}

impl Wire for CardsInput {}

impl Command for CardsInput {}

/// What a client needs to know before the first snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardsSetup {
    /// Shared piles (1..=4).
    pub piles: u8,
    /// Cards in a full hand (1..=8).
    pub hand_size: u8,
    /// Players a room seats at most.
    pub max_players: u8,
    /// Ticks without any possible play before every pile gets a fresh card.
    pub stall_ticks: u16,
}

impl Wire for CardsSetup {
    fn validate(&self) -> Result<(), ValidationError> {
        if !(1..=4).contains(&self.piles) || !(1..=8).contains(&self.hand_size) {
            return Err(ValidationError::Invalid {
                field: "setup",
                why: "piles must be 1-4 and hand_size 1-8",
            });
        }
        Ok(())
    }
}

/// One player's row of the table: public counts only (never the cards themselves).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardsStats {
    /// Player id.
    pub player: u32,
    /// Display name.
    pub name: String,
    /// Cards in hand.
    pub hand: u8,
    /// Cards left in the player's draw pile.
    pub draw: u8,
    /// Whether the player is dealt into the current round (false while waiting for the next).
    pub in_round: bool,
    /// Cards played since joining.
    pub played: u32,
    /// Rounds won.
    pub rounds_won: u32,
}

impl Wire for CardsStats {
    fn validate(&self) -> Result<(), ValidationError> {
        check_len("scores.name", self.name.len(), limits::NAME_MAX)?;
        no_control("scores.name", &self.name)
    }
}

impl StatsRow for CardsStats {
    fn player(&self) -> u32 {
        self.player
    }

    /// Rounds won: the leaderboard ranks by them.
    fn score(&self) -> i64 {
        i64::from(self.rounds_won)
    }

    fn assign(&mut self, from: &Self) {
        self.player = from.player;
        self.name.clone_from(&from.name);
        self.hand = from.hand;
        self.draw = from.draw;
        self.in_round = from.in_round;
        self.played = from.played;
        self.rounds_won = from.rounds_won;
    }
}

/// Something that happened at the table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CardsEvent {
    /// A round began: every player in it was dealt a hand and a draw pile. Everyone hears it.
    RoundStarted {
        /// Rounds started in this room, this one included.
        round: u32,
    },
    /// A card landed on a pile. Everyone hears it (the card is now face up on the pile).
    Played {
        /// Who played it.
        player: u32,
        /// Onto which pile.
        pile: u8,
        /// The card's rank.
        rank: u8,
        /// The card's suit.
        suit: u8,
    },
    /// A play was refused. Only the player who tried hears it.
    Refused {
        /// The hand card id it named.
        card: u32,
        /// The pile it named.
        pile: u8,
        /// Why, from [`refusal`].
        reason: u8,
    },
    /// Nobody could play for a while: every pile got a fresh card from the reserve.
    Flipped,
    /// The round is over.
    RoundEnded {
        /// The player who emptied hand and draw pile first (0: nobody; the round ended because
        /// players left).
        winner: u32,
    },
}

impl Wire for CardsEvent {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tickwire_protocol::delta;

    use super::*;

    fn arb_record(id: u32) -> impl Strategy<Value = CardRecord> {
        (
            0..=kind::MAX,
            0..=SLOT_MAX,
            1..=RANK_MAX,
            0..=SUIT_MAX,
            any::<u32>(),
        )
            .prop_map(move |(kind, slot, rank, suit, count)| CardRecord {
                id,
                kind,
                slot,
                rank,
                suit,
                count,
            })
    }

    fn arb_view() -> impl Strategy<Value = Vec<CardRecord>> {
        proptest::collection::btree_set(1u32..200, 0..30)
            .prop_flat_map(|ids| ids.into_iter().map(arb_record).collect::<Vec<_>>())
    }

    proptest! {
        #[test]
        fn any_view_roundtrips_against_any_baseline(base in arb_view(), cur in arb_view()) {
            let mut bits = BitWriter::default();
            delta::encode(&base, &cur, 1, &mut bits);
            let mut out = Vec::new();
            delta::decode(&base, 1, bits.as_bytes(), &mut out).expect("decodes");
            prop_assert_eq!(out, cur);
        }

        #[test]
        fn garbage_never_panics(base in arb_view(), body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            if delta::decode(&base, 1, &body, &mut out).is_ok() {
                prop_assert!(out.iter().all(CardRecord::is_valid));
            }
        }
    }

    #[test]
    fn an_unchanged_table_costs_three_bits() {
        let view = [
            CardRecord {
                id: 1,
                kind: kind::TABLE,
                slot: phase::PLAYING,
                ..CardRecord::default()
            },
            CardRecord {
                id: 2,
                kind: kind::PILE,
                rank: 4,
                suit: 1,
                count: 9,
                ..CardRecord::default()
            },
        ];
        let mut bits = BitWriter::default();
        delta::encode(&view, &view, 1, &mut bits);
        assert_eq!(bits.bit_len(), 3);
    }
}

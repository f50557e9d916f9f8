//! The game boundary on the wire: the traits a game's wire types implement.
//!
//! The engine's messages ([`crate::ClientMsg`], [`crate::ServerMsg`]) are an envelope generic
//! over a [`Schema`]: a game names its setup data (sent in the Welcome), its input command, its
//! per-entity [`Record`] (delta-coded in snapshots), its per-player stats row and its events.
//! Everything is static dispatch: a server or client is compiled for one schema, and nothing
//! dynamic sits in the per-tick or per-entity path.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bits::{BitReader, BitWriter};
use crate::delta::{Checksum, DeltaError};
use crate::msg::ValidationError;

/// A game's wire vocabulary. Implemented by a marker type (a unit struct) per game.
///
/// `NAME` and `VERSION` travel in the Hello: a client of another game, or of another version
/// of this game's types, is refused with a clear close code before anything else is decoded.
/// Change `VERSION` whenever any of the types below changes its bytes.
pub trait Schema: Copy + Debug + Default + PartialEq + Eq + Send + Sync + 'static {
    /// The game's name: 1..=[`crate::limits::GAME_NAME_MAX`] bytes of `a-z`, `0-9`, `-`, `_`.
    const NAME: &'static str;
    /// The version of this game's wire types.
    const VERSION: u16;
    /// What a client needs to know about the room before the first snapshot (a map, rules),
    /// sent in the [`crate::Welcome`].
    type Setup: Wire;
    /// One tick's command from a player.
    type Input: Command;
    /// One entity as snapshots carry it, delta-coded against the acknowledged baseline.
    type Record: Record;
    /// One player's row of the room's stats table (a score line).
    type Stats: StatsRow;
    /// Something that happened in a tick that snapshots do not show, sent reliably.
    type Event: Wire;
}

/// A value that travels inside a message: serde for the codec, plus the checks serde cannot
/// express (lengths, ranges), which the codec runs after decoding.
pub trait Wire:
    Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync + 'static
{
    /// Checks every limit and value rule; a decoder refuses the message on `Err`.
    fn validate(&self) -> Result<(), ValidationError> {
        Ok(())
    }
}

/// A player's command for one tick. `Default` is the idle command: what a player does when
/// nobody is at the controls (the room feeds it once when a connection drops).
pub trait Command: Wire + Copy + Default {
    /// For lag compensation: how many ticks before the message's `ack_tick` the client was
    /// showing other entities when it sampled this command. The room turns it into a rewind
    /// (ticks back from now) when the command is applied. Games without lag compensation keep
    /// the default, 0.
    fn view_age(&self) -> u8 {
        0
    }

    /// This command with its view age set: a client sets it on every send, relative to that
    /// message's `ack_tick` (a resent command's age grows with the acknowledgement). Games
    /// without lag compensation keep the default, which ignores it.
    fn with_view_age(self, view_age: u8) -> Self {
        let _ = view_age;
        self
    }
}

/// One player's row of the stats table. Rows are sent when they change, keyed by player id.
pub trait StatsRow: Wire {
    /// The player this row belongs to.
    fn player(&self) -> u32;

    /// The player's score in this row, for match results and the leaderboard (higher is
    /// better). A game without a score keeps 0.
    fn score(&self) -> i64 {
        0
    }

    /// Overwrites `self` with `from`. The client's replica applies table deltas in place with
    /// it; override it to reuse buffers (a name's `String`) instead of reallocating them.
    fn assign(&mut self, from: &Self) {
        self.clone_from(from);
    }
}

/// One entity as snapshots carry it: small, `Copy`, already quantized, and able to code itself
/// against a baseline. A view is a slice of records sorted by [`Record::id`].
///
/// The delta container ([`crate::delta`]) handles ids, membership (entered, removed, kept) and
/// the order of sections; a record codes only its own fields. Everything a record reads from a
/// peer must be checked: `read_*` return [`DeltaError::Range`] for a value out of range and
/// never panic.
pub trait Record:
    Copy + Debug + PartialEq + Send + Sync + Serialize + DeserializeOwned + 'static
{
    /// The entity's network id: never 0, unique within a view, and telling nothing secret.
    fn id(&self) -> u32;

    /// Whether `self` may be coded as a change of `base` (the same id in the baseline). When
    /// false the entity is sent as removed and entered afresh (an id reused for another kind).
    fn continues(&self, base: &Self) -> bool {
        let _ = base;
        true
    }

    /// Writes every field but the id.
    fn write_full(&self, out: &mut BitWriter);

    /// Reads what [`Record::write_full`] wrote; the result must be [`Record::is_valid`].
    fn read_full(id: u32, input: &mut BitReader<'_>) -> Result<Self, DeltaError>;

    /// A non-zero mask of what differs between `self` and `base` carried forward `elapsed`
    /// ticks by [`Record::advance`]; 0 when `self` is exactly that prediction (it then costs
    /// nothing on the wire).
    fn changes(&self, base: &Self, elapsed: u32) -> u32;

    /// Writes the fields `mask` (from [`Record::changes`]) names, against `base`.
    fn write_changes(&self, base: &Self, elapsed: u32, mask: u32, out: &mut BitWriter);

    /// Reads what [`Record::write_changes`] wrote and returns the new record.
    fn read_changes(
        base: &Self,
        elapsed: u32,
        input: &mut BitReader<'_>,
    ) -> Result<Self, DeltaError>;

    /// Carries an unchanged record forward `elapsed` ticks along its own prediction (a moving
    /// entity keeps moving). The default is a record that stays as it is.
    fn advance(&mut self, elapsed: u32) -> Result<(), DeltaError> {
        let _ = elapsed;
        Ok(())
    }

    /// Whether every field is within its wire range.
    fn is_valid(&self) -> bool;

    /// Feeds the record's fields to the snapshot checksum, as 32-bit words (the id first).
    fn checksum(&self, sum: &mut Checksum);
}

/// A small game's schema for the engine's own tests: a setup, a command, a [`Dot`] record,
/// a score row and two events.
///
/// [`Dot`]: crate::delta::test_record::Dot
#[cfg(test)]
pub(crate) mod test_game {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::delta::test_record::Dot;
    use crate::msg::{check_len, no_control};

    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct TestGame;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Setup {
        pub width: f32,
    }

    impl Wire for Setup {
        fn validate(&self) -> Result<(), ValidationError> {
            if self.width.is_finite() && self.width > 0.0 {
                Ok(())
            } else {
                Err(ValidationError::Invalid {
                    field: "width",
                    why: "not a positive number",
                })
            }
        }
    }

    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Cmd {
        pub x: i8,
        pub view_age: u8,
    }

    impl Wire for Cmd {}

    impl Command for Cmd {
        fn view_age(&self) -> u8 {
            self.view_age
        }

        fn with_view_age(self, view_age: u8) -> Self {
            Cmd { view_age, ..self }
        }
    }

    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Row {
        pub player: u32,
        pub name: String,
        pub points: u32,
    }

    impl Wire for Row {
        fn validate(&self) -> Result<(), ValidationError> {
            check_len("name", self.name.len(), crate::limits::NAME_MAX)?;
            no_control("name", &self.name)
        }
    }

    impl StatsRow for Row {
        fn player(&self) -> u32 {
            self.player
        }
    }

    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub enum Event {
        Scored { player: u32 },
        Said { text: String },
    }

    impl Wire for Event {}

    impl Schema for TestGame {
        const NAME: &'static str = "test";
        const VERSION: u16 = 7;
        type Setup = Setup;
        type Input = Cmd;
        type Record = Dot;
        type Stats = Row;
        type Event = Event;
    }
}

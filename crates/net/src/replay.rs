//! Re-simulating a match log ([`crate::journal`]) and checking every state hash it holds.
//!
//! [`Replayer`] builds the game as the log's header says (the game's config table, tick rate and
//! seed), then applies the log's joins, leaves and steps in order, comparing the state hash
//! after every step with the log's. The first difference is a [`ReplayError::Diverged`] naming
//! the tick: the state after the log's `tick`th step. A log that stops early (a crash, a kill,
//! the size cap) replays up to where it stops and says so ([`Verified::truncated`]).

use tickwire_protocol::Schema;
use tickwire_sim::{PlayerId, TickInput};

use crate::game::Game;
use crate::journal::{self, Entry, Header, ReadError, Reader};

/// What a log held and how its replay went, when every hash matched.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// The log's header.
    pub header: Header,
    /// Steps replayed.
    pub ticks: u32,
    /// Players who joined.
    pub joins: u32,
    /// Hashes compared (the 16-bit checks after every step and the whole hashes).
    pub checks: u64,
    /// See `checks`.
    pub hashes: u64,
    /// Commands replayed.
    pub inputs: u64,
    /// Why the match ended, as the log says; None when the log stops before its end record.
    pub end: Option<String>,
    /// The log stops early (no end record, or the file is cut inside a record or a compressed
    /// block): what it held replayed correctly, the rest of the match is not in it.
    pub truncated: bool,
}

/// Why a replay failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ReplayError {
    /// The file is not a log, or is corrupt before its end.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The log has no header.
    #[error("the log has no header")]
    NoHeader,
    /// The log is of another game than the one replaying it.
    #[error("the log is of game {log:?}, this replays {this:?}")]
    WrongGame {
        /// The log's game.
        log: String,
        /// The replaying game.
        this: String,
    },
    /// The log's format or the game's schema version differ from this build's.
    #[error("{0}")]
    Version(String),
    /// The game's config table in the header is not valid for this build of the game.
    #[error("the log's game config does not load: {0}")]
    Config(String),
    /// The replayed state differs from the recorded one.
    #[error("diverged at tick {tick}: {what}")]
    Diverged {
        /// The state after this many steps differs (or, for a join, the join after this many
        /// steps).
        tick: u32,
        /// What differed.
        what: String,
    },
}

/// A log read one step at a time: the joins and leaves before a step, the step's commands,
/// and the hashes after it. [`Replayer`] applies them to a game of its own; a server replaying a
/// match for spectators applies them to its room's game.
#[derive(Debug)]
pub struct Log<I> {
    records: std::sync::Arc<[u8]>,
    reader: Reader,
    /// The inflated stream stopped early.
    cut: bool,
    /// The log stopped inside a record.
    torn: bool,
    _input: std::marker::PhantomData<fn() -> I>,
}

/// A join or a leave between steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeatChange {
    /// A player joined: the id the game gave, and the name.
    Join(PlayerId, String),
    /// A player left.
    Leave(PlayerId),
}

/// One step's part of a log.
#[derive(Debug, Default)]
pub struct LogStep<I> {
    /// The joins and leaves before the step, in the order they happened (a join's place among
    /// leaves can matter to a game).
    pub changes: Vec<SeatChange>,
    /// The step's commands (None: the log ends after these joins and leaves).
    pub inputs: Option<Vec<TickInput<I>>>,
    /// The low 16 bits of the state hash after the step.
    pub check: Option<u16>,
    /// The whole state hash after the step.
    pub hash: Option<u64>,
    /// The match ended after this step, and why.
    pub end: Option<String>,
}

impl<I: serde::de::DeserializeOwned> Log<I> {
    /// Opens a log file's bytes: returns its header and the log after it.
    pub fn open(file: &[u8]) -> Result<(Header, Log<I>), ReplayError> {
        let (records, cut) = journal::inflate(file)?;
        Log::from_inflated(records.into(), cut)
    }

    /// A log from its records already inflated (shared: a server replaying one match for
    /// many rooms inflates it once); `cut` says the file stopped early.
    pub fn from_inflated(
        records: std::sync::Arc<[u8]>,
        cut: bool,
    ) -> Result<(Header, Log<I>), ReplayError> {
        let mut reader = Reader::new();
        let header = match reader.next_entry::<I>(&records) {
            Some(Ok(Entry::Header(header))) => header,
            Some(Err(error)) => return Err(error.into()),
            _ => return Err(ReplayError::NoHeader),
        };
        Ok((
            header,
            Log {
                records,
                reader,
                cut,
                torn: false,
                _input: std::marker::PhantomData,
            },
        ))
    }

    /// The next step's part; None at the end of the log (or where it was cut).
    pub fn next_step(&mut self) -> Result<Option<LogStep<I>>, ReplayError> {
        // A record cut in the middle ends the log there (its half-read state is not reused).
        if self.torn {
            return Ok(None);
        }
        let mut step = LogStep {
            changes: Vec::new(),
            inputs: None,
            check: None,
            hash: None,
            end: None,
        };
        let mut any = false;
        loop {
            // A step's hashes follow it; the next join, leave or step starts the next part.
            if step.inputs.is_some() && self.reader.at_step_boundary(&self.records) {
                break;
            }
            let entry = match self.reader.next_entry::<I>(&self.records) {
                None => break,
                Some(Ok(entry)) => entry,
                Some(Err(ReadError::Truncated)) => {
                    self.torn = true;
                    break;
                }
                Some(Err(error)) => return Err(error.into()),
            };
            any = true;
            match entry {
                Entry::Header(_) => {
                    return Err(ReadError::Corrupt("a second header".into()).into());
                }
                Entry::Join(player, name) => step.changes.push(SeatChange::Join(player, name)),
                Entry::Leave(player) => step.changes.push(SeatChange::Leave(player)),
                Entry::Step(inputs) => step.inputs = Some(inputs),
                Entry::Check(low) => step.check = Some(low),
                Entry::Hash(hash) => step.hash = Some(hash),
                Entry::End(reason) => step.end = Some(reason),
            }
        }
        Ok(any.then_some(step))
    }

    /// The file stopped early (inside a compressed block or a record).
    pub fn cut_short(&self) -> bool {
        self.cut || self.torn
    }
}

/// The game a log's header describes, at tick 0: checks the game, the format and schema
/// versions, and loads the game's config as recorded.
pub fn build_game<G: Game>(header: &Header) -> Result<G, ReplayError> {
    let name = <G::Wire as Schema>::NAME;
    if header.game != name {
        return Err(ReplayError::WrongGame {
            log: header.game.clone(),
            this: name.to_string(),
        });
    }
    if header.format != journal::FORMAT_VERSION {
        return Err(ReplayError::Version(format!(
            "the log's format is version {}, this build reads {}",
            header.format,
            journal::FORMAT_VERSION
        )));
    }
    if !(10..=128).contains(&header.tick_rate) {
        return Err(ReplayError::Config(format!(
            "the log's tick rate {} is outside 10 to 128",
            header.tick_rate
        )));
    }
    if tickwire_protocol::validate_room(&header.room).is_err() {
        return Err(ReplayError::Config(format!(
            "the log's room name {:?} is not a valid room name",
            header.room
        )));
    }
    let schema = <G::Wire as Schema>::VERSION;
    if header.schema != schema {
        return Err(ReplayError::Version(format!(
            "the log is of {name} schema version {}, this build's is {schema}",
            header.schema
        )));
    }
    let config: G::Config = if header.game_config.trim().is_empty() {
        G::Config::default()
    } else {
        toml::from_str(&header.game_config)
            .map_err(|error| ReplayError::Config(error.message().to_string()))?
    };
    let settings = G::configure(config).map_err(ReplayError::Config)?;
    Ok(G::new(&settings, header.tick_rate, header.seed))
}

/// Checks that a replayed join got the player id the log recorded.
pub fn check_join(
    recorded: PlayerId,
    got: PlayerId,
    name: &str,
    tick: u32,
) -> Result<(), ReplayError> {
    if recorded == got {
        return Ok(());
    }
    Err(ReplayError::Diverged {
        tick,
        what: format!(
            "{name:?} joined as player {}, the log says {}",
            got.0, recorded.0
        ),
    })
}

/// Compares a step's recorded hashes with `game`'s after the step at `tick`.
pub fn check_hashes<I, G: tickwire_sim::Simulation>(
    step: &LogStep<I>,
    tick: u32,
    game: &G,
) -> Result<(), ReplayError> {
    if let Some(low) = step.check {
        let check = game.check_hash() as u16;
        if check != low {
            return Err(ReplayError::Diverged {
                tick,
                what: format!(
                    "state check {check:#06x} (low 16 bits of its hash), the log says {low:#06x}"
                ),
            });
        }
    }
    if let Some(expected) = step.hash
        && let hash = game.state_hash()
        && hash != expected
    {
        return Err(ReplayError::Diverged {
            tick,
            what: format!("state hash {hash:#018x}, the log says {expected:#018x}"),
        });
    }
    Ok(())
}

/// A log being replayed one step at a time on a game of its own.
#[derive(Debug)]
pub struct Replayer<G: Game> {
    game: G,
    log: Log<<G::Wire as Schema>::Input>,
    verified: Verified,
    events: Vec<G::Event>,
}

/// One step of a replay, for a driver that shows it.
#[derive(Debug)]
pub struct Step<'a, G: Game> {
    /// The joins and leaves before this step, in order.
    pub changes: Vec<SeatChange>,
    /// The game after the step.
    pub game: &'a G,
    /// The step's events.
    pub events: &'a [G::Event],
}

impl<G: Game> Replayer<G> {
    /// Opens a log file's bytes: checks the header against this game and builds the game.
    pub fn open(file: &[u8]) -> Result<Replayer<G>, ReplayError> {
        let (header, log) = Log::open(file)?;
        let game = build_game::<G>(&header)?;
        Ok(Replayer {
            game,
            log,
            verified: Verified {
                header,
                ticks: 0,
                joins: 0,
                checks: 0,
                hashes: 0,
                inputs: 0,
                end: None,
                truncated: false,
            },
            events: Vec::new(),
        })
    }

    /// The log's header.
    pub fn header(&self) -> &Header {
        &self.verified.header
    }

    /// The game as replayed so far.
    pub fn game(&self) -> &G {
        &self.game
    }

    /// Replays up to and including the next step (the joins and leaves before it, the step,
    /// its hashes). None at the end of the log.
    pub fn next_step(&mut self) -> Result<Option<Step<'_, G>>, ReplayError> {
        let Some(step) = self.log.next_step()? else {
            return Ok(None);
        };
        for change in &step.changes {
            match change {
                SeatChange::Join(player, name) => {
                    let seat = self.game.join(name);
                    check_join(*player, seat.player, name, self.game.tick())?;
                    self.verified.joins += 1;
                }
                SeatChange::Leave(player) => self.game.leave(*player),
            }
        }
        self.events.clear();
        if let Some(inputs) = &step.inputs {
            self.game.step(inputs, &mut self.events);
            self.verified.ticks += 1;
            self.verified.inputs += inputs.len() as u64;
            check_hashes(&step, self.game.tick(), &self.game)?;
            self.verified.checks += u64::from(step.check.is_some());
            self.verified.hashes += u64::from(step.hash.is_some());
        }
        if step.end.is_some() {
            self.verified.end = step.end;
        }
        Ok(Some(Step {
            changes: step.changes,
            game: &self.game,
            events: &self.events,
        }))
    }

    /// Replays the rest of the log, checking every hash.
    pub fn verify(mut self) -> Result<Verified, ReplayError> {
        while self.next_step()?.is_some() {}
        Ok(self.finish())
    }

    /// What the replay found so far (call after the last step).
    pub fn finish(mut self) -> Verified {
        // A match that ended as matches end is whole; any other end (the size cap, a writer
        // that fell behind) cut it short.
        let whole = matches!(self.verified.end.as_deref(), Some("empty" | "shutdown"));
        if self.log.cut_short() || !whole {
            self.verified.truncated = true;
        }
        self.verified
    }
}

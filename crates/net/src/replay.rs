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

/// A log being replayed one step at a time.
#[derive(Debug)]
pub struct Replayer<G: Game> {
    game: G,
    records: Vec<u8>,
    reader: Reader,
    verified: Verified,
    events: Vec<G::Event>,
    /// The inflated stream stopped early.
    cut: bool,
}

/// One step of a replay, for a driver that shows it.
#[derive(Debug)]
pub struct Step<'a, G: Game> {
    /// Players who joined before this step: the id the game gave and the name.
    pub joined: Vec<(PlayerId, String)>,
    /// Players who left before this step.
    pub left: Vec<PlayerId>,
    /// The game after the step.
    pub game: &'a G,
    /// The step's events.
    pub events: &'a [G::Event],
}

impl<G: Game> Replayer<G> {
    /// Opens a log file's bytes: checks the header against this game and builds the game.
    pub fn open(file: &[u8]) -> Result<Replayer<G>, ReplayError> {
        let (records, cut) = journal::inflate(file)?;
        let mut reader = Reader::new();
        let header = match reader.next_entry::<<G::Wire as Schema>::Input>(&records) {
            Some(Ok(Entry::Header(header))) => header,
            Some(Err(error)) => return Err(error.into()),
            _ => return Err(ReplayError::NoHeader),
        };
        let name = <G::Wire as Schema>::NAME;
        if header.game != name {
            return Err(ReplayError::WrongGame {
                log: header.game,
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
        let game = G::new(&settings, header.tick_rate, header.seed);
        Ok(Replayer {
            game,
            records,
            reader,
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
            cut,
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
        let mut joined = Vec::new();
        let mut left = Vec::new();
        let mut stepped = false;
        loop {
            // A step's hashes follow it; the next join, leave or step ends this one.
            if stepped && self.reader.at_step_boundary(&self.records) {
                break;
            }
            let entry = match self
                .reader
                .next_entry::<<G::Wire as Schema>::Input>(&self.records)
            {
                None => break,
                Some(Ok(entry)) => entry,
                Some(Err(ReadError::Truncated)) => {
                    self.verified.truncated = true;
                    break;
                }
                Some(Err(error)) => return Err(error.into()),
            };
            match entry {
                Entry::Header(_) => {
                    return Err(ReadError::Corrupt("a second header".into()).into());
                }
                Entry::Join(player, name) => {
                    let seat = self.game.join(&name);
                    if seat.player != player {
                        return Err(ReplayError::Diverged {
                            tick: self.game.tick(),
                            what: format!(
                                "{name:?} joined as player {}, the log says {}",
                                seat.player.0, player.0
                            ),
                        });
                    }
                    self.verified.joins += 1;
                    joined.push((player, name));
                }
                Entry::Leave(player) => {
                    self.game.leave(player);
                    left.push(player);
                }
                Entry::Step(inputs) => {
                    self.step(&inputs);
                    stepped = true;
                }
                Entry::Check(low) => {
                    let hash = self.game.state_hash();
                    self.verified.checks += 1;
                    if hash as u16 != low {
                        return Err(self.diverged(format!(
                            "state hash {:#06x} (low 16 bits), the log says {low:#06x}",
                            hash as u16
                        )));
                    }
                }
                Entry::Hash(expected) => {
                    let hash = self.game.state_hash();
                    self.verified.hashes += 1;
                    if hash != expected {
                        return Err(self.diverged(format!(
                            "state hash {hash:#018x}, the log says {expected:#018x}"
                        )));
                    }
                }
                Entry::End(reason) => {
                    self.verified.end = Some(reason);
                }
            }
        }
        if !stepped && joined.is_empty() && left.is_empty() {
            return Ok(None);
        }
        Ok(Some(Step {
            joined,
            left,
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
        if self.cut || !whole {
            self.verified.truncated = true;
        }
        self.verified
    }

    fn step(&mut self, inputs: &[TickInput<<G::Wire as Schema>::Input>]) {
        self.events.clear();
        self.game.step(inputs, &mut self.events);
        self.verified.ticks += 1;
        self.verified.inputs += inputs.len() as u64;
    }

    fn diverged(&self, what: String) -> ReplayError {
        ReplayError::Diverged {
            tick: self.game.tick(),
            what,
        }
    }
}

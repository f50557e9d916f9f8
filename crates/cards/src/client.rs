//! The card game on the client: a bot brain that plays legal cards with a human-like reaction
//! time, and the game's part of the bot report.

use serde::{Deserialize, Serialize};
use tickwire_bot::{BotGame, Brain, Context, Figures, NoPrediction};
use tickwire_protocol::Welcome;
use tickwire_sim::rng::Pcg32;

use crate::game::fits;
use crate::wire::{CardRecord, Cards, CardsEvent, CardsInput, CardsSetup, kind, phase};

impl BotGame for Cards {
    type Brain = CardsBrain;
    type Prediction = NoPrediction;
    type Figures = CardsFigures;
}

/// Ticks a bot takes at least to react to a new table, and at most (a human's half second or
/// so at 30 Hz, so bots race each other for the same piles now and then).
const REACTION_TICKS: (u32, u32) = (4, 14);
/// Ticks a bot waits for its play to show before trying another.
const PLAY_TIMEOUT_TICKS: u32 = 30;

/// The card game's figures in a bot report (top-level keys of its JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CardsFigures {
    /// Plays the bot sent.
    pub plays_sent: u64,
    /// Of those, how many landed (Played events naming the bot).
    pub plays_landed: u64,
    /// Plays refused (Refused events: another player was first, mostly).
    pub plays_refused: u64,
    /// Rounds the bot saw start.
    pub rounds_started: u64,
    /// Rounds it won.
    pub rounds_won: u64,
    /// Most cards it ever held at once (never more than a hand).
    pub hand_max: usize,
    /// Hand cards of other players it ever received: always 0 (the test of secrecy from the
    /// client's side).
    pub foreign_cards_seen: u64,
}

impl Figures for CardsFigures {
    fn merge(&mut self, other: &Self) {
        self.plays_sent += other.plays_sent;
        self.plays_landed += other.plays_landed;
        self.plays_refused += other.plays_refused;
        self.rounds_started += other.rounds_started;
        self.rounds_won += other.rounds_won;
        self.hand_max = self.hand_max.max(other.hand_max);
        self.foreign_cards_seen += other.foreign_cards_seen;
    }
}

/// Plays a card that fits a pile, after a random reaction time, one play at a time.
#[derive(Debug)]
pub struct CardsBrain {
    rng: Pcg32,
    hand_size: usize,
    /// The play sent and not yet seen through: (card id, the tick it was sent at).
    pending: Option<(u32, u32)>,
    /// The table as last seen (pile tops), to notice when it changes.
    last_table: Vec<(u8, u32)>,
    /// The tick the bot may act at (its reaction to the last change).
    ready_at: u32,
    figures: CardsFigures,
}

impl CardsBrain {
    fn reaction(&mut self) -> u32 {
        let (low, high) = REACTION_TICKS;
        low + self.rng.below(high - low + 1)
    }
}

impl Brain<Cards> for CardsBrain {
    fn new(seed: u64, welcome: &Welcome<CardsSetup>) -> CardsBrain {
        CardsBrain {
            rng: Pcg32::new(seed),
            hand_size: welcome.setup.hand_size as usize,
            pending: None,
            last_table: Vec::new(),
            ready_at: 0,
            figures: CardsFigures::default(),
        }
    }

    fn decide(&mut self, context: &Context<'_, Cards>) -> CardsInput {
        let now = context.replica.ack_tick();
        let view = context.view();
        let piles: Vec<&CardRecord> = view.iter().filter(|r| r.kind == kind::PILE).collect();
        let table: Vec<(u8, u32)> = piles.iter().map(|pile| (pile.rank, pile.count)).collect();
        if table != self.last_table {
            self.last_table = table;
            self.ready_at = now + self.reaction();
        }
        if let Some((card, sent)) = self.pending {
            let still_held = view.iter().any(|r| r.kind == kind::HAND && r.id == card);
            if still_held && now < sent + PLAY_TIMEOUT_TICKS {
                return CardsInput::default();
            }
            self.pending = None;
        }
        let playing = view
            .iter()
            .any(|r| r.kind == kind::TABLE && r.slot == phase::PLAYING);
        if now < self.ready_at || !playing {
            return CardsInput::default();
        }
        let mut options = Vec::new();
        for card in view.iter().filter(|r| r.kind == kind::HAND) {
            for pile in &piles {
                if pile.rank == 0 || fits(card.rank, pile.rank) {
                    options.push((card.id, pile.slot));
                }
            }
        }
        if options.is_empty() {
            return CardsInput::default();
        }
        let (card, pile) = options[self.rng.below(options.len() as u32) as usize];
        self.pending = Some((card, now));
        self.figures.plays_sent += 1;
        CardsInput { card, pile }
    }

    fn observe(&mut self, context: &Context<'_, Cards>) {
        let held = context
            .view()
            .iter()
            .filter(|r| r.kind == kind::HAND)
            .count();
        self.figures.hand_max = self.figures.hand_max.max(held);
        // A hand is at most `hand_size` cards: anything more would be somebody else's.
        if held > self.hand_size || context.player == 0 && held > 0 {
            self.figures.foreign_cards_seen += held as u64;
        }
    }

    fn handle_events(&mut self, _tick: u32, events: &[CardsEvent]) {
        for event in events {
            match event {
                CardsEvent::Refused { card, .. } => {
                    self.figures.plays_refused += 1;
                    if self.pending.is_some_and(|(pending, _)| pending == *card) {
                        self.pending = None;
                    }
                }
                CardsEvent::RoundStarted { .. } => self.figures.rounds_started += 1,
                _ => {}
            }
        }
    }

    fn figures(&self, context: &Context<'_, Cards>) -> CardsFigures {
        let row = context
            .scores()
            .iter()
            .find(|row| row.player == context.player);
        CardsFigures {
            plays_landed: row.map_or(0, |row| row.played as u64),
            rounds_won: row.map_or(0, |row| row.rounds_won as u64),
            ..self.figures.clone()
        }
    }
}

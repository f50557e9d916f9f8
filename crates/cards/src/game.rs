//! The card game's rules and its server side: [`CardsGame`] implements the engine's [`Game`].
//!
//! A round deals every seated player a draw pile and a hand; the shared piles each start with
//! one card. Everyone plays at the same time: a card goes on a pile whose top is one rank above
//! or below it (king and ace are neighbours), and the hand refills from the player's draw pile.
//! The first to empty hand and draw pile wins the round. When nobody can play for a while, or
//! nobody does for three times as long (a player who walked away holding a card that fits must
//! not stall the others), every pile gets a fresh card from the reserve. Ticks decide who was first: the plays of one
//! tick are applied one by one (each player's in the order sent, the players in an order that
//! rotates every tick), and a play that no longer fits when its turn comes is refused, never
//! merged.

use std::collections::BTreeMap;

use serde::Deserialize;
use tickwire_net::game::{Game, Seat, Targeted, View, Viewer};
use tickwire_net::web::Asset;
use tickwire_sim::hash::Fnv64;
use tickwire_sim::rng::Pcg32;
use tickwire_sim::{PlayerId, Simulation, TickInput};

use crate::wire::{
    CardRecord, Cards, CardsEvent, CardsInput, CardsSetup, CardsStats, kind, phase, refusal,
};

/// Players a room seats at most.
pub const MAX_PLAYERS: usize = 4;
/// Cards in the deck: 13 ranks of 4 suits.
pub const DECK: u8 = 52;
/// The table's record id.
const TABLE_ID: u32 = 1;
/// The first pile's record id (piles are `FIRST_PILE_ID..FIRST_PILE_ID + piles`).
const FIRST_PILE_ID: u32 = 2;
/// Hand card ids start here and only grow.
const FIRST_HAND_ID: u32 = 16;
/// Most cards dealt into one player's draw pile and hand together.
const CARDS_PER_PLAYER_MAX: usize = 20;
/// Cards kept back for stalemates before dealing, at least.
const RESERVE_MIN: usize = 6;
/// A flip also comes when no card landed for this many times the stall time, even though some
/// player could play (an idle player must not hold the table hostage).
const IDLE_FLIP_FACTOR: u32 = 3;

/// A card: 0..52, rank `card % 13 + 1`, suit `card / 13`.
type Card = u8;

fn rank(card: Card) -> u8 {
    card % 13 + 1
}

fn suit(card: Card) -> u8 {
    card / 13
}

/// Whether `card` may go on a pile whose top is `top`: one rank apart, king and ace adjacent.
pub fn fits(card_rank: u8, top_rank: u8) -> bool {
    let difference = (card_rank + 13 - top_rank) % 13;
    difference == 1 || difference == 12
}

/// The `[cards]` table of the server's config file, as written (every key optional).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CardsConfig {
    /// Shared piles, 1 to 4.
    pub piles: u8,
    /// Cards in a full hand, 1 to 8.
    pub hand_size: u8,
    /// Seconds without any possible play before every pile gets a fresh card.
    pub stall_s: f32,
    /// Seconds from two players being seated to the deal.
    pub countdown_s: f32,
    /// Seconds between the end of a round and the next countdown.
    pub break_s: f32,
}

impl Default for CardsConfig {
    fn default() -> Self {
        CardsConfig {
            piles: 2,
            hand_size: 5,
            stall_s: 3.0,
            countdown_s: 3.0,
            break_s: 3.0,
        }
    }
}

/// The checked configuration, shared by every room.
#[derive(Clone, Debug, PartialEq)]
pub struct CardsSettings {
    /// Shared piles.
    pub piles: u8,
    /// Cards in a full hand.
    pub hand_size: u8,
    /// Seconds without a possible play before a flip.
    pub stall_s: f32,
    /// Seconds of countdown before a deal.
    pub countdown_s: f32,
    /// Seconds of break after a round.
    pub break_s: f32,
}

impl Default for CardsSettings {
    fn default() -> Self {
        // Invariant: the default config is valid.
        CardsGame::configure(CardsConfig::default()).expect("the default config is valid")
    }
}

/// Where the table is in its cycle of rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Waiting,
    Countdown { ends: u32 },
    Playing,
    Break { ends: u32 },
}

/// A card in a hand, with the record id it has there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HandCard {
    id: u32,
    card: Card,
}

/// A seated player.
#[derive(Clone, Debug)]
struct Hand {
    name: String,
    /// One slot per hand position.
    slots: Vec<Option<HandCard>>,
    /// The player's draw pile; the top is the last card.
    draw: Vec<Card>,
    /// Dealt into the current round.
    in_round: bool,
    played: u32,
    rounds_won: u32,
}

impl Hand {
    fn held(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    fn is_empty(&self) -> bool {
        self.held() == 0 && self.draw.is_empty()
    }
}

/// One room's card table.
#[derive(Debug)]
pub struct CardsGame {
    settings: CardsSettings,
    tick_rate: u32,
    tick: u32,
    rng: Pcg32,
    phase: Phase,
    /// While playing: the tick since which nobody could play (None: someone can).
    stuck_since: Option<u32>,
    /// While playing: the tick of the last card landed, the deal or the last flip.
    last_landed: u32,
    rounds: u32,
    /// The shared piles; the top is the last card.
    piles: Vec<Vec<Card>>,
    /// Cards nobody holds, for stalemate flips.
    reserve: Vec<Card>,
    /// Every seated player, in id order.
    hands: BTreeMap<PlayerId, Hand>,
    next_player: u32,
    next_card_id: u32,
    stats_version: u64,
    /// This tick's plays grouped by player: (first index, end) into the step's inputs.
    groups: Vec<(usize, usize)>,
}

impl CardsGame {
    fn ticks(&self, seconds: f32) -> u32 {
        ((seconds * self.tick_rate as f32).ceil() as u32).max(1)
    }

    /// The cards in `player`'s hand as (record id, rank, suit), by hand position (tests and
    /// tools; the wire never shows one player another's hand).
    pub fn hand(&self, player: PlayerId) -> Vec<(u32, u8, u8)> {
        self.hands.get(&player).map_or_else(Vec::new, |hand| {
            hand.slots
                .iter()
                .flatten()
                .map(|held| (held.id, rank(held.card), suit(held.card)))
                .collect()
        })
    }

    /// Rounds started so far.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// Whether a round is being played.
    pub fn playing(&self) -> bool {
        self.phase == Phase::Playing
    }

    /// Every card is somewhere exactly once: on a pile, in the reserve, or in a hand or draw
    /// pile of a seated player (tests check it after every tick).
    pub fn cards_conserved(&self) -> bool {
        if self.rounds == 0 {
            return true;
        }
        let mut seen = [false; DECK as usize];
        let all =
            self.piles
                .iter()
                .flatten()
                .chain(&self.reserve)
                .chain(self.hands.values().flat_map(|hand| {
                    hand.draw
                        .iter()
                        .chain(hand.slots.iter().flatten().map(|held| &held.card))
                }));
        let mut count = 0;
        for &card in all {
            if card >= DECK || std::mem::replace(&mut seen[card as usize], true) {
                return false;
            }
            count += 1;
        }
        count == DECK as usize
    }

    fn bump_stats(&mut self) {
        self.stats_version += 1;
    }

    /// Fills every empty slot of `player`'s hand from its draw pile, each card with a fresh id.
    fn refill(&mut self, player: PlayerId) {
        let Some(hand) = self.hands.get_mut(&player) else {
            return;
        };
        for slot in &mut hand.slots {
            if slot.is_none()
                && let Some(card) = hand.draw.pop()
            {
                *slot = Some(HandCard {
                    id: self.next_card_id,
                    card,
                });
                self.next_card_id = self.next_card_id.wrapping_add(1).max(FIRST_HAND_ID);
            }
        }
    }

    fn start_round(&mut self, events: &mut Vec<Targeted<CardsEvent>>) {
        let mut deck: Vec<Card> = (0..DECK).collect();
        // Fisher-Yates with the room's seeded generator.
        for index in (1..deck.len()).rev() {
            let other = self.rng.below(index as u32 + 1) as usize;
            deck.swap(index, other);
        }
        for pile in &mut self.piles {
            pile.clear();
            pile.extend(deck.pop());
        }
        let players: Vec<PlayerId> = self.hands.keys().copied().collect();
        let per_player = ((deck.len() - RESERVE_MIN) / players.len()).min(CARDS_PER_PLAYER_MAX);
        for &player in &players {
            let hand = self.hands.get_mut(&player).expect("listed above");
            hand.slots.iter_mut().for_each(|slot| *slot = None);
            hand.draw.clear();
            hand.draw.extend(deck.drain(deck.len() - per_player..));
            hand.in_round = true;
            self.refill(player);
        }
        self.reserve = deck;
        self.rounds += 1;
        self.phase = Phase::Playing;
        self.stuck_since = None;
        self.last_landed = self.tick;
        self.bump_stats();
        events.push(Targeted::everyone(CardsEvent::RoundStarted {
            round: self.rounds,
        }));
    }

    fn end_round(&mut self, winner: Option<PlayerId>, events: &mut Vec<Targeted<CardsEvent>>) {
        if let Some(hand) = winner.and_then(|player| self.hands.get_mut(&player)) {
            hand.rounds_won += 1;
        }
        self.phase = Phase::Break {
            ends: self.tick + self.ticks(self.settings.break_s),
        };
        self.bump_stats();
        events.push(Targeted::everyone(CardsEvent::RoundEnded {
            winner: winner.map_or(0, |player| player.0),
        }));
    }

    /// Applies one play, or refuses it with a reason the player alone hears.
    fn play(
        &mut self,
        player: PlayerId,
        input: CardsInput,
        events: &mut Vec<Targeted<CardsEvent>>,
    ) {
        let refuse = |reason| {
            Targeted::player(
                player,
                CardsEvent::Refused {
                    card: input.card,
                    pile: input.pile,
                    reason,
                },
            )
        };
        let Some(hand) = self.hands.get(&player) else {
            return;
        };
        if !self.playing() || !hand.in_round {
            events.push(refuse(refusal::NOT_PLAYING));
            return;
        }
        let Some(slot) = hand
            .slots
            .iter()
            .position(|held| held.is_some_and(|held| held.id == input.card))
        else {
            events.push(refuse(refusal::NOT_IN_HAND));
            return;
        };
        let Some(pile) = self.piles.get(input.pile as usize) else {
            events.push(refuse(refusal::NO_SUCH_PILE));
            return;
        };
        // Invariant: `slot` was found holding a card just above.
        let card = hand.slots[slot].expect("found above").card;
        let fits_pile = pile.last().is_none_or(|&top| fits(rank(card), rank(top)));
        if !fits_pile {
            events.push(refuse(refusal::NOT_ADJACENT));
            return;
        }
        self.piles[input.pile as usize].push(card);
        let hand = self.hands.get_mut(&player).expect("found above");
        hand.slots[slot] = None;
        hand.played += 1;
        self.refill(player);
        self.last_landed = self.tick;
        self.bump_stats();
        events.push(Targeted::everyone(CardsEvent::Played {
            player: player.0,
            pile: input.pile,
            rank: rank(card),
            suit: suit(card),
        }));
    }

    /// Whether any player in the round holds a card that fits some pile.
    fn any_play_possible(&self) -> bool {
        self.hands
            .values()
            .filter(|hand| hand.in_round)
            .any(|hand| {
                hand.slots.iter().flatten().any(|held| {
                    self.piles.iter().any(|pile| {
                        pile.last()
                            .is_none_or(|&top| fits(rank(held.card), rank(top)))
                    })
                })
            })
    }

    /// Every pile gets a fresh card from the reserve; when the reserve runs short, the cards
    /// buried under the piles' tops are shuffled back into it first.
    fn flip(&mut self, events: &mut Vec<Targeted<CardsEvent>>) {
        if self.reserve.len() < self.piles.len() {
            for pile in &mut self.piles {
                let keep = pile.len().saturating_sub(1);
                self.reserve.extend(pile.drain(..keep));
            }
            for index in (1..self.reserve.len()).rev() {
                let other = self.rng.below(index as u32 + 1) as usize;
                self.reserve.swap(index, other);
            }
        }
        if self.reserve.len() < self.piles.len() {
            return; // every card is in somebody's hand: they will have to play on
        }
        for pile in &mut self.piles {
            pile.extend(self.reserve.pop());
        }
        self.last_landed = self.tick;
        events.push(Targeted::everyone(CardsEvent::Flipped));
    }

    fn in_round(&self) -> impl Iterator<Item = (&PlayerId, &Hand)> {
        self.hands.iter().filter(|(_, hand)| hand.in_round)
    }
}

impl Simulation for CardsGame {
    type Input = CardsInput;
    type Event = Targeted<CardsEvent>;

    fn tick(&self) -> u32 {
        self.tick
    }

    fn step(&mut self, inputs: &[TickInput<CardsInput>], events: &mut Vec<Targeted<CardsEvent>>) {
        // Phase changes that do not depend on this tick's plays.
        match self.phase {
            Phase::Waiting if self.hands.len() >= 2 => {
                self.phase = Phase::Countdown {
                    ends: self.tick + self.ticks(self.settings.countdown_s),
                };
            }
            Phase::Countdown { .. } if self.hands.len() < 2 => self.phase = Phase::Waiting,
            Phase::Countdown { ends } if self.tick >= ends => self.start_round(events),
            Phase::Break { ends } if self.tick >= ends => self.phase = Phase::Waiting,
            _ => {}
        }

        // Plays, one by one: each player's in the order sent; the players in an order that
        // starts one further every tick, so no seat always goes first.
        self.groups.clear();
        let mut start = 0;
        while start < inputs.len() {
            let player = inputs[start].player;
            let end = inputs[start..]
                .iter()
                .position(|input| input.player != player)
                .map_or(inputs.len(), |offset| start + offset);
            self.groups.push((start, end));
            start = end;
        }
        let groups = std::mem::take(&mut self.groups);
        let first = if groups.is_empty() {
            0
        } else {
            self.tick as usize % groups.len()
        };
        for &(start, end) in groups[first..].iter().chain(&groups[..first]) {
            for input in &inputs[start..end] {
                if input.input.card != 0 {
                    self.play(input.player, input.input, events);
                }
            }
        }
        self.groups = groups;

        if self.phase == Phase::Playing {
            let winner = self
                .in_round()
                .find(|(_, hand)| hand.is_empty())
                .map(|(player, _)| *player);
            if winner.is_some() || self.in_round().count() < 2 {
                self.end_round(winner, events);
            } else if self.any_play_possible() {
                self.stuck_since = None;
                let idle = self.ticks(self.settings.stall_s) * IDLE_FLIP_FACTOR;
                if self.tick - self.last_landed >= idle {
                    self.flip(events);
                }
            } else {
                let since = *self.stuck_since.get_or_insert(self.tick);
                if self.tick - since >= self.ticks(self.settings.stall_s) {
                    self.flip(events);
                    self.stuck_since = None;
                }
            }
        }
        self.tick = self.tick.wrapping_add(1);
    }

    fn state_hash(&self) -> u64 {
        let mut hasher = Fnv64::new();
        hasher.u32(self.tick);
        hasher.u64(self.rng.state());
        match self.phase {
            Phase::Waiting => hasher.u8(0),
            Phase::Countdown { ends } => {
                hasher.u8(1);
                hasher.u32(ends);
            }
            Phase::Playing => {
                hasher.u8(2);
                hasher.u32(self.stuck_since.map_or(u32::MAX, |since| since));
                hasher.u32(self.last_landed);
            }
            Phase::Break { ends } => {
                hasher.u8(3);
                hasher.u32(ends);
            }
        }
        hasher.u32(self.rounds);
        hasher.u32(self.next_player);
        hasher.u32(self.next_card_id);
        for pile in &self.piles {
            hasher.u32(pile.len() as u32);
            hasher.bytes(pile);
        }
        hasher.u32(self.reserve.len() as u32);
        hasher.bytes(&self.reserve);
        for (player, hand) in &self.hands {
            hasher.u32(player.0);
            hasher.bytes(hand.name.as_bytes());
            for slot in &hand.slots {
                match slot {
                    Some(held) => {
                        hasher.u32(held.id);
                        hasher.u8(held.card);
                    }
                    None => hasher.u32(0),
                }
            }
            hasher.u32(hand.draw.len() as u32);
            hasher.bytes(&hand.draw);
            hasher.u8(u8::from(hand.in_round));
            hasher.u32(hand.played);
            hasher.u32(hand.rounds_won);
        }
        hasher.finish()
    }
}

impl Game for CardsGame {
    type Wire = Cards;
    type Config = CardsConfig;
    type Settings = CardsSettings;

    fn configure(config: CardsConfig) -> Result<CardsSettings, String> {
        if !(1..=4).contains(&config.piles) {
            return Err("piles must be 1 to 4".into());
        }
        if !(1..=8).contains(&config.hand_size) {
            return Err("hand_size must be 1 to 8".into());
        }
        for (name, seconds) in [
            ("stall_s", config.stall_s),
            ("countdown_s", config.countdown_s),
            ("break_s", config.break_s),
        ] {
            if !(seconds.is_finite() && (0.1..=600.0).contains(&seconds)) {
                return Err(format!("{name} must be 0.1 to 600 seconds"));
            }
        }
        Ok(CardsSettings {
            piles: config.piles,
            hand_size: config.hand_size,
            stall_s: config.stall_s,
            countdown_s: config.countdown_s,
            break_s: config.break_s,
        })
    }

    fn new(settings: &CardsSettings, tick_rate: u32, seed: u64) -> CardsGame {
        CardsGame {
            settings: settings.clone(),
            tick_rate: tick_rate.max(1),
            tick: 0,
            rng: Pcg32::new(seed),
            phase: Phase::Waiting,
            stuck_since: None,
            last_landed: 0,
            rounds: 0,
            piles: vec![Vec::new(); settings.piles as usize],
            reserve: Vec::new(),
            hands: BTreeMap::new(),
            next_player: 1,
            next_card_id: FIRST_HAND_ID,
            stats_version: 0,
            groups: Vec::new(),
        }
    }

    fn max_players(_: &CardsSettings) -> Option<usize> {
        Some(MAX_PLAYERS)
    }

    fn setup(&self) -> CardsSetup {
        CardsSetup {
            piles: self.settings.piles,
            hand_size: self.settings.hand_size,
            max_players: MAX_PLAYERS as u8,
            stall_ticks: self.ticks(self.settings.stall_s).min(u16::MAX as u32) as u16,
        }
    }

    /// A new player sits out the round being played, if any, and is dealt into the next.
    fn join(&mut self, name: &str) -> Seat {
        let player = PlayerId(self.next_player);
        self.next_player = self.next_player.wrapping_add(1).max(1);
        self.hands.insert(
            player,
            Hand {
                name: name.to_string(),
                slots: vec![None; self.settings.hand_size as usize],
                draw: Vec::new(),
                in_round: false,
                played: 0,
                rounds_won: 0,
            },
        );
        self.bump_stats();
        Seat {
            player,
            entity: None,
        }
    }

    /// A player who leaves mid-round gives its cards to the reserve.
    fn leave(&mut self, player: PlayerId) {
        if let Some(hand) = self.hands.remove(&player) {
            self.reserve.extend(hand.draw);
            self.reserve
                .extend(hand.slots.iter().flatten().map(|held| held.card));
            self.bump_stats();
        }
    }

    fn records(&self, out: &mut Vec<CardRecord>) {
        let (table_phase, deadline) = match self.phase {
            Phase::Waiting => (phase::WAITING, 0),
            Phase::Countdown { ends } => (phase::COUNTDOWN, ends),
            Phase::Playing => (phase::PLAYING, 0),
            Phase::Break { ends } => (phase::BREAK, ends),
        };
        out.push(CardRecord {
            id: TABLE_ID,
            kind: kind::TABLE,
            slot: table_phase,
            rank: 0,
            suit: 0,
            count: deadline,
        });
        for (index, pile) in self.piles.iter().enumerate() {
            let top = pile.last().copied();
            out.push(CardRecord {
                id: FIRST_PILE_ID + index as u32,
                kind: kind::PILE,
                slot: index as u8,
                rank: top.map_or(0, rank),
                suit: top.map_or(0, suit),
                count: pile.len() as u32,
            });
        }
        let start = out.len();
        for hand in self.hands.values() {
            for (slot, held) in hand.slots.iter().enumerate() {
                if let Some(held) = held {
                    out.push(CardRecord {
                        id: held.id,
                        kind: kind::HAND,
                        slot: slot as u8,
                        rank: rank(held.card),
                        suit: suit(held.card),
                        count: 0,
                    });
                }
            }
        }
        out[start..].sort_unstable_by_key(|record| record.id);
    }

    fn stats_version(&self) -> u64 {
        self.stats_version
    }

    fn stats(&self, out: &mut Vec<CardsStats>) {
        out.extend(self.hands.iter().map(|(player, hand)| CardsStats {
            player: player.0,
            name: hand.name.clone(),
            hand: hand.held() as u8,
            draw: hand.draw.len().min(u8::MAX as usize) as u8,
            in_round: hand.in_round,
            played: hand.played,
            rounds_won: hand.rounds_won,
        }));
    }

    /// Everyone sees the table and the piles; a player also sees its own hand, and nobody
    /// else's (spectators see no hand at all).
    fn view(&self, viewer: Viewer, ids: &mut Vec<u32>) -> View {
        ids.push(TABLE_ID);
        ids.extend((0..self.piles.len() as u32).map(|index| FIRST_PILE_ID + index));
        if let Viewer::Player(player) = viewer
            && let Some(hand) = self.hands.get(&player)
        {
            ids.extend(hand.slots.iter().flatten().map(|held| held.id));
        }
        View::Listed
    }

    fn web_assets() -> &'static [Asset] {
        crate::web::ASSETS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table in play with these hands (cards as (rank, suit)) and pile tops, nothing in any
    /// draw pile or the reserve but what the deck has left.
    fn table(hands: &[&[(u8, u8)]], tops: &[(u8, u8)]) -> (CardsGame, Vec<PlayerId>) {
        let mut game = CardsGame::new(&CardsSettings::default(), 30, 7);
        let players: Vec<PlayerId> = (0..hands.len())
            .map(|index| game.join(&format!("p{index}")).player)
            .collect();
        let card = |(rank, suit): (u8, u8)| suit * 13 + rank - 1;
        let mut deck: Vec<Card> = (0..DECK).collect();
        fn take(deck: &mut Vec<Card>, wanted: Card) -> Card {
            let at = deck
                .iter()
                .position(|&c| c == wanted)
                .expect("each card once");
            deck.remove(at)
        }
        for (pile, &top) in game.piles.iter_mut().zip(tops) {
            *pile = vec![take(&mut deck, card(top))];
        }
        for (player, cards) in players.iter().zip(hands) {
            let hand = game.hands.get_mut(player).unwrap();
            hand.in_round = true;
            for (slot, &held) in hand.slots.iter_mut().zip(cards.iter()) {
                *slot = Some(HandCard {
                    id: game.next_card_id,
                    card: take(&mut deck, card(held)),
                });
                game.next_card_id += 1;
            }
            // Something to draw, so nobody wins at once.
            hand.draw.push(deck.pop().unwrap());
        }
        game.reserve = deck;
        game.rounds = 1;
        game.phase = Phase::Playing;
        assert!(game.cards_conserved());
        (game, players)
    }

    fn play(player: PlayerId, seq: u32, card: u32, pile: u8) -> TickInput<CardsInput> {
        TickInput {
            player,
            seq,
            rewind: 0,
            input: CardsInput { card, pile },
        }
    }

    fn outcomes(events: &[Targeted<CardsEvent>]) -> Vec<&CardsEvent> {
        events.iter().map(|targeted| &targeted.event).collect()
    }

    #[test]
    fn two_plays_on_one_pile_in_one_tick_are_each_judged_in_turn() {
        // Pile 0 shows a 5. Both players hold a 6; after the first 6 lands, the second does not
        // fit (6 on 6) and is refused: never merged, never both.
        let (mut game, players) = table(&[&[(6, 0)], &[(6, 1)]], &[(5, 0), (9, 0)]);
        let (a, b) = (game.hand(players[0])[0].0, game.hand(players[1])[0].0);
        let mut events = Vec::new();
        game.step(
            &[play(players[0], 1, a, 0), play(players[1], 1, b, 0)],
            &mut events,
        );
        let outcomes = outcomes(&events);
        assert_eq!(outcomes.len(), 2, "{outcomes:?}");
        // Tick 0: the rotation starts with the first player.
        assert!(
            matches!(outcomes[0], CardsEvent::Played { player, pile: 0, rank: 6, .. } if *player == players[0].0)
        );
        assert!(matches!(
            outcomes[1],
            CardsEvent::Refused {
                reason: refusal::NOT_ADJACENT,
                ..
            }
        ));
        // The refusal is for the second player's ears only.
        assert_eq!(
            events[1].audience,
            tickwire_net::Audience::Player(players[1])
        );
        assert!(game.cards_conserved());
    }

    #[test]
    fn the_first_player_of_a_tick_rotates() {
        let (mut game, players) = table(&[&[(6, 0)], &[(6, 1)]], &[(5, 0), (9, 0)]);
        let mut events = Vec::new();
        game.step(&[], &mut events); // tick 0 passes without plays
        let (a, b) = (game.hand(players[0])[0].0, game.hand(players[1])[0].0);
        events.clear();
        game.step(
            &[play(players[0], 1, a, 0), play(players[1], 1, b, 0)],
            &mut events,
        );
        // Tick 1: the second player goes first and wins the race.
        assert!(
            matches!(outcomes(&events)[0], CardsEvent::Played { player, .. } if *player == players[1].0)
        );
    }

    #[test]
    fn one_players_two_plays_in_a_tick_are_both_applied() {
        // 6 then 7 onto a 5: the second fits the first.
        let (mut game, players) = table(&[&[(6, 0), (7, 2)], &[(1, 1)]], &[(5, 0), (9, 0)]);
        let hand = game.hand(players[0]);
        let mut events = Vec::new();
        game.step(
            &[
                play(players[0], 1, hand[0].0, 0),
                play(players[0], 2, hand[1].0, 0),
            ],
            &mut events,
        );
        let outcomes = outcomes(&events);
        assert!(
            matches!(
                outcomes[..],
                [
                    CardsEvent::Played { rank: 6, .. },
                    CardsEvent::Played { rank: 7, .. }
                ]
            ),
            "{outcomes:?}"
        );
        assert_eq!(game.piles[0].len(), 3);
    }

    #[test]
    fn a_card_not_in_hand_is_refused_and_changes_nothing() {
        let (mut game, players) = table(&[&[(6, 0)], &[(2, 1)]], &[(5, 0), (9, 0)]);
        let other = game.hand(players[1])[0].0;
        let before = game.state_hash();
        let mut events = Vec::new();
        // Naming another player's card (or a made-up id) is refused.
        game.step(&[play(players[0], 1, other, 0)], &mut events);
        assert!(matches!(
            outcomes(&events)[..],
            [CardsEvent::Refused {
                reason: refusal::NOT_IN_HAND,
                ..
            }]
        ));
        assert_ne!(game.state_hash(), before, "the tick moved on");
        assert_eq!(
            game.hand(players[1])[0].0,
            other,
            "the other hand is untouched"
        );
    }

    #[test]
    fn emptying_hand_and_draw_pile_wins_the_round() {
        let (mut game, players) = table(&[&[(6, 0)], &[(2, 1)]], &[(5, 0), (9, 0)]);
        game.hands.get_mut(&players[0]).unwrap().draw.clear();
        let card = game.hand(players[0])[0].0;
        let mut events = Vec::new();
        game.step(&[play(players[0], 1, card, 0)], &mut events);
        assert!(
            matches!(outcomes(&events)[..], [CardsEvent::Played { .. }, CardsEvent::RoundEnded { winner }] if *winner == players[0].0)
        );
        let mut rows = Vec::new();
        game.stats(&mut rows);
        assert_eq!(rows[0].rounds_won, 1);
    }

    #[test]
    fn an_idle_player_holding_a_fitting_card_does_not_stall_the_table() {
        // The first player could play its 6 on the 5 but never does; the second cannot play.
        let (mut game, _) = table(&[&[(6, 0)], &[(1, 1)]], &[(5, 0), (9, 0)]);
        let stall = game.ticks(game.settings.stall_s);
        let mut events = Vec::new();
        for _ in 0..stall * IDLE_FLIP_FACTOR {
            game.step(&[], &mut events);
        }
        assert!(
            !outcomes(&events).contains(&&CardsEvent::Flipped),
            "too early"
        );
        game.step(&[], &mut events);
        assert!(outcomes(&events).contains(&&CardsEvent::Flipped));
        assert!(game.cards_conserved());
    }

    #[test]
    fn a_stalemate_flips_fresh_cards_onto_the_piles() {
        // Nobody holds a neighbour of 5 or 9.
        let (mut game, _) = table(&[&[(1, 0)], &[(12, 1)]], &[(5, 0), (9, 0)]);
        let stall = game.ticks(game.settings.stall_s);
        let mut events = Vec::new();
        for _ in 0..=stall {
            game.step(&[], &mut events);
        }
        assert!(outcomes(&events).contains(&&CardsEvent::Flipped));
        assert_eq!(game.piles[0].len(), 2);
        assert!(game.cards_conserved());
    }

    #[test]
    fn neighbours_wrap_from_king_to_ace() {
        assert!(fits(1, 2) && fits(2, 1) && fits(13, 1) && fits(1, 13) && fits(12, 13));
        assert!(!fits(5, 5) && !fits(5, 7) && !fits(1, 12));
    }

    #[test]
    fn cards_have_13_ranks_of_4_suits() {
        let mut seen = std::collections::BTreeSet::new();
        for card in 0..DECK {
            assert!((1..=13).contains(&rank(card)) && suit(card) <= 3);
            seen.insert((rank(card), suit(card)));
        }
        assert_eq!(seen.len(), 52);
    }
}

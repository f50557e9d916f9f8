//! One bot's play logic as a sans-IO state machine: everything that happens per message and
//! per tick, with no socket and no clock of its own.
//!
//! A [`Session`] starts from the server's Welcome. The driver (the tokio [`crate::play`] loop
//! behind `tickwire bot`, or a swarm shard running many bots on one thread) moves bytes and
//! time; the session does the rest: it applies every snapshot through the [`Replica`] (checksums
//! verified; a snapshot that does not apply is counted and the replica reset, so the next
//! acknowledgement asks for a full snapshot), drops acknowledged commands, feeds the brain,
//! predicts and interpolates when asked to, and builds each tick's input with the newest
//! acknowledgement and every command the server has not yet applied.
//!
//! Call order, with `now` from the driver's clock:
//! - [`Session::handle_message`] for each server message, as it arrives;
//! - [`Session::poll_input`] once per tick while [`Session::wants_input`] says so;
//! - [`Session::poll_chat`] at [`Session::poll_timeout`]; stop once [`Session::is_expired`];
//! - [`Session::handle_close`] when the connection ends by the server's doing or an error;
//! - [`Session::report`] at the end.
//!
//! Outgoing messages are encoded into a buffer the caller owns (the payload of one WebSocket
//! frame), so a driver reuses one buffer for every message.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tickwire_net::CloseInfo;
use tickwire_protocol::limits::INPUTS_PER_MSG_MAX;
use tickwire_protocol::{ClientMsg, Command, Input, Replica, ServerMsg, Welcome, encode_client};

use crate::predict::{self, Interpolator, Predictor};
use crate::{BotGame, BotReport, Brain, Context, ErrorQuantiles};

/// How a session plays.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// Seed of the brain.
    pub seed: u64,
    /// A spectator sends no game input; it still acknowledges every snapshot.
    pub spectate: bool,
    /// Run own-entity prediction and interpolation of others (a real player's client does;
    /// a swarm runs them for a sample of its bots only, as they cost CPU and change nothing
    /// on the wire but the view ages the brain aims with).
    pub predict: bool,
    /// Chat lines to send, one per second, the first half a second after the Welcome.
    pub chat: Vec<String>,
    /// End the session this long after the Welcome (None: play until the connection ends).
    pub duration: Option<Duration>,
}

/// What a message handed to [`Session::handle_message`] was, for a driver's measurements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A snapshot that said the server applied inputs up to `last_input`, and whether it
    /// applied to the replica (when not, it was counted as an error and a full snapshot will be
    /// asked for).
    Snapshot {
        /// The newest input sequence the server applied.
        last_input: u32,
        /// Whether the snapshot decoded against its baseline with a matching checksum.
        applied: bool,
    },
    /// The server's Error message: the connection is about to close with its code.
    Error,
    /// Anything else (events, chat, a pong).
    Other,
}

/// An input message [`Session::poll_input`] encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputSent {
    /// The sequence number of the command sampled this tick (None for a spectator, whose
    /// input only acknowledges).
    pub seq: Option<u32>,
}

/// One bot's play state, from the Welcome to the end of the connection (see the module docs
/// for the call order).
#[derive(Debug)]
pub struct Session<G: BotGame> {
    welcome: Welcome<G::Setup>,
    spectate: bool,
    started: Instant,
    deadline: Option<Instant>,
    replica: Replica<G>,
    brain: G::Brain,
    /// Present when the session predicts and the game has something to predict.
    predictor: Option<Predictor<G, G::Prediction>>,
    /// Present when the session interpolates.
    interpolator: Option<Interpolator<G::Record>>,
    /// Commands the server has not acknowledged: (seq, command, the tick the bot was showing
    /// others at when it sampled the command). At most [`INPUTS_PER_MSG_MAX`].
    unacked: VecDeque<(u32, G::Input, u32)>,
    next_seq: u32,
    /// The tick the brain last looked at others at.
    render_tick: f64,
    /// The command list of the input being encoded, kept to reuse its buffer.
    cmds: Vec<G::Input>,
    chat: VecDeque<String>,
    next_chat: Instant,
    /// Payload bytes of the snapshots received.
    snapshot_bytes: u64,
    /// The counters of the report being built.
    report: BotReport<G::Figures>,
}

impl<G: BotGame> Session<G> {
    /// A session for the connection `welcome` opened, starting at `now`.
    pub fn new(welcome: Welcome<G::Setup>, options: SessionOptions, now: Instant) -> Session<G> {
        let tick_rate = u32::from(welcome.tick_rate.max(1));
        let report = BotReport {
            room: welcome.room.clone(),
            player: welcome.player,
            tick_rate,
            ..BotReport::default()
        };
        let (predictor, interpolator) = if options.predict {
            (Predictor::new(&welcome), Some(Interpolator::new(tick_rate)))
        } else {
            (None, None)
        };
        Session {
            brain: G::Brain::new(options.seed, &welcome),
            welcome,
            spectate: options.spectate,
            started: now,
            deadline: options.duration.map(|duration| now + duration),
            replica: Replica::default(),
            predictor,
            interpolator,
            unacked: VecDeque::with_capacity(INPUTS_PER_MSG_MAX + 1),
            next_seq: 1,
            render_tick: 0.0,
            cmds: Vec::with_capacity(INPUTS_PER_MSG_MAX),
            chat: options.chat.into(),
            next_chat: now + Duration::from_millis(500),
            snapshot_bytes: 0,
            report,
        }
    }

    /// Counts the payload bytes of the Hello and the Welcome, so the report's byte counts
    /// cover the whole connection.
    pub fn handle_handshake(&mut self, bytes_sent: u64, bytes_received: u64) {
        self.report.bytes_sent += bytes_sent;
        self.report.bytes_received += bytes_received;
    }

    /// Handles one server message that arrived at `now`, `wire_bytes` long (its WebSocket
    /// payload).
    pub fn handle_message(
        &mut self,
        msg: ServerMsg<G>,
        wire_bytes: usize,
        now: Instant,
    ) -> Received {
        self.report.bytes_received += wire_bytes as u64;
        match msg {
            ServerMsg::Snapshot(snapshot) => {
                self.snapshot_bytes += wire_bytes as u64;
                if snapshot.baseline_age == 0 {
                    self.report.full_snapshots += 1;
                }
                let applied = match self.replica.handle_snapshot(&snapshot) {
                    Ok(()) => {
                        self.handle_applied(snapshot.tick, snapshot.last_input, now);
                        true
                    }
                    Err(error) => {
                        // Counted, never fatal: the next input acknowledges tick 0, which asks
                        // the server for a full snapshot.
                        self.report.snapshot_errors += 1;
                        tracing::warn!(%error, "snapshot did not apply; asking for a full one");
                        self.replica.reset();
                        false
                    }
                };
                Received::Snapshot {
                    last_input: snapshot.last_input,
                    applied,
                }
            }
            ServerMsg::Events(events) => {
                self.report.events_received += 1;
                self.brain.handle_events(events.tick, &events.events);
                Received::Other
            }
            ServerMsg::Chat(_) => {
                self.report.chat_received += 1;
                Received::Other
            }
            ServerMsg::Error { code, reason } => {
                self.report.disconnect_reason = Some(CloseInfo { code, reason });
                Received::Error
            }
            // A redirect comes only instead of a Welcome (the client follows it when it
            // connects); after one it means nothing.
            ServerMsg::Welcome(_) | ServerMsg::Pong { .. } | ServerMsg::Redirect { .. } => {
                Received::Other
            }
        }
    }

    /// The connection ended by the server's doing or an error: how (a close frame's code and
    /// reason, or [`tickwire_net::client::ABNORMAL_CLOSE`] and what happened). The server's
    /// Error message, when one came first, is kept as the reason.
    pub fn handle_close(&mut self, info: CloseInfo) {
        self.report.disconnect_reason.get_or_insert(info);
    }

    /// Whether this tick needs an input: always for a player, and for a spectator once it has
    /// a snapshot to acknowledge.
    pub fn wants_input(&self) -> bool {
        !self.spectate || self.replica.ack_tick() != 0
    }

    /// This tick's input: the brain's command (for a player) plus every command not yet
    /// acknowledged, with the newest acknowledgement, encoded into `out` (appended). None when
    /// there is nothing to send ([`Session::wants_input`] is false).
    pub fn poll_input(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<InputSent> {
        if !self.wants_input() {
            return None;
        }
        let ack_tick = self.replica.ack_tick();
        let mut cmds = std::mem::take(&mut self.cmds);
        cmds.clear();
        let mut seq = None;
        if !self.spectate {
            // Others are seen where the interpolation shows them, a little in the past (without
            // one, at the newest view); the brain aims there and the server rewinds its hit
            // test to match.
            let seconds = self.seconds(now);
            self.render_tick = match &mut self.interpolator {
                Some(interpolator) => interpolator.render_tick(seconds),
                None => f64::from(ack_tick),
            };
            let cmd = self.brain.decide(&context_of(
                &self.welcome,
                &self.replica,
                self.interpolator.as_ref(),
                self.render_tick,
            ));
            if let Some(predictor) = &mut self.predictor {
                predictor.handle_input(self.next_seq, &cmd);
            }
            let view_tick = self.render_tick.round().max(0.0) as u32;
            self.unacked.push_back((self.next_seq, cmd, view_tick));
            seq = Some(self.next_seq);
            self.next_seq += 1;
            self.report.inputs_sent += 1;
            while self.unacked.len() > INPUTS_PER_MSG_MAX {
                self.unacked.pop_front();
            }
            cmds.extend(self.unacked.iter().map(|(_, cmd, view_tick)| {
                cmd.with_view_age(ack_tick.saturating_sub(*view_tick).min(255) as u8)
            }));
        }
        let msg = ClientMsg::Input(Input {
            ack_tick,
            first_seq: self.unacked.front().map_or(0, |(seq, _, _)| *seq),
            cmds,
        });
        self.encode(&msg, out);
        if let ClientMsg::Input(input) = msg {
            self.cmds = input.cmds;
        }
        self.report.input_messages += 1;
        Some(InputSent { seq })
    }

    /// The next chat line, encoded into `out` (appended), if one is due at `now`.
    pub fn poll_chat(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if now < self.next_chat {
            return false;
        }
        let Some(text) = self.chat.pop_front() else {
            return false;
        };
        self.next_chat += Duration::from_secs(1);
        self.encode(&ClientMsg::Chat { text }, out);
        self.report.chat_sent += 1;
        true
    }

    /// The next moment the session wants the driver's attention besides messages and ticks:
    /// the next chat line or the end of its duration (None: neither).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let chat = (!self.chat.is_empty()).then_some(self.next_chat);
        match (chat, self.deadline) {
            (Some(chat), Some(deadline)) => Some(chat.min(deadline)),
            (one, other) => one.or(other),
        }
    }

    /// Whether the session's duration is over at `now` (the driver then closes politely).
    pub fn is_expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|deadline| now >= deadline)
    }

    /// The Welcome the session started from.
    pub fn welcome(&self) -> &Welcome<G::Setup> {
        &self.welcome
    }

    /// The replica of the server's view.
    pub fn replica(&self) -> &Replica<G> {
        &self.replica
    }

    /// The own-entity predictor, when this session predicts and the game has one.
    pub fn predictor(&self) -> Option<&Predictor<G, G::Prediction>> {
        self.predictor.as_ref()
    }

    /// Payload bytes received so far.
    pub fn bytes_received(&self) -> u64 {
        self.report.bytes_received
    }

    /// Payload bytes sent so far.
    pub fn bytes_sent(&self) -> u64 {
        self.report.bytes_sent
    }

    /// The report: counters so far, rates over the time since the Welcome, prediction figures
    /// and the game's figures.
    pub fn report(&self, now: Instant) -> BotReport<G::Figures> {
        let mut report = self.report.clone();
        report.duration_s = self.seconds(now);
        report.snapshots_per_s = report.snapshots as f64 / report.duration_s.max(1e-9);
        report.bytes_per_snapshot_avg = if report.snapshots > 0 {
            self.snapshot_bytes as f64 / report.snapshots as f64
        } else {
            0.0
        };
        if let Some(predictor) = &self.predictor {
            let (p50, p99, _) = predict::quantiles(predictor.errors());
            report.prediction_error_m = ErrorQuantiles {
                p50,
                p99,
                max: predictor.max_error(),
            };
            report.corrections = predictor.corrections();
        }
        report.game = self.brain.figures(&self.context());
        report
    }

    /// After a snapshot applied: counters, acknowledged commands, interpolation, prediction,
    /// and the brain's look at the new view.
    fn handle_applied(&mut self, tick: u32, last_input: u32, now: Instant) {
        let report = &mut self.report;
        report.snapshots += 1;
        report.last_tick = tick;
        report.last_input_acked = report.last_input_acked.max(last_input);
        report.entities_seen_max = report.entities_seen_max.max(self.replica.view().len());
        while self
            .unacked
            .front()
            .is_some_and(|(seq, _, _)| *seq <= last_input)
        {
            self.unacked.pop_front();
        }
        let seconds = self.seconds(now);
        if let Some(interpolator) = &mut self.interpolator {
            interpolator.handle_snapshot(tick, seconds, self.replica.view());
        }
        if let Some(predictor) = &mut self.predictor
            && let Some(own) = self.replica.entity(self.welcome.entity)
        {
            predictor.handle_snapshot(own, last_input);
        }
        self.brain.observe(&context_of(
            &self.welcome,
            &self.replica,
            self.interpolator.as_ref(),
            self.render_tick,
        ));
    }

    /// What the brain sees now.
    fn context(&self) -> Context<'_, G> {
        context_of(
            &self.welcome,
            &self.replica,
            self.interpolator.as_ref(),
            self.render_tick,
        )
    }

    fn encode(&mut self, msg: &ClientMsg<G>, out: &mut Vec<u8>) {
        let before = out.len();
        encode_client(msg, out);
        self.report.bytes_sent += (out.len() - before) as u64;
    }

    fn seconds(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.started).as_secs_f64()
    }
}

/// What the brain sees, from the session's parts (so the brain itself can be borrowed apart).
fn context_of<'a, G: BotGame>(
    welcome: &Welcome<G::Setup>,
    replica: &'a Replica<G>,
    interpolator: Option<&'a Interpolator<G::Record>>,
    render_tick: f64,
) -> Context<'a, G> {
    Context {
        player: welcome.player,
        own: welcome.entity,
        tick_rate: u32::from(welcome.tick_rate.max(1)),
        replica,
        interpolator,
        render_tick,
    }
}

#[cfg(test)]
mod tests {
    use tickwire_protocol::{ChatBroadcast, decode_client};

    use super::*;
    use crate::test_game::{Line, Spot, Step, encoded, snapshot, welcome};

    fn session(options: SessionOptions) -> (Session<Line>, Instant) {
        let start = Instant::now();
        (Session::new(welcome(), options, start), start)
    }

    fn player() -> SessionOptions {
        SessionOptions {
            seed: 7,
            ..SessionOptions::default()
        }
    }

    /// Polls one input at `now` and decodes it as the server would.
    fn input(session: &mut Session<Line>, now: Instant) -> Option<Input<Step>> {
        let mut out = Vec::new();
        session.poll_input(now, &mut out)?;
        match decode_client::<Line>(&out) {
            Ok(ClientMsg::Input(input)) => Some(input),
            other => panic!("expected an input, got {other:?}"),
        }
    }

    /// Hands a server message to the session with its real wire size.
    fn deliver(session: &mut Session<Line>, msg: ServerMsg<Line>, now: Instant) -> Received {
        let bytes = encoded(&msg).len();
        session.handle_message(msg, bytes, now)
    }

    fn spot(x: u16) -> [Spot; 2] {
        [Spot { id: 1, x }, Spot { id: 2, x: 100 }]
    }

    #[test]
    fn inputs_acknowledge_the_newest_snapshot_and_resend_what_is_unacknowledged() {
        let (mut session, start) = session(player());
        let first = input(&mut session, start).unwrap();
        assert_eq!(
            (first.ack_tick, first.first_seq, first.cmds.len()),
            (0, 1, 1)
        );
        assert_eq!(first.cmds[0].dx, 1);

        let full = snapshot(10, &spot(5), None, 0);
        let received = deliver(&mut session, full, start);
        assert_eq!(
            received,
            Received::Snapshot {
                last_input: 0,
                applied: true
            }
        );
        let second = input(&mut session, start).unwrap();
        assert_eq!(
            (second.ack_tick, second.first_seq, second.cmds.len()),
            (10, 1, 2)
        );

        let delta = snapshot(11, &spot(6), Some((10, &spot(5))), 1);
        deliver(&mut session, delta, start);
        let third = input(&mut session, start).unwrap();
        assert_eq!(
            (third.ack_tick, third.first_seq, third.cmds.len()),
            (11, 2, 2)
        );
        assert_eq!(session.replica().view(), &spot(6));

        let report = session.report(start + Duration::from_secs(1));
        assert_eq!((report.snapshots, report.full_snapshots), (2, 1));
        assert_eq!((report.inputs_sent, report.input_messages), (3, 3));
        assert_eq!(report.last_tick, 11);
        assert_eq!(report.last_input_acked, 1);
        assert_eq!(report.entities_seen_max, 2);
        assert_eq!(report.game.views, 2);
        assert!(report.bytes_received > 0 && report.bytes_sent > 0);
        assert_eq!(report.disconnect_reason, None);
    }

    #[test]
    fn unacknowledged_commands_are_capped_to_one_message() {
        let (mut session, start) = session(player());
        let mut last = None;
        for _ in 0..20 {
            last = input(&mut session, start);
        }
        let last = last.unwrap();
        assert_eq!(last.cmds.len(), INPUTS_PER_MSG_MAX);
        assert_eq!(last.first_seq, 20 - INPUTS_PER_MSG_MAX as u32 + 1);
    }

    #[test]
    fn a_snapshot_that_does_not_apply_is_counted_and_asks_for_a_full_one() {
        let (mut session, start) = session(player());
        deliver(&mut session, snapshot(10, &spot(5), None, 0), start);
        // Coded against tick 8, which this client never had.
        let orphan = snapshot(12, &spot(7), Some((8, &spot(5))), 0);
        assert_eq!(
            deliver(&mut session, orphan, start),
            Received::Snapshot {
                last_input: 0,
                applied: false
            }
        );
        assert_eq!(input(&mut session, start).unwrap().ack_tick, 0);
        let mut corrupt = snapshot(13, &spot(7), None, 0);
        if let ServerMsg::Snapshot(snapshot) = &mut corrupt {
            snapshot.checksum ^= 1;
        }
        deliver(&mut session, corrupt, start);
        deliver(&mut session, snapshot(14, &spot(9), None, 0), start);
        assert_eq!(input(&mut session, start).unwrap().ack_tick, 14);
        let report = session.report(start);
        assert_eq!((report.snapshot_errors, report.snapshots), (2, 2));
    }

    #[test]
    fn prediction_and_interpolation_run_only_when_asked() {
        let (mut plain, start) = session(player());
        let (mut predicting, _) = session(SessionOptions {
            predict: true,
            ..player()
        });
        for session in [&mut plain, &mut predicting] {
            deliver(session, snapshot(10, &spot(5), None, 0), start);
            for tick in 11..20u32 {
                let now = start + Duration::from_millis(33 * u64::from(tick - 10));
                input(session, now);
                // The server applied every input so far, one step each.
                let x = 5 + (tick - 10) as u16;
                let last = tick - 10;
                let base = 5 + (tick - 11) as u16;
                let msg = snapshot(tick, &spot(x), Some((tick - 1, &spot(base))), last);
                deliver(session, msg, now);
            }
        }
        assert!(plain.predictor().is_none());
        let report = plain.report(start);
        assert!(!report.game.interpolated);
        assert_eq!(report.prediction_error_m, ErrorQuantiles::default());

        let predictor = predicting.predictor().expect("the line game predicts");
        assert!(!predictor.errors().is_empty());
        let report = predicting.report(start);
        assert!(report.game.interpolated);
        // The prediction is exact: one step per input, as the server does.
        assert_eq!(report.prediction_error_m.max, 0.0);
    }

    #[test]
    fn a_spectator_only_acknowledges_once_it_has_a_snapshot() {
        let (mut session, start) = session(SessionOptions {
            spectate: true,
            ..player()
        });
        assert!(!session.wants_input());
        assert!(input(&mut session, start).is_none());
        deliver(&mut session, snapshot(10, &spot(5), None, 0), start);
        let ack = input(&mut session, start).unwrap();
        assert_eq!((ack.ack_tick, ack.first_seq, ack.cmds.len()), (10, 0, 0));
        assert_eq!(session.report(start).inputs_sent, 0);
    }

    #[test]
    fn the_servers_error_is_the_disconnect_reason_over_the_close_that_follows() {
        let (mut session, start) = session(player());
        let error = ServerMsg::Error {
            code: 4004,
            reason: "too slow".into(),
        };
        assert_eq!(deliver(&mut session, error, start), Received::Error);
        session.handle_close(CloseInfo {
            code: 1006,
            reason: "connection ended".into(),
        });
        let reason = session.report(start).disconnect_reason.unwrap();
        assert_eq!((reason.code, reason.reason.as_str()), (4004, "too slow"));
    }

    #[test]
    fn chat_lines_go_out_once_a_second_and_the_duration_ends_the_session() {
        let (mut session, start) = session(SessionOptions {
            chat: vec!["hi".into(), "gg".into()],
            duration: Some(Duration::from_secs(3)),
            ..player()
        });
        let half = start + Duration::from_millis(500);
        assert_eq!(session.poll_timeout(), Some(half));
        let mut out = Vec::new();
        assert!(!session.poll_chat(start, &mut out));
        assert!(session.poll_chat(half, &mut out));
        assert_eq!(
            decode_client::<Line>(&out).unwrap(),
            ClientMsg::Chat { text: "hi".into() }
        );
        assert!(!session.poll_chat(half, &mut Vec::new()));
        assert!(session.poll_chat(half + Duration::from_secs(1), &mut Vec::new()));
        assert_eq!(session.poll_timeout(), Some(start + Duration::from_secs(3)));
        assert!(!session.is_expired(start + Duration::from_millis(2999)));
        assert!(session.is_expired(start + Duration::from_secs(3)));
        let chat = ServerMsg::Chat(ChatBroadcast {
            from: 1,
            name: "a".into(),
            text: "hi".into(),
        });
        deliver(&mut session, chat, half);
        let report = session.report(start);
        assert_eq!((report.chat_sent, report.chat_received), (2, 1));
    }
}

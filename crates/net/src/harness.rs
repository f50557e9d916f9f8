//! An in-memory harness for any game: a [`Room`] plus virtual clients that decode what the room
//! sends with the real client-side [`Replica`], with a virtual clock (ticks), configurable delay
//! and snapshot loss, a per-client link (its own delay, a downlink of so many bytes per tick),
//! and no sockets.
//!
//! It is how the engine and each game test their gameplay and protocol behaviour without the
//! network (one harness, shared by every game's tests and the benches), in the spirit of
//! quinn-proto's `Pair`. Drive it with [`Harness::join`], [`Harness::step`] (every player sends
//! a command, the room ticks, messages are delivered) or by hand through [`Harness::room`] and
//! [`Harness::deliver`].

use std::collections::VecDeque;

use tickwire_protocol::{Hello, Input, Replica, Schema, ServerMsg, decode_server};

use crate::game::Game;
use crate::room::{ClientId, Joined, Room, RoomSettings, TransmitKind};

/// A room's game's schema and command.
type Wire<G> = <G as Game>::Wire;
type Cmd<G> = <Wire<G> as Schema>::Input;

/// A virtual client: decodes what it is sent after the harness's delay, acknowledges its newest
/// snapshot in every command, and keeps what it heard.
#[derive(Debug)]
pub struct VirtualClient<G: Game> {
    /// Its connection id in the room.
    pub id: ClientId,
    /// Its view, rebuilt from the snapshots it decoded.
    pub replica: Replica<Wire<G>>,
    /// What joining gave it.
    pub joined: Joined,
    /// Whether it is a spectator.
    pub spectator: bool,
    /// Messages sent to it, waiting for the delay (and the link) to pass: tick sent, message,
    /// its size in bytes.
    pub in_flight: VecDeque<(u32, ServerMsg<Wire<G>>, usize)>,
    /// Its next command's sequence number.
    pub next_seq: u32,
    /// Chat texts received.
    pub chats: Vec<String>,
    /// Events received, with their tick.
    pub events: Vec<(u32, <Wire<G> as Schema>::Event)>,
    /// Full snapshots received (baseline age 0).
    pub full_snapshots: u32,
    /// Newest command sequence the server said it applied.
    pub last_input_acked: u32,
    /// Every message it received, in order, as bytes (to inspect exactly what a peer could read).
    pub received_bytes: Vec<Vec<u8>>,
    /// Its own link delay in ticks, instead of the harness's.
    pub link_delay: Option<u32>,
    /// Its downlink: bytes it can receive per tick (None: unlimited). Messages wait in order
    /// for the link, as they would in a socket's buffers, so a client sent more than this falls
    /// behind and acknowledges late.
    pub link_bytes_per_tick: Option<u32>,
    /// Bytes the link could still carry this tick.
    pub link_credit: u64,
    /// Snapshot bytes the room sent it (received or still on the way).
    pub snapshot_bytes_sent: u64,
    /// Bytes of every message it received.
    pub bytes_received: u64,
    /// Snapshots received.
    pub snapshots: u32,
    /// Bytes of the snapshots received.
    pub snapshot_bytes: u64,
    /// Ticks of the snapshots received, in order.
    pub snapshot_ticks: Vec<u32>,
}

/// A room and its virtual clients.
#[derive(Debug)]
pub struct Harness<G: Game> {
    /// The room under test.
    pub room: Room<G>,
    /// The clients, in join order.
    pub clients: Vec<VirtualClient<G>>,
    /// Ticks a message takes to reach a client.
    pub delay: u32,
    /// The virtual clock: ticks run so far.
    pub now: u32,
    /// Chance (per 1000) that a snapshot is lost on its way (latest-wins makes that normal).
    pub drop_per_mille: u32,
    /// Keep every received message's bytes in [`VirtualClient::received_bytes`].
    pub keep_bytes: bool,
    rng: u64,
}

/// A Hello for game `G`, joining or spectating.
pub fn hello<G: Game>(name: &str, spectate: bool) -> Hello {
    Hello {
        spectate,
        ..Hello::new::<G::Wire>(name)
    }
}

impl<G: Game> Harness<G> {
    /// A harness around a new room holding `game`.
    pub fn new(settings: RoomSettings, game: G) -> Harness<G> {
        Harness {
            room: Room::new("test".into(), settings, game),
            clients: Vec::new(),
            delay: 0,
            now: 0,
            drop_per_mille: 0,
            keep_bytes: false,
            rng: 0x1234_5678,
        }
    }

    /// Joins a player (or a spectator) and delivers its Welcome; returns its index.
    ///
    /// # Panics
    /// If the room refuses the join (use [`Room::handle_join`] to test refusals).
    pub fn join(&mut self, name: &str, spectate: bool) -> usize {
        let id = ClientId(self.clients.len() as u64 + 1);
        let joined = self
            .room
            .handle_join(id, &hello::<G>(name, spectate), [id.0 as u8; 16])
            .expect("the room accepts the join");
        self.clients.push(VirtualClient {
            id,
            replica: Replica::default(),
            joined,
            spectator: spectate,
            in_flight: VecDeque::new(),
            next_seq: 1,
            chats: Vec::new(),
            events: Vec::new(),
            full_snapshots: 0,
            last_input_acked: 0,
            received_bytes: Vec::new(),
            link_delay: None,
            link_bytes_per_tick: None,
            link_credit: 0,
            snapshot_bytes_sent: 0,
            bytes_received: 0,
            snapshots: 0,
            snapshot_bytes: 0,
            snapshot_ticks: Vec::new(),
        });
        self.deliver();
        self.clients.len() - 1
    }

    fn random(&mut self) -> u32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 16) as u32
    }

    /// Moves what the room produced to the clients (dropping some snapshots if configured) and
    /// decodes what has arrived.
    ///
    /// # Panics
    /// If the room sends bytes that do not decode, a snapshot that does not apply, or an Error.
    pub fn deliver(&mut self) {
        while let Some(transmit) = self.room.poll_transmit() {
            let snapshot_tick = match transmit.kind {
                TransmitKind::Snapshot { tick } => Some(tick),
                TransmitKind::Reliable => None,
            };
            let drop = snapshot_tick.is_some()
                && self.drop_per_mille > 0
                && self.random() % 1000 < self.drop_per_mille;
            if let (true, Some(tick)) = (drop, snapshot_tick) {
                // Lost the way the server's driver loses one: replaced before it was sent.
                self.room.handle_snapshot_unsent(transmit.to, tick);
                continue;
            }
            let msg = decode_server::<Wire<G>>(&transmit.bytes).expect("server bytes decode");
            let (now, keep_bytes) = (self.now, self.keep_bytes);
            let client = self
                .clients
                .iter_mut()
                .find(|client| client.id == transmit.to)
                .expect("a message for a known client");
            if keep_bytes {
                client.received_bytes.push(transmit.bytes.to_vec());
            }
            if snapshot_tick.is_some() {
                client.snapshot_bytes_sent += transmit.bytes.len() as u64;
            }
            client.in_flight.push_back((now, msg, transmit.bytes.len()));
        }
        let (now, delay) = (self.now, self.delay);
        for client in &mut self.clients {
            let delay = client.link_delay.unwrap_or(delay);
            while client
                .in_flight
                .front()
                .is_some_and(|(sent, _, _)| now >= sent + delay)
            {
                let size = client.in_flight.front().map_or(0, |(_, _, size)| *size);
                if client.link_bytes_per_tick.is_some() {
                    if client.link_credit < size as u64 {
                        break;
                    }
                    client.link_credit -= size as u64;
                }
                let (_, msg, _) = client.in_flight.pop_front().expect("checked above");
                client.bytes_received += size as u64;
                match msg {
                    ServerMsg::Snapshot(snapshot) => {
                        client.snapshots += 1;
                        client.snapshot_bytes += size as u64;
                        client.snapshot_ticks.push(snapshot.tick);
                        if snapshot.baseline_age == 0 {
                            client.full_snapshots += 1;
                        }
                        client.last_input_acked = client.last_input_acked.max(snapshot.last_input);
                        if let Err(error) = client.replica.handle_snapshot(&snapshot) {
                            panic!("client {:?} could not apply a snapshot: {error}", client.id);
                        }
                    }
                    ServerMsg::Chat(chat) => client.chats.push(chat.text),
                    ServerMsg::Events(events) => client
                        .events
                        .extend(events.events.into_iter().map(|event| (events.tick, event))),
                    ServerMsg::Welcome(_) | ServerMsg::Pong { .. } => {}
                    ServerMsg::Error { code, reason } => panic!("error {code}: {reason}"),
                    ServerMsg::Redirect { url, .. } => panic!("a room never redirects: {url}"),
                }
            }
        }
    }

    /// Client `index` sends `cmds` as its next commands, acknowledging its newest snapshot.
    pub fn send(&mut self, index: usize, cmds: Vec<Cmd<G>>) {
        let client = &mut self.clients[index];
        let input = Input {
            ack_tick: client.replica.ack_tick(),
            first_seq: if cmds.is_empty() { 0 } else { client.next_seq },
            cmds,
        };
        client.next_seq += input.cmds.len() as u32;
        let id = client.id;
        self.room.handle_input(id, &input);
    }

    /// Every player sends `cmd` (spectators only acknowledge), the room ticks, and what it
    /// sent is delivered.
    pub fn step(&mut self, cmd: Cmd<G>) {
        for index in 0..self.clients.len() {
            let cmds = if self.clients[index].spectator {
                Vec::new()
            } else {
                vec![cmd]
            };
            self.send(index, cmds);
        }
        self.tick();
    }

    /// The room ticks and what it sent is delivered (no commands sent).
    pub fn tick(&mut self) {
        self.room.tick();
        self.now += 1;
        for client in &mut self.clients {
            if let Some(rate) = client.link_bytes_per_tick {
                // The link carries `rate` bytes a tick of what waits; an idle link saves nothing
                // up beyond one tick's worth.
                client.link_credit = if client.in_flight.is_empty() {
                    rate as u64
                } else {
                    client.link_credit + rate as u64
                };
            }
        }
        self.deliver();
    }
}

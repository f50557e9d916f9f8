//! The in-process directory: the same rules as the Redis backend, under one lock, with the
//! process's monotonic clock. A single server needs no directory at all; this backend exists so
//! the rules have a reference implementation and the conformance suite a second subject, and
//! for tests of the cluster paths without Redis.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{
    Capacity, Directory, DirectoryError, Liveness, MatchError, MatchRequest, NodeEntry, NodeSpec,
    Placement, Reaped, RedeemError, Redeemed, RoomEntry,
};

/// A directory in this process's memory.
#[derive(Debug)]
pub struct MemoryDirectory {
    started: Instant,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    epochs: u64,
    room_names: u64,
    nodes: BTreeMap<String, Node>,
    rooms: BTreeMap<String, Room>,
    seats: HashMap<String, Seat>,
}

#[derive(Debug)]
struct Node {
    url: String,
    room_cap: u32,
    epoch: u64,
    deadline: u64,
    draining: bool,
    rooms: u32,
}

#[derive(Debug)]
struct Room {
    node: String,
    players: u32,
    spectators: u32,
    reserved_players: u32,
    reserved_spectators: u32,
    capacity: Capacity,
}

#[derive(Debug)]
struct Seat {
    room: String,
    node: String,
    spectate: bool,
    expires: u64,
}

impl Default for MemoryDirectory {
    fn default() -> Self {
        MemoryDirectory::new()
    }
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> MemoryDirectory {
        MemoryDirectory {
            started: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> (MutexGuard<'_, State>, u64) {
        let now = self.started.elapsed().as_millis() as u64;
        // A panic while holding the lock leaves the state consistent (every method checks
        // before it changes anything), so a poisoned lock is taken over.
        (
            self.state.lock().unwrap_or_else(PoisonError::into_inner),
            now,
        )
    }
}

impl State {
    fn usable(&self, node: &str, now: u64) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|node| node.deadline > now && !node.draining)
    }

    fn has_free_seat(room: &Room, spectate: bool) -> bool {
        if spectate {
            room.spectators + room.reserved_spectators < room.capacity.spectators
        } else {
            room.players + room.reserved_players < room.capacity.players
        }
    }

    fn remove_room(&mut self, name: &str) -> bool {
        let Some(room) = self.rooms.remove(name) else {
            return false;
        };
        if let Some(node) = self.nodes.get_mut(&room.node) {
            node.rooms = node.rooms.saturating_sub(1);
        }
        true
    }

    /// Places a new room on the least-loaded usable node under its cap.
    fn place(&mut self, name: String, capacity: Capacity, now: u64) -> Result<String, MatchError> {
        let node = self
            .nodes
            .iter()
            .filter(|(_, node)| node.deadline > now && !node.draining && node.rooms < node.room_cap)
            .min_by_key(|(id, node)| (node.rooms, id.as_str()))
            .map(|(id, _)| id.clone())
            .ok_or(MatchError::NoNode)?;
        if let Some(owner) = self.nodes.get_mut(&node) {
            owner.rooms += 1;
        }
        self.rooms.insert(
            name.clone(),
            Room {
                node,
                players: 0,
                spectators: 0,
                reserved_players: 0,
                reserved_spectators: 0,
                capacity,
            },
        );
        Ok(name)
    }

    /// Gives a seat's reservation back to its room (if the room is still the seat's node's),
    /// and removes a room left with nothing in it.
    fn give_back(&mut self, seat: &Seat) {
        let Some(room) = self.rooms.get_mut(&seat.room) else {
            return;
        };
        if room.node != seat.node {
            return;
        }
        if seat.spectate {
            room.reserved_spectators = room.reserved_spectators.saturating_sub(1);
        } else {
            room.reserved_players = room.reserved_players.saturating_sub(1);
        }
        if room.players + room.spectators + room.reserved_players + room.reserved_spectators == 0 {
            self.remove_room(&seat.room.clone());
        }
    }

    /// Removes a node with its rooms and seats; returns how many rooms went with it.
    fn evict(&mut self, id: &str) -> u32 {
        if self.nodes.remove(id).is_none() {
            return 0;
        }
        let before = self.rooms.len();
        self.rooms.retain(|_, room| room.node != id);
        self.seats.retain(|_, seat| seat.node != id);
        (before - self.rooms.len()) as u32
    }

    fn entry(name: &str, room: &Room) -> RoomEntry {
        RoomEntry {
            name: name.to_string(),
            node: room.node.clone(),
            players: room.players,
            spectators: room.spectators,
            reserved_players: room.reserved_players,
            reserved_spectators: room.reserved_spectators,
            capacity: room.capacity,
        }
    }
}

impl Directory for MemoryDirectory {
    async fn register(&self, spec: &NodeSpec, ttl_ms: u64) -> Result<u64, DirectoryError> {
        let (mut state, now) = self.lock();
        state.epochs += 1;
        let epoch = state.epochs;
        // A node that registers starts afresh: rooms the directory still lists for it are
        // dropped (after an eviction it claims back those it still runs).
        let stale: Vec<String> = state
            .rooms
            .iter()
            .filter(|(_, room)| room.node == spec.id)
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            state.rooms.remove(&name);
        }
        state.seats.retain(|_, seat| seat.node != spec.id);
        state.nodes.insert(
            spec.id.clone(),
            Node {
                url: spec.url.clone(),
                room_cap: spec.room_cap,
                epoch,
                deadline: now + ttl_ms,
                draining: false,
                rooms: 0,
            },
        );
        Ok(epoch)
    }

    async fn heartbeat(
        &self,
        node: &str,
        epoch: u64,
        ttl_ms: u64,
        draining: bool,
    ) -> Result<Liveness, DirectoryError> {
        let (mut state, now) = self.lock();
        match state.nodes.get_mut(node) {
            Some(entry) if entry.epoch == epoch => {
                entry.deadline = now + ttl_ms;
                entry.draining = draining;
                Ok(Liveness::Alive)
            }
            _ => Ok(Liveness::Evicted),
        }
    }

    async fn matchmake(&self, request: &MatchRequest) -> Result<Placement, MatchError> {
        let (mut state, now) = self.lock();
        let state = &mut *state;
        if state.seats.contains_key(&request.seat) {
            return Err(DirectoryError("seat id already in use".into()).into());
        }
        let (name, created) = match &request.room {
            Some(name) => match state.rooms.get(name) {
                Some(room) if state.usable(&room.node, now) => {
                    if !State::has_free_seat(room, request.spectate) {
                        return Err(MatchError::RoomFull);
                    }
                    (name.clone(), false)
                }
                Some(room)
                    if state
                        .nodes
                        .get(&room.node)
                        .is_some_and(|node| node.deadline > now) =>
                {
                    // Alive but draining: it still runs the room.
                    return Err(MatchError::Closing);
                }
                existing => {
                    // New, or its owner died: placed afresh (one entry per name). A dead owner
                    // is reaped here and then, so when it wakes it learns it was evicted and
                    // closes its copy of the room.
                    if let Some(owner) = existing.map(|room| room.node.clone()) {
                        state.evict(&owner);
                        state.remove_room(name);
                    }
                    (state.place(name.clone(), request.capacity, now)?, true)
                }
            },
            None => {
                let fullest = state
                    .rooms
                    .iter()
                    .filter(|(_, room)| {
                        State::has_free_seat(room, request.spectate)
                            && state.usable(&room.node, now)
                    })
                    .max_by(|(a_name, a), (b_name, b)| {
                        (a.players + a.reserved_players)
                            .cmp(&(b.players + b.reserved_players))
                            .then_with(|| b_name.cmp(a_name))
                    })
                    .map(|(name, _)| name.clone());
                match fullest {
                    Some(name) => (name, false),
                    None => {
                        // Named from the (random) seat id, as the Redis backend does.
                        let stem: String = request.seat.chars().take(8).collect();
                        let mut name = format!("room-{stem}");
                        while state.rooms.contains_key(&name) {
                            state.room_names += 1;
                            name = format!("room-{stem}-{}", state.room_names);
                        }
                        (state.place(name, request.capacity, now)?, true)
                    }
                }
            }
        };
        // Invariant: the room was found or placed just above.
        let room = state.rooms.get_mut(&name).expect("room picked above");
        if request.spectate {
            room.reserved_spectators += 1;
        } else {
            room.reserved_players += 1;
        }
        let node = room.node.clone();
        state.seats.insert(
            request.seat.clone(),
            Seat {
                room: name.clone(),
                node: node.clone(),
                spectate: request.spectate,
                expires: now + request.seat_ttl_ms,
            },
        );
        // Invariant: a room's owner is a registered node (rooms go with their node).
        let owner = &state.nodes[&node];
        Ok(Placement {
            url: owner.url.clone(),
            epoch: owner.epoch,
            node,
            room: name,
            created,
        })
    }

    async fn redeem(&self, node: &str, seat_id: &str) -> Result<Redeemed, RedeemError> {
        let (mut state, now) = self.lock();
        let Some(seat) = state.seats.get(seat_id) else {
            return Err(RedeemError::Unknown);
        };
        if seat.node != node {
            return Err(RedeemError::WrongNode);
        }
        // Invariant: just looked up.
        let seat = state.seats.remove(seat_id).expect("seat found above");
        let live = seat.expires > now
            && state
                .rooms
                .get(&seat.room)
                .is_some_and(|room| room.node == node);
        if !live {
            state.give_back(&seat);
            return Err(RedeemError::Unknown);
        }
        // Invariant: checked just above.
        let room = state.rooms.get_mut(&seat.room).expect("room checked above");
        if seat.spectate {
            room.reserved_spectators = room.reserved_spectators.saturating_sub(1);
            room.spectators += 1;
        } else {
            room.reserved_players = room.reserved_players.saturating_sub(1);
            room.players += 1;
        }
        Ok(Redeemed {
            room: seat.room,
            spectate: seat.spectate,
        })
    }

    async fn leave(&self, node: &str, room: &str, spectate: bool) -> Result<(), DirectoryError> {
        let (mut state, _) = self.lock();
        let Some(entry) = state.rooms.get_mut(room).filter(|entry| entry.node == node) else {
            return Ok(());
        };
        if spectate {
            entry.spectators = entry.spectators.saturating_sub(1);
        } else {
            entry.players = entry.players.saturating_sub(1);
        }
        if entry.players + entry.spectators + entry.reserved_players + entry.reserved_spectators
            == 0
        {
            state.remove_room(room);
        }
        Ok(())
    }

    async fn claim(
        &self,
        node: &str,
        epoch: u64,
        room: &RoomEntry,
    ) -> Result<bool, DirectoryError> {
        let (mut state, _) = self.lock();
        if state
            .nodes
            .get(node)
            .is_none_or(|entry| entry.epoch != epoch)
        {
            return Err(DirectoryError(
                "not registered with this epoch: register again".into(),
            ));
        }
        match state.rooms.get_mut(&room.name) {
            Some(existing) if existing.node != node => Ok(false),
            Some(existing) => {
                existing.players = room.players;
                existing.spectators = room.spectators;
                Ok(true)
            }
            None => {
                state.rooms.insert(
                    room.name.clone(),
                    Room {
                        node: node.to_string(),
                        players: room.players,
                        spectators: room.spectators,
                        reserved_players: 0,
                        reserved_spectators: 0,
                        capacity: room.capacity,
                    },
                );
                if let Some(entry) = state.nodes.get_mut(node) {
                    entry.rooms += 1;
                }
                Ok(true)
            }
        }
    }

    async fn deregister(&self, node: &str) -> Result<(), DirectoryError> {
        let (mut state, _) = self.lock();
        state.evict(node);
        Ok(())
    }

    async fn reap(&self, limit: u32) -> Result<Reaped, DirectoryError> {
        let (mut state, now) = self.lock();
        let mut reaped = Reaped::default();
        let dead: Vec<String> = state
            .nodes
            .iter()
            .filter(|(_, node)| node.deadline <= now)
            .map(|(id, _)| id.clone())
            .take(limit as usize)
            .collect();
        for id in dead {
            reaped.rooms += state.evict(&id);
            reaped.nodes += 1;
        }
        let expired: Vec<String> = state
            .seats
            .iter()
            .filter(|(_, seat)| seat.expires <= now)
            .map(|(id, _)| id.clone())
            .take(limit as usize)
            .collect();
        for id in expired {
            if let Some(seat) = state.seats.remove(&id) {
                state.give_back(&seat);
                reaped.seats += 1;
            }
        }
        Ok(reaped)
    }

    async fn rooms(&self) -> Result<Vec<RoomEntry>, DirectoryError> {
        let (state, _) = self.lock();
        Ok(state
            .rooms
            .iter()
            .map(|(name, room)| State::entry(name, room))
            .collect())
    }

    async fn nodes(&self) -> Result<Vec<NodeEntry>, DirectoryError> {
        let (state, now) = self.lock();
        Ok(state
            .nodes
            .iter()
            .map(|(id, node)| NodeEntry {
                id: id.clone(),
                url: node.url.clone(),
                rooms: node.rooms,
                room_cap: node.room_cap,
                epoch: node.epoch,
                deadline_in_ms: node.deadline as i64 - now as i64,
                draining: node.draining,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn the_in_memory_directory_keeps_every_rule() {
        super::super::conformance::run_all(async || vec![MemoryDirectory::new()]).await;
    }
}

//! Test-only fault injection (the `fault-injection` feature): make a room panic or stall.
//! Never part of the wire protocol, never built into a release.

use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use super::driver::RoomCmd;
use super::lobby::lock;
use crate::game::Game;

/// A handle for tests to reach into a running server.
#[derive(Debug)]
pub struct ServerControl<G: Game>(pub(crate) Arc<Shared<G>>);

impl<G: Game> Clone for ServerControl<G> {
    fn clone(&self) -> Self {
        ServerControl(Arc::clone(&self.0))
    }
}

impl<G: Game> ServerControl<G> {
    /// Makes the named room's task panic. Returns whether the room exists.
    pub fn inject_room_panic(&self, room: &str) -> bool {
        self.send(room, RoomCmd::Panic)
    }

    /// Blocks the named room's task for `duration` (as an overloaded tick would). Returns
    /// whether the room exists.
    pub fn inject_room_stall(&self, room: &str, duration: Duration) -> bool {
        self.send(room, RoomCmd::Stall(duration))
    }

    /// Poisons the server's locks (the lobby and the per-address counts): a thread panics
    /// while holding each, as a bug would. Joins, resumes and routes must still work after.
    pub fn inject_lock_poison(&self) {
        let shared = Arc::clone(&self.0);
        let holder = std::thread::spawn(move || {
            let _lobby = shared.lobby.lock();
            let _per_ip = shared.per_ip.lock();
            panic!("injected panic while holding the server's locks");
        });
        assert!(holder.join().is_err(), "the holder panicked");
        assert!(self.0.lobby.is_poisoned() && self.0.per_ip.is_poisoned());
    }

    fn send(&self, room: &str, command: RoomCmd<G>) -> bool {
        let inbox = lock(&self.0.lobby)
            .rooms
            .get(room)
            .map(|entry| entry.inbox.clone());
        inbox.is_some_and(|inbox| inbox.try_send(command).is_ok())
    }
}

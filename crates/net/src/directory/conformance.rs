//! The rules of [`super`] as checks any backend must pass, run by the engine's tests against
//! [`super::MemoryDirectory`] and by tickwire-cluster's against Redis. Each check takes views of
//! one store (several connections to it, as several nodes would have; the same instance for the
//! in-memory backend), starts from an empty store, and ends with [`check_invariants`]. Timings
//! are short (hundreds of milliseconds) so the suite runs in seconds.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;

use super::{
    Capacity, Directory, Liveness, MatchError, MatchRequest, NodeSpec, RedeemError, RoomEntry,
};

/// A node's heartbeat lifetime in these checks.
pub const TTL_MS: u64 = 600;
/// A seat's lifetime in these checks.
pub const SEAT_TTL_MS: u64 = 250;
/// Seats of every room the checks create.
pub const CAPACITY: Capacity = Capacity {
    players: 32,
    spectators: 4,
};

fn node(id: &str) -> NodeSpec {
    NodeSpec {
        id: id.to_string(),
        url: format!("ws://{id}.test:7700/ws"),
        room_cap: 100,
    }
}

fn request(room: Option<&str>, seat: usize, spectate: bool) -> MatchRequest {
    MatchRequest {
        room: room.map(str::to_string),
        spectate,
        seat: format!("{seat:032x}"),
        seat_ttl_ms: SEAT_TTL_MS,
        capacity: CAPACITY,
    }
}

/// Every check, in order, each on an emptied store: `fresh` empties it and returns the views.
pub async fn run_all<D: Directory>(fresh: impl AsyncFn() -> Vec<D>) {
    concurrent_matchmakes_for_one_name_make_one_room(&fresh().await).await;
    concurrent_unnamed_matchmakes_fill_rooms_in_turn(&fresh().await).await;
    unredeemed_seats_come_back(&fresh().await).await;
    seats_are_redeemed_once_on_their_node(&fresh().await).await;
    a_dead_or_draining_owner_is_never_handed_a_seat(&fresh().await).await;
    concurrent_reapers_equal_one(&fresh().await).await;
    an_evicted_node_claims_back_what_nobody_took(&fresh().await).await;
    leaving_empties_and_removes_rooms(&fresh().await).await;
}

/// The invariants after any sequence of operations: no room over its capacity, and, once dead
/// nodes are reaped, every room owned by a registered node whose room count is right.
pub async fn check_invariants<D: Directory>(dir: &D) {
    dir.reap(1000).await.expect("reaps");
    let rooms = dir.rooms().await.expect("rooms");
    let nodes = dir.nodes().await.expect("nodes");
    for room in &rooms {
        assert!(
            room.players + room.reserved_players <= room.capacity.players,
            "over capacity: {room:?}"
        );
        assert!(
            room.spectators + room.reserved_spectators <= room.capacity.spectators,
            "over capacity: {room:?}"
        );
        assert!(
            nodes.iter().any(|node| node.id == room.node),
            "room of an unknown node: {room:?} among {nodes:?}"
        );
    }
    for node in &nodes {
        let owned = rooms.iter().filter(|room| room.node == node.id).count() as u32;
        assert_eq!(node.rooms, owned, "room count of {node:?}");
    }
}

/// 200 concurrent matchmakes for one named room of 32 seats, through three connections: one
/// room, 32 seats, 168 refusals.
pub async fn concurrent_matchmakes_for_one_name_make_one_room<D: Directory>(dirs: &[D]) {
    for id in ["a", "b", "c"] {
        dirs[0]
            .register(&node(id), 10_000)
            .await
            .expect("registers");
    }
    let results = join_all((0..200).map(|index| {
        let dir = &dirs[index % dirs.len()];
        async move { dir.matchmake(&request(Some("final"), index, false)).await }
    }))
    .await;
    let placed: Vec<_> = results
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .collect();
    let full = results
        .iter()
        .filter(|result| matches!(result, Err(MatchError::RoomFull)))
        .count();
    let errors: Vec<_> = results
        .iter()
        .filter_map(|result| result.as_ref().err())
        .collect();
    assert_eq!(
        (placed.len(), full),
        (32, 168),
        "placed, room full; other errors: {:?}",
        errors
            .iter()
            .filter(|error| **error != &MatchError::RoomFull)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        placed.iter().filter(|placement| placement.created).count(),
        1
    );
    let owners: BTreeSet<_> = placed.iter().map(|placement| &placement.node).collect();
    assert_eq!(owners.len(), 1, "one owner: {owners:?}");
    let rooms = dirs[0].rooms().await.expect("rooms");
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    assert_eq!(rooms[0].reserved_players, 32);
    check_invariants(&dirs[0]).await;
}

/// 200 concurrent unnamed matchmakes: ceil(200 / 32) = 7 rooms, none over capacity, spread
/// over the nodes (least loaded first).
pub async fn concurrent_unnamed_matchmakes_fill_rooms_in_turn<D: Directory>(dirs: &[D]) {
    for id in ["a", "b", "c"] {
        dirs[0]
            .register(&node(id), 10_000)
            .await
            .expect("registers");
    }
    let results = join_all((0..200).map(|index| {
        let dir = &dirs[index % dirs.len()];
        async move { dir.matchmake(&request(None, index, false)).await }
    }))
    .await;
    let failed: Vec<_> = results
        .iter()
        .filter_map(|result| result.as_ref().err())
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    let rooms = dirs[0].rooms().await.expect("rooms");
    assert_eq!(rooms.len(), 7, "{rooms:?}");
    let seats: u32 = rooms.iter().map(|room| room.reserved_players).sum();
    assert_eq!(seats, 200);
    let nodes = dirs[0].nodes().await.expect("nodes");
    let counts: Vec<u32> = nodes.iter().map(|node| node.rooms).collect();
    assert_eq!(counts, [3, 2, 2], "least loaded first, ties by id");
    check_invariants(&dirs[0]).await;
}

/// A seat not redeemed within its lifetime is given back; a room made for seats nobody
/// redeemed goes with them.
pub async fn unredeemed_seats_come_back<D: Directory>(dirs: &[D]) {
    let dir = &dirs[0];
    dir.register(&node("a"), 10_000).await.expect("registers");
    for index in 0..5 {
        dir.matchmake(&request(Some("lobby"), index, false))
            .await
            .expect("a seat");
    }
    let redeemed = dir.redeem("a", &format!("{:032x}", 0)).await;
    assert!(redeemed.is_ok(), "{redeemed:?}");
    tokio::time::sleep(Duration::from_millis(SEAT_TTL_MS + 150)).await;
    let reaped = dir.reap(100).await.expect("reaps");
    assert_eq!(reaped.seats, 4, "{reaped:?}");
    let rooms = dir.rooms().await.expect("rooms");
    assert_eq!(rooms.len(), 1);
    assert_eq!((rooms[0].players, rooms[0].reserved_players), (1, 0));
    // An expired seat is refused even before the reaper ran.
    dir.matchmake(&request(Some("lobby"), 10, false))
        .await
        .expect("a seat");
    tokio::time::sleep(Duration::from_millis(SEAT_TTL_MS + 150)).await;
    assert_eq!(
        dir.redeem("a", &format!("{:032x}", 10)).await,
        Err(RedeemError::Unknown)
    );
    // Seats of a room nobody ever redeemed: the room goes too.
    dir.matchmake(&request(Some("ghost"), 20, false))
        .await
        .expect("a seat");
    tokio::time::sleep(Duration::from_millis(SEAT_TTL_MS + 150)).await;
    dir.reap(100).await.expect("reaps");
    let names: Vec<String> = dir
        .rooms()
        .await
        .expect("rooms")
        .into_iter()
        .map(|room| room.name)
        .collect();
    assert_eq!(names, ["lobby"]);
    check_invariants(dir).await;
}

/// A seat is redeemed once, only on the node that owns its room; replays and unknown seats are
/// refused.
pub async fn seats_are_redeemed_once_on_their_node<D: Directory>(dirs: &[D]) {
    let dir = &dirs[0];
    dir.register(&node("a"), 10_000).await.expect("registers");
    dir.register(&node("b"), 10_000).await.expect("registers");
    let placed = dir
        .matchmake(&request(Some("duel"), 1, false))
        .await
        .expect("a seat");
    let seat = format!("{:032x}", 1);
    let other = if placed.node == "a" { "b" } else { "a" };
    assert_eq!(dir.redeem(other, &seat).await, Err(RedeemError::WrongNode));
    let redeemed = dir.redeem(&placed.node, &seat).await.expect("redeems");
    assert_eq!(redeemed.room, "duel");
    assert!(!redeemed.spectate);
    assert_eq!(
        dir.redeem(&placed.node, &seat).await,
        Err(RedeemError::Unknown),
        "a replay"
    );
    assert_eq!(
        dir.redeem(&placed.node, &format!("{:032x}", 99)).await,
        Err(RedeemError::Unknown),
        "never issued"
    );
    // A spectator seat counts against the spectator seats.
    for index in 0..4 {
        dir.matchmake(&request(Some("duel"), 100 + index, true))
            .await
            .expect("a spectator seat");
    }
    assert_eq!(
        dir.matchmake(&request(Some("duel"), 200, true)).await,
        Err(MatchError::RoomFull)
    );
    let rooms = dir.rooms().await.expect("rooms");
    assert_eq!((rooms[0].players, rooms[0].reserved_spectators), (1, 4));
    check_invariants(dir).await;
}

/// A room whose owner missed its deadline is never handed out (its name is placed afresh on a
/// live node, even before any reaper ran); a draining owner gets no new seats.
pub async fn a_dead_or_draining_owner_is_never_handed_a_seat<D: Directory>(dirs: &[D]) {
    let dir = &dirs[0];
    let epoch_a = dir.register(&node("a"), TTL_MS).await.expect("registers");
    dir.register(&node("b"), 10_000).await.expect("registers");
    dir.register(&node("c"), 10_000).await.expect("registers");
    // a owns "keep" (the least loaded, first by id).
    let placed = dir
        .matchmake(&request(Some("keep"), 1, false))
        .await
        .expect("a seat");
    assert_eq!(placed.node, "a");
    dir.redeem("a", &format!("{:032x}", 1))
        .await
        .expect("redeems");
    // a stops heartbeating.
    tokio::time::sleep(Duration::from_millis(TTL_MS + 150)).await;
    let again = dir
        .matchmake(&request(Some("keep"), 2, false))
        .await
        .expect("a seat");
    assert_ne!(again.node, "a");
    assert!(again.created, "placed afresh");
    for index in 0..40 {
        let placed = dir
            .matchmake(&request(None, 10 + index, false))
            .await
            .expect("a seat");
        assert_ne!(placed.node, "a");
    }
    let rooms = dir.rooms().await.expect("rooms");
    let keep: Vec<&RoomEntry> = rooms.iter().filter(|room| room.name == "keep").collect();
    assert_eq!(keep.len(), 1, "one entry per name: {rooms:?}");
    // Placing its room elsewhere evicted a: when it wakes it learns so (and closes "keep").
    assert_eq!(
        dir.heartbeat("a", epoch_a, TTL_MS, false).await,
        Ok(Liveness::Evicted)
    );
    // b drains: no new seats on it; its named room is closing.
    let epoch_b = dir
        .nodes()
        .await
        .expect("nodes")
        .into_iter()
        .find(|node| node.id == "b")
        .expect("b is registered")
        .epoch;
    assert_eq!(
        dir.heartbeat("b", epoch_b, 10_000, true).await,
        Ok(Liveness::Alive)
    );
    let on_b: Vec<String> = dir
        .rooms()
        .await
        .expect("rooms")
        .into_iter()
        .filter(|room| room.node == "b")
        .map(|room| room.name)
        .collect();
    for index in 0..40 {
        let placed = dir
            .matchmake(&request(None, 100 + index, false))
            .await
            .expect("a seat");
        assert_ne!(placed.node, "b");
    }
    if let Some(name) = on_b.first() {
        assert_eq!(
            dir.matchmake(&request(Some(name), 200, false)).await,
            Err(MatchError::Closing)
        );
    }
    check_invariants(dir).await;
}

/// Three reapers at once remove what one would, once.
pub async fn concurrent_reapers_equal_one<D: Directory>(dirs: &[D]) {
    let dir = &dirs[0];
    dir.register(&node("a"), TTL_MS).await.expect("registers");
    dir.register(&node("b"), TTL_MS).await.expect("registers");
    dir.register(&node("c"), 10_000).await.expect("registers");
    for index in 0..6 {
        dir.matchmake(&request(Some(&format!("r{index}")), index, false))
            .await
            .expect("a seat");
    }
    tokio::time::sleep(Duration::from_millis(TTL_MS + 150)).await;
    let passes =
        join_all((0..3).map(|index| async move { dirs[index % dirs.len()].reap(100).await })).await;
    let mut total = super::Reaped::default();
    for pass in passes {
        let pass = pass.expect("reaps");
        total.nodes += pass.nodes;
        total.rooms += pass.rooms;
        total.seats += pass.seats;
    }
    // a and b died with two rooms each; c's two seats expired with their rooms.
    assert_eq!(
        (total.nodes, total.rooms, total.seats),
        (2, 4, 2),
        "{total:?}"
    );
    assert_eq!(dir.rooms().await.expect("rooms"), []);
    let nodes: Vec<String> = dir
        .nodes()
        .await
        .expect("nodes")
        .into_iter()
        .map(|node| node.id)
        .collect();
    assert_eq!(nodes, ["c"]);
    check_invariants(dir).await;
}

/// A node that stalled past its deadline and was reaped learns it was evicted, registers
/// again, keeps the rooms nobody took and loses the one placed elsewhere meanwhile.
pub async fn an_evicted_node_claims_back_what_nobody_took<D: Directory>(dirs: &[D]) {
    let dir = &dirs[0];
    let old_epoch = dir.register(&node("a"), TTL_MS).await.expect("registers");
    for (index, name) in ["mine", "taken"].iter().enumerate() {
        dir.matchmake(&request(Some(name), index, false))
            .await
            .expect("a seat");
        dir.redeem("a", &format!("{index:032x}"))
            .await
            .expect("redeems");
    }
    dir.register(&node("b"), 10_000).await.expect("registers");
    tokio::time::sleep(Duration::from_millis(TTL_MS + 150)).await;
    dir.reap(100).await.expect("reaps");
    let taken = dir
        .matchmake(&request(Some("taken"), 10, false))
        .await
        .expect("a seat");
    assert_eq!(taken.node, "b");
    // a wakes up.
    assert_eq!(
        dir.heartbeat("a", old_epoch, TTL_MS, false).await,
        Ok(Liveness::Evicted)
    );
    let epoch = dir.register(&node("a"), 10_000).await.expect("registers");
    assert!(epoch > old_epoch);
    let mine = RoomEntry {
        name: "mine".into(),
        node: "a".into(),
        players: 1,
        spectators: 0,
        reserved_players: 0,
        reserved_spectators: 0,
        capacity: CAPACITY,
    };
    assert_eq!(dir.claim("a", epoch, &mine).await, Ok(true));
    let taken_back = RoomEntry {
        name: "taken".into(),
        ..mine.clone()
    };
    assert_eq!(dir.claim("a", epoch, &taken_back).await, Ok(false));
    // A claim with the old epoch is refused without deciding anything.
    let other = RoomEntry {
        name: "other".into(),
        ..mine.clone()
    };
    assert!(
        dir.claim("a", old_epoch, &other).await.is_err(),
        "a stale epoch decides nothing"
    );
    let rooms = dir.rooms().await.expect("rooms");
    let owners: Vec<(&str, &str)> = rooms
        .iter()
        .map(|room| (room.name.as_str(), room.node.as_str()))
        .collect();
    assert_eq!(owners, [("mine", "a"), ("taken", "b")]);
    check_invariants(dir).await;
}

/// Leaving moves occupancy by one; an empty room with nothing reserved is removed; deregistering
/// removes a node and its rooms.
pub async fn leaving_empties_and_removes_rooms<D: Directory>(dirs: &[D]) {
    let dir = &dirs[0];
    dir.register(&node("a"), 10_000).await.expect("registers");
    for index in 0..2 {
        dir.matchmake(&request(Some("pair"), index, false))
            .await
            .expect("a seat");
        dir.redeem("a", &format!("{index:032x}"))
            .await
            .expect("redeems");
    }
    dir.leave("a", "pair", false).await.expect("leaves");
    assert_eq!(dir.rooms().await.expect("rooms")[0].players, 1);
    // Another node's report about a room it does not own changes nothing.
    dir.leave("b", "pair", false).await.expect("answers");
    assert_eq!(dir.rooms().await.expect("rooms")[0].players, 1);
    dir.leave("a", "pair", false).await.expect("leaves");
    assert_eq!(dir.rooms().await.expect("rooms"), []);
    dir.matchmake(&request(Some("solo"), 5, false))
        .await
        .expect("a seat");
    dir.deregister("a").await.expect("deregisters");
    assert_eq!(dir.rooms().await.expect("rooms"), []);
    assert_eq!(dir.nodes().await.expect("nodes"), []);
    assert_eq!(
        dir.matchmake(&request(None, 6, false)).await,
        Err(MatchError::NoNode)
    );
    check_invariants(dir).await;
}

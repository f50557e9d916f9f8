//! Lag compensation end to end: a shooter 100 ms away (each way, through the fault proxy) aims
//! at where its interpolated view shows a moving target. With compensation the server rewinds
//! the target to that moment and the shots hit; with it off the same shots miss.

use std::time::Duration;

use tickwire_arena::{Arena, BUTTON_HITSCAN, GameEvent, InputCmd};
use tickwire_bot::predict::Interpolator;
use tickwire_net::Client;
use tickwire_protocol::{ClientMsg, Input, Replica, ServerMsg, quant};
use tickwire_sim::Vec2;
use tickwire_tests::proxy::{FaultProxy, Faults};
use tickwire_tests::{hello, set_arena, set_arena_rule, start_server};
use tokio::time::{Instant, interval};

/// Returns (shots fired, shots that hit the target).
async fn duel(lag_compensation: bool) -> (u32, u32) {
    let server = start_server(|config| {
        set_arena(config, "map", "open");
        set_arena(config, "view_radius", 400.0);
        set_arena_rule(config, "lag_compensation", lag_compensation);
        set_arena_rule(config, "hitscan_range", 400.0);
        set_arena_rule(config, "hitscan_damage", 1);
    })
    .await;
    let proxy = FaultProxy::start(server.addr).await;
    proxy.set(Faults {
        latency: Duration::from_millis(100),
        ..Faults::default()
    });
    let mut target = Client::<Arena>::connect(
        &server.url,
        hello("target", Some("duel")),
        Duration::from_secs(5),
    )
    .await
    .expect("target joins");
    let mut shooter = Client::<Arena>::connect(
        &proxy.url(),
        hello("shooter", Some("duel")),
        Duration::from_secs(5),
    )
    .await
    .expect("shooter joins");
    let target_entity = target.welcome().entity;
    let shooter_entity = shooter.welcome().entity;
    let tick_rate = shooter.welcome().tick_rate as u32;

    let mut replica = Replica::<Arena>::default();
    let mut interpolator = Interpolator::new(tick_rate);
    let mut target_replica = Replica::<Arena>::default();
    let started = Instant::now();
    let mut ticker = interval(Duration::from_secs_f64(1.0 / tick_rate as f64));
    let (mut seq, mut target_seq) = (1u32, 1u32);
    let (mut shots, mut hits) = (0u32, 0u32);
    let mut direction: Option<Vec2> = None;
    while started.elapsed() < Duration::from_secs(4) {
        tokio::select! {
            msg = shooter.recv() => match msg.expect("shooter connected") {
                ServerMsg::Snapshot(snapshot) => {
                    replica.handle_snapshot(&snapshot).expect("applies");
                    interpolator.handle_snapshot(snapshot.tick, started.elapsed().as_secs_f64(), replica.view());
                }
                ServerMsg::Events(events) => {
                    for event in events.events {
                        if let GameEvent::Shot { shooter, hit, .. } = event
                            && shooter == shooter_entity
                        {
                            shots += 1;
                            hits += (hit == target_entity) as u32;
                        }
                    }
                }
                _ => {}
            },
            msg = target.recv() => {
                if let ServerMsg::Snapshot(snapshot) = msg.expect("target connected") {
                    target_replica.handle_snapshot(&snapshot).expect("applies");
                }
            }
            _ = ticker.tick() => {
                let now = started.elapsed().as_secs_f64();
                let render = interpolator.render_tick(now);
                let own = replica.entity(shooter_entity).map(|s| Vec2::new(quant::pos_from_wire(s.x), quant::pos_from_wire(s.y)));
                let seen = interpolator
                    .sample(target_entity, render)
                    .map(tickwire_arena::client::position);
                // The target runs at right angles to the line between them.
                if direction.is_none() && let (Some(own), Some(seen)) = (own, seen) {
                    direction = Some((seen - own).normalize_or_zero().perp());
                }
                let run = direction.unwrap_or(Vec2::ZERO);
                let target_cmd = InputCmd {
                    move_x: quant::axis_to_wire(run.x),
                    move_y: quant::axis_to_wire(run.y),
                    ..InputCmd::default()
                };
                target.send(&ClientMsg::Input(Input { ack_tick: target_replica.ack_tick(), first_seq: target_seq, cmds: vec![target_cmd] })).await.expect("sends");
                target_seq += 1;

                let mut cmd = InputCmd::default();
                if let (Some(own), Some(seen)) = (own, seen) {
                    let to = seen - own;
                    cmd.aim = quant::input_aim_to_wire(to.y.atan2(to.x));
                    // Shoot once things are moving and the interpolation buffer is full.
                    if now > 1.0 {
                        cmd.buttons = BUTTON_HITSCAN;
                    }
                    cmd.view_age = (replica.ack_tick() as f64 - render).round().clamp(0.0, 255.0) as u8;
                }
                shooter.send(&ClientMsg::Input(Input { ack_tick: replica.ack_tick(), first_seq: seq, cmds: vec![cmd] })).await.expect("sends");
                seq += 1;
            }
        }
    }
    server.stop().await;
    eprintln!("lag compensation {lag_compensation}: {hits} of {shots} shots hit");
    (shots, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compensated_shots_hit_what_the_shooter_saw() {
    let (shots, hits) = duel(true).await;
    assert!(shots >= 4, "{shots} shots");
    assert!(
        hits * 10 >= shots * 8,
        "with compensation {hits} of {shots} hit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncompensated_shots_miss() {
    let (shots, hits) = duel(false).await;
    assert!(shots >= 4, "{shots} shots");
    assert!(
        hits * 10 <= shots * 2,
        "without compensation {hits} of {shots} hit"
    );
}

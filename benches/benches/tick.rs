//! Simulation throughput: `World::step` at 1,000, 10,000 and 100,000 entities, against a bare
//! position-integration loop over the same number of bodies in the same run.
//!
//! Each world is a square field with 16 pillars and 256 spawn points, sized so the density is the
//! same at every count (100,000 entities on the largest map, 4,096 m). A tenth of the entities
//! are players driven by seeded bot-like inputs (walk, turn every 1-3 s, fire in bursts), so
//! there are projectiles, hits, kills and respawns; the rest are wandering NPCs. Projectiles add
//! to the count, so throughput is reported per entity actually stepped. The baseline is
//! `pos += vel * dt` over a `Vec<Vec2>` with reflection at the map's edges: the floor no game
//! logic can beat.
//!
//! Before criterion runs, the bench times a fixed number of steps with `Instant` (median of 5
//! runs), prints entity-ticks per second for both loops and their ratio, and writes the figures
//! to `target/tickwire-bench/tick.json` so they are easy to quote. Criterion then reports the
//! same two loops with `Throughput::Elements` (entities per step).
//!
//! Run: `cargo bench -p tickwire-benches --bench tick` (add `-- tick/10000` to time one size).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use serde_json::json;
use tickwire_arena::{EntityKind, Event, PlayerInput, Rules, World};
use tickwire_benches::{Wanderers, field_map, median_of_runs, write_report};
use tickwire_sim::{PlayerId, Vec2};

/// Entity counts measured.
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// Entities per square meter: 100,000 on the largest map allowed (4,096 m square).
const DENSITY: f32 = 100_000.0 / (4096.0 * 4096.0);
/// Simulation rate of every world.
const TICK_RATE: u32 = 30;
/// Timed runs per loop for the report; the median is kept.
const RUNS: usize = 5;

fn main() {
    let mut scenes: Vec<Scene> = SIZES.into_iter().map(Scene::new).collect();
    let figures: Vec<serde_json::Value> = scenes.iter_mut().map(Scene::measure).collect();
    write_report(
        "tick",
        &json!({
            "tick_rate_hz": TICK_RATE,
            "runs": RUNS,
            "statistic": "median of the runs",
            "baseline": "pos += vel * dt over Vec<Vec2> with reflection at the map edges, same entity count",
            "sizes": figures,
        }),
    );

    let mut criterion = tickwire_benches::criterion();
    for scene in &mut scenes {
        scene.bench(&mut criterion);
    }
    criterion.final_summary();
}

/// One world of a given size with its players' inputs, and the baseline over as many bodies.
struct Scene {
    nominal: usize,
    side: f32,
    players: usize,
    world: World,
    wanderers: Wanderers,
    inputs: Vec<(PlayerId, PlayerInput)>,
    events: Vec<Event>,
    baseline: Integration,
}

impl Scene {
    /// Builds a world of `nominal` entities (a tenth players) and runs 3 s of warm-up, so bodies
    /// have spread from the spawn points and the projectile population is steady.
    fn new(nominal: usize) -> Scene {
        let side = (nominal as f32 / DENSITY).sqrt().min(4096.0).round();
        let map = field_map(&format!("field-{nominal}"), side, 4, 16);
        let mut world = World::new(map, Rules::default(), TICK_RATE, nominal as u64);
        let players: Vec<PlayerId> = (0..nominal / 10)
            .map(|index| world.add_player(&format!("bot{index}")))
            .collect();
        for _ in players.len()..nominal {
            world.add_npc();
        }
        let wanderers = Wanderers::new(nominal as u64 + 1, &players, TICK_RATE, true);
        let mut scene = Scene {
            nominal,
            side,
            players: players.len(),
            world,
            wanderers,
            inputs: Vec::new(),
            events: Vec::new(),
            baseline: Integration::default(),
        };
        for _ in 0..3 * TICK_RATE {
            scene.step();
        }
        scene.baseline = Integration::from_world(&scene.world);
        scene
    }

    /// One tick: the bots decide (only changed inputs are passed), then the world steps.
    fn step(&mut self) {
        self.wanderers.step(&self.world);
        self.wanderers.changed_inputs(&mut self.inputs);
        self.events.clear();
        self.world.step(&self.inputs, &mut self.events);
    }

    /// Times both loops outside criterion, prints a line and returns the JSON figures.
    fn measure(&mut self) -> serde_json::Value {
        // About 2M entity-steps per run: long enough to time, short enough for a 2-core box.
        let steps = (2_000_000 / self.nominal).max(10);
        let projectiles = self
            .world
            .entities()
            .filter(|entity| matches!(entity.kind, EntityKind::Projectile { .. }))
            .count();
        let mut entity_steps = 0usize;
        let mut events = 0usize;
        let world_time = median_of_runs(RUNS, || {
            for _ in 0..steps {
                self.step();
                entity_steps += self.world.entity_count();
                events += self.events.len();
            }
        });
        let entities = entity_steps as f64 / (RUNS * steps) as f64;
        let world_ns = world_time.as_secs_f64() * 1e9 / (steps as f64 * entities);

        let baseline_steps = steps * 20;
        let bodies = self.baseline.pos.len() as f64;
        let baseline_time = median_of_runs(RUNS, || {
            for _ in 0..baseline_steps {
                self.baseline.step();
            }
            black_box(&self.baseline.pos);
        });
        let baseline_ns = baseline_time.as_secs_f64() * 1e9 / (baseline_steps as f64 * bodies);

        let step_ms = world_time.as_secs_f64() * 1e3 / steps as f64;
        let budget_percent = step_ms / (1000.0 / TICK_RATE as f64) * 100.0;
        println!(
            "tick/{:<6} {:>7.0} entities ({} players, {} projectiles, {:.0} m map): \
             world {:>6.1} ns/entity-tick ({:>5.1} M/s, {:.3} ms/step = {:.1}% of a {} Hz tick) | \
             bare loop {:>5.2} ns/entity-tick ({:>6.0} M/s) | world/bare {:.0}x",
            self.nominal,
            entities,
            self.players,
            projectiles,
            self.side,
            world_ns,
            1e3 / world_ns,
            step_ms,
            budget_percent,
            TICK_RATE,
            baseline_ns,
            1e3 / baseline_ns,
            world_ns / baseline_ns,
        );
        json!({
            "nominal_entities": self.nominal,
            "entities_avg": entities,
            "players": self.players,
            "projectiles_after_warm_up": projectiles,
            "map_side_m": self.side,
            "walls": self.world.map().walls.len(),
            "steps_per_run": steps,
            "events_per_step": events as f64 / (RUNS * steps) as f64,
            "world": {
                "ms_per_step": step_ms,
                "ns_per_entity_tick": world_ns,
                "entity_ticks_per_s": 1e9 / world_ns,
                "percent_of_tick_budget": budget_percent,
            },
            "bare_integration": {
                "bodies": bodies,
                "ns_per_entity_tick": baseline_ns,
                "entity_ticks_per_s": 1e9 / baseline_ns,
            },
            "world_over_bare": world_ns / baseline_ns,
        })
    }

    fn bench(&mut self, criterion: &mut Criterion) {
        let mut group = criterion.benchmark_group(format!("tick/{}", self.nominal));
        if self.nominal >= 100_000 {
            group.sample_size(10);
        }
        group.throughput(Throughput::Elements(self.world.entity_count() as u64));
        group.bench_function("world-step", |bencher| bencher.iter(|| self.step()));
        group.throughput(Throughput::Elements(self.baseline.pos.len() as u64));
        group.bench_function("bare-integration", |bencher| {
            bencher.iter(|| {
                self.baseline.step();
                black_box(&self.baseline.pos);
            })
        });
        group.finish();
    }
}

/// The baseline: positions and velocities in two vectors, integrated with edge reflection.
#[derive(Default)]
struct Integration {
    pos: Vec<Vec2>,
    vel: Vec<Vec2>,
    size: Vec2,
    dt: f32,
}

impl Integration {
    /// As many bodies as the world has entities, with their positions and velocities.
    fn from_world(world: &World) -> Integration {
        Integration {
            pos: world.entities().map(|entity| entity.pos).collect(),
            vel: world.entities().map(|entity| entity.vel).collect(),
            size: Vec2::new(world.map().width, world.map().height),
            dt: world.dt(),
        }
    }

    fn step(&mut self) {
        let (size, dt) = (self.size, self.dt);
        for (pos, vel) in self.pos.iter_mut().zip(self.vel.iter_mut()) {
            *pos += *vel * dt;
            if pos.x < 0.0 || pos.x > size.x {
                vel.x = -vel.x;
                pos.x = pos.x.clamp(0.0, size.x);
            }
            if pos.y < 0.0 || pos.y > size.y {
                vel.y = -vel.y;
                pos.y = pos.y.clamp(0.0, size.y);
            }
        }
    }
}

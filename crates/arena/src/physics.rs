//! Movement and collision: the player movement rule, circle-versus-wall sliding, and the swept
//! tests projectiles use.
//!
//! Everything here is a pure function of its arguments, so clients can run [`move_player`] to
//! predict their own movement and get the server's answer bit for bit.

use tickwire_sim::{POS_GRID, Vec2, snap};

use crate::input::PlayerInput;
use crate::map::{Map, Wall};
use crate::rules::Rules;
use crate::walls::WallGrid;

/// A sub-step moves a circle at most this fraction of its radius, so it cannot skip a wall.
const SUBSTEP_RADIUS_FRACTION: f32 = 0.5;
/// Upper bound on sub-steps per move; only reached with extreme rules (tiny, very fast bodies).
const MAX_SUBSTEPS: usize = 64;
/// Overlap resolution passes per sub-step (a corner needs two; more is a safety margin).
const RESOLVE_PASSES: usize = 4;
/// Smallest radius collision code works with, so no division by a zero radius.
const MIN_RADIUS: f32 = 0.01;

/// The player movement rule, shared by the server and client-side prediction.
///
/// From `pos` and `vel`, one step of `dt` seconds: accelerate toward `move_dir * max_speed` at
/// `player_accel` (or slow down at `player_friction` without movement input), clamp to
/// `player_max_speed`, then move by `snap(vel * dt)`, sliding along walls (the velocity loses its
/// component into a wall it touches) and staying inside the map. Returns the new `(pos, vel)`;
/// `pos` is snapped with [`snap`]. Inputs are sanitized; non-finite `pos`, `vel` or `dt` cannot
/// produce a non-finite result.
pub fn move_player(
    rules: &Rules,
    map: &Map,
    dt: f32,
    pos: Vec2,
    vel: Vec2,
    input: &PlayerInput,
) -> (Vec2, Vec2) {
    move_body(
        &rules.clone().sanitized(),
        map,
        None,
        dt,
        pos,
        vel,
        &input.sanitized(),
    )
}

/// [`move_player`] for rules and an input that are already sanitized (sanitizing is
/// idempotent, so the result is the same), with the world's wall index.
pub(crate) fn move_body(
    rules: &Rules,
    map: &Map,
    walls: Option<&WallGrid>,
    dt: f32,
    pos: Vec2,
    vel: Vec2,
    input: &PlayerInput,
) -> (Vec2, Vec2) {
    let dt = if dt.is_finite() {
        dt.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = if pos.is_finite() { pos } else { map.center() };
    let mut vel = if vel.is_finite() { vel } else { Vec2::ZERO };

    if input.move_dir != Vec2::ZERO {
        let target = input.move_dir * rules.player_max_speed;
        let change = target - vel;
        let max_change = rules.player_accel * dt;
        // Land exactly on the target once within reach, so a steady input gives a bitwise
        // constant velocity (and therefore a constant snapped step).
        if change.length_squared() <= max_change * max_change {
            vel = target;
        } else {
            vel += change * (max_change / change.length());
        }
    } else {
        let speed = vel.length();
        let slowdown = rules.player_friction * dt;
        if speed <= slowdown {
            vel = Vec2::ZERO;
        } else {
            vel *= (speed - slowdown) / speed;
        }
    }
    vel = vel.clamp_length_max(rules.player_max_speed);
    if !vel.is_finite() {
        vel = Vec2::ZERO;
    }

    let slide = slide_move(map, walls, rules.player_radius, pos, snap(vel * dt), vel);
    (slide.pos, slide.vel)
}

/// Result of [`slide_move`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Slide {
    /// Where the circle ended, snapped.
    pub(crate) pos: Vec2,
    /// The velocity without its components into the walls that were touched.
    pub(crate) vel: Vec2,
    /// The push-out direction of the last wall or map edge touched, if any.
    pub(crate) normal: Option<Vec2>,
}

/// Moves a circle by `step`, in sub-steps of at most half its radius, pushing it out of walls and
/// back inside the map after each one.
///
/// When nothing is touched the result is exactly `snap(pos + step)`, which for a snapped `pos`
/// and `step` is `pos + step`: constant velocity gives a constant step, bit for bit.
///
/// `walls`, the map's wall index if there is one, only saves work: the result is the same.
pub(crate) fn slide_move(
    map: &Map,
    walls: Option<&WallGrid>,
    radius: f32,
    pos: Vec2,
    step: Vec2,
    vel: Vec2,
) -> Slide {
    let radius = if radius.is_finite() {
        radius.max(MIN_RADIUS)
    } else {
        MIN_RADIUS
    };
    let step = if step.is_finite() { step } else { Vec2::ZERO };
    if vel.is_finite()
        && let Some(end) = free_move(map, walls, radius, pos, step)
    {
        return Slide {
            pos: end,
            vel,
            normal: None,
        };
    }
    let substeps =
        ceil_count(step.length() / (radius * SUBSTEP_RADIUS_FRACTION)).clamp(1, MAX_SUBSTEPS);
    let mut substep = step / substeps as f32;
    let mut current = pos;
    let mut vel = vel;
    let mut normal = None;
    for index in 1..=substeps {
        current = if normal.is_none() {
            // Untouched so far: stay on the exact straight line, ending exactly at pos + step.
            pos + step * (index as f32 / substeps as f32)
        } else {
            current + substep
        };
        if let Some(touched) =
            resolve_overlaps(map, walls, radius, &mut current, &mut substep, &mut vel)
        {
            normal = Some(touched);
        }
    }
    let mut end = snap(current);
    if let Some(touched) = normal {
        end = snap_away(current, touched);
    }
    if !end.is_finite() || !vel.is_finite() {
        // Unreachable with finite inputs; keeps a non-finite value out of the world regardless.
        return Slide {
            pos: snap(map.center()),
            vel: Vec2::ZERO,
            normal: None,
        };
    }
    Slide {
        pos: end,
        vel,
        normal,
    }
}

/// Margin, in meters, by which a free move must stay inside the map's edges: far more than the
/// rounding of any sub-step position.
const FREE_MOVE_EDGE_SLACK: f32 = 0.01;

/// The result of a move that cannot touch anything, without sub-stepping: `snap(pos + step)`.
///
/// When no wall is listed near the whole move and every point of it keeps the circle inside the
/// map with room to spare, no sub-step touches anything, so the sub-stepped path would stay on
/// the straight line and end at exactly `pos + step`. `None` means "take the general path".
fn free_move(
    map: &Map,
    walls: Option<&WallGrid>,
    radius: f32,
    pos: Vec2,
    step: Vec2,
) -> Option<Vec2> {
    let end = pos + step;
    if !pos.is_finite() || !end.is_finite() {
        return None;
    }
    let wall_free = match walls {
        Some(grid) => {
            let cell = grid.cell(pos);
            radius <= WallGrid::MAX_RADIUS
                && grid.cell(end) == cell
                && grid.walls_in(cell).is_empty()
        }
        None => map.walls.is_empty(),
    };
    let low = Vec2::splat(radius + FREE_MOVE_EDGE_SLACK);
    let high = Vec2::new(map.width, map.height) - low;
    let inside = pos.min(end).cmpge(low).all() && pos.max(end).cmple(high).all();
    (wall_free && inside).then(|| snap(end))
}

/// Pushes a circle out of every wall it overlaps and back inside the map; removes from `substep`
/// and `vel` their components into each surface touched. Returns the last push direction.
fn resolve_overlaps(
    map: &Map,
    walls: Option<&WallGrid>,
    radius: f32,
    pos: &mut Vec2,
    substep: &mut Vec2,
    vel: &mut Vec2,
) -> Option<Vec2> {
    let mut last_normal = None;
    let mut touch = |normal: Vec2, substep: &mut Vec2, vel: &mut Vec2| {
        remove_component_into(substep, normal);
        remove_component_into(vel, normal);
        last_normal = Some(normal);
    };
    // With an index, a pass tests only the walls listed for the circle's cell, in the same
    // ascending order as a full scan; the others cannot touch it, so skipping them changes
    // nothing. If a push moves the circle out of that cell, the pass finishes with a full scan
    // of the walls after the current one.
    let index = walls.filter(|_| radius <= WallGrid::MAX_RADIUS);
    for _ in 0..RESOLVE_PASSES {
        let mut pushed = false;
        let mut scan_from = 0;
        if let Some(grid) = index.filter(|_| pos.is_finite()) {
            let cell = grid.cell(*pos);
            scan_from = map.walls.len();
            for &wall_index in grid.walls_in(cell) {
                let wall_index = usize::from(wall_index);
                if let Some((normal, depth)) =
                    circle_wall_penetration(*pos, radius, &map.walls[wall_index])
                {
                    *pos += normal * depth;
                    touch(normal, substep, vel);
                    pushed = true;
                    if !pos.is_finite() || grid.cell(*pos) != cell {
                        scan_from = wall_index + 1;
                        break;
                    }
                }
            }
        }
        for wall in &map.walls[scan_from..] {
            if let Some((normal, depth)) = circle_wall_penetration(*pos, radius, wall) {
                *pos += normal * depth;
                touch(normal, substep, vel);
                pushed = true;
            }
        }
        if !pushed {
            break;
        }
    }
    // The map's edges are walls of infinite thickness: clamp, and they win over inner walls.
    let size = Vec2::new(map.width, map.height);
    for axis in 0..2 {
        let (low, high) = (radius, size[axis] - radius);
        let mut normal = Vec2::ZERO;
        if low > high {
            pos[axis] = size[axis] * 0.5;
        } else if pos[axis] < low {
            pos[axis] = low;
            normal[axis] = 1.0;
        } else if pos[axis] > high {
            pos[axis] = high;
            normal[axis] = -1.0;
        }
        if normal != Vec2::ZERO {
            touch(normal, substep, vel);
        }
    }
    last_normal
}

/// How far and in which direction to push a circle out of a wall, if they overlap.
fn circle_wall_penetration(center: Vec2, radius: f32, wall: &Wall) -> Option<(Vec2, f32)> {
    // Cheap rejection before the exact test.
    if center.x + radius <= wall.min.x
        || center.x - radius >= wall.max.x
        || center.y + radius <= wall.min.y
        || center.y - radius >= wall.max.y
    {
        return None;
    }
    let offset = center - wall.closest_point(center);
    let distance_squared = offset.length_squared();
    if distance_squared >= radius * radius {
        return None;
    }
    if distance_squared > 1e-12 {
        let distance = distance_squared.sqrt();
        return Some((offset / distance, radius - distance));
    }
    // The center is inside the rectangle: leave through the nearest face.
    let faces = [
        (center.x - wall.min.x, Vec2::NEG_X),
        (wall.max.x - center.x, Vec2::X),
        (center.y - wall.min.y, Vec2::NEG_Y),
        (wall.max.y - center.y, Vec2::Y),
    ];
    let mut nearest = faces[0];
    for face in &faces[1..] {
        if face.0 < nearest.0 {
            nearest = *face;
        }
    }
    Some((nearest.1, nearest.0 + radius))
}

/// `x.ceil() as usize` for the sums of lengths this module divides, without a libm call:
/// truncation, plus one when a fraction was cut off (NaN gives 0, infinity saturates).
fn ceil_count(value: f32) -> usize {
    let truncated = value as usize;
    if (truncated as f32) < value {
        truncated.saturating_add(1)
    } else {
        truncated
    }
}

/// Removes from `vector` its component pointing into a surface with outward `normal`.
fn remove_component_into(vector: &mut Vec2, normal: Vec2) {
    let into = vector.dot(normal);
    if into < 0.0 {
        *vector -= normal * into;
    }
}

/// Snaps `pos` to the grid, rounding away from a surface with outward `normal` on each axis the
/// normal points along, so snapping never pushes a resolved circle back into the wall.
fn snap_away(pos: Vec2, normal: Vec2) -> Vec2 {
    let axis = |value: f32, direction: f32| {
        let scaled = value * (1.0 / POS_GRID);
        let rounded = if direction > 0.0 {
            scaled.ceil()
        } else if direction < 0.0 {
            scaled.floor()
        } else {
            scaled.round()
        };
        rounded * POS_GRID
    };
    Vec2::new(axis(pos.x, normal.x), axis(pos.y, normal.y))
}

/// Where along `start..start + delta` (as a fraction in `[0, 1]`) a segment first touches the
/// rectangle `min..max`; 0 when it starts inside.
pub(crate) fn segment_hits_rect(start: Vec2, delta: Vec2, min: Vec2, max: Vec2) -> Option<f32> {
    let mut enter = 0.0f32;
    let mut exit = 1.0f32;
    for axis in 0..2 {
        let (origin, direction) = (start[axis], delta[axis]);
        if direction.abs() < 1e-12 {
            if origin < min[axis] || origin > max[axis] {
                return None;
            }
        } else {
            let inverse = 1.0 / direction;
            let mut near = (min[axis] - origin) * inverse;
            let mut far = (max[axis] - origin) * inverse;
            if near > far {
                std::mem::swap(&mut near, &mut far);
            }
            enter = enter.max(near);
            exit = exit.min(far);
            if enter > exit {
                return None;
            }
        }
    }
    Some(enter)
}

/// Where along `start..start + delta` (as a fraction in `[0, 1]`) a segment first touches the
/// circle at `center`; 0 when it starts inside.
pub(crate) fn segment_hits_circle(
    start: Vec2,
    delta: Vec2,
    center: Vec2,
    radius: f32,
) -> Option<f32> {
    let from_center = start - center;
    let c = from_center.length_squared() - radius * radius;
    if c <= 0.0 {
        return Some(0.0);
    }
    let a = delta.length_squared();
    if a <= 1e-12 {
        return None;
    }
    let b = from_center.dot(delta);
    if b >= 0.0 {
        // Moving away from (or tangent to) the circle.
        return None;
    }
    let discriminant = b * b - a * c;
    if discriminant < 0.0 {
        return None;
    }
    let fraction = (-b - discriminant.sqrt()) / a;
    (0.0..=1.0).contains(&fraction).then_some(fraction)
}

/// The first wall a segment of a circle of `radius` touches, as a fraction along the segment.
/// Walls are grown by `radius` as rectangles, which is slightly generous at their corners.
pub(crate) fn segment_hits_walls(map: &Map, start: Vec2, delta: Vec2, radius: f32) -> Option<f32> {
    let grow = Vec2::splat(radius);
    map.walls
        .iter()
        .filter_map(|wall| segment_hits_rect(start, delta, wall.min - grow, wall.max + grow))
        .reduce(f32::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_map() -> Map {
        Map::from_toml_str(
            "open",
            "width = 100.0\nheight = 100.0\nspawns = [[50.0, 50.0]]",
        )
        .unwrap()
    }

    fn map_with_wall(min: [f32; 2], max: [f32; 2]) -> Map {
        Map {
            walls: vec![Wall {
                min: Vec2::from(min),
                max: Vec2::from(max),
            }],
            ..open_map()
        }
    }

    #[test]
    fn accelerates_to_exactly_max_speed() {
        let rules = Rules::default();
        let map = open_map();
        let input = PlayerInput {
            move_dir: Vec2::new(1.0, 0.0),
            ..Default::default()
        };
        let (mut pos, mut vel) = (Vec2::new(10.0, 50.0), Vec2::ZERO);
        for _ in 0..30 {
            (pos, vel) = move_player(&rules, &map, 1.0 / 30.0, pos, vel, &input);
        }
        assert_eq!(vel, Vec2::new(rules.player_max_speed, 0.0));
        assert_eq!(snap(pos), pos);
    }

    #[test]
    fn friction_stops() {
        let rules = Rules::default();
        let map = open_map();
        let (mut pos, mut vel) = (Vec2::new(10.0, 50.0), Vec2::new(6.0, 0.0));
        for _ in 0..30 {
            (pos, vel) = move_player(&rules, &map, 1.0 / 30.0, pos, vel, &PlayerInput::default());
        }
        assert_eq!(vel, Vec2::ZERO);
        assert!(pos.x > 10.0 && pos.x < 12.0);
    }

    #[test]
    fn slides_along_a_wall() {
        let map = map_with_wall([20.0, 0.0], [21.0, 100.0]);
        let slide = slide_move(
            &map,
            None,
            0.5,
            Vec2::new(19.4, 50.0),
            Vec2::new(0.5, 0.5),
            Vec2::new(5.0, 5.0),
        );
        assert!(slide.pos.x <= 19.5, "{slide:?}");
        assert_eq!(slide.vel, Vec2::new(0.0, 5.0));
        assert_eq!(slide.normal, Some(Vec2::NEG_X));
        assert!(slide.pos.y > 50.4);
    }

    #[test]
    fn the_wall_index_and_free_moves_change_nothing() {
        let walls = (0..40)
            .map(|index| {
                let corner = Vec2::new((index % 8) as f32 * 12.0 + 2.0, (index / 8) as f32 * 19.0);
                Wall {
                    min: corner,
                    max: corner + Vec2::new(0.05 + (index % 4) as f32, 0.3 + (index % 3) as f32),
                }
            })
            .collect();
        let map = Map {
            walls,
            ..open_map()
        };
        let grid = WallGrid::new(&map).unwrap();
        let mut seed = 99u64;
        let mut unit = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32
        };
        for _ in 0..50_000 {
            let pos = snap(Vec2::new(unit() * 104.0 - 2.0, unit() * 104.0 - 2.0));
            let step = snap(Vec2::new(unit() * 6.0 - 3.0, unit() * 6.0 - 3.0) * unit());
            let radius = 0.05 + unit() * 4.0;
            let vel = step * 30.0;
            assert_eq!(
                slide_move(&map, Some(&grid), radius, pos, step, vel),
                slide_move(&map, None, radius, pos, step, vel),
                "{pos} {step} {radius}"
            );
        }
    }

    #[test]
    fn stays_inside_the_map() {
        let map = open_map();
        let slide = slide_move(
            &map,
            None,
            0.5,
            Vec2::new(1.0, 99.0),
            Vec2::new(-5.0, 5.0),
            Vec2::ONE,
        );
        assert_eq!(slide.pos, Vec2::new(0.5, 99.5));
    }

    #[test]
    fn segment_tests() {
        let hit = segment_hits_rect(
            Vec2::ZERO,
            Vec2::new(10.0, 0.0),
            Vec2::new(4.0, -1.0),
            Vec2::new(5.0, 1.0),
        );
        assert_eq!(hit, Some(0.4));
        assert_eq!(
            segment_hits_rect(
                Vec2::ZERO,
                Vec2::new(3.0, 0.0),
                Vec2::new(4.0, -1.0),
                Vec2::new(5.0, 1.0)
            ),
            None
        );
        assert_eq!(
            segment_hits_circle(Vec2::ZERO, Vec2::new(10.0, 0.0), Vec2::new(5.0, 0.0), 1.0),
            Some(0.4)
        );
        assert_eq!(
            segment_hits_circle(Vec2::ZERO, Vec2::new(10.0, 0.0), Vec2::new(5.0, 2.0), 1.0),
            None
        );
        assert_eq!(
            segment_hits_circle(Vec2::new(5.0, 0.5), Vec2::X, Vec2::new(5.0, 0.0), 1.0),
            Some(0.0)
        );
    }
}

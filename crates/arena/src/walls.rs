//! A static index of a map's walls by grid cell, built once per world, so a moving body or a
//! projectile tests only the walls near it instead of every wall of the map.
//!
//! The index is an optimization with no effect on results: each cell lists, in ascending wall
//! order, every wall that comes within [`MARGIN`] of the cell, so any circle of radius at most
//! [`WallGrid::MAX_RADIUS`] centered in the cell can only touch listed walls. Callers fall back
//! to scanning every wall whenever that guarantee does not hold.

use tickwire_sim::Vec2;

use crate::map::Map;
use crate::physics::segment_hits_rect;

/// How far beyond a cell its wall list reaches, in meters: the largest radius a body may have
/// ([`Rules::sanitized`](crate::Rules::sanitized) caps radii at 4 m) plus slack for rounding.
const MARGIN: f32 = 5.0;
/// Preferred cell size, in meters.
const CELL_SIZE: f32 = 16.0;
/// Cells per axis at most; huge maps get larger cells instead.
const MAX_CELLS_PER_AXIS: usize = 128;
/// Most wall entries the index may hold; a map of huge overlapping walls gets no index.
const MAX_ENTRIES: usize = 1 << 22;
/// Most cells a segment test visits before a full scan is cheaper.
const MAX_SEGMENT_CELLS: usize = 16;

/// Walls by cell, in a compact layout: the walls of cell `c` are
/// `entries[starts[c]..starts[c + 1]]`, ascending.
#[derive(Clone, Debug)]
pub(crate) struct WallGrid {
    inverse_cell_size: f32,
    columns: usize,
    rows: usize,
    starts: Vec<u32>,
    entries: Vec<u16>,
}

impl WallGrid {
    /// The largest radius whose collisions the index answers exactly.
    pub(crate) const MAX_RADIUS: f32 = MARGIN - 1.0;

    /// Indexes `map`'s walls; `None` when the map has no walls or the index would be too large.
    pub(crate) fn new(map: &Map) -> Option<WallGrid> {
        if map.walls.is_empty() || map.walls.len() > usize::from(u16::MAX) {
            return None;
        }
        let extent = map.width.max(map.height).max(1.0);
        let cell_size = CELL_SIZE.max(extent / MAX_CELLS_PER_AXIS as f32);
        let count = |size: f32| ((size / cell_size).ceil() as usize).clamp(1, MAX_CELLS_PER_AXIS);
        let mut grid = WallGrid {
            inverse_cell_size: 1.0 / cell_size,
            columns: count(map.width),
            rows: count(map.height),
            starts: Vec::new(),
            entries: Vec::new(),
        };
        // Cells whose reach (the cell grown by MARGIN) may overlap the wall, one extra cell on
        // every side so rounding never leaves one out; a superset is always correct.
        let span = |wall_index: usize| {
            let wall = &map.walls[wall_index];
            let (column_low, row_low) = grid.coords(wall.min - Vec2::splat(MARGIN));
            let (column_high, row_high) = grid.coords(wall.max + Vec2::splat(MARGIN));
            (
                column_low.saturating_sub(1),
                row_low.saturating_sub(1),
                (column_high + 1).min(grid.columns - 1),
                (row_high + 1).min(grid.rows - 1),
            )
        };
        let cells = grid.columns * grid.rows;
        let mut counts = vec![0u32; cells + 1];
        let mut total = 0usize;
        for wall_index in 0..map.walls.len() {
            let (column_low, row_low, column_high, row_high) = span(wall_index);
            total += (column_high - column_low + 1) * (row_high - row_low + 1);
            if total > MAX_ENTRIES {
                return None;
            }
            for row in row_low..=row_high {
                for column in column_low..=column_high {
                    counts[row * grid.columns + column + 1] += 1;
                }
            }
        }
        for cell in 0..cells {
            counts[cell + 1] += counts[cell];
        }
        let mut fill = counts.clone();
        let mut entries = vec![0u16; total];
        // Walls in ascending order, so every cell's list is ascending.
        for wall_index in 0..map.walls.len() {
            let (column_low, row_low, column_high, row_high) = span(wall_index);
            for row in row_low..=row_high {
                for column in column_low..=column_high {
                    let cell = row * grid.columns + column;
                    entries[fill[cell] as usize] = wall_index as u16;
                    fill[cell] += 1;
                }
            }
        }
        grid.starts = counts;
        grid.entries = entries;
        Some(grid)
    }

    /// The cell a point falls in; points outside the map fall in the border cells, whose reach
    /// extends to infinity outward (walls lie inside the map, so nothing is missed).
    pub(crate) fn cell(&self, pos: Vec2) -> usize {
        let (column, row) = self.coords(pos);
        row * self.columns + column
    }

    /// Every wall that may touch a circle of radius at most [`WallGrid::MAX_RADIUS`] centered
    /// in `cell`, ascending.
    pub(crate) fn walls_in(&self, cell: usize) -> &[u16] {
        &self.entries[self.starts[cell] as usize..self.starts[cell + 1] as usize]
    }

    /// The same answer as [`crate::physics::segment_hits_walls`], testing only nearby walls.
    pub(crate) fn segment_hits_walls(
        &self,
        map: &Map,
        start: Vec2,
        delta: Vec2,
        radius: f32,
    ) -> Option<f32> {
        let end = start + delta;
        if !end.is_finite() || !start.is_finite() || radius.is_nan() || radius > Self::MAX_RADIUS {
            return crate::physics::segment_hits_walls(map, start, delta, radius);
        }
        let (column_low, row_low) = self.coords(start.min(end));
        let (column_high, row_high) = self.coords(start.max(end));
        if (column_high - column_low + 1) * (row_high - row_low + 1) > MAX_SEGMENT_CELLS {
            return crate::physics::segment_hits_walls(map, start, delta, radius);
        }
        let grow = Vec2::splat(radius);
        let mut first: Option<f32> = None;
        for row in row_low..=row_high {
            for column in column_low..=column_high {
                for &wall_index in self.walls_in(row * self.columns + column) {
                    let wall = &map.walls[usize::from(wall_index)];
                    // A wall listed in several cells is tested again; the minimum is the same.
                    if let Some(fraction) =
                        segment_hits_rect(start, delta, wall.min - grow, wall.max + grow)
                    {
                        first = Some(first.map_or(fraction, |best| best.min(fraction)));
                    }
                }
            }
        }
        first
    }

    fn coords(&self, pos: Vec2) -> (usize, usize) {
        // `as i32` truncates toward zero and saturates: negatives and NaN go to 0.
        let axis = |value: f32, cells: usize| (value as i32).clamp(0, cells as i32 - 1) as usize;
        (
            axis(pos.x * self.inverse_cell_size, self.columns),
            axis(pos.y * self.inverse_cell_size, self.rows),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::Wall;

    fn pillars() -> Map {
        let walls = (0..64)
            .map(|index| {
                let corner = Vec2::new((index % 8) as f32 * 60.0 + 7.0, (index / 8) as f32 * 50.0);
                Wall {
                    min: corner,
                    max: corner + Vec2::new(3.0 + (index % 5) as f32, 0.5 + (index % 3) as f32),
                }
            })
            .collect();
        Map {
            name: "pillars".to_owned(),
            width: 500.0,
            height: 420.0,
            walls,
            spawns: vec![Vec2::new(1.0, 1.0)],
        }
    }

    #[test]
    fn lists_every_wall_a_circle_in_the_cell_can_touch() {
        let map = pillars();
        let grid = WallGrid::new(&map).unwrap();
        let mut seed = 12_345u64;
        let mut unit = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32
        };
        for _ in 0..20_000 {
            let pos = Vec2::new(unit() * 540.0 - 20.0, unit() * 460.0 - 20.0);
            let radius = unit() * WallGrid::MAX_RADIUS;
            let listed = grid.walls_in(grid.cell(pos));
            assert!(listed.windows(2).all(|pair| pair[0] < pair[1]));
            for (index, wall) in map.walls.iter().enumerate() {
                if wall.distance_squared(pos) <= radius * radius {
                    assert!(listed.contains(&(index as u16)), "{pos} {radius} {index}");
                }
            }
            let delta = Vec2::new(unit() * 8.0 - 4.0, unit() * 8.0 - 4.0);
            assert_eq!(
                grid.segment_hits_walls(&map, pos, delta, radius.min(2.0)),
                crate::physics::segment_hits_walls(&map, pos, delta, radius.min(2.0))
            );
        }
    }
}

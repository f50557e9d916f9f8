//! A uniform spatial grid over the map, for neighbour queries.
//!
//! Keys are slotmap keys (the world's entity keys). Each cell is a singly linked list threaded
//! through per-key nodes kept in a [`SecondaryMap`], so inserting, moving and removing a key
//! allocate nothing once the map has grown, and a key that stays in its cell costs one comparison.
//! Nodes also hold the position a key was last given, so queries can filter on it without
//! touching the caller's (larger, colder) records. Queries visit keys in an order that depends
//! only on the history of the grid.

use glam::Vec2;
use slotmap::{Key, SecondaryMap};

/// Preferred cell size, in meters: larger than any collision reach, small enough to prune.
const CELL_SIZE: f32 = 8.0;
/// Cells per axis at most; huge maps get larger cells instead of more of them.
const MAX_CELLS_PER_AXIS: usize = 256;
/// "In no cell".
const NO_CELL: u32 = u32::MAX;

/// Uniform grid of cells covering `(0, 0)..(width, height)`; points outside fall in the border
/// cells.
#[derive(Clone, Debug)]
pub struct SpatialGrid<K: Key> {
    inverse_cell_size: f32,
    columns: usize,
    rows: usize,
    /// First key of each cell's list.
    heads: Vec<Option<K>>,
    /// Per key: its place in a cell's list and its last position.
    nodes: SecondaryMap<K, Node<K>>,
}

#[derive(Clone, Copy, Debug)]
struct Node<K> {
    /// The key after this one in its cell's list.
    next: Option<K>,
    /// The cell the key is in, or `NO_CELL`.
    cell: u32,
    /// The position the key was last inserted or relocated at.
    pos: Vec2,
}

impl<K: Key> SpatialGrid<K> {
    pub fn new(width: f32, height: f32) -> Self {
        let extent = width.max(height).max(1.0);
        let cell_size = CELL_SIZE.max(extent / MAX_CELLS_PER_AXIS as f32);
        let count = |size: f32| ((size / cell_size).ceil() as usize).clamp(1, MAX_CELLS_PER_AXIS);
        let columns = count(width);
        let rows = count(height);
        SpatialGrid {
            inverse_cell_size: 1.0 / cell_size,
            columns,
            rows,
            heads: vec![None; columns * rows],
            nodes: SecondaryMap::new(),
        }
    }

    /// Empties every cell, keeping the allocations. `keys` must name every key in the grid (it
    /// may name others too): only their nodes are dropped, so clearing a grid that holds a few
    /// of many keys does not visit every key ever seen.
    pub fn clear(&mut self, keys: impl IntoIterator<Item = K>) {
        self.heads.fill(None);
        for key in keys {
            self.nodes.remove(key);
        }
    }

    /// Adds `key` (not in the grid yet) at `pos`.
    pub fn insert(&mut self, key: K, pos: Vec2) {
        let cell = self.cell_index(pos);
        self.link(key, cell, pos);
    }

    /// Removes `key` if it is in the grid.
    pub fn remove(&mut self, key: K) {
        let Some(node) = self.nodes.get(key) else {
            return;
        };
        if node.cell != NO_CELL {
            self.unlink(key, node.cell as usize);
        }
    }

    /// Moves `key` (in the grid or not) to `pos`; only a change of cell relinks it.
    pub fn relocate(&mut self, key: K, pos: Vec2) {
        let cell = self.cell_index(pos);
        if let Some(node) = self.nodes.get_mut(key) {
            if node.cell as usize == cell {
                node.pos = pos;
                return;
            }
            if node.cell != NO_CELL {
                let current = node.cell as usize;
                self.unlink(key, current);
            }
        }
        self.link(key, cell, pos);
    }

    /// Calls `visit` with every key in the cells overlapping the rectangle `min..=max`, and the
    /// position the key was last given.
    pub fn for_each_in_rect(&self, min: Vec2, max: Vec2, mut visit: impl FnMut(K, Vec2)) {
        let (column_low, row_low) = self.cell_coords(min);
        let (column_high, row_high) = self.cell_coords(max);
        for row in row_low..=row_high {
            for column in column_low..=column_high {
                let mut cursor = self.heads[row * self.columns + column];
                // Every key linked into a list has a node (unlinking comes before dropping one).
                while let Some(key) = cursor
                    && let Some(node) = self.nodes.get(key)
                {
                    visit(key, node.pos);
                    cursor = node.next;
                }
            }
        }
    }

    fn link(&mut self, key: K, cell: usize, pos: Vec2) {
        self.nodes.insert(
            key,
            Node {
                next: self.heads[cell],
                cell: cell as u32,
                pos,
            },
        );
        self.heads[cell] = Some(key);
    }

    fn unlink(&mut self, key: K, cell: usize) {
        let Some(node) = self.nodes.get_mut(key) else {
            return;
        };
        let after = node.next;
        node.next = None;
        node.cell = NO_CELL;
        if self.heads[cell] == Some(key) {
            self.heads[cell] = after;
            return;
        }
        let mut cursor = self.heads[cell];
        while let Some(previous) = cursor
            && let Some(node) = self.nodes.get_mut(previous)
        {
            if node.next == Some(key) {
                node.next = after;
                return;
            }
            cursor = node.next;
        }
    }

    fn cell_coords(&self, pos: Vec2) -> (usize, usize) {
        // `as i32` truncates toward zero and saturates (NaN gives 0); truncation equals flooring
        // here, since negatives end in cell 0 anyway. (A conversion to i32 is one instruction
        // on x86-64, one to usize a dozen.)
        let axis = |value: f32, cells: usize| (value as i32).clamp(0, cells as i32 - 1) as usize;
        (
            axis(pos.x * self.inverse_cell_size, self.columns),
            axis(pos.y * self.inverse_cell_size, self.rows),
        )
    }

    fn cell_index(&self, pos: Vec2) -> usize {
        let (column, row) = self.cell_coords(pos);
        row * self.columns + column
    }
}

#[cfg(test)]
mod tests {
    use slotmap::{DefaultKey, SlotMap};

    use super::*;

    /// The grid's keys in the rectangle, as their places in `all`.
    fn keys_in(
        all: &[DefaultKey],
        grid: &SpatialGrid<DefaultKey>,
        min: Vec2,
        max: Vec2,
    ) -> Vec<u32> {
        let mut keys = Vec::new();
        grid.for_each_in_rect(min, max, |key, _| keys.push(key));
        let mut numbers: Vec<u32> = keys
            .iter()
            .map(|key| all.iter().position(|other| other == key).unwrap() as u32)
            .collect();
        numbers.sort_unstable();
        numbers
    }

    /// Five keys; the test uses those at 1..=4.
    fn keys() -> Vec<DefaultKey> {
        let mut slots = SlotMap::new();
        (0..5).map(|_| slots.insert(())).collect()
    }

    #[test]
    fn finds_nearby_and_skips_far() {
        let key = keys();
        let mut grid = SpatialGrid::new(100.0, 50.0);
        grid.insert(key[1], Vec2::new(1.0, 1.0));
        grid.insert(key[2], Vec2::new(9.0, 1.0));
        grid.insert(key[3], Vec2::new(90.0, 45.0));
        grid.insert(key[4], Vec2::new(-5.0, 500.0));
        assert_eq!(keys_in(&key, &grid, Vec2::ZERO, Vec2::splat(2.0)), vec![1]);
        assert_eq!(
            keys_in(&key, &grid, Vec2::ZERO, Vec2::new(10.0, 2.0)),
            vec![1, 2]
        );
        assert_eq!(
            keys_in(&key, &grid, Vec2::splat(-1e30), Vec2::splat(1e30)),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            keys_in(&key, &grid, Vec2::splat(f32::NAN), Vec2::splat(f32::NAN)),
            vec![1]
        );
        grid.relocate(key[2], Vec2::new(1.5, 1.5));
        grid.relocate(key[2], Vec2::new(1.6, 1.5));
        assert_eq!(
            keys_in(&key, &grid, Vec2::ZERO, Vec2::splat(2.0)),
            vec![1, 2]
        );
        grid.remove(key[1]);
        grid.remove(key[1]);
        assert_eq!(keys_in(&key, &grid, Vec2::ZERO, Vec2::splat(2.0)), vec![2]);
        grid.clear(key.iter().copied());
        assert!(keys_in(&key, &grid, Vec2::splat(-1e30), Vec2::splat(1e30)).is_empty());
    }

    #[test]
    fn huge_maps_get_bigger_cells() {
        let grid = SpatialGrid::<DefaultKey>::new(4096.0, 4096.0);
        assert_eq!(grid.columns, MAX_CELLS_PER_AXIS);
        assert_eq!(grid.inverse_cell_size, 1.0 / 16.0);
    }
}

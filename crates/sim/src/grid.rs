//! A uniform spatial grid over the map, for neighbour queries.
//!
//! Each cell lists the keys of the entities whose center lies in it, in insertion order, so
//! queries visit entities in an order that depends only on the history of the world.

use glam::Vec2;

/// Preferred cell size, in meters: larger than any collision reach, small enough to prune.
const CELL_SIZE: f32 = 8.0;
/// Cells per axis at most; huge maps get larger cells instead of more of them.
const MAX_CELLS_PER_AXIS: usize = 256;

/// Uniform grid of cells covering `(0, 0)..(width, height)`; points outside fall in the border
/// cells.
#[derive(Clone, Debug)]
pub(crate) struct SpatialGrid<K> {
    cell_size: f32,
    columns: usize,
    rows: usize,
    cells: Vec<Vec<K>>,
    /// Cells that were non-empty at some point since the last clear, so clearing does not have
    /// to visit every cell of a large map. May hold duplicates; bounded by insertions per clear.
    touched: Vec<usize>,
}

impl<K: Copy + PartialEq> SpatialGrid<K> {
    pub(crate) fn new(width: f32, height: f32) -> Self {
        let extent = width.max(height).max(1.0);
        let cell_size = CELL_SIZE.max(extent / MAX_CELLS_PER_AXIS as f32);
        let count = |size: f32| ((size / cell_size).ceil() as usize).clamp(1, MAX_CELLS_PER_AXIS);
        let columns = count(width);
        let rows = count(height);
        SpatialGrid {
            cell_size,
            columns,
            rows,
            cells: (0..columns * rows).map(|_| Vec::new()).collect(),
            touched: Vec::new(),
        }
    }

    /// Empties every cell, keeping their allocations.
    pub(crate) fn clear(&mut self) {
        for &cell in &self.touched {
            self.cells[cell].clear();
        }
        self.touched.clear();
    }

    pub(crate) fn insert(&mut self, key: K, pos: Vec2) {
        let cell = self.cell_index(pos);
        if self.cells[cell].is_empty() {
            self.touched.push(cell);
        }
        self.cells[cell].push(key);
    }

    /// Removes `key`, which was inserted at `pos` (or anywhere in the same cell).
    pub(crate) fn remove(&mut self, key: K, pos: Vec2) {
        let cell = self.cell_index(pos);
        if let Some(index) = self.cells[cell].iter().position(|&other| other == key) {
            self.cells[cell].remove(index);
        }
    }

    /// Moves `key` from the cell of `from` to the cell of `to`.
    pub(crate) fn relocate(&mut self, key: K, from: Vec2, to: Vec2) {
        if self.cell_index(from) != self.cell_index(to) {
            self.remove(key, from);
            self.insert(key, to);
        }
    }

    /// Calls `visit` for every key in the cells overlapping the rectangle `min..=max`.
    pub(crate) fn for_each_in_rect(&self, min: Vec2, max: Vec2, mut visit: impl FnMut(K)) {
        let (column_low, row_low) = self.cell_coords(min);
        let (column_high, row_high) = self.cell_coords(max);
        for row in row_low..=row_high {
            for column in column_low..=column_high {
                for &key in &self.cells[row * self.columns + column] {
                    visit(key);
                }
            }
        }
    }

    fn cell_coords(&self, pos: Vec2) -> (usize, usize) {
        // `as usize` saturates: NaN and negatives go to 0, huge values to usize::MAX.
        let column = ((pos.x / self.cell_size).floor() as usize).min(self.columns - 1);
        let row = ((pos.y / self.cell_size).floor() as usize).min(self.rows - 1);
        (column, row)
    }

    fn cell_index(&self, pos: Vec2) -> usize {
        let (column, row) = self.cell_coords(pos);
        row * self.columns + column
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_in(grid: &SpatialGrid<u32>, min: Vec2, max: Vec2) -> Vec<u32> {
        let mut keys = Vec::new();
        grid.for_each_in_rect(min, max, |key| keys.push(key));
        keys.sort_unstable();
        keys
    }

    #[test]
    fn finds_nearby_and_skips_far() {
        let mut grid = SpatialGrid::new(100.0, 50.0);
        grid.insert(1, Vec2::new(1.0, 1.0));
        grid.insert(2, Vec2::new(9.0, 1.0));
        grid.insert(3, Vec2::new(90.0, 45.0));
        grid.insert(4, Vec2::new(-5.0, 500.0));
        assert_eq!(keys_in(&grid, Vec2::ZERO, Vec2::splat(2.0)), vec![1]);
        assert_eq!(keys_in(&grid, Vec2::ZERO, Vec2::new(10.0, 2.0)), vec![1, 2]);
        assert_eq!(
            keys_in(&grid, Vec2::splat(-1e30), Vec2::splat(1e30)),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            keys_in(&grid, Vec2::splat(f32::NAN), Vec2::splat(f32::NAN)),
            vec![1]
        );
        grid.relocate(2, Vec2::new(9.0, 1.0), Vec2::new(1.5, 1.5));
        assert_eq!(keys_in(&grid, Vec2::ZERO, Vec2::splat(2.0)), vec![1, 2]);
        grid.remove(1, Vec2::new(1.0, 1.0));
        assert_eq!(keys_in(&grid, Vec2::ZERO, Vec2::splat(2.0)), vec![2]);
        grid.clear();
        assert!(keys_in(&grid, Vec2::splat(-1e30), Vec2::splat(1e30)).is_empty());
    }

    #[test]
    fn huge_maps_get_bigger_cells() {
        let grid = SpatialGrid::<u32>::new(4096.0, 4096.0);
        assert_eq!(grid.columns, MAX_CELLS_PER_AXIS);
        assert_eq!(grid.cell_size, 16.0);
    }
}

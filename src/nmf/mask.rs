//! Held-out entries of X for cross-validation (Wold-style, as in RcppML): a sparse row-wise list
//! built from the pure function `rng::held_out(seed, repeat, i, j)`, never a dense mask.

use ndarray::{Array2, ArrayView2};

/// The held-out entries of one cross-validation repeat, row by row, with their true values.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOut {
    /// Row i's entries are `cols[row_start[i]..row_start[i + 1]]` (N + 1 offsets).
    row_start: Vec<usize>,
    /// Column of each held-out entry, ascending within a row.
    cols: Vec<u32>,
    /// X at each held-out entry.
    values: Vec<f64>,
    /// Batch-means block of each entry (for standard errors).
    blocks: Vec<u16>,
}

/// Number of blocks for batch-means standard errors of held-out scores.
pub const BLOCKS: usize = 20;

impl HeldOut {
    /// Holds out about `fraction` of the entries of X (N x p) for `repeat`; returns the training
    /// matrix (held-out entries set to 0) and the list.
    pub fn split(x: ArrayView2<f64>, seed: u64, repeat: usize, fraction: f64) -> (Array2<f64>, HeldOut) {
        let mut train = x.to_owned();
        let mut row_start = Vec::with_capacity(x.nrows() + 1);
        let (mut cols, mut values, mut blocks) = (Vec::new(), Vec::new(), Vec::new());
        for (i, mut row) in train.rows_mut().into_iter().enumerate() {
            row_start.push(cols.len());
            for (j, v) in row.iter_mut().enumerate() {
                if crate::rng::held_out(seed, repeat, i, j, fraction) {
                    cols.push(j as u32);
                    values.push(*v);
                    blocks.push(crate::rng::entry_block(seed, repeat, i, j, BLOCKS) as u16);
                    *v = 0.0;
                }
            }
        }
        row_start.push(cols.len());
        (
            train,
            HeldOut {
                row_start,
                cols,
                values,
                blocks,
            },
        )
    }

    /// Number of held-out entries.
    pub fn len(&self) -> usize {
        self.cols.len()
    }

    /// True when nothing is held out.
    pub fn is_empty(&self) -> bool {
        self.cols.is_empty()
    }

    /// (i, j, x_ij, block) of every held-out entry, row by row.
    pub fn entries(&self) -> impl Iterator<Item = (usize, usize, f64, usize)> + '_ {
        (0..self.row_start.len() - 1).flat_map(move |i| {
            (self.row_start[i]..self.row_start[i + 1])
                .map(move |e| (i, self.cols[e] as usize, self.values[e], self.blocks[e] as usize))
        })
    }

    /// Columns held out in row i.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.cols[self.row_start[i]..self.row_start[i + 1]]
    }

    /// Sets every held-out entry of `m` (N x p) to 0.
    pub fn zero<T: crate::linalg::Real>(&self, m: &mut Array2<T>) {
        for (i, mut row) in m.rows_mut().into_iter().enumerate() {
            for &j in self.row(i) {
                row[j as usize] = T::zero();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_zeroes_and_remembers() {
        let x = Array2::from_shape_fn((50, 40), |(i, j)| (i * 40 + j) as f64 + 1.0);
        let (train, ho) = HeldOut::split(x.view(), 1, 0, 0.1);
        assert!(ho.len() > 100 && ho.len() < 300, "{}", ho.len());
        for (i, j, v, b) in ho.entries() {
            assert_eq!(train[[i, j]], 0.0);
            assert_eq!(v, x[[i, j]]);
            assert!(b < BLOCKS);
        }
        let zeros = train.iter().filter(|v| **v == 0.0).count();
        assert_eq!(zeros, ho.len());
        let mut m = x.clone();
        ho.zero(&mut m);
        assert_eq!(m, train);
    }
}

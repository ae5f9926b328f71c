//! Entry lists: the held-out entries of X for cross-validation (Wold-style, as in RcppML), built
//! from the pure function `rng::held_out(seed, repeat, i, j)`, and the missing entries (NaN in the
//! input); sparse row-wise lists, never a dense mask.

use crate::linalg::Real;
use crate::sparse::Csr;
use ndarray::{Array2, ArrayView2, ArrayViewMut1, Axis};

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
    /// Holds out about `fraction` of the observed entries of X (N x p) for `repeat`; returns the
    /// training matrix (held-out and missing entries set to 0), in X's precision, and the list
    /// (its values in f64, exact). Missing entries (NaN, or listed in `skip`) are never held out.
    pub fn split<T: Real>(
        x: ArrayView2<T>,
        seed: u64,
        repeat: usize,
        fraction: f64,
        skip: Option<&HeldOut>,
    ) -> (Array2<T>, HeldOut) {
        let mut train = x.to_owned();
        let mut row_start = Vec::with_capacity(x.nrows() + 1);
        let (mut cols, mut values, mut blocks) = (Vec::new(), Vec::new(), Vec::new());
        for (i, mut row) in train.rows_mut().into_iter().enumerate() {
            row_start.push(cols.len());
            let skipped = skip.map_or(&[][..], |s| s.row(i));
            let mut next = 0;
            for (j, v) in row.iter_mut().enumerate() {
                let listed = next < skipped.len() && skipped[next] as usize == j;
                if listed {
                    next += 1;
                }
                if v.is_nan() || listed {
                    *v = T::zero();
                } else if crate::rng::held_out(seed, repeat, i, j, fraction) {
                    cols.push(j as u32);
                    values.push(v.f64());
                    blocks.push(crate::rng::entry_block(seed, repeat, i, j, BLOCKS) as u16);
                    *v = T::zero();
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

    /// The same split for sparse X (N x p, CSR; NaN values, and the entries in `skip`, are
    /// missing): every position (i, j) is drawn as in [`HeldOut::split`], so the held-out set
    /// equals the dense one; the training matrix keeps the stored entries that are neither held
    /// out nor missing.
    pub fn split_sparse(x: &Csr, seed: u64, repeat: usize, fraction: f64, skip: Option<&HeldOut>) -> (Csr, HeldOut) {
        let (n, p) = x.dim();
        let mut row_start = Vec::with_capacity(n + 1);
        let (mut cols, mut values, mut blocks) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            row_start.push(cols.len());
            let (sc, sv) = x.row(i);
            let skipped = skip.map_or(&[][..], |s| s.row(i));
            let mut next = 0;
            let mut at = 0;
            for j in 0..p {
                if next < skipped.len() && skipped[next] as usize == j {
                    next += 1;
                    continue;
                }
                let stored = if at < sc.len() && sc[at] as usize == j {
                    at += 1;
                    Some(sv[at - 1])
                } else {
                    None
                };
                if stored.is_some_and(f64::is_nan) {
                    continue;
                }
                if crate::rng::held_out(seed, repeat, i, j, fraction) {
                    cols.push(j as u32);
                    values.push(stored.unwrap_or(0.0));
                    blocks.push(crate::rng::entry_block(seed, repeat, i, j, BLOCKS) as u16);
                }
            }
        }
        row_start.push(cols.len());
        let ho = HeldOut {
            row_start,
            cols,
            values,
            blocks,
        };
        let mut train = x.clone();
        let mut cursor = (usize::MAX, 0usize);
        train.retain(|i, j, v| {
            if v.is_nan() {
                return false;
            }
            if cursor.0 != i {
                cursor = (i, 0);
            }
            let row = ho.row(i);
            while cursor.1 < row.len() && (row[cursor.1] as usize) < j {
                cursor.1 += 1;
            }
            !(cursor.1 < row.len() && row[cursor.1] as usize == j)
        });
        (train, ho)
    }

    /// The missing entries (NaN) of dense X, as a list (values 0), or None when there are none.
    pub fn missing_dense(x: ArrayView2<f64>) -> Option<HeldOut> {
        let mut rows: Vec<Vec<u32>> = Vec::with_capacity(x.nrows());
        for row in x.rows() {
            rows.push(
                row.iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_nan())
                    .map(|(j, _)| j as u32)
                    .collect(),
            );
        }
        Self::from_rows(rows)
    }

    /// The missing entries (stored NaN values) of sparse X, or None when there are none.
    pub fn missing_sparse(x: &Csr) -> Option<HeldOut> {
        let rows = (0..x.dim().0)
            .map(|i| {
                let (c, v) = x.row(i);
                c.iter().zip(v).filter(|(_, v)| v.is_nan()).map(|(&j, _)| j).collect()
            })
            .collect();
        Self::from_rows(rows)
    }

    /// A list from each row's ascending columns (values 0, block 0); None when empty.
    fn from_rows(rows: Vec<Vec<u32>>) -> Option<HeldOut> {
        let mut row_start = Vec::with_capacity(rows.len() + 1);
        let mut cols = Vec::new();
        for r in rows {
            row_start.push(cols.len());
            cols.extend(r);
        }
        row_start.push(cols.len());
        let len = cols.len();
        (len > 0).then(|| HeldOut {
            row_start,
            cols,
            values: vec![0.0; len],
            blocks: vec![0; len],
        })
    }

    /// The entries in either list (row by row, ascending; for an entry in both, `self`'s).
    pub fn union(&self, other: &HeldOut) -> HeldOut {
        let n = self.row_start.len() - 1;
        let mut out = HeldOut {
            row_start: Vec::with_capacity(n + 1),
            cols: Vec::new(),
            values: Vec::new(),
            blocks: Vec::new(),
        };
        for i in 0..n {
            out.row_start.push(out.cols.len());
            let (a, b) = (
                self.row_start[i]..self.row_start[i + 1],
                other.row_start[i]..other.row_start[i + 1],
            );
            let (mut p, mut q) = (a.start, b.start);
            while p < a.end || q < b.end {
                let take_self = q >= b.end || (p < a.end && self.cols[p] <= other.cols[q]);
                let (src, e) = if take_self { (self, p) } else { (other, q) };
                if take_self && q < b.end && self.cols[p] == other.cols[q] {
                    q += 1;
                }
                out.cols.push(src.cols[e]);
                out.values.push(src.values[e]);
                out.blocks.push(src.blocks[e]);
                if take_self {
                    p += 1;
                } else {
                    q += 1;
                }
            }
        }
        out.row_start.push(out.cols.len());
        out
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

    /// `den` (r x p) ← Σ_i W_ik over the observed entries of each column j of X, for W (N x r):
    /// the column sums of W less the terms of column j's left-out entries (the denominators of
    /// the weighted KL updates of H; O(N·r + |left out|·r)).
    pub fn observed_column_sums<T: Real>(&self, w: &Array2<T>, den: &mut Array2<T>) {
        for (mut row, col) in den.rows_mut().into_iter().zip(w.axis_iter(Axis(1))) {
            row.fill(col.sum());
        }
        for (i, wi) in w.rows().into_iter().enumerate() {
            for &j in self.row(i) {
                for (d, &v) in den.column_mut(j as usize).iter_mut().zip(wi.iter()) {
                    *d -= v;
                }
            }
        }
    }

    /// `out` (r) ← Σ_j H_kj over the observed entries of row i of X, for H (r x p) with row sums
    /// `sums` (r): the row sums less the terms of row i's left-out entries.
    pub fn observed_row_sums<T: Real>(&self, i: usize, h: &Array2<T>, sums: &[T], mut out: ArrayViewMut1<T>) {
        for ((d, hk), &s) in out.iter_mut().zip(h.rows()).zip(sums) {
            *d = s - self.row(i).iter().map(|&j| hk[j as usize]).sum::<T>();
        }
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
    fn sparse_split_equals_dense_split_and_skips_missing() {
        let mut x = Array2::from_shape_fn(
            (30, 25),
            |(i, j)| if (i * 7 + j * 3) % 4 == 0 { (i + j) as f64 } else { 0.0 },
        );
        x[[3, 4]] = f64::NAN;
        x[[10, 0]] = f64::NAN;
        let csr = Csr::from_dense(x.view());
        let (train_d, ho_d) = HeldOut::split(x.view(), 9, 1, 0.3, None);
        let (train_s, ho_s) = HeldOut::split_sparse(&csr, 9, 1, 0.3, None);
        assert_eq!(ho_d, ho_s);
        assert_eq!(train_s.to_dense(), train_d);
        assert!(ho_d.entries().all(|(i, j, _, _)| (i, j) != (3, 4) && (i, j) != (10, 0)));
        let miss = HeldOut::missing_dense(x.view()).unwrap();
        assert_eq!(miss, HeldOut::missing_sparse(&csr).unwrap());
        assert_eq!(
            miss.entries().map(|e| (e.0, e.1)).collect::<Vec<_>>(),
            vec![(3, 4), (10, 0)]
        );
        // The same split with the missing entries listed instead of NaN.
        let filled = x.mapv(|v| if v.is_nan() { 0.0 } else { v });
        let (train_f, ho_f) = HeldOut::split(filled.view(), 9, 1, 0.3, Some(&miss));
        assert_eq!((&train_f, &ho_f), (&train_d, &ho_d));
        let mut kept = csr.clone();
        kept.retain(|_, _, v| !v.is_nan());
        let (train_k, ho_k) = HeldOut::split_sparse(&kept, 9, 1, 0.3, Some(&miss));
        assert_eq!((&train_k.to_dense(), &ho_k), (&train_d, &ho_d));
        let all = ho_d.union(&miss);
        assert_eq!(all.len(), ho_d.len() + 2);
        assert_eq!(all.union(&miss), all);
        for (i, j, _, _) in all.entries() {
            assert_eq!(train_d[[i, j]], 0.0);
        }
    }

    #[test]
    fn split_zeroes_and_remembers() {
        let x = Array2::from_shape_fn((50, 40), |(i, j)| (i * 40 + j) as f64 + 1.0);
        let (train, ho) = HeldOut::split(x.view(), 1, 0, 0.1, None);
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

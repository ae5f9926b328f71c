//! Multiplicative updates for the generalized KL divergence (Poisson likelihood).
//!
//! Lee & Seung (2001), "Algorithms for non-negative matrix factorization", Theorem 2; Hastie,
//! Tibshirani & Friedman, The Elements of Statistical Learning, eq. 14.74:
//!
//! ```text
//! H_kj ← H_kj · Σ_i W_ik X_ij/(WH)_ij / Σ_i W_ik
//! W_ik ← W_ik · Σ_j H_kj X_ij/(WH)_ij / Σ_j H_kj
//! ```
//!
//! Each update never increases the KL divergence. Per iteration: two products WH (N x p, 2Npr
//! flops each), Wᵀ R and R Hᵀ with R = X ⊘ WH (2Npr each), taken over blocks of rows so that R
//! is never materialized in full ([`RatioBlocks`]).

use super::{PenaltyGrad, UpdateRule, Weights, scale_by_ratio};
use crate::linalg::{Real, matmul_into, matmul_nt_into, matmul_tn_acc};
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis, Zip, s};
use rayon::prelude::*;

// The model (WH)_ij is floored at `Real::MODEL_FLOOR` where x_ij > 0: if every term of an entry
// underflowed, x/λ would be infinite and 0·∞ = NaN in the next product. 1e-150 (f64) keeps x/λ
// and its products finite for any data below 1e150, and is far below any model value a real fit
// reaches.

/// Target size of one block of the model (b x p entries of f64): it stays in a core's L2 cache
/// between the product that writes it and the product that reads it.
const BLOCK_BYTES: usize = 256 * 1024;

/// Row groups of [`RatioBlocks`]: a fixed number that depends on N and p only, so the partial
/// sums (and the bits of every result) are the same whether the groups run one after the other or
/// on several threads.
const GROUPS: usize = 16;

/// Cap on the groups' buffers together (each a block of rows x p and an r x p partial sum): for
/// wide X (few rows, very many columns) 16 groups would hold more than X itself, and then fewer
/// groups run (at least one). Below this size, which every test and demo data set is, the groups
/// are as [`GROUPS`] says; like them, the cap depends on (N, p, r) and the precision only.
const GROUP_BYTES: usize = 16 << 20;

/// One group of consecutive row blocks and its own buffers.
struct Group<T> {
    /// Rows [start, end) of X.
    start: usize,
    end: usize,
    /// One block of WH, then of R (block rows x p).
    block: Array2<T>,
    /// This group's share of Wᵀ R (r x p).
    partial: Array2<T>,
    /// This group's rows of R Hᵀ ((end − start) x r).
    out: Array2<T>,
}

impl<T: Real> Group<T> {
    /// Row ranges of this group's blocks, in order.
    fn ranges(&self) -> impl Iterator<Item = (usize, usize)> + use<T> {
        let (b, end) = (self.block.nrows(), self.end);
        (self.start..end).step_by(b).map(move |i| (i, (i + b).min(end)))
    }

    fn wt_ratio(&mut self, x: ArrayView2<T>, w: &Array2<T>, h: &Array2<T>) {
        self.partial.fill(T::zero());
        for (i0, i1) in self.ranges() {
            let mut blk = self.block.slice_mut(s![..i1 - i0, ..]);
            let wb = w.slice(s![i0..i1, ..]);
            ratio_block(x.slice(s![i0..i1, ..]), wb, h.view(), blk.view_mut());
            matmul_tn_acc(wb, blk.view(), self.partial.view_mut());
        }
    }

    fn ratio_ht(&mut self, x: ArrayView2<T>, w: &Array2<T>, h: &Array2<T>) {
        for (i0, i1) in self.ranges() {
            let mut blk = self.block.slice_mut(s![..i1 - i0, ..]);
            ratio_block(
                x.slice(s![i0..i1, ..]),
                w.slice(s![i0..i1, ..]),
                h.view(),
                blk.view_mut(),
            );
            let rows = s![i0 - self.start..i1 - self.start, ..];
            matmul_nt_into(blk.view(), h.view(), self.out.slice_mut(rows));
        }
    }
}

/// Row blocks of the ratio R = X ⊘ WH: the products with R are taken one block of rows at a time,
/// so R never exists as a full N x p temporary. Per half-iteration X is read once from memory,
/// where the unblocked form writes WH, reads it back with X, writes R and reads R again. The
/// blocks form up to [`GROUPS`] groups, which run on the rayon pool when `parallel` is set (a fit
/// that has spare threads) and one after the other otherwise, with the same bits.
pub(super) struct RatioBlocks<T> {
    groups: Vec<Group<T>>,
    parallel: bool,
}

impl<T: Real> RatioBlocks<T> {
    /// Buffers for X of shape (n, p) at rank r, laid out by [`group_layout`].
    pub(super) fn new(n: usize, p: usize, r: usize) -> Self {
        let (rows, per_group, groups) = group_layout::<T>(n, p, r);
        let groups = (0..groups)
            .map(|g| {
                let (start, end) = (g * per_group * rows, ((g + 1) * per_group * rows).min(n));
                Group {
                    start,
                    end,
                    block: Array2::zeros((rows, p)),
                    partial: Array2::zeros((r, p)),
                    out: Array2::zeros((end - start, r)),
                }
            })
            .collect();
        RatioBlocks {
            groups,
            parallel: false,
        }
    }

    /// Runs the groups on the rayon pool (true) or one after the other (false).
    pub(super) fn set_parallel(&mut self, on: bool) {
        self.parallel = on;
    }

    /// Runs `f` on every group: on the rayon pool when `parallel` is set, else in order.
    fn each_group(&mut self, f: impl Fn(&mut Group<T>) + Sync + Send) {
        if self.parallel {
            self.groups.par_iter_mut().for_each(f);
        } else {
            self.groups.iter_mut().for_each(f);
        }
    }

    /// `num = Wᵀ (X ⊘ WH)` (r x p): each group's partial sum, then their sum in group order.
    pub(super) fn wt_ratio(&mut self, x: ArrayView2<T>, w: &Array2<T>, h: &Array2<T>, num: &mut Array2<T>) {
        self.each_group(|g| g.wt_ratio(x, w, h));
        num.fill(T::zero());
        for g in &self.groups {
            *num += &g.partial;
        }
    }

    /// `num = (X ⊘ WH) Hᵀ` (N x r).
    pub(super) fn ratio_ht(&mut self, x: ArrayView2<T>, w: &Array2<T>, h: &Array2<T>, num: &mut Array2<T>) {
        self.each_group(|g| g.ratio_ht(x, w, h));
        for g in &self.groups {
            num.slice_mut(s![g.start..g.end, ..]).assign(&g.out);
        }
    }
}

/// Bytes of the buffers of [`RatioBlocks::new`] for X of shape (n, p) at rank r in precision T
/// (the memory estimate): each group's block and partial sum, and the rows of R Hᵀ.
pub(crate) fn ratio_workspace_bytes<T: Real>(n: usize, p: usize, r: usize) -> u64 {
    let (rows, _, groups) = group_layout::<T>(n, p, r);
    let size = std::mem::size_of::<T>() as u64;
    let per_group = ((rows + r) as u64).saturating_mul(p as u64);
    (groups as u64)
        .saturating_mul(per_group)
        .saturating_add((n as u64).saturating_mul(r as u64))
        .saturating_mul(size)
}

/// (rows per block, blocks per group, groups) of [`RatioBlocks::new`] for X of shape (n, p) at
/// rank r: blocks of about `BLOCK_BYTES`, at least 8 rows and at most n, in up to [`GROUPS`]
/// groups of consecutive blocks (fewer when their buffers would pass [`GROUP_BYTES`]).
fn group_layout<T>(n: usize, p: usize, r: usize) -> (usize, usize, usize) {
    let size = std::mem::size_of::<T>();
    let rows = (BLOCK_BYTES / (size * p.max(1))).max(8).min(n.max(1));
    let blocks = n.div_ceil(rows).max(1);
    let per_group_bytes = (rows + r).saturating_mul(p.max(1)).saturating_mul(size);
    let groups = GROUPS.min(GROUP_BYTES / per_group_bytes.max(1)).max(1);
    let per_group = blocks.div_ceil(groups);
    (rows, per_group, blocks.div_ceil(per_group))
}

/// `r ← X ⊘ max(W H, floor)` for one block of rows. Where x = 0 this is 0 whatever the model
/// there (max ignores NaN and the floor keeps the divisor positive), so the loop needs no branch
/// and vectorizes; a branch on x > 0 mispredicted on sparse counts and cost most of the time.
fn ratio_block<T: Real>(x: ArrayView2<T>, w: ArrayView2<T>, h: ArrayView2<T>, mut r: ArrayViewMut2<T>) {
    matmul_into(w, h, r.view_mut());
    Zip::from(r).and(x).for_each(|l, &x| *l = x / l.max(T::MODEL_FLOOR));
}

/// Buffers for the KL multiplicative updates at one shape, allocated once per fit.
pub struct MuKl<'a, T> {
    /// X (N x p).
    x: ArrayView2<'a, T>,
    /// The penalty gradients of H and W.
    pen: PenaltyGrad<T>,
    /// Wᵀ R (r x p).
    num_h: Array2<T>,
    /// R Hᵀ (N x r).
    num_w: Array2<T>,
    /// Column sums of W or row sums of H (r).
    sums: Array1<T>,
    /// Row blocks of R.
    blocks: RatioBlocks<T>,
}

impl<'a, T: Real> MuKl<'a, T> {
    /// Buffers for X of shape (n, p) at rank r.
    pub(crate) fn new(x: ArrayView2<'a, T>, r: usize, pen: Weights<T>) -> Self {
        let (n, p) = x.dim();
        MuKl {
            x,
            pen: pen.kl(),
            num_h: Array2::zeros((r, p)),
            num_w: Array2::zeros((n, r)),
            sums: Array1::zeros(r),
            blocks: RatioBlocks::new(n, p, r),
        }
    }
}

impl<T: Real> UpdateRule<T> for MuKl<'_, T> {
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>) {
        let x = self.x;
        // H update from the current W.
        self.blocks.wt_ratio(x, w, h, &mut self.num_h);
        for (s, col) in self.sums.iter_mut().zip(w.axis_iter(Axis(1))) {
            *s = col.sum();
        }
        scale_by_ratio(h, &self.num_h, &self.sums, 0, self.pen.h);
        // W update from the new H.
        self.blocks.ratio_ht(x, w, h, &mut self.num_w);
        for (s, row) in self.sums.iter_mut().zip(h.rows()) {
            *s = row.sum();
        }
        scale_by_ratio(w, &self.num_w, &self.sums, 1, self.pen.w);
    }

    fn set_parallel(&mut self, on: bool) {
        self.blocks.set_parallel(on);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmf::update::tests::awkward_data;

    /// The blocked products equal the products of the full ratio matrix, with several blocks and
    /// a short last one (p large enough that a block holds 8 rows).
    #[test]
    fn blocked_products_equal_full_ratio_products() {
        let (n, p, r) = (37, 5000, 3);
        let x = awkward_data(n, p);
        let mut rng = crate::rng::fit_rng(3);
        let (w, h) = crate::nmf::init::random(&mut rng, n, p, r, 1.0);
        let mut blocks = RatioBlocks::new(n, p, r);
        assert_eq!(blocks.groups[0].block.nrows(), 8);
        assert_eq!(blocks.groups.len(), 5);
        // Wide X: the groups' buffers stay below GROUP_BYTES (one group of 8 + 4 rows of 228 097
        // columns in f64 is 21 MiB), and 16 groups where they are small.
        let wide = RatioBlocks::<f64>::new(100, 228_097, 4);
        assert_eq!(wide.groups.len(), 1);
        assert_eq!((wide.groups[0].start, wide.groups[0].end), (0, 100));
        let narrow = RatioBlocks::<f32>::new(20_000, 200, 4);
        assert_eq!(narrow.groups.len(), 16);
        let full = Array2::from_shape_fn((n, p), |(i, j)| {
            let l: f64 = (0..r).map(|k| w[[i, k]] * h[[k, j]]).sum();
            if x[[i, j]] > 0.0 {
                x[[i, j]] / l.max(f64::MODEL_FLOOR)
            } else {
                0.0
            }
        });
        let mut num_h = Array2::from_elem((r, p), 7.0);
        blocks.wt_ratio(x.view(), &w, &h, &mut num_h);
        let want_h = w.t().dot(&full);
        assert!(
            num_h
                .iter()
                .zip(want_h.iter())
                .all(|(a, b)| (a - b).abs() <= 1e-12 * b.abs().max(1.0))
        );
        let mut num_w = Array2::zeros((n, r));
        blocks.ratio_ht(x.view(), &w, &h, &mut num_w);
        let want_w = full.dot(&h.t());
        assert!(
            num_w
                .iter()
                .zip(want_w.iter())
                .all(|(a, b)| (a - b).abs() <= 1e-12 * b.abs().max(1.0))
        );

        // The groups on a 3-thread pool give the same bits as one after the other.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let (mut par_h, mut par_w) = (Array2::zeros((r, p)), Array2::zeros((n, r)));
        blocks.set_parallel(true);
        pool.install(|| {
            blocks.wt_ratio(x.view(), &w, &h, &mut par_h);
            blocks.ratio_ht(x.view(), &w, &h, &mut par_w);
        });
        let bits = |m: &Array2<f64>| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&par_h), bits(&num_h));
        assert_eq!(bits(&par_w), bits(&num_w));
    }
}

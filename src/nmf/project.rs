//! Projection onto fixed components: with H (r x p) held fixed, the W ≥ 0 (N x r) that minimizes
//! loss(X, W H) + l1_w ΣW + l2_w ΣW² (and the mirror, W fixed and H solved). Both problems are
//! convex and split into one small problem per row of X, solved independently: the result of a
//! row depends on that row alone, so the bits do not depend on the number of threads.
//!
//! - **Frobenius** (‖x − w H‖² per row): exact coordinate minimization on the r x r Gram matrix
//!   G = H Hᵀ (the NNLS problem min ½ wᵀ(G + l2·I)w − wᵀ(x Hᵀ − l1/2), w ≥ 0), swept until no
//!   coordinate moves by more than `TOL` of the row's largest entry. Each coordinate step is the
//!   exact minimizer along that coordinate, so the objective never increases.
//! - **KL** (Σ_j λ_j − x_j ln λ_j with λ = w H): coordinate Newton steps (Hsieh & Dhillon 2011).
//!   Along a coordinate the derivative is concave, so a step that increases the coordinate never
//!   passes the minimizer; a decreasing step that passes it is shortened to the root of the
//!   secant through its two derivatives, which lies between the minimizer and the start. Every
//!   step therefore lowers the objective (monotone). Only the row's stored (nonzero) entries enter
//!   the logarithmic term (Σ_j λ_j = w · rowsums(H)), so sparse rows cost O(nnz·r) per sweep and
//!   are never densified.
//!
//! Features whose column of H is all zero cannot be explained by any W: they are left out of the
//! KL solve (their λ would be 0), and for Frobenius they add a constant; [`Projection`] counts them.

use super::Loss;
use super::loss::Stored;
use crate::sparse::Csr;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// Sweeps stop when no coordinate of a row moved by more than this fraction of the row's largest
/// entry (or of the data's scale when the row is all zero).
pub const TOL: f64 = 1e-12;
/// Most sweeps over the coordinates of one row.
pub const MAX_SWEEPS: usize = 100_000;

/// A projection's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// The solved factor: W (N x r) for [`project_w`], H (r x p) for [`project_h`].
    pub factor: Array2<f64>,
    /// The most sweeps any row needed.
    pub sweeps: usize,
    /// Rows that hit [`MAX_SWEEPS`] before meeting [`TOL`] (0 when every row converged).
    pub unconverged: usize,
}

/// One row's data: its stored entries (column index, value) or a dense slice.
#[derive(Clone, Copy)]
enum RowData<'a> {
    Dense(ndarray::ArrayView1<'a, f64>),
    /// A row of X held in f32 alone (exact values, read widened).
    Dense32(ndarray::ArrayView1<'a, f32>),
    Sparse(&'a [u32], &'a [f64]),
}

/// The W ≥ 0 (N x r) minimizing `loss`(X, W H) + l1 ΣW + l2 ΣW² for X (N x p, dense or CSR) and
/// the fixed H (r x p). Rows are solved on the rayon pool when `parallel`, with the same bits as
/// one after the other.
pub fn project_w(x: Stored, h: ArrayView2<f64>, loss: Loss, l1: f64, l2: f64, parallel: bool) -> Projection {
    let n = match x {
        Stored::Dense(d) => d.nrows(),
        Stored::Dense32(d) => d.nrows(),
        Stored::Sparse(c) => c.dim().0,
    };
    let row = |i: usize| match x {
        Stored::Dense(d) => RowData::Dense(d.index_axis_move(Axis(0), i)),
        Stored::Dense32(d) => RowData::Dense32(d.index_axis_move(Axis(0), i)),
        Stored::Sparse(c) => {
            let (j, v) = c.row(i);
            RowData::Sparse(j, v)
        }
    };
    solve_rows(n, row, h, loss, l1, l2, parallel)
}

/// The H ≥ 0 (r x p) minimizing `loss`(X, W H) + l1 ΣH + l2 ΣH² for X (N x p) and the fixed W
/// (N x r): the columns of X projected onto the columns of W (the mirror of [`project_w`]).
pub fn project_h(x: Stored, w: ArrayView2<f64>, loss: Loss, l1: f64, l2: f64, parallel: bool) -> Projection {
    let wt = w.t();
    let p = match x {
        Stored::Dense(d) => d.ncols(),
        Stored::Dense32(d) => d.ncols(),
        Stored::Sparse(c) => c.dim().1,
    };
    let transposed: Option<Csr> = match x {
        Stored::Sparse(c) => Some(c.transpose()),
        Stored::Dense(_) | Stored::Dense32(_) => None,
    };
    let row = |j: usize| match (x, &transposed) {
        (Stored::Dense(d), _) => RowData::Dense(d.index_axis_move(Axis(1), j)),
        (Stored::Dense32(d), _) => RowData::Dense32(d.index_axis_move(Axis(1), j)),
        (_, Some(t)) => {
            let (i, v) = t.row(j);
            RowData::Sparse(i, v)
        }
        (Stored::Sparse(_), None) => unreachable!("a sparse X is transposed above"),
    };
    let mut out = solve_rows(p, row, wt, loss, l1, l2, parallel);
    out.factor = out.factor.reversed_axes().as_standard_layout().to_owned();
    out
}

/// Solves `n` independent rows against the fixed basis `b` (r x p).
fn solve_rows<'a>(
    n: usize,
    row: impl Fn(usize) -> RowData<'a> + Sync,
    b: ArrayView2<f64>,
    loss: Loss,
    l1: f64,
    l2: f64,
    parallel: bool,
) -> Projection {
    let r = b.nrows();
    let basis = Basis::new(b);
    let mut factor = Array2::<f64>::zeros((n, r));
    let solve = |(i, w): (usize, &mut [f64])| -> usize {
        match loss {
            Loss::Frobenius => basis.frobenius_row(row(i), w, l1, l2),
            Loss::Kl => basis.kl_row(row(i), w, l1, l2),
        }
    };
    let rows = factor.as_slice_mut().expect("a new array is in standard layout");
    let sweeps: Vec<usize> = if r == 0 {
        Vec::new()
    } else if parallel {
        rows.par_chunks_mut(r).enumerate().map(solve).collect()
    } else {
        rows.chunks_mut(r).enumerate().map(solve).collect()
    };
    Projection {
        factor,
        sweeps: sweeps.iter().copied().max().unwrap_or(0),
        unconverged: sweeps.iter().filter(|&&s| s >= MAX_SWEEPS).count(),
    }
}

/// The fixed basis B (r x p) and what every row's problem needs of it.
struct Basis<'a> {
    /// B itself.
    b: ArrayView2<'a, f64>,
    /// Bᵀ (p x r), contiguous rows: column j of B is row j here.
    bt: Array2<f64>,
    /// The Gram matrix B Bᵀ (r x r), for Frobenius.
    gram: Array2<f64>,
    /// Row sums of B (Σ_j b_kj), for KL.
    sums: Array1<f64>,
    /// Whether column j of B has a positive entry (else feature j cannot be explained).
    used: Vec<bool>,
}

impl<'a> Basis<'a> {
    fn new(b: ArrayView2<'a, f64>) -> Self {
        let bt = b.t().as_standard_layout().to_owned();
        Basis {
            b,
            gram: b.dot(&b.t()),
            sums: b.sum_axis(Axis(1)),
            used: bt.rows().into_iter().map(|c| c.iter().any(|&v| v > 0.0)).collect(),
            bt,
        }
    }

    /// Column j of B (r values).
    fn col(&self, j: usize) -> &[f64] {
        let r = self.b.nrows();
        let s = self.bt.as_slice().expect("Bᵀ is allocated in standard layout");
        &s[j * r..(j + 1) * r]
    }

    /// Frobenius: exact coordinate minimization of ½ wᵀ(G + l2 I)w − wᵀ(x Bᵀ − l1/2) over w ≥ 0;
    /// returns the sweeps.
    fn frobenius_row(&self, x: RowData, w: &mut [f64], l1: f64, l2: f64) -> usize {
        let r = w.len();
        // The linear term x Bᵀ − l1/2, then the gradient G w + l2 w − that (w = 0 at the start).
        let mut grad = vec![0.0; r];
        let mut scale = 0.0f64;
        let mut add = |j: usize, v: f64| {
            for (g, &bk) in grad.iter_mut().zip(self.col(j)) {
                *g -= v * bk;
            }
        };
        match x {
            RowData::Dense(d) => {
                for (j, &v) in d.iter().enumerate() {
                    if v != 0.0 {
                        add(j, v);
                        scale = scale.max(v.abs());
                    }
                }
            }
            RowData::Dense32(d) => {
                for (j, v) in d.iter().map(|&v| v as f64).enumerate() {
                    if v != 0.0 {
                        add(j, v);
                        scale = scale.max(v.abs());
                    }
                }
            }
            RowData::Sparse(idx, vals) => {
                for (&j, &v) in idx.iter().zip(vals) {
                    if v != 0.0 {
                        add(j as usize, v);
                        scale = scale.max(v.abs());
                    }
                }
            }
        }
        for g in &mut grad {
            *g += 0.5 * l1;
        }
        if scale == 0.0 {
            return 0;
        }
        for sweep in 1..=MAX_SWEEPS {
            let mut moved = 0.0f64;
            for k in 0..r {
                let curv = self.gram[[k, k]] + l2;
                if curv <= 0.0 {
                    continue;
                }
                let new = (w[k] - grad[k] / curv).max(0.0);
                let d = new - w[k];
                if d != 0.0 {
                    w[k] = new;
                    for (m, g) in grad.iter_mut().enumerate() {
                        *g += d * self.gram[[m, k]];
                    }
                    grad[k] += d * l2;
                    moved = moved.max(d.abs());
                }
            }
            let top = w.iter().copied().fold(0.0f64, f64::max);
            if moved <= TOL * top.max(f64::MIN_POSITIVE) {
                return sweep;
            }
        }
        MAX_SWEEPS
    }

    /// KL: coordinate Newton steps on Σ_k w_k s_k − Σ_j x_j ln λ_j + l1 Σw + l2 Σw² over w ≥ 0
    /// (s = row sums of B, λ = w B over the row's positive entries); returns the sweeps.
    fn kl_row(&self, x: RowData, w: &mut [f64], l1: f64, l2: f64) -> usize {
        // The row's positive entries on explainable features: (column, value).
        let mut entries: Vec<(usize, f64)> = Vec::new();
        match x {
            RowData::Dense(d) => entries.extend(
                d.iter()
                    .enumerate()
                    .filter(|(j, v)| **v > 0.0 && self.used[*j])
                    .map(|(j, v)| (j, *v)),
            ),
            RowData::Dense32(d) => entries.extend(
                d.iter()
                    .map(|&v| v as f64)
                    .enumerate()
                    .filter(|(j, v)| *v > 0.0 && self.used[*j]),
            ),
            RowData::Sparse(idx, vals) => entries.extend(
                idx.iter()
                    .zip(vals)
                    .filter(|(j, v)| **v > 0.0 && self.used[**j as usize])
                    .map(|(j, v)| (*j as usize, *v)),
            ),
        }
        if entries.is_empty() {
            // The optimum of Σ w_k s_k + penalties alone is w = 0.
            return 0;
        }
        // A positive start scaled so that Σ λ matches Σ x over the row.
        let total: f64 = entries.iter().map(|e| e.1).sum();
        let mass: f64 = self.sums.sum();
        w.fill(if mass > 0.0 { total / mass } else { 1.0 });
        let mut lambda: Vec<f64> = entries.iter().map(|&(j, _)| dot(w, self.col(j))).collect();
        let r = w.len();
        // f'(t) and f''(t) of coordinate k at step t.
        let slope = |k: usize, t: f64, w: &[f64], lambda: &[f64]| -> f64 {
            let mut s = self.sums[k] + l1 + 2.0 * l2 * (w[k] + t);
            for (&(j, v), &lam) in entries.iter().zip(lambda) {
                let bk = self.col(j)[k];
                if bk > 0.0 {
                    let den = lam + t * bk;
                    if den <= 0.0 {
                        return f64::NEG_INFINITY;
                    }
                    s -= v * bk / den;
                }
            }
            s
        };
        for sweep in 1..=MAX_SWEEPS {
            let mut moved = 0.0f64;
            for k in 0..r {
                let g0 = slope(k, 0.0, w, &lambda);
                if g0 == 0.0 || (g0 > 0.0 && w[k] == 0.0) {
                    continue;
                }
                let mut curv = 2.0 * l2;
                for (&(j, v), &lam) in entries.iter().zip(&lambda) {
                    let bk = self.col(j)[k];
                    curv += v * bk * bk / (lam * lam);
                }
                if !(curv > 0.0 && curv.is_finite()) {
                    continue;
                }
                let mut t = (-g0 / curv).max(-w[k]);
                if t < 0.0 {
                    let gt = slope(k, t, w, &lambda);
                    if gt < 0.0 {
                        // The decreasing step passed the minimizer, or left the domain (some
                        // λ_j ≤ 0 where H has zeros; f' is -∞ there). The root of f' lies in
                        // (t, 0): found by bisection with secant steps, keeping the right end,
                        // where f' > 0, so the step still lowers the objective. (A single secant
                        // step from a point near the domain's edge, where f' is huge, barely
                        // moves and stalled rows at non-stationary points.)
                        t = root_between(t, gt, g0, |s| slope(k, s, w, &lambda));
                    }
                }
                if t == 0.0 || !t.is_finite() {
                    continue;
                }
                w[k] = (w[k] + t).max(0.0);
                for (&(j, _), lam) in entries.iter().zip(lambda.iter_mut()) {
                    *lam += t * self.col(j)[k];
                }
                moved = moved.max(t.abs());
            }
            let top = w.iter().copied().fold(0.0f64, f64::max);
            if moved <= TOL * top.max(f64::MIN_POSITIVE) {
                return sweep;
            }
            // Rounding drift of λ: recomputed once per sweep from w.
            for (&(j, _), lam) in entries.iter().zip(lambda.iter_mut()) {
                *lam = dot(w, self.col(j));
            }
        }
        MAX_SWEEPS
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The right end of a bracket [lo, 0] of the root of an increasing f' with f'(lo) = `glo` < 0
/// (or -∞) and f'(0) = `g0` > 0, narrowed to a relative width of 1e-13 (at most 200 halvings
/// or secant steps, a secant step only where f'(lo) is finite and it lands inside the middle of
/// the bracket): a step t in (lo, 0] with f'(t) ≥ 0, so f(t) < f(0) for convex f.
fn root_between(mut lo: f64, mut glo: f64, mut ghi: f64, slope: impl Fn(f64) -> f64) -> f64 {
    let mut hi = 0.0f64;
    for _ in 0..200 {
        let width = hi - lo;
        if width <= 1e-13 * lo.abs() {
            break;
        }
        let secant = if glo.is_finite() {
            hi - ghi * width / (ghi - glo)
        } else {
            f64::NAN
        };
        let mid = if secant > lo + 0.1 * width && secant < hi - 0.1 * width {
            secant
        } else {
            lo + 0.5 * width
        };
        let g = slope(mid);
        if g >= 0.0 {
            (hi, ghi) = (mid, g);
            if g == 0.0 {
                break;
            }
        } else {
            (lo, glo) = (mid, g);
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmf::FitMatrix;
    use crate::nmf::loss::objectives_of;
    use crate::simulate::{Planted, draw};

    fn planted(n: usize, p: usize, r: usize, seed: u64) -> (Array2<f64>, Array2<f64>, Array2<f64>) {
        draw(&Planted {
            n,
            p,
            rank: r,
            mean: 10.0,
            mix: 0.1,
            seed,
            dispersion: None,
        })
    }

    /// The KKT conditions of a KL row solve: ∂/∂w_k = s_k − Σ_j x_j b_kj / λ_j is 0 where
    /// w_k > 0 and ≥ 0 where w_k = 0 (to `tol` of the row's scale).
    fn kl_kkt(x: &[f64], b: &Array2<f64>, w: &[f64], tol: f64) {
        let lambda: Vec<f64> = (0..x.len())
            .map(|j| (0..w.len()).map(|k| w[k] * b[[k, j]]).sum())
            .collect();
        for k in 0..w.len() {
            let mut g = b.row(k).sum();
            for j in 0..x.len() {
                if x[j] > 0.0 {
                    g -= x[j] * b[[k, j]] / lambda[j];
                }
            }
            if w[k] > 0.0 {
                assert!(
                    g.abs() < tol,
                    "coordinate {k}: w {w:?}, gradient {g:e} (not stationary)"
                );
            } else {
                assert!(g > -tol, "coordinate {k}: w {w:?}, gradient {g:e} (could decrease)");
            }
        }
    }

    #[test]
    fn kl_steps_that_would_leave_the_domain_are_shortened_not_dropped() {
        // H with zeros: from the start w = (5, 5), the Newton step of w_2 toward its optimum
        // near 0 would make λ_3 = w_2 h_23 ≤ 0; the solve used to drop it and stop at a
        // non-stationary w (its KL above the optimum's).
        let b = ndarray::array![[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]];
        let x = ndarray::array![[10.0, 10.0, 0.001]];
        let p = project_w(Stored::Dense(x.view()), b.view(), Loss::Kl, 0.0, 0.0, false);
        assert_eq!(p.unconverged, 0);
        kl_kkt(x.as_slice().unwrap(), &b, p.factor.as_slice().unwrap(), 1e-9);
        // A row of a 60 x 40 planted sweep (rank 2, its best H): w_2 must fall from
        // its start to about 0.07, past the edge where λ_39 = w_2 h_2,39 (h_1,39 = 0); a single
        // secant step from next to that edge barely moved, and the row stopped at w_2 = 3.6.
        let h2 = ndarray::array![
            [
                2.6592907905578613,
                7.110623836517334,
                0.7712357640266418,
                1.013763666152954,
                5.640286922454834,
                2.07527756690979,
                0.06357794255018234,
                0.757939875125885,
                0.07720989733934402,
                2.0108540058135986,
                0.1318369209766388,
                0.5322217345237732,
                0.39950284361839294,
                0.1145748645067215,
                1.3609119653701782,
                0.30558639764785767,
                0.9486741423606873,
                0.15439847111701965,
                1.7378586530685425,
                3.645986557006836,
                0.41884568333625793,
                0.0857117772102356,
                0.10911405831575394,
                0.0,
                0.8090479373931885,
                3.840879201889038,
                0.014293627813458443,
                0.0,
                0.01537711825221777,
                0.08198487758636475,
                0.6942011117935181,
                0.3574022054672241,
                0.199442058801651,
                0.2111770212650299,
                0.7887889742851257,
                1.2279391288757324,
                0.4483983814716339,
                2.087700605392456,
                6.95971058561895e-15,
                0.2935459017753601
            ],
            [
                2.912029981613159,
                0.0,
                0.4243898093700409,
                0.0,
                1.018698811531067,
                1.8916304111480713,
                1.6070282459259033,
                0.6357082724571228,
                0.9707860946655273,
                0.4128146171569824,
                0.40713340044021606,
                0.8877504467964172,
                1.2740558385849,
                1.8112326860427856,
                2.3166604042053223,
                0.23491039872169495,
                3.050792694091797,
                0.2998531758785248,
                1.759036660194397,
                3.3351471424102783,
                0.009423555806279182,
                1.160500407218933,
                1.3212922811508179,
                0.16983532905578613,
                1.9012726545333862,
                0.0,
                0.1415146440267563,
                4.783695220947266,
                0.2395114153623581,
                0.4140881896018982,
                0.38752296566963196,
                0.32507896423339844,
                1.1185344457626343,
                0.6823141574859619,
                0.8174248337745667,
                0.0,
                0.6594710350036621,
                0.18096014857292175,
                9.751378059387207,
                2.1716458797454834
            ]
        ];
        let x2 = ndarray::array![[
            27.0, 61.0, 6.0, 6.0, 38.0, 17.0, 1.0, 8.0, 0.0, 13.0, 2.0, 4.0, 2.0, 1.0, 11.0, 2.0, 8.0, 1.0, 15.0, 27.0,
            2.0, 1.0, 1.0, 0.0, 5.0, 29.0, 0.0, 0.0, 0.0, 0.0, 5.0, 3.0, 1.0, 1.0, 6.0, 11.0, 3.0, 22.0, 1.0, 4.0
        ]];
        let p = project_w(Stored::Dense(x2.view()), h2.view(), Loss::Kl, 0.0, 0.0, false);
        kl_kkt(
            x2.as_slice().unwrap(),
            &h2,
            p.factor.as_slice().unwrap(),
            1e-9 * x2.sum(),
        );
        // And on planted data with exact zeros in H, every row is stationary.
        let (_, _, mut h) = planted(50, 40, 4, 5);
        h.mapv_inplace(|v| if v < 0.3 * 10.0_f64.sqrt() { 0.0 } else { v });
        let (x, _, _) = planted(50, 40, 4, 6);
        let p = project_w(Stored::Dense(x.view()), h.view(), Loss::Kl, 0.0, 0.0, false);
        for i in 0..x.nrows() {
            kl_kkt(
                x.row(i).as_slice().unwrap(),
                &h,
                p.factor.row(i).as_slice().unwrap(),
                1e-7 * x.row(i).sum(),
            );
        }
    }

    #[test]
    fn exact_factors_are_recovered_from_their_product() {
        // X = W H exactly: the projection onto H returns W (the unique optimum, H of full rank).
        let (_, w, h) = planted(40, 30, 3, 2);
        let x = w.dot(&h);
        for loss in [Loss::Frobenius, Loss::Kl] {
            let p = project_w(Stored::Dense(x.view()), h.view(), loss, 0.0, 0.0, false);
            assert_eq!(p.unconverged, 0, "{loss:?}");
            let rel = (&p.factor - &w).mapv(f64::abs).sum() / w.sum();
            assert!(rel < 1e-7, "{loss:?}: relative error {rel:e}");
        }
    }

    #[test]
    fn the_projection_is_the_minimum_over_w_and_never_worse_than_a_nearby_point() {
        let (x, w0, h) = planted(30, 25, 3, 5);
        let data = FitMatrix::new(x.clone());
        let mut s = data.objective_scratch(3);
        for loss in [Loss::Frobenius, Loss::Kl] {
            let p = project_w(Stored::Dense(x.view()), h.view(), loss, 0.0, 0.0, false);
            assert!(p.factor.iter().all(|&v| v >= 0.0));
            let best = objectives_of(&data, p.factor.view(), h.view(), &mut s).value(loss);
            let planted = objectives_of(&data, w0.view(), h.view(), &mut s).value(loss);
            assert!(best <= planted, "{loss:?}: {best} > {planted}");
            // Perturbing any entry (kept ≥ 0) does not lower the objective.
            for (i, k) in [(0, 0), (7, 2), (29, 1)] {
                for d in [1e-4, -1e-4] {
                    let mut w = p.factor.clone();
                    w[[i, k]] = (w[[i, k]] * (1.0 + d)).max(0.0) + if d > 0.0 { 1e-9 } else { 0.0 };
                    let v = objectives_of(&data, w.view(), h.view(), &mut s).value(loss);
                    assert!(v >= best * (1.0 - 1e-12), "{loss:?} ({i},{k},{d}): {v} < {best}");
                }
            }
        }
    }

    #[test]
    fn sparse_and_dense_rows_and_thread_counts_give_the_same_bits() {
        let (mut x, _, h) = planted(50, 40, 4, 7);
        x.mapv_inplace(|v| if v < 8.0 { 0.0 } else { v });
        let csr = Csr::from_dense(x.view());
        for loss in [Loss::Frobenius, Loss::Kl] {
            let dense = project_w(Stored::Dense(x.view()), h.view(), loss, 0.1, 0.01, false);
            let sparse = project_w(Stored::Sparse(&csr), h.view(), loss, 0.1, 0.01, false);
            let pooled = project_w(Stored::Sparse(&csr), h.view(), loss, 0.1, 0.01, true);
            assert_eq!(dense.factor, sparse.factor, "{loss:?}");
            assert_eq!(sparse.factor, pooled.factor, "{loss:?}");
        }
    }

    #[test]
    fn the_mirror_solves_h_for_fixed_w() {
        let (_, w, h) = planted(40, 30, 3, 9);
        let x = w.dot(&h);
        let csr = Csr::from_dense(x.view());
        for loss in [Loss::Frobenius, Loss::Kl] {
            let p = project_h(Stored::Sparse(&csr), w.view(), loss, 0.0, 0.0, false);
            let rel = (&p.factor - &h).mapv(f64::abs).sum() / h.sum();
            assert!(rel < 1e-7, "{loss:?}: relative error {rel:e}");
            let d = project_h(Stored::Dense(x.view()), w.view(), loss, 0.0, 0.0, false);
            assert_eq!(p.factor, d.factor);
        }
    }

    #[test]
    fn all_zero_rows_and_unexplainable_features() {
        let (mut x, _, mut h) = planted(10, 12, 2, 3);
        x.row_mut(4).fill(0.0);
        h.column_mut(5).fill(0.0);
        for loss in [Loss::Frobenius, Loss::Kl] {
            let p = project_w(Stored::Dense(x.view()), h.view(), loss, 0.0, 0.0, false);
            assert!(p.factor.row(4).iter().all(|&v| v == 0.0));
            assert!(p.factor.iter().all(|v| v.is_finite() && *v >= 0.0));
        }
    }
}

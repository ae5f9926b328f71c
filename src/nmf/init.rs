//! Starting points of a fit.
//!
//! - `random`: independent uniform entries scaled to the data.
//! - `nndsvd`: Boutsidis & Gallopoulos (2008), "SVD based initialization: a head start for
//!   nonnegative matrix factorization": the positive sections of the leading singular triplets of
//!   X; entries below 1e-6 are set to 0. Deterministic (all restarts of a rank start alike).
//! - `nndsvda`: the zeros filled with mean(X) (better for multiplicative updates, which cannot
//!   move an entry away from 0).
//! - `nndsvdar`: the zeros filled with small random values, |N(0,1)|·mean(X)/100, from the fit's
//!   own random stream (so restarts differ).
//!
//! The NNDSVD variants match scikit-learn's `_initialize_nmf` (tests/data/fixtures/nndsvd.json).

use crate::names::named_enum;
use ndarray::{Array1, Array2, ArrayView2, s};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

named_enum! {
    /// How a fit's starting point is chosen (`[model] init`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Init {
        /// Independent uniform entries, scaled to the data (see [`random`]).
        Random = "random",
        /// NNDSVD with zeros (Boutsidis & Gallopoulos 2008).
        Nndsvd = "nndsvd",
        /// NNDSVD with zeros filled by mean(X).
        Nndsvda = "nndsvda",
        /// NNDSVD with zeros filled by small random values.
        Nndsvdar = "nndsvdar",
    }
}

impl Init {
    /// Whether the start needs the SVD of X.
    pub fn needs_svd(self) -> bool {
        !matches!(self, Init::Random)
    }

    /// Whether every restart of a rank starts from the same point.
    pub fn is_deterministic(self) -> bool {
        matches!(self, Init::Nndsvd | Init::Nndsvda)
    }
}

/// Random W (n x r) and H (r x p) with entries uniform on (0, s], s = 2·sqrt(mean(X)/r), so that
/// E[(WH)_ij] = mean(X). Entries are never exactly 0 (a zero entry stays 0 under multiplicative
/// updates). W is drawn first, row by row, then H, row by row: part of the reproducibility contract.
pub fn random<R: Rng>(rng: &mut R, n: usize, p: usize, r: usize, data_mean: f64) -> (Array2<f64>, Array2<f64>) {
    let mean = if data_mean > 0.0 && data_mean.is_finite() {
        data_mean
    } else {
        1.0
    };
    let s = 2.0 * (mean / r as f64).sqrt();
    // 1 - U[0,1) lies in (0, 1].
    let draw = |rng: &mut R| s * (1.0 - rng.random::<f64>());
    let w = Array2::from_shape_simple_fn((n, r), || draw(rng));
    let h = Array2::from_shape_simple_fn((r, p), || draw(rng));
    (w, h)
}

/// The leading singular triplets of X: U (N x k), singular values (k, descending), Vᵀ (k x p).
#[derive(Debug, Clone)]
pub struct Svd {
    /// Left singular vectors (N x k).
    pub u: Array2<f64>,
    /// Singular values, descending (k).
    pub s: Array1<f64>,
    /// Right singular vectors as rows (k x p).
    pub vt: Array2<f64>,
}

/// Extra columns of the randomized range finder beyond the k wanted (Halko et al. 2011, §4.2).
const OVERSAMPLE: usize = 10;

impl Svd {
    /// The leading `k` singular triplets of X (N x p); None if the factorization fails.
    ///
    /// For large X with k well below min(N, p) this is the randomized SVD of Halko, Martinsson &
    /// Tropp (2011, "Finding structure with randomness", algorithms 4.4 and 5.1: a Gaussian test
    /// matrix of k + 10 columns, power iterations re-orthonormalized by QR, then the exact SVD of
    /// the small projected matrix), as scikit-learn's NNDSVD starts use it: O(N·p·k) instead of
    /// the full thin SVD's O(N·p·min(N, p)), which took longer than the fit itself at 20000 x 2000.
    /// Power iterations: 7 when k < min(N, p)/10, else 4 (scikit-learn's choice). The test
    /// matrix comes from a fixed stream, so the result is the same on every run. Otherwise the
    /// thin SVD ([`crate::linalg::thin_svd`]), truncated.
    pub fn top(x: ArrayView2<f64>, k: usize) -> Option<Svd> {
        let (n, p) = x.dim();
        let l = k + OVERSAMPLE;
        if 4 * l <= n.min(p) && n * p >= 250_000 {
            Self::randomized(x, k, if 10 * k < n.min(p) { 7 } else { 4 })
        } else {
            Self::exact(x, k)
        }
    }

    /// [`Svd::top`] of a fit matrix, dense or sparse. Sparse X takes the randomized SVD through
    /// sparse products (O(nnz·k) each, never densified) when [`Svd::top`] would; otherwise (small
    /// matrices) the exact SVD of its dense form.
    pub fn top_of(data: &crate::nmf::FitMatrix, k: usize) -> Option<Svd> {
        let csr = match data.stored() {
            crate::nmf::loss::Stored::Dense(x) => return Self::top(x, k),
            // X held in f32 alone: the SVD (f64) of its widened values, X's own numbers,
            // in a copy that lives for the SVD only (before any fit runs).
            crate::nmf::loss::Stored::Dense32(x) => return Self::top(x.mapv(|v| v as f64).view(), k),
            crate::nmf::loss::Stored::Sparse(csr) => csr,
        };
        let (n, p) = csr.dim();
        if 4 * (k + OVERSAMPLE) <= n.min(p) && n * p >= 250_000 {
            Self::randomized_sparse(csr, k, if 10 * k < n.min(p) { 7 } else { 4 })
        } else {
            Self::exact(csr.to_dense().view(), k)
        }
    }

    /// The randomized SVD of [`Svd::top`] for sparse X, with the products taken by `Csr`.
    fn randomized_sparse(x: &crate::sparse::Csr, k: usize, power: usize) -> Option<Svd> {
        use crate::linalg::qr_q;
        let (n, p) = x.dim();
        let l = (k + OVERSAMPLE).min(n.min(p));
        let mut rng = crate::rng::fit_rng(0x5eed_5eed_5eed_5eed);
        let omega = Array2::from_shape_simple_fn((p, l), || StandardNormal.sample(&mut rng));
        let mut q = qr_q(x.mul_dense(omega.view()).view())?;
        for _ in 0..power {
            let qz = qr_q(x.t_mul_dense(q.view()).view())?;
            q = qr_q(x.mul_dense(qz.view()).view())?;
        }
        // B = Qᵀ X = (Xᵀ Q)ᵀ (l x p).
        let b = x.t_mul_dense(q.view()).reversed_axes();
        let small = Self::exact(b.as_standard_layout().view(), k)?;
        Some(Svd {
            u: q.dot(&small.u),
            s: small.s,
            vt: small.vt,
        })
    }

    /// The thin SVD of X ([`crate::linalg::thin_svd`]: LAPACK gesdd, or faer in the `bundled`
    /// build), truncated to the leading `k` triplets.
    pub fn exact(x: ArrayView2<f64>, k: usize) -> Option<Svd> {
        let crate::linalg::ThinSvd { u, s, vt } = crate::linalg::thin_svd(x)?;
        let k = k.min(s.len());
        Some(Svd {
            u: u.slice(s![.., ..k]).to_owned(),
            s: s.slice(s![..k]).to_owned(),
            vt: vt.slice(s![..k, ..]).to_owned(),
        })
    }

    /// The randomized SVD described at [`Svd::top`], with `power` power iterations.
    pub fn randomized(x: ArrayView2<f64>, k: usize, power: usize) -> Option<Svd> {
        use crate::linalg::{matmul_into, matmul_tn_into, qr_q};
        let (n, p) = x.dim();
        let l = (k + OVERSAMPLE).min(n.min(p));
        let mut rng = crate::rng::fit_rng(0x5eed_5eed_5eed_5eed);
        let omega = Array2::from_shape_simple_fn((p, l), || StandardNormal.sample(&mut rng));
        let mut y = Array2::zeros((n, l));
        let mut z = Array2::zeros((p, l));
        matmul_into(x, omega.view(), y.view_mut());
        let mut q = qr_q(y.view())?;
        for _ in 0..power {
            matmul_tn_into(x, q.view(), z.view_mut());
            let qz = qr_q(z.view())?;
            matmul_into(x, qz.view(), y.view_mut());
            q = qr_q(y.view())?;
        }
        // B = Qᵀ X (l x p); X ≈ Q B = (Q U_B) S Vᵀ.
        let mut b = Array2::zeros((l, p));
        matmul_tn_into(q.view(), x, b.view_mut());
        let small = Self::exact(b.view(), k)?;
        let mut u = Array2::zeros((n, small.s.len()));
        matmul_into(q.view(), small.u.view(), u.view_mut());
        Some(Svd {
            u,
            s: small.s,
            vt: small.vt,
        })
    }
}

/// NNDSVD start at rank r from the SVD of X (which must have at least r triplets; missing ones
/// give zero components). `fill` replaces the zeros: nothing for nndsvd, mean(X) for nndsvda,
/// |N(0,1)|·mean(X)/100 for nndsvdar.
pub fn nndsvd<R: Rng>(svd: &Svd, r: usize, init: Init, data_mean: f64, rng: &mut R) -> (Array2<f64>, Array2<f64>) {
    let (n, p) = (svd.u.nrows(), svd.vt.ncols());
    let mut w = Array2::zeros((n, r));
    let mut h = Array2::zeros((r, p));
    for j in 0..r.min(svd.s.len()) {
        let (x, y, sj) = (svd.u.column(j), svd.vt.row(j), svd.s[j]);
        if j == 0 {
            // The leading pair can be taken non-negative (Perron–Frobenius).
            w.column_mut(0).assign(&x.mapv(|v| sj.sqrt() * v.abs()));
            h.row_mut(0).assign(&y.mapv(|v| sj.sqrt() * v.abs()));
            continue;
        }
        let (xp, xn) = (x.mapv(|v| v.max(0.0)), x.mapv(|v| (-v).max(0.0)));
        let (yp, yn) = (y.mapv(|v| v.max(0.0)), y.mapv(|v| (-v).max(0.0)));
        let norm = |a: &Array1<f64>| a.dot(a).sqrt();
        let (xpn, ypn, xnn, ynn) = (norm(&xp), norm(&yp), norm(&xn), norm(&yn));
        let (mp, mn) = (xpn * ypn, xnn * ynn);
        if mp.max(mn) <= 0.0 || sj <= 0.0 {
            // A singular pair with σ = 0, or vectors whose better-signed section is empty (X of
            // rank below r): the component starts at zero (then filled like the other zeros).
            continue;
        }
        let (u, v, sigma) = if mp > mn {
            (xp / xpn, yp / ypn, mp)
        } else {
            (xn / xnn, yn / ynn, mn)
        };
        let lbd = (sj * sigma).sqrt();
        w.column_mut(j).assign(&(u * lbd));
        h.row_mut(j).assign(&(v * lbd));
    }
    const EPS: f64 = 1e-6;
    w.mapv_inplace(|v| if v < EPS { 0.0 } else { v });
    h.mapv_inplace(|v| if v < EPS { 0.0 } else { v });
    match init {
        Init::Nndsvda => {
            w.mapv_inplace(|v| if v == 0.0 { data_mean } else { v });
            h.mapv_inplace(|v| if v == 0.0 { data_mean } else { v });
        }
        Init::Nndsvdar => {
            for m in [&mut w, &mut h] {
                for v in m.iter_mut().filter(|v| **v == 0.0) {
                    let z: f64 = StandardNormal.sample(rng);
                    *v = (data_mean * z / 100.0).abs();
                }
            }
        }
        Init::Nndsvd | Init::Random => {}
    }
    (w, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmf::update::tests::{fixture, matrix};

    #[test]
    fn random_start_is_positive_scaled_and_reproducible() {
        let (w, h) = random(&mut crate::rng::fit_rng(3), 200, 100, 4, 10.0);
        assert!(w.iter().chain(h.iter()).all(|v| *v > 0.0));
        let mean = w.dot(&h).mean().unwrap();
        assert!((mean - 10.0).abs() < 1.0, "mean of WH {mean}");
        let (w2, h2) = random(&mut crate::rng::fit_rng(3), 200, 100, 4, 10.0);
        assert_eq!(w, w2);
        assert_eq!(h, h2);
    }

    #[test]
    fn nndsvd_and_nndsvda_match_scikit_learn() {
        let f = fixture("nndsvd.json");
        let x = matrix(&f["X"]);
        let r = f["rank"].as_u64().unwrap() as usize;
        let svd = Svd::top(x.view(), r).unwrap();
        let mean = x.mean().unwrap();
        for (init, key) in [(Init::Nndsvd, "nndsvd"), (Init::Nndsvda, "nndsvda")] {
            let (w, h) = nndsvd(&svd, r, init, mean, &mut crate::rng::fit_rng(0));
            for (got, name) in [(&w, "W"), (&h, "H")] {
                let want = matrix(&f[key][name]);
                assert_eq!(got.dim(), want.dim());
                for (a, b) in got.iter().zip(want.iter()) {
                    assert!((a - b).abs() <= 1e-8 * b.abs().max(1e-300), "{key} {name}: {a} vs {b}");
                }
            }
        }
    }

    /// The randomized SVD agrees with the exact one on planted data: the leading singular values
    /// to 1e-10 and the NNDSVD start built from it to 1e-8; it is used for large matrices only,
    /// and it is the same on every run.
    #[test]
    fn randomized_svd_matches_exact_svd() {
        // As in the sweep: one BLAS thread (other tests in this process may change it midway, and
        // multi-threaded BLAS gives other bits).
        crate::linalg::set_blas_threads(1);
        let x = crate::simulate::draw(&crate::simulate::Planted {
            n: 700,
            p: 400,
            rank: 6,
            mean: 5.0,
            mix: 0.1,
            seed: 3,
            dispersion: None,
        })
        .0;
        let (exact, fast) = (
            Svd::exact(x.view(), 6).unwrap(),
            Svd::randomized(x.view(), 6, 7).unwrap(),
        );
        for (a, b) in exact.s.iter().zip(fast.s.iter()) {
            assert!((a - b).abs() <= 1e-10 * a, "singular values {a} vs {b}");
        }
        let mean = x.mean().unwrap();
        let (w0, h0) = nndsvd(&exact, 6, Init::Nndsvda, mean, &mut crate::rng::fit_rng(0));
        let (w1, h1) = nndsvd(&fast, 6, Init::Nndsvda, mean, &mut crate::rng::fit_rng(0));
        let scale = w0.iter().chain(h0.iter()).fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in w0.iter().chain(h0.iter()).zip(w1.iter().chain(h1.iter())) {
            assert!((a - b).abs() <= 1e-8 * scale, "NNDSVD entry {a} vs {b}");
        }
        let top = Svd::top(x.view(), 6).unwrap();
        assert_eq!(top.u, fast.u, "top() takes the randomized path at 700 x 400, k = 6");
        assert_eq!(Svd::top(x.view(), 6).unwrap().u, top.u);
    }

    #[test]
    fn nndsvd_on_rank_deficient_data_has_no_nan() {
        // Rank 1: the second and third singular values are 0.
        let x = Array2::from_shape_fn((6, 5), |(i, j)| ((i + 1) * (j + 2)) as f64);
        let svd = Svd::top(x.view(), 3).unwrap();
        for init in [Init::Nndsvd, Init::Nndsvda, Init::Nndsvdar] {
            let (w, h) = nndsvd(&svd, 3, init, x.mean().unwrap(), &mut crate::rng::fit_rng(1));
            assert!(
                w.iter().chain(h.iter()).all(|v| v.is_finite() && *v >= 0.0),
                "{init:?}: {w} {h}"
            );
        }
    }

    #[test]
    fn nndsvdar_fills_zeros_with_small_positive_values_per_stream() {
        let f = fixture("nndsvd.json");
        let x = matrix(&f["X"]);
        let svd = Svd::top(x.view(), 3).unwrap();
        let mean = x.mean().unwrap();
        let (w0, _) = nndsvd(&svd, 3, Init::Nndsvd, mean, &mut crate::rng::fit_rng(0));
        let (w1, h1) = nndsvd(&svd, 3, Init::Nndsvdar, mean, &mut crate::rng::fit_rng(1));
        let (w2, _) = nndsvd(&svd, 3, Init::Nndsvdar, mean, &mut crate::rng::fit_rng(2));
        assert!(w1.iter().chain(h1.iter()).all(|v| *v >= 0.0));
        for ((a, b), c) in w0.iter().zip(w1.iter()).zip(w2.iter()) {
            if *a == 0.0 {
                assert!(*b > 0.0 && *b < mean / 10.0 && b != c, "{b} {c}");
            } else {
                assert_eq!(a, b);
            }
        }
    }
}

//! Matching a rank's components (rows of H) to a reference catalogue's signatures by cosine
//! similarity: every component's closest and second-closest signature, and an optimal one-to-one
//! matching (Kuhn–Munkres, maximal total cosine). With r components and s signatures,
//! min(r, s) pairs are matched; the other components or signatures are left unmatched.

use ndarray::{Array2, ArrayView2};
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// Optimal one-to-one assignment of the rows of `sim` (rows x columns, any shape) to its columns,
/// maximizing the total similarity: `assign[i]` is row i's column, None for rows left over
/// (more rows than columns). Similarities are resolved to 1e-9 (integer weights); non-finite
/// ones count as 0.
pub fn assign_max(sim: &Array2<f64>) -> Vec<Option<usize>> {
    let (rows, cols) = sim.dim();
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    let q = |v: f64| if v.is_finite() { (v * 1e9).round() as i64 } else { 0 };
    if rows <= cols {
        let weights = Matrix::from_fn(rows, cols, |(i, j)| q(sim[[i, j]]));
        kuhn_munkres(&weights).1.into_iter().map(Some).collect()
    } else {
        // Kuhn–Munkres needs rows ≤ columns: assign the columns to the rows instead.
        let weights = Matrix::from_fn(cols, rows, |(j, i)| q(sim[[i, j]]));
        let mut assign = vec![None; rows];
        for (j, i) in kuhn_munkres(&weights).1.into_iter().enumerate() {
            assign[i] = Some(j);
        }
        assign
    }
}

/// Cosine similarity of every row of `a` with every row of `b` (same number of columns); 0 where
/// either row is all zero.
pub fn cosine_matrix(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    let norm = |m: ArrayView2<f64>| m.rows().into_iter().map(|r| r.dot(&r).sqrt()).collect::<Vec<_>>();
    let (na, nb) = (norm(a), norm(b));
    // In standard (row-major) layout, as results.h5 stores it.
    let mut c = a.dot(&b.t()).as_standard_layout().into_owned();
    for ((i, j), v) in c.indexed_iter_mut() {
        let d = na[i] * nb[j];
        *v = if d > 0.0 { (*v / d).clamp(-1.0, 1.0) } else { 0.0 };
    }
    c
}

/// The matching of one rank's components to the reference signatures.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceMatch {
    /// Cosine of component k with signature s (r x s).
    pub cosine: Array2<f64>,
    /// The signature matched one-to-one to each component (None: unmatched).
    pub assigned: Vec<Option<usize>>,
}

impl ReferenceMatch {
    /// Signatures of component `k`, closest first (ties to the lower index).
    pub fn ranked(&self, k: usize) -> Vec<(usize, f64)> {
        let mut v: Vec<(usize, f64)> = self.cosine.row(k).iter().copied().enumerate().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// The signatures no component is matched to, ascending.
    pub fn unmatched_signatures(&self) -> Vec<usize> {
        (0..self.cosine.ncols())
            .filter(|s| !self.assigned.contains(&Some(*s)))
            .collect()
    }
}

/// Matches the components `h` (r x m, restricted to the features the reference has) to the
/// signatures `reference` (s x m).
pub fn match_reference(h: ArrayView2<f64>, reference: ArrayView2<f64>) -> ReferenceMatch {
    let cosine = cosine_matrix(h, reference);
    let assigned = assign_max(&cosine);
    ReferenceMatch { cosine, assigned }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn a_permutation_is_recovered_whatever_the_scale() {
        let h = array![[1.0, 0.0, 0.0, 1.0], [0.0, 2.0, 1.0, 0.0], [0.0, 0.0, 3.0, 3.0]];
        // Signatures: component rows in the order 2, 0, 1, each scaled.
        let reference = array![[0.0, 0.0, 0.5, 0.5], [7.0, 0.0, 0.0, 7.0], [0.0, 0.2, 0.1, 0.0]];
        let m = match_reference(h.view(), reference.view());
        assert_eq!(m.assigned, [Some(1), Some(2), Some(0)]);
        for (k, s) in m.assigned.iter().enumerate() {
            assert!((m.cosine[[k, s.unwrap()]] - 1.0).abs() < 1e-12);
        }
        assert!(m.unmatched_signatures().is_empty());
        assert_eq!(m.ranked(0)[0].0, 1);
    }

    #[test]
    fn rectangular_assignment_is_one_to_one_and_optimal() {
        // More signatures than components: the greedy choice (both rows want column 0) is not
        // the optimum; the optimum leaves column 2 unmatched.
        let sim = array![[0.9, 0.8, 0.1], [0.85, 0.2, 0.0]];
        assert_eq!(assign_max(&sim), [Some(1), Some(0)]);
        // More components than signatures: the transpose, with one component unmatched.
        let t = sim.t().to_owned();
        assert_eq!(assign_max(&t), [Some(1), Some(0), None]);
        let m = ReferenceMatch {
            cosine: sim.clone(),
            assigned: assign_max(&sim),
        };
        assert_eq!(m.unmatched_signatures(), [2]);
        // Brute force over all injections agrees on random rectangles.
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for (r, c) in [(2, 4), (4, 2), (3, 3), (1, 5), (5, 1)] {
            let sim = Array2::from_shape_fn((r, c), |_| next());
            let a = assign_max(&sim);
            let total: f64 = a.iter().enumerate().filter_map(|(i, j)| j.map(|j| sim[[i, j]])).sum();
            assert_eq!(a.iter().flatten().count(), r.min(c));
            let mut used: Vec<usize> = a.iter().flatten().copied().collect();
            used.sort_unstable();
            used.dedup();
            assert_eq!(used.len(), r.min(c));
            assert!((total - best(&sim, 0, &mut vec![false; c])).abs() < 1e-6, "{r}x{c}");
        }
    }

    /// The best total over injections of rows i.. into unused columns (rows may stay unmatched
    /// only when the columns run out).
    fn best(sim: &Array2<f64>, i: usize, used: &mut Vec<bool>) -> f64 {
        if i == sim.nrows() {
            return 0.0;
        }
        let free = used.iter().filter(|u| !**u).count();
        let mut top = if free < sim.nrows() - i {
            best(sim, i + 1, used)
        } else {
            f64::MIN
        };
        for j in 0..sim.ncols() {
            if !used[j] {
                used[j] = true;
                top = top.max(sim[[i, j]] + best(sim, i + 1, used));
                used[j] = false;
            }
        }
        top
    }

    #[test]
    fn cosine_of_zero_rows_is_zero() {
        let c = cosine_matrix(array![[0.0, 0.0], [1.0, 1.0]].view(), array![[2.0, 0.0]].view());
        assert_eq!(c[[0, 0]], 0.0);
        assert!((c[[1, 0]] - 0.5f64.sqrt()).abs() < 1e-12);
    }
}

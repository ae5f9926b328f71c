//! Consensus components of a rank (as cNMF and SigProfilerExtractor build them): every restart's
//! components (rows of H scaled to unit L2 norm) are matched one-to-one to the best fit's
//! (Kuhn–Munkres on cosines), which puts exactly one component of each restart in each of the r
//! groups; outliers are dropped by local density, and the element-wise median of the kept
//! members, renormalized, is the group's consensus component.
//!
//! **Outlier rule.** Within a group of m members, a member's local density distance is its mean
//! cosine distance (1 − cosine) to its k nearest other members, k = max(1, ⌈0.3·m⌉) (capped at
//! m − 1; cNMF uses 30% of the restarts as its default). A member is dropped when its distance
//! is above both median + 3·MAD of the group's distances (MAD: median absolute deviation) and
//! [`DISTANCE_FLOOR`] (cosine 0.9), so that a tight group loses nothing to rounding. At least
//! half the members (those at or below the median) are always kept.
//!
//! Memory: the members of every group are held, restarts·r·p values.

use super::stability::match_components;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

/// Fraction of a group's members that are a member's neighbours in its local density.
pub const NEIGHBOUR_FRACTION: f64 = 0.3;
/// MADs above the median local density distance beyond which a member is an outlier.
pub const MAD_FACTOR: f64 = 3.0;
/// Local density distances at or below this (cosine distance 0.1, cosine 0.9) are never outliers.
pub const DISTANCE_FLOOR: f64 = 0.1;

/// Rows of `h` scaled to unit L2 norm (an all-zero row stays zero), and the rows' norms.
pub fn unit_rows(h: ArrayView2<f64>) -> (Array2<f64>, Vec<f64>) {
    let mut z = h.to_owned();
    let mut norms = Vec::with_capacity(z.nrows());
    for mut row in z.rows_mut() {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row.mapv_inplace(|v| v / norm);
        }
        norms.push(norm);
    }
    (z, norms)
}

/// Neighbours of a member in a group of `members`: max(1, ⌈0.3·members⌉), at most members − 1.
pub fn neighbours(members: usize) -> usize {
    let k = ((NEIGHBOUR_FRACTION * members as f64).ceil() as usize).max(1);
    k.min(members.saturating_sub(1)).max(1)
}

/// The median of `v` (NaN when empty); `v` is reordered.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// Each member's local density distance: its mean cosine distance to its k nearest other
/// members (`members` has unit rows; 0 for a group of one).
pub fn local_density(members: ArrayView2<f64>) -> Vec<f64> {
    let m = members.nrows();
    if m < 2 {
        return vec![0.0; m];
    }
    let k = neighbours(m);
    let cos = members.dot(&members.t());
    (0..m)
        .map(|i| {
            let mut d: Vec<f64> = (0..m).filter(|&j| j != i).map(|j| 1.0 - cos[[i, j]]).collect();
            d.sort_by(f64::total_cmp);
            d[..k].iter().sum::<f64>() / k as f64
        })
        .collect()
}

/// Which members are outliers under the rule of the module notes, from their local density
/// distances.
pub fn outliers(distances: &[f64]) -> Vec<bool> {
    let mut sorted = distances.to_vec();
    let med = median(&mut sorted);
    let mut dev: Vec<f64> = distances.iter().map(|d| (d - med).abs()).collect();
    let mad = median(&mut dev);
    let threshold = (med + MAD_FACTOR * mad).max(DISTANCE_FLOOR);
    distances.iter().map(|&d| d > threshold).collect()
}

/// One group's consensus component.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The consensus component: the element-wise median of the kept members, unit L2 norm.
    pub centre: Array1<f64>,
    /// The median L2 norm of the kept members' components before scaling (their scale in H).
    pub scale: f64,
    /// Members kept (restarts contributing to the centre).
    pub support: usize,
    /// Members dropped as outliers.
    pub outliers: usize,
    /// Mean cosine of every member (outliers included) to the centre.
    pub mean_cosine: f64,
}

/// The consensus of one group: `members` (m x p, unit rows) with their original `norms`.
pub fn consensus_of(members: ArrayView2<f64>, norms: &[f64]) -> Group {
    let out = outliers(&local_density(members));
    let kept: Vec<usize> = (0..members.nrows()).filter(|&i| !out[i]).collect();
    let p = members.ncols();
    let mut centre = Array1::zeros(p);
    let mut column = Vec::with_capacity(kept.len());
    for j in 0..p {
        column.clear();
        column.extend(kept.iter().map(|&i| members[[i, j]]));
        centre[j] = median(&mut column);
    }
    let norm = centre.dot(&centre).sqrt();
    if norm > 0.0 {
        centre.mapv_inplace(|v| v / norm);
    }
    let mut kept_norms: Vec<f64> = kept.iter().map(|&i| norms[i]).collect();
    let scale = median(&mut kept_norms);
    let mean_cosine = cosine_mean(members, centre.view());
    Group {
        centre,
        scale,
        support: kept.len(),
        outliers: members.nrows() - kept.len(),
        mean_cosine,
    }
}

/// The mean dot product of the rows of `members` with `centre`.
fn cosine_mean(members: ArrayView2<f64>, centre: ArrayView1<f64>) -> f64 {
    members.dot(&centre).mean().unwrap_or(f64::NAN)
}

/// The restarts' components, grouped by their match to the best fit's components.
#[derive(Debug, Clone)]
pub struct ComponentGroups {
    reference: Array2<f64>,
    /// Per group, the members' unit rows, one after the other.
    members: Vec<Vec<f64>>,
    /// Per group, the members' norms.
    norms: Vec<Vec<f64>>,
}

impl ComponentGroups {
    /// Groups around the best fit's H (r x p).
    pub fn new(best_h: ArrayView2<f64>) -> Self {
        let (reference, _) = unit_rows(best_h);
        let r = reference.nrows();
        ComponentGroups {
            reference,
            members: vec![Vec::new(); r],
            norms: vec![Vec::new(); r],
        }
    }

    /// Adds one restart's H (r x p): each of its components joins the group of the best fit's
    /// component it is matched to.
    pub fn add(&mut self, h: ArrayView2<f64>) {
        let (z, norms) = unit_rows(h);
        let (assign, _) = match_components(&self.reference, &z);
        for (k, &g) in assign.iter().enumerate() {
            self.members[g].extend(z.row(k).iter());
            self.norms[g].push(norms[k]);
        }
    }

    /// The consensus of every group, in the order of the best fit's components (None before any
    /// restart was added).
    pub fn finish(&self) -> Option<Vec<Group>> {
        let p = self.reference.ncols();
        if self.norms.first().is_none_or(Vec::is_empty) {
            return None;
        }
        let groups = self
            .members
            .iter()
            .zip(&self.norms)
            .map(|(flat, norms)| {
                let m = ArrayView2::from_shape((norms.len(), p), flat).map(|v| consensus_of(v, norms));
                m.unwrap_or_else(|_| consensus_of(Array2::zeros((0, p)).view(), &[]))
            })
            .collect();
        Some(groups)
    }

    /// The cosine of each consensus centre in `groups` to the best fit's matching component.
    pub fn cosine_to_best(&self, groups: &[Group]) -> Vec<f64> {
        groups
            .iter()
            .enumerate()
            .map(|(k, g)| g.centre.dot(&self.reference.row(k)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn neighbours_follow_the_thirty_percent_rule() {
        assert_eq!(neighbours(1), 1);
        assert_eq!(neighbours(2), 1);
        assert_eq!(neighbours(3), 1);
        assert_eq!(neighbours(4), 2);
        assert_eq!(neighbours(10), 3);
        assert_eq!(neighbours(11), 4);
        assert_eq!(neighbours(100), 30);
    }

    #[test]
    fn a_tight_group_keeps_every_member_and_an_odd_one_is_dropped() {
        // Nine members within a few degrees of e1, one along e2.
        let mut rows = Vec::new();
        for i in 0..9 {
            let t = 0.01 * i as f64;
            rows.push([1.0, t, 0.5 * t]);
        }
        rows.push([0.0, 1.0, 0.0]);
        let m = Array2::from_shape_fn((10, 3), |(i, j)| rows[i][j]);
        let (u, norms) = unit_rows(m.view());
        let d = local_density(u.view());
        let out = outliers(&d);
        assert_eq!(out.iter().filter(|&&o| o).count(), 1);
        assert!(out[9]);
        let g = consensus_of(u.view(), &norms);
        assert_eq!((g.support, g.outliers), (9, 1));
        assert!((g.centre.dot(&g.centre) - 1.0).abs() < 1e-12);
        assert!(g.centre[0] > 0.99, "{:?}", g.centre);
        // The outlier pulls the mean cosine below that of the kept members alone.
        assert!(g.mean_cosine < 0.95 && g.mean_cosine > 0.85, "{}", g.mean_cosine);
        // Without the odd member nothing is dropped (spread below the floor).
        let g9 = consensus_of(u.slice(ndarray::s![..9, ..]), &norms[..9]);
        assert_eq!((g9.support, g9.outliers), (9, 0));
    }

    #[test]
    fn at_least_half_the_members_are_kept() {
        // Widely spread members: the median rule keeps those at or below the median.
        let m = array![
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [1.0, 1.0, 0.0],
            [0.0, 1.0, 1.0]
        ];
        let (u, norms) = unit_rows(m.view());
        let g = consensus_of(u.view(), &norms);
        assert!(g.support * 2 >= 5);
    }

    #[test]
    fn groups_follow_the_matching_and_the_median_resists_a_bad_restart() {
        let best = array![[4.0, 0.0, 0.0, 1.0], [0.0, 2.0, 2.0, 0.0]];
        let mut groups = ComponentGroups::new(best.view());
        groups.add(best.view());
        // Same components, swapped and rescaled.
        groups.add(array![[0.0, 1.0, 1.0, 0.0], [8.0, 0.0, 0.0, 2.0]].view());
        groups.add(array![[0.0, 3.0, 3.0, 0.0], [2.0, 0.0, 0.0, 0.5]].view());
        // A poor restart: both components mixed.
        groups.add(array![[1.0, 1.0, 1.0, 1.0], [1.0, 0.5, 0.5, 1.0]].view());
        let g = groups.finish().unwrap();
        let (unit_best, norms) = unit_rows(best.view());
        for (k, gk) in g.iter().enumerate() {
            assert!((gk.centre.dot(&unit_best.row(k)) - 1.0).abs() < 1e-12, "{k}: {gk:?}");
            assert_eq!(gk.support + gk.outliers, 4);
            assert!(gk.mean_cosine < 1.0);
        }
        // Component 0's kept norms: 4.12 (best), 8.25, 2.06 → median 4.12 when the mixed one is out.
        assert_eq!(g[0].outliers, 1);
        assert!((g[0].scale - norms[0]).abs() < 1e-12);
        assert!(groups.cosine_to_best(&g).iter().all(|c| (c - 1.0).abs() < 1e-12));
    }

    #[test]
    fn the_result_does_not_depend_on_the_order_within_a_restart() {
        let best = array![[1.0, 0.2, 0.0], [0.0, 1.0, 0.3], [0.1, 0.0, 1.0]];
        let a = array![[0.9, 0.3, 0.1], [0.1, 1.1, 0.2], [0.0, 0.1, 0.8]];
        let permuted = array![[0.0, 0.1, 0.8], [0.9, 0.3, 0.1], [0.1, 1.1, 0.2]];
        let mut g1 = ComponentGroups::new(best.view());
        g1.add(a.view());
        g1.add(best.view());
        let mut g2 = ComponentGroups::new(best.view());
        g2.add(permuted.view());
        g2.add(best.view());
        assert_eq!(g1.finish(), g2.finish());
    }
}

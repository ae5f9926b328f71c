//! Component stability over restarts (as cNMF and NMFk measure it): the components (rows of H)
//! of every restart are matched one-to-one to the best fit's components by optimal assignment
//! (Kuhn–Munkres on Pearson correlations), which groups them into r clusters. Reported: mean and
//! minimum correlation of matched components, and the mean silhouette of the clusters under the
//! distance 1 − correlation.
//!
//! Streaming: pass 1 over the restarts accumulates each cluster's sum of standardized components
//! (r x p); pass 2 computes silhouettes from those sums, because the mean correlation of a
//! component with a cluster is its dot product with the cluster's mean standardized vector.
//! Memory is O(r·p) whatever the number of restarts.

use ndarray::{Array2, ArrayView2};

/// Rows centered and scaled to unit norm (so a dot product is a Pearson correlation); a constant
/// row becomes 0.
pub fn standardize_rows(h: ArrayView2<f64>) -> Array2<f64> {
    let mut z = h.to_owned();
    for mut row in z.rows_mut() {
        let mean = row.mean().unwrap_or(0.0);
        row.mapv_inplace(|v| v - mean);
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row.mapv_inplace(|v| v / norm);
        } else {
            row.fill(0.0);
        }
    }
    z
}

/// Optimal one-to-one matching of the rows of `z` (r x p) to the rows of `reference`: returns
/// `assign[k]` = reference row of z's row k, and the correlation of each matched pair.
pub fn match_components(reference: &Array2<f64>, z: &Array2<f64>) -> (Vec<usize>, Vec<f64>) {
    let corr = z.dot(&reference.t()); // r x r
    // Square: every row is assigned.
    let assign: Vec<usize> = super::reference::assign_max(&corr)
        .into_iter()
        .map(|c| c.unwrap_or(0))
        .collect();
    let matched = assign.iter().enumerate().map(|(k, &c)| corr[[k, c]]).collect();
    (assign, matched)
}

/// Pass 1 and 2 state of one rank.
#[derive(Debug, Clone)]
pub struct StabilityAccumulator {
    reference: Array2<f64>,
    sums: Array2<f64>,
    fits: usize,
    corr_sum: f64,
    corr_min: f64,
    silhouette_sum: f64,
    silhouette_n: usize,
}

/// Component stability of one rank.
#[derive(Debug, Clone, PartialEq)]
pub struct StabilityStats {
    /// Fits compared (the best fit included).
    pub fits: usize,
    /// Mean correlation of matched components.
    pub corr_mean: f64,
    /// Minimum correlation of matched components.
    pub corr_min: f64,
    /// Mean silhouette of the component clusters (None for r = 1 or a single fit).
    pub silhouette: Option<f64>,
}

impl StabilityAccumulator {
    /// Starts with the best fit's H (r x p) as the reference.
    pub fn new(best_h: ArrayView2<f64>) -> Self {
        let reference = standardize_rows(best_h);
        let sums = Array2::zeros(reference.dim());
        StabilityAccumulator {
            reference,
            sums,
            fits: 0,
            corr_sum: 0.0,
            corr_min: f64::INFINITY,
            silhouette_sum: 0.0,
            silhouette_n: 0,
        }
    }

    /// Pass 1: one restart's H.
    pub fn add(&mut self, h: ArrayView2<f64>) {
        let z = standardize_rows(h);
        let (assign, corr) = match_components(&self.reference, &z);
        for (k, &c) in assign.iter().enumerate() {
            let mut s = self.sums.row_mut(c);
            s += &z.row(k);
        }
        self.fits += 1;
        self.corr_sum += corr.iter().sum::<f64>();
        self.corr_min = corr.iter().copied().fold(self.corr_min, f64::min);
    }

    /// Pass 2: the same restart's H again (after every restart went through pass 1).
    pub fn add_silhouette(&mut self, h: ArrayView2<f64>) {
        let r = self.reference.nrows();
        let f = self.fits as f64;
        if r < 2 || self.fits < 2 {
            return;
        }
        let z = standardize_rows(h);
        let (assign, _) = match_components(&self.reference, &z);
        let dots: Array2<f64> = z.dot(&self.sums.t()); // (component, cluster)
        for (k, &own) in assign.iter().enumerate() {
            let self_dot = z.row(k).dot(&z.row(k));
            let a = 1.0 - (dots[[k, own]] - self_dot) / (f - 1.0);
            let b = (0..r)
                .filter(|&c| c != own)
                .map(|c| 1.0 - dots[[k, c]] / f)
                .fold(f64::INFINITY, f64::min);
            let m = a.max(b);
            self.silhouette_sum += if m > 0.0 { (b - a) / m } else { 0.0 };
            self.silhouette_n += 1;
        }
    }

    /// The statistics (None when no fit was added).
    pub fn finish(&self) -> Option<StabilityStats> {
        (self.fits > 0).then(|| StabilityStats {
            fits: self.fits,
            corr_mean: self.corr_sum / (self.fits * self.reference.nrows()) as f64,
            corr_min: self.corr_min,
            silhouette: (self.silhouette_n > 0).then(|| self.silhouette_sum / self.silhouette_n as f64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn matching_finds_the_permutation() {
        let reference =
            standardize_rows(array![[1.0, 0.0, 0.0, 2.0], [0.0, 3.0, 1.0, 0.0], [2.0, 2.0, 0.0, 0.0]].view());
        let z = standardize_rows(array![[0.0, 3.1, 1.0, 0.1], [2.0, 2.1, 0.0, 0.0], [1.0, 0.0, 0.1, 2.0]].view());
        let (assign, corr) = match_components(&reference, &z);
        assert_eq!(assign, vec![1, 2, 0]);
        assert!(corr.iter().all(|c| *c > 0.95));
    }

    /// Silhouettes from cluster sums equal the direct definition on all pairs.
    #[test]
    fn streamed_silhouette_equals_direct() {
        let fits: Vec<Array2<f64>> = (0..5)
            .map(|s| {
                Array2::from_shape_fn((3, 8), |(k, j)| {
                    ((k * 5 + j * 3 + s * (k + 1)) % 7) as f64 + (k == j % 3) as u8 as f64 * 4.0
                })
            })
            .collect();
        let mut acc = StabilityAccumulator::new(fits[0].view());
        for h in &fits {
            acc.add(h.view());
        }
        for h in &fits {
            acc.add_silhouette(h.view());
        }
        let streamed = acc.finish().unwrap();
        // Direct: all components with their cluster labels, distance 1 − corr.
        let reference = standardize_rows(fits[0].view());
        let mut comps = Vec::new();
        let mut labels = Vec::new();
        for h in &fits {
            let z = standardize_rows(h.view());
            let (assign, _) = match_components(&reference, &z);
            for (k, &c) in assign.iter().enumerate() {
                comps.push(z.row(k).to_owned());
                labels.push(c as u32 + 1);
            }
        }
        let direct =
            crate::stats::consensus::silhouette(comps.len(), &labels, |i, j| 1.0 - comps[i].dot(&comps[j])).unwrap();
        assert!(
            (streamed.silhouette.unwrap() - direct).abs() < 1e-12,
            "{:?} vs {direct}",
            streamed.silhouette
        );
        assert_eq!(streamed.fits, 5);
        assert!(streamed.corr_min <= streamed.corr_mean);
    }
}

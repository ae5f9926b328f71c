//! The consensus matrix of observations (Brunet, Tamayo, Golub & Mesirov 2004) and its summaries.
//!
//! Each restart assigns observation i to argmax_k W_ik; the connectivity matrix of a restart has
//! C_ij = 1 when i and j share a cluster; the consensus is the mean connectivity over restarts.
//! It is accumulated as integer counts over the upper triangle (so the order in which fits arrive
//! does not matter), and summarized by:
//! - the cophenetic correlation: Pearson correlation between 1 − consensus and the cophenetic
//!   distances of its average-linkage clustering (R NMF's `cophcor`);
//! - the dispersion (Kim & Park 2007): Σ_ij 4 (C_ij − ½)² / N², over the full matrix (R NMF);
//! - the clusters of average linkage cut at r, and their silhouette (Rousseeuw 1987) with distance
//!   1 − consensus.

use kodama::{Method, linkage};
use ndarray::{Array2, ArrayView2};

/// Cluster of each observation: argmax_k W_ik (first maximum), or None for an all-zero row of W
/// (such an observation co-clusters with nothing).
pub fn hard_labels(w: ArrayView2<f64>) -> Vec<Option<u32>> {
    w.rows()
        .into_iter()
        .map(|row| {
            let mut best: Option<(u32, f64)> = None;
            for (k, &v) in row.iter().enumerate() {
                if v > 0.0 && best.is_none_or(|(_, b)| v > b) {
                    best = Some((k as u32, v));
                }
            }
            best.map(|(k, _)| k)
        })
        .collect()
}

/// Index of pair (i, j), i < j, in the condensed upper triangle of an n x n matrix.
#[inline]
fn pair_index(n: usize, i: usize, j: usize) -> usize {
    debug_assert!(i < j && j < n);
    i * n - i * (i + 1) / 2 + (j - i - 1)
}

/// Co-clustering counts over restarts: n(n−1)/2 counters and the number of restarts.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsensusAccumulator {
    n: usize,
    runs: u32,
    together: Vec<u32>,
}

impl ConsensusAccumulator {
    /// Bytes needed for `accumulators` consensus accumulators of `n` observations held at once,
    /// plus the f64 working copy the linkage of one of them needs at the end.
    pub fn bytes_needed(n: usize, accumulators: usize) -> usize {
        let pairs = n * n.saturating_sub(1) / 2;
        pairs * (accumulators * std::mem::size_of::<u32>() + std::mem::size_of::<f64>())
    }

    /// No restarts yet, for `n` observations.
    pub fn new(n: usize) -> Self {
        ConsensusAccumulator {
            n,
            runs: 0,
            together: vec![0; n * n.saturating_sub(1) / 2],
        }
    }

    /// Adds one restart's labels (length n).
    pub fn add(&mut self, labels: &[Option<u32>]) {
        debug_assert_eq!(labels.len(), self.n);
        self.runs += 1;
        for (i, &label) in labels.iter().enumerate().take(self.n.saturating_sub(1)) {
            let Some(li) = label else { continue };
            let row = pair_index(self.n, i, i + 1);
            for (count, lj) in self.together[row..row + self.n - i - 1]
                .iter_mut()
                .zip(&labels[i + 1..])
            {
                if *lj == Some(li) {
                    *count += 1;
                }
            }
        }
    }

    /// Restarts added.
    pub fn runs(&self) -> u32 {
        self.runs
    }

    /// Observations.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Consensus value of pair (i, j) (1 on the diagonal).
    pub fn value(&self, i: usize, j: usize) -> f64 {
        if i == j {
            return 1.0;
        }
        let (a, b) = if i < j { (i, j) } else { (j, i) };
        if self.runs == 0 {
            0.0
        } else {
            self.together[pair_index(self.n, a, b)] as f64 / self.runs as f64
        }
    }

    /// The full consensus matrix (n x n).
    pub fn matrix(&self) -> Array2<f64> {
        Array2::from_shape_fn((self.n, self.n), |(i, j)| self.value(i, j))
    }

    /// The summaries of the consensus, with clusters cut at `k`. None when n < 2.
    pub fn stats(&self, k: usize) -> Option<ConsensusStats> {
        let n = self.n;
        if n < 2 || self.runs == 0 {
            return None;
        }
        let dist = |i: usize, j: usize| 1.0 - self.value(i, j);
        let mut condensed: Vec<f64> = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .map(|(i, j)| dist(i, j))
            .collect();
        let dendro = linkage(&mut condensed, n, Method::Average);
        drop(condensed);
        let steps = dendro.steps();

        // Members of every cluster id (0..n leaves, n.. merges), built in step order.
        let mut members: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
        members.reserve(n - 1);
        // Cophenetic correlation in two passes (means, then centered sums) for accuracy.
        let pairs = (n * (n - 1) / 2) as f64;
        let mut sum_d = 0.0;
        for i in 0..n {
            for j in i + 1..n {
                sum_d += dist(i, j);
            }
        }
        let mean_d = sum_d / pairs;
        let mut sum_c = 0.0;
        for s in steps {
            let size = (members[s.cluster1].len() * members[s.cluster2].len()) as f64;
            sum_c += size * s.dissimilarity;
            let mut merged = std::mem::take(&mut members[s.cluster1]);
            merged.extend(std::mem::take(&mut members[s.cluster2]));
            members.push(merged);
        }
        let mean_c = sum_c / pairs;
        let mut members: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for s in steps {
            let yc = s.dissimilarity - mean_c;
            for &a in &members[s.cluster1] {
                for &b in &members[s.cluster2] {
                    let xd = dist(a, b) - mean_d;
                    sxy += xd * yc;
                    sxx += xd * xd;
                    syy += yc * yc;
                }
            }
            let mut merged = std::mem::take(&mut members[s.cluster1]);
            merged.extend(std::mem::take(&mut members[s.cluster2]));
            members.push(merged);
        }
        let cophenetic = sxy / (sxx * syy).sqrt();

        let mut disp = n as f64; // the diagonal: 4 (1 − ½)² = 1 each
        for i in 0..n {
            for j in i + 1..n {
                let c = self.value(i, j) - 0.5;
                disp += 2.0 * 4.0 * c * c;
            }
        }
        let dispersion = disp / (n * n) as f64;

        let labels = cut(steps.iter().map(|s| (s.cluster1, s.cluster2)), n, k);
        let silhouette = silhouette(n, &labels, dist);
        let order = leaf_order(steps.iter().map(|s| (s.cluster1, s.cluster2)).collect(), n);
        Some(ConsensusStats {
            cophenetic: cophenetic.is_finite().then_some(cophenetic),
            dispersion,
            silhouette,
            labels,
            order,
        })
    }
}

/// Summaries of one rank's consensus matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsensusStats {
    /// Cophenetic correlation (None when undefined: all distances equal).
    pub cophenetic: Option<f64>,
    /// Dispersion in [0, 1]; 1 for a perfectly stable (0/1) consensus.
    pub dispersion: f64,
    /// Mean silhouette of `labels` under distance 1 − consensus (None with a single cluster).
    pub silhouette: Option<f64>,
    /// Average-linkage clusters cut at k, numbered 1.. in order of first appearance (as R's cutree).
    pub labels: Vec<u32>,
    /// Leaf order of the dendrogram (for heatmaps).
    pub order: Vec<usize>,
}

/// Clusters after all but the last k−1 merges, numbered 1.. in order of first appearance.
fn cut(steps: impl Iterator<Item = (usize, usize)>, n: usize, k: usize) -> Vec<u32> {
    let k = k.clamp(1, n);
    let mut parent: Vec<usize> = (0..2 * n).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for (s, (a, b)) in steps.take(n - k).enumerate() {
        let new = n + s;
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        parent[ra] = new;
        parent[rb] = new;
    }
    let mut ids = std::collections::HashMap::new();
    (0..n)
        .map(|i| {
            let root = find(&mut parent, i);
            let next = ids.len() as u32 + 1;
            *ids.entry(root).or_insert(next)
        })
        .collect()
}

/// Mean silhouette width of `labels` under `dist` (0 for singletons); None for fewer than 2 clusters.
pub fn silhouette(n: usize, labels: &[u32], dist: impl Fn(usize, usize) -> f64) -> Option<f64> {
    let k = *labels.iter().max()? as usize;
    if k < 2 {
        return None;
    }
    let mut size = vec![0usize; k + 1];
    for &l in labels {
        size[l as usize] += 1;
    }
    let mut sums = vec![0.0; n * (k + 1)];
    for i in 0..n {
        for j in i + 1..n {
            let d = dist(i, j);
            sums[i * (k + 1) + labels[j] as usize] += d;
            sums[j * (k + 1) + labels[i] as usize] += d;
        }
    }
    let mut total = 0.0;
    for i in 0..n {
        let own = labels[i] as usize;
        if size[own] < 2 {
            continue; // silhouette 0 for a singleton
        }
        let a = sums[i * (k + 1) + own] / (size[own] - 1) as f64;
        let b = (1..=k)
            .filter(|&c| c != own && size[c] > 0)
            .map(|c| sums[i * (k + 1) + c] / size[c] as f64)
            .fold(f64::INFINITY, f64::min);
        let m = a.max(b);
        if m > 0.0 {
            total += (b - a) / m;
        }
    }
    Some(total / n as f64)
}

/// Leaves in dendrogram order (left subtree = cluster1 first).
fn leaf_order(steps: Vec<(usize, usize)>, n: usize) -> Vec<usize> {
    if steps.is_empty() {
        return (0..n).collect();
    }
    let mut order = Vec::with_capacity(n);
    let mut stack = vec![n + steps.len() - 1];
    while let Some(c) = stack.pop() {
        if c < n {
            order.push(c);
        } else {
            let (a, b) = steps[c - n];
            stack.push(b);
            stack.push(a);
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmf::update::tests::fixture;

    #[test]
    fn consensus_fixture() {
        let f = fixture("consensus.json");
        let runs: Vec<Vec<u32>> = serde_json::from_value(f["labels"].clone()).unwrap();
        let n = runs[0].len();
        let mut acc = ConsensusAccumulator::new(n);
        for r in &runs {
            acc.add(&r.iter().map(|&l| Some(l)).collect::<Vec<_>>());
        }
        let want: Vec<Vec<f64>> = serde_json::from_value(f["consensus"].clone()).unwrap();
        let m = acc.matrix();
        for i in 0..n {
            for j in 0..n {
                assert!((m[[i, j]] - want[i][j]).abs() < 1e-12, "consensus[{i}][{j}]");
            }
        }
        let k = f["k"].as_u64().unwrap() as usize;
        let s = acc.stats(k).unwrap();
        let coph = f["cophenetic"].as_f64().unwrap();
        let disp = f["dispersion"].as_f64().unwrap();
        assert!(
            (s.cophenetic.unwrap() - coph).abs() < 1e-12,
            "cophenetic {} vs {coph}",
            s.cophenetic.unwrap()
        );
        assert!(
            (s.dispersion - disp).abs() < 1e-12,
            "dispersion {} vs {disp}",
            s.dispersion
        );
        let clusters: Vec<u32> = serde_json::from_value(f["average_linkage_clusters_at_k"].clone()).unwrap();
        assert_eq!(s.labels, clusters);
        let mut sorted = s.order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn labels_and_arrival_order() {
        let w = ndarray::array![[0.1, 0.9], [0.0, 0.0], [0.5, 0.5]];
        assert_eq!(hard_labels(w.view()), vec![Some(1), None, Some(0)]);
        let runs = [
            [Some(0), Some(0), Some(1), None],
            [Some(1), Some(0), Some(0), Some(0)],
            [Some(0), Some(0), Some(0), Some(1)],
        ];
        let mut a = ConsensusAccumulator::new(4);
        let mut b = ConsensusAccumulator::new(4);
        for r in &runs {
            a.add(r);
        }
        for r in runs.iter().rev() {
            b.add(r);
        }
        assert_eq!(a, b);
        assert_eq!(a.value(0, 1), 2.0 / 3.0);
        assert_eq!(a.value(3, 3), 1.0);
    }

    #[test]
    fn perfectly_stable_consensus() {
        let mut acc = ConsensusAccumulator::new(6);
        for _ in 0..5 {
            acc.add(&[Some(0), Some(0), Some(0), Some(1), Some(1), Some(1)]);
        }
        let s = acc.stats(2).unwrap();
        assert_eq!(s.dispersion, 1.0);
        assert!((s.cophenetic.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(s.silhouette, Some(1.0));
        assert_eq!(s.labels, vec![1, 1, 1, 2, 2, 2]);
    }
}

//! The consensus heatmap of one rank (consensus_rank_<r>.png/.svg): the consensus matrix in the
//! leaf order of its average-linkage dendrogram, block-averaged for display, with the consensus
//! clusters outlined and a colour bar from 0 (white) to 1 (dark blue).

use super::axes::{AXIS, TickedAxis, integer_label, style_axes};
use super::figure::{Figure, de, title_band};
use crate::record::RankSummary;
use crate::report::RankOutputs;
use crate::stats::ConsensusStats;
use ndarray::Array2;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Size of a consensus heatmap figure in pixels.
pub(super) const HEATMAP_SIZE: (u32, u32) = (860, 760);
/// Most cells per side of a heatmap in a PNG (larger consensus matrices are block-averaged).
const MAX_CELLS_PNG: usize = 600;
/// Most cells per side of a heatmap in an SVG (each cell run is an element, so fewer than in PNG).
const MAX_CELLS_SVG: usize = 200;
/// Most consensus clusters outlined on a heatmap.
const MAX_OUTLINES: usize = 60;

/// The colour of a cluster's outline.
const OUTLINE: RGBColor = RGBColor(60, 60, 60);
/// ColorBrewer "Blues" (9 classes) with white at 0: the consensus colour scale from 0 to 1.
const BLUES: [(u8, u8, u8); 9] = [
    (255, 255, 255),
    (222, 235, 247),
    (198, 219, 239),
    (158, 202, 225),
    (107, 174, 214),
    (66, 146, 198),
    (33, 113, 181),
    (8, 81, 156),
    (8, 48, 107),
];

/// The consensus matrix of one rank, ordered and block-averaged for display.
pub(super) struct Heatmap {
    title: String,
    /// N.
    n: usize,
    /// Cells for the PNG.
    png: Cells,
    /// Cells for the SVG (fewer per side).
    svg: Cells,
    /// Consensus clusters as [start, end) runs of positions in the display order.
    clusters: Vec<(usize, usize)>,
    /// How the observations are ordered, for the axis labels.
    order_name: &'static str,
}

/// A block-averaged square matrix: `m` x `m` cells of `block` x `block` observations (the last
/// row and column of cells may hold fewer), quantized to 0..=255.
struct Cells {
    m: usize,
    block: usize,
    levels: Vec<u8>,
}

impl Heatmap {
    /// The heatmap of rank `s`, or None without a consensus matrix.
    pub(super) fn new(s: &RankSummary, out: &RankOutputs) -> Option<Self> {
        let c = out.consensus.as_ref()?;
        let n = c.nrows();
        if n == 0 || c.ncols() != n {
            return None;
        }
        let stats = s.consensus_stats.as_ref();
        let order = display_order(n, out.consensus_labels.as_deref(), stats);
        let clusters = out
            .consensus_labels
            .as_deref()
            .filter(|l| l.len() == n)
            .map(|l| cluster_runs(&order, l))
            .unwrap_or_default();
        let cophenetic = stats
            .and_then(|c| c.cophenetic)
            .map_or("n/a".to_string(), |v| format!("{v:.4}"));
        let dispersion = stats.map_or("n/a".to_string(), |c| format!("{:.4}", c.dispersion));
        let title = format!("rank {}: cophenetic {cophenetic}, dispersion {dispersion}", s.rank);
        Some(Heatmap {
            title,
            n,
            png: block_average(c, &order, MAX_CELLS_PNG),
            svg: block_average(c, &order, MAX_CELLS_SVG),
            clusters,
            order_name: if stats.is_some() {
                "observations in dendrogram order"
            } else {
                "observations in input order"
            },
        })
    }
}

/// Rows of the N x N consensus in dendrogram leaf order. `stats.order` indexes the fitted rows
/// (all-zero rows of X are not fitted; their consensus label is 0): it is mapped to rows of the
/// full matrix, and rows it does not reach are appended in ascending order.
fn display_order(n: usize, labels: Option<&[u32]>, stats: Option<&ConsensusStats>) -> Vec<usize> {
    let Some(st) = stats else {
        return (0..n).collect();
    };
    let kept: Vec<usize> = match labels {
        Some(l) if l.len() == n && l.iter().filter(|&&c| c != 0).count() == st.order.len() => {
            (0..n).filter(|&i| l[i] != 0).collect()
        }
        _ => (0..n).collect(),
    };
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    for &k in &st.order {
        if let Some(&i) = kept.get(k)
            && !seen[i]
        {
            seen[i] = true;
            order.push(i);
        }
    }
    order.extend((0..n).filter(|&i| !seen[i]));
    order
}

/// Runs of equal nonzero consensus labels along `order`, as [start, end) positions.
fn cluster_runs(order: &[usize], labels: &[u32]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = 0;
    for p in 1..=order.len() {
        if p == order.len() || labels[order[p]] != labels[order[start]] {
            if labels[order[start]] != 0 {
                runs.push((start, p));
            }
            start = p;
        }
    }
    runs
}

/// The consensus `c` with rows and columns in `order`, averaged over blocks so that at most
/// `max_cells` cells remain per side.
fn block_average(c: &Array2<f64>, order: &[usize], max_cells: usize) -> Cells {
    let n = order.len();
    let block = n.div_ceil(max_cells.max(1)).max(1);
    let m = n.div_ceil(block);
    let mut sums = vec![0.0; m * m];
    for (a, &i) in order.iter().enumerate() {
        let row = &mut sums[(a / block) * m..(a / block + 1) * m];
        for (b, &j) in order.iter().enumerate() {
            row[b / block] += c[[i, j]];
        }
    }
    let size = |k: usize| ((k + 1) * block).min(n) - k * block;
    let levels = sums
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let mean = s / (size(k / m) * size(k % m)) as f64;
            let mean = if mean.is_finite() { mean.clamp(0.0, 1.0) } else { 0.0 };
            (mean * 255.0).round() as u8
        })
        .collect();
    Cells { m, block, levels }
}

/// The colour of consensus level `q` / 255: white at 0 to dark blue at 1.
pub(super) fn blue(q: u8) -> RGBColor {
    let t = f64::from(q) / 255.0 * (BLUES.len() - 1) as f64;
    let k = (t.floor() as usize).min(BLUES.len() - 2);
    let f = t - k as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + f * (f64::from(b) - f64::from(a))).round() as u8;
    let (a, b) = (BLUES[k], BLUES[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

impl Heatmap {
    /// The matrix: runs of equal cells in a row as one rectangle each, then the cluster outlines.
    fn draw_matrix<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, cells: &Cells) -> Result<(), String> {
        let n = self.n as f64;
        let note = if cells.block > 1 {
            format!(
                "{} (N = {}; {} x {} block means)",
                self.order_name, self.n, cells.m, cells.m
            )
        } else {
            format!("{} (N = {})", self.order_name, self.n)
        };

        let mut chart = ChartBuilder::on(area)
            .margin_top(8)
            .margin_bottom(8)
            .margin_left(10)
            .margin_right(6)
            .x_label_area_size(46)
            .y_label_area_size(62)
            .build_cartesian_2d(0.0..n, 0.0..n)
            .map_err(de)?;
        // Position p (0 at the top) is drawn at y = N − p.
        let y_fmt = |y: &f64| format!("{}", (n - y).round() as i64);
        style_axes(
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(6)
                .y_labels(6)
                .x_label_formatter(&integer_label)
                .y_label_formatter(&y_fmt)
                .x_desc(note)
                .y_desc(self.order_name),
        )
        .draw()
        .map_err(de)?;

        let (m, block) = (cells.m, cells.block);
        let edge = |k: usize| ((k * block).min(self.n)) as f64;
        let mut rects = Vec::new();
        for row in 0..m {
            let levels = &cells.levels[row * m..(row + 1) * m];
            let mut start = 0;
            for col in 1..=m {
                if col == m || levels[col] != levels[start] {
                    if levels[start] > 0 {
                        rects.push(Rectangle::new(
                            [(edge(start), n - edge(row)), (edge(col), n - edge(row + 1))],
                            blue(levels[start]).filled(),
                        ));
                    }
                    start = col;
                }
            }
        }
        chart.draw_series(rects).map_err(de)?;
        if self.clusters.len() > 1 && self.clusters.len() <= MAX_OUTLINES {
            chart
                .draw_series(self.clusters.iter().map(|&(a, b)| {
                    let (a, b) = (a as f64, b as f64);
                    Rectangle::new([(a, n - a), (b, n - b)], OUTLINE.stroke_width(1))
                }))
                .map_err(de)?;
        }
        Ok(())
    }
}

/// The colour bar from 0 to 1, aligned with the plotting area of the heatmap; `vector` draws
/// fewer steps (each is an SVG element).
fn draw_colour_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, vector: bool) -> Result<(), String> {
    let mut scale = ChartBuilder::on(area)
        .margin_top(8)
        .margin_bottom(8 + 46)
        .margin_left(18)
        .margin_right(4)
        .right_y_label_area_size(66)
        .build_cartesian_2d(0.0..1.0, TickedAxis::new(0.0..1.0, vec![0.0, 0.25, 0.5, 0.75, 1.0]))
        .map_err(de)?;
    let y_fmt = |y: &f64| format!("{y}");
    style_axes(
        scale
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_label_formatter(&y_fmt)
            .y_desc("consensus"),
    )
    .draw()
    .map_err(de)?;
    let steps = if vector { 64 } else { 256 };
    scale
        .draw_series((0..steps).map(|k| {
            let (a, b) = (k as f64 / steps as f64, (k + 1) as f64 / steps as f64);
            let q = ((a + b) / 2.0 * 255.0).round() as u8;
            Rectangle::new([(0.0, a), (1.0, b)], blue(q).filled())
        }))
        .map_err(de)?;
    scale
        .draw_series([Rectangle::new([(0.0, 0.0), (1.0, 1.0)], AXIS.stroke_width(1))])
        .map_err(de)?;
    Ok(())
}

impl Figure for Heatmap {
    fn size(&self) -> (u32, u32) {
        HEATMAP_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, vector: bool) -> Result<(), String> {
        root.fill(&WHITE).map_err(de)?;
        let cells = if vector { &self.svg } else { &self.png };
        let body = title_band(root, &self.title, 22, 50)?;
        let (main, bar) = body.split_horizontally(HEATMAP_SIZE.0 - 130);
        self.draw_matrix(&main, cells)?;
        draw_colour_bar(&bar, vector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_maps_fitted_rows_and_appends_zero_rows() {
        // Rows 1 and 4 of 6 are all zero; the fitted rows are 0, 2, 3, 5 and order indexes them.
        let labels = [2, 0, 1, 2, 0, 1];
        let stats = ConsensusStats {
            cophenetic: None,
            dispersion: 1.0,
            silhouette: None,
            labels: vec![2, 1, 2, 1],
            order: vec![1, 3, 0, 2],
        };
        let order = display_order(6, Some(&labels), Some(&stats));
        assert_eq!(order, [2, 5, 0, 3, 1, 4]);
        assert_eq!(cluster_runs(&order, &labels), [(0, 2), (2, 4)]);
        // Without labels, order is taken as rows of the full matrix; the rest is appended.
        assert_eq!(display_order(6, None, Some(&stats)), [1, 3, 0, 2, 4, 5]);
        assert_eq!(display_order(3, None, None), [0, 1, 2]);
    }

    #[test]
    fn large_consensus_is_block_averaged() {
        let n = 1250;
        let c = Array2::from_shape_fn((n, n), |(i, j)| if (i < 500) == (j < 500) { 1.0 } else { 0.0 });
        let order: Vec<usize> = (0..n).collect();
        let cells = block_average(&c, &order, MAX_CELLS_PNG);
        assert_eq!((cells.block, cells.m), (3, 417));
        assert_eq!(cells.levels.len(), 417 * 417);
        assert_eq!(cells.levels[0], 255);
        assert_eq!(cells.levels[416], 0);
        // Block 166 holds observations 498..501: two of three on each side are in the first group.
        assert_eq!(cells.levels[166 * 417 + 166], ((5.0 / 9.0) * 255.0f64).round() as u8);
        // The last block holds 2 observations (1248, 1249).
        assert_eq!(cells.levels[417 * 417 - 1], 255);
        let small = block_average(&c, &order, MAX_CELLS_SVG);
        assert!(small.m <= MAX_CELLS_SVG);
        assert_eq!(blue(0), WHITE);
        assert_eq!(blue(255), RGBColor(8, 48, 107));
    }
}

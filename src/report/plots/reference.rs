//! The reference heatmap of one rank (reference_rank_<r>.png/.svg): the cosine similarity of
//! every component (rows, 1 at the top) with every reference signature (columns, in catalogue
//! order), white at 0 to dark blue at 1, the one-to-one matched cells outlined.

use super::axes::{AXIS, TickedAxis, style_axes};
use super::figure::{Figure, de, title_band};
use super::heatmap::blue;
use crate::data::AlignedReference;
use crate::stats::ReferenceMatch;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Most signatures whose names label the x axis (more are numbered in catalogue order).
const MAX_NAMED: usize = 16;

/// The figure of one rank's matching.
pub(in crate::report) struct ReferenceHeatmap {
    title: String,
    /// Cosines, component x signature, quantized to 0..=255.
    levels: Vec<Vec<u8>>,
    /// Matched signature of each component.
    assigned: Vec<Option<usize>>,
    /// x tick labels: signature names, or numbers.
    names: Vec<String>,
    /// x axis description.
    x_desc: String,
}

impl ReferenceHeatmap {
    /// The heatmap of rank `rank`'s matching `m` to `reference`.
    pub(in crate::report) fn new(rank: usize, m: &ReferenceMatch, reference: &AlignedReference) -> Self {
        let s = reference.signatures.len();
        let matched: Vec<f64> = (0..m.cosine.nrows())
            .filter_map(|k| m.assigned[k].map(|j| m.cosine[[k, j]]))
            .collect();
        let mean = if matched.is_empty() {
            "n/a".to_string()
        } else {
            format!("{:.3}", matched.iter().sum::<f64>() / matched.len() as f64)
        };
        let title = format!("rank {rank}: cosine with the reference, mean of matched pairs {mean}");
        let levels = m
            .cosine
            .rows()
            .into_iter()
            .map(|row| row.iter().map(|&c| (c.clamp(0.0, 1.0) * 255.0).round() as u8).collect())
            .collect();
        let (names, x_desc) = if s <= MAX_NAMED {
            (reference.signatures.clone(), "reference signatures".to_string())
        } else {
            (
                (1..=s).map(|j| j.to_string()).collect(),
                "reference signatures, numbered in catalogue order (names in reference_rank_<r>.tsv)"
                    .replace("<r>", &rank.to_string()),
            )
        };
        ReferenceHeatmap {
            title,
            levels,
            assigned: m.assigned.clone(),
            names,
            x_desc: format!("{x_desc}; matched cells outlined"),
        }
    }

    fn shape(&self) -> (usize, usize) {
        (self.levels.len(), self.names.len())
    }
}

impl Figure for ReferenceHeatmap {
    fn size(&self) -> (u32, u32) {
        let (r, s) = self.shape();
        let w = (260 + 24 * s).clamp(760, 2400);
        let h = (200 + 40 * r).clamp(420, 1600);
        (w as u32, h as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, _vector: bool) -> Result<(), String> {
        root.fill(&WHITE).map_err(de)?;
        let body = title_band(root, &self.title, 20, 46)?;
        let (r, s) = self.shape();
        let (rf, sf) = (r as f64, s as f64);
        let step = if s <= MAX_NAMED { 1 } else { s.div_ceil(20) };
        let x_ticks: Vec<f64> = (0..s).step_by(step).map(|j| j as f64 + 0.5).collect();
        let y_ticks: Vec<f64> = (0..r).map(|k| k as f64 + 0.5).collect();
        let mut chart = ChartBuilder::on(&body)
            .margin(10)
            .margin_right(24)
            .x_label_area_size(50)
            .y_label_area_size(110)
            .build_cartesian_2d(TickedAxis::new(0.0..sf, x_ticks), TickedAxis::new(0.0..rf, y_ticks))
            .map_err(de)?;
        let x_fmt = |x: &f64| self.names.get(x.floor() as usize).cloned().unwrap_or_default();
        // Component k (0-based) is drawn from y = r − k − 1 to r − k.
        let y_fmt = |y: &f64| format!("component {}", r - y.floor() as usize);
        style_axes(
            chart
                .configure_mesh()
                .disable_mesh()
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&y_fmt)
                .x_desc(self.x_desc.as_str()),
        )
        .draw()
        .map_err(de)?;
        let mut cells = Vec::with_capacity(r * s);
        for (k, row) in self.levels.iter().enumerate() {
            let top = rf - k as f64;
            for (j, &q) in row.iter().enumerate() {
                cells.push(Rectangle::new(
                    [(j as f64, top), (j as f64 + 1.0, top - 1.0)],
                    blue(q).filled(),
                ));
            }
        }
        chart.draw_series(cells).map_err(de)?;
        chart
            .draw_series(self.assigned.iter().enumerate().filter_map(|(k, a)| {
                a.map(|j| {
                    let top = rf - k as f64;
                    Rectangle::new([(j as f64, top), (j as f64 + 1.0, top - 1.0)], BLACK.stroke_width(2))
                })
            }))
            .map_err(de)?;
        chart
            .draw_series([Rectangle::new([(0.0, 0.0), (sf, rf)], AXIS.stroke_width(1))])
            .map_err(de)?;
        Ok(())
    }
}

//! One panel of the rank-selection figure: a statistic over the ranks as a line with a marker per
//! rank (a missing value is a gap), optional error bars, optional hollow markers, an optional
//! dashed null baseline, and the chosen rank as a dashed vertical line and a larger marker.
//!
//! A panel is a plain value ([`Panel`], built by the rank statistics of `crate::rankstat`); this
//! file draws it.

use super::axes::{TickedAxis, integer_label, style_axes, tick_format};
use super::figure::{de, text};
use crate::rankstat::Panel;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// Most ranks labelled on the x axis (every k-th rank beyond that).
const MAX_RANK_TICKS: usize = 12;
/// Most y ticks of a panel.
const Y_TICKS: usize = 6;

/// The colour of a statistic's line and markers.
const DATA: RGBColor = RGBColor(31, 119, 180);
/// The colour of the null baseline.
const NULL: RGBColor = RGBColor(127, 127, 127);
/// The colour of the chosen rank's line and marker.
const CHOSEN: RGBColor = RGBColor(230, 85, 13);
/// The colour of the grid lines at the ticks.
const GRID: RGBColor = RGBColor(225, 225, 225);

/// The chart a panel draws its series on: ranks across, the statistic up.
type RankChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickedAxis, RangedCoordf64>>;

/// The ranks of the sweep (ascending) and the chosen one: the x axis every panel shares.
pub(super) struct RankAxis<'a> {
    /// The ranks, one per value of a panel.
    pub(super) ranks: &'a [usize],
    /// The chosen rank, marked in every panel.
    pub(super) chosen: Option<usize>,
}

impl RankAxis<'_> {
    /// Every k-th rank is labelled, so that at most MAX_RANK_TICKS are.
    fn step(&self) -> usize {
        self.ranks.len().div_ceil(MAX_RANK_TICKS).max(1)
    }

    /// (index, rank, value) of each rank that has a value.
    fn points(&self, values: &[Option<f64>]) -> Vec<(usize, f64, f64)> {
        self.ranks
            .iter()
            .zip(values)
            .enumerate()
            .filter_map(|(i, (&r, v))| v.map(|v| (i, r as f64, v)))
            .collect()
    }
}

impl Panel {
    /// Lowest and highest value drawn (error bars and baseline included), padded.
    fn y_range(&self) -> (f64, f64) {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for (v, e) in self.values.iter().zip(&self.errors) {
            if let Some(v) = v {
                let e = e.unwrap_or(0.0);
                lo = lo.min(v - e);
                hi = hi.max(v + e);
            }
        }
        for b in self.baseline.iter().flatten() {
            lo = lo.min(*b);
            hi = hi.max(*b);
        }
        if !(lo.is_finite() && hi.is_finite()) {
            return (0.0, 1.0);
        }
        let span = hi - lo;
        let pad = if span > 0.0 {
            0.08 * span
        } else {
            (0.05 * hi.abs()).max(0.05)
        };
        (lo - pad, hi + pad)
    }

    /// Draws the panel into `area`: axes, the chosen rank's line, the baseline, error bars, then
    /// the line and its markers.
    pub(super) fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        axis: &RankAxis,
    ) -> Result<(), String> {
        let first = axis.ranks.first().copied().unwrap_or(1) as f64;
        let last = axis.ranks.last().copied().unwrap_or(1) as f64;
        let ticks: Vec<f64> = axis.ranks.iter().step_by(axis.step()).map(|&r| r as f64).collect();
        let (lo, hi) = self.y_range();
        let mut chart = ChartBuilder::on(area)
            .caption(&self.caption, text(17))
            .margin_top(6)
            .margin_bottom(8)
            .margin_left(10)
            .margin_right(22)
            .x_label_area_size(44)
            .y_label_area_size(74)
            .build_cartesian_2d(TickedAxis::new(first - 0.5..last + 0.5, ticks), lo..hi)
            .map_err(de)?;
        let y_fmt = tick_format(lo, hi, Y_TICKS);
        style_axes(
            chart
                .configure_mesh()
                .x_desc("rank r")
                .x_label_formatter(&integer_label)
                .y_label_formatter(&y_fmt)
                .y_labels(Y_TICKS)
                .bold_line_style(GRID)
                .light_line_style(TRANSPARENT),
        )
        .draw()
        .map_err(de)?;

        if let Some(c) = axis.chosen {
            let c = c as f64;
            chart
                .draw_series(DashedLineSeries::new([(c, lo), (c, hi)], 7, 5, CHOSEN.stroke_width(2)))
                .map_err(de)?;
        }
        self.draw_baseline(&mut chart, axis)?;
        self.draw_error_bars(&mut chart, axis)?;
        self.draw_line(&mut chart, axis)
    }

    /// The null baseline: dashed segments between ranks that have it, and a dot at each.
    fn draw_baseline<DB: DrawingBackend>(&self, chart: &mut RankChart<DB>, axis: &RankAxis) -> Result<(), String> {
        if !self.baseline.iter().any(Option::is_some) {
            return Ok(());
        }
        for seg in segments(&self.baseline, axis.ranks) {
            chart
                .draw_series(DashedLineSeries::new(seg, 6, 4, NULL.stroke_width(2)))
                .map_err(de)?;
        }
        chart
            .draw_series(
                axis.points(&self.baseline)
                    .into_iter()
                    .map(|(_, x, y)| Circle::new((x, y), 3, NULL.filled())),
            )
            .map_err(de)?;
        Ok(())
    }

    /// Error bars with caps.
    fn draw_error_bars<DB: DrawingBackend>(&self, chart: &mut RankChart<DB>, axis: &RankAxis) -> Result<(), String> {
        let cap = 0.12_f64.min(0.25 * axis.step() as f64);
        for (i, x, y) in axis.points(&self.values) {
            if let Some(e) = self.errors[i] {
                let style = ShapeStyle::from(DATA).stroke_width(1);
                let lines = [
                    vec![(x, y - e), (x, y + e)],
                    vec![(x - cap, y - e), (x + cap, y - e)],
                    vec![(x - cap, y + e), (x + cap, y + e)],
                ];
                chart
                    .draw_series(lines.into_iter().map(|l| PathElement::new(l, style)))
                    .map_err(de)?;
            }
        }
        Ok(())
    }

    /// The line between ranks with values, then the markers (the chosen rank's larger and in
    /// the chosen colour).
    fn draw_line<DB: DrawingBackend>(&self, chart: &mut RankChart<DB>, axis: &RankAxis) -> Result<(), String> {
        let marker = if axis.ranks.len() > 15 { 3 } else { 4 };
        for seg in segments(&self.values, axis.ranks) {
            chart
                .draw_series(LineSeries::new(seg, DATA.stroke_width(2)))
                .map_err(de)?;
        }
        // Hollow markers are white inside, not crossed by the line.
        chart
            .draw_series(
                axis.points(&self.values)
                    .into_iter()
                    .filter(|&(i, _, _)| self.hollow[i])
                    .map(|(_, x, y)| Circle::new((x, y), marker + 1, WHITE.filled())),
            )
            .map_err(de)?;
        chart
            .draw_series(axis.points(&self.values).into_iter().map(|(i, x, y)| {
                let chosen = axis.chosen.is_some_and(|c| c == axis.ranks[i]);
                let colour = if chosen { CHOSEN } else { DATA };
                let size = if chosen { marker + 2 } else { marker };
                let style = if self.hollow[i] {
                    colour.stroke_width(2)
                } else {
                    colour.filled()
                };
                Circle::new((x, y), size, style)
            }))
            .map_err(de)?;
        Ok(())
    }
}

/// Runs of consecutive ranks that have a value, as (rank, value) polylines; a missing value is a gap.
fn segments(values: &[Option<f64>], ranks: &[usize]) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for (v, &r) in values.iter().zip(ranks) {
        match v {
            Some(v) => cur.push((r as f64, *v)),
            None => {
                if cur.len() > 1 {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
    }
    if cur.len() > 1 {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rankstat::standard_error;
    use crate::stats::HeldoutScore;

    #[test]
    fn gaps_and_standard_errors() {
        let v = [Some(1.0), Some(2.0), None, Some(3.0), Some(4.0), None, Some(5.0)];
        let segs = segments(&v, &[2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(segs, vec![vec![(2.0, 1.0), (3.0, 2.0)], vec![(5.0, 3.0), (6.0, 4.0)]]);
        let h = HeldoutScore {
            mean: 2.0,
            repeats: 1,
            block_means: vec![1.0, 3.0, f64::NAN, 2.0],
        };
        // sd of (1, 3, 2) = 1, over sqrt(3) blocks.
        let se = standard_error(&h).unwrap();
        assert!((se - 1.0 / 3f64.sqrt()).abs() < 1e-12);
        let one = HeldoutScore {
            block_means: vec![1.0, f64::NAN],
            ..h
        };
        assert_eq!(standard_error(&one), None);
    }
}

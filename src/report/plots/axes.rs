//! Axis helpers of the charts: an axis with ticks at given values (the rank axis and the
//! colour bar), y tick labels with the decimals the tick step needs, and the common look of the
//! axes (label and description fonts, axis line colour).

use super::figure::text;
use plotters::chart::MeshStyle;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// The colour of axis lines (and of the colour bar's frame).
pub(super) const AXIS: RGBColor = RGBColor(90, 90, 90);

/// A linear axis with ticks at given values only (plotters' own key points on the rank axis could
/// fall between ranks, and on the colour bar would skip quarters).
pub(super) struct TickedAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl TickedAxis {
    /// The axis over `range` with ticks at `ticks`.
    pub(super) fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
        TickedAxis {
            inner: range.into(),
            ticks,
        }
    }
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// Applies the common look to a mesh: tick labels at size 14, axis descriptions at size 15, both
/// in the text colour, and grey axis lines.
pub(super) fn style_axes<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.label_style(text(14)).axis_desc_style(text(15)).axis_style(AXIS)
}

/// A tick label that is a whole number (a rank, an observation position).
pub(super) fn integer_label(x: &f64) -> String {
    format!("{}", x.round() as i64)
}

/// The step between the ticks plotters draws for at most `max_points` labels on [lo, hi]: going
/// down 10^k, 5 x 10^(k-1), 2 x 10^(k-1), 10^(k-1), ..., the last step that yields few enough ticks.
pub(super) fn tick_step(lo: f64, hi: f64, max_points: usize) -> f64 {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) {
        return 1.0;
    }
    let count = |s: f64| (hi / s).floor() - (lo / s).ceil() + 1.0;
    let top = span.log10().ceil() as i32;
    let mut step = 10f64.powi(top);
    for e in (top - 20..top).rev() {
        for m in [5.0, 2.0, 1.0] {
            let s = m * 10f64.powi(e);
            if count(s) > max_points as f64 {
                return step;
            }
            step = s;
        }
    }
    step
}

/// A tick label format for a y axis from `lo` to `hi` with at most `max_points` ticks: the
/// decimals that resolve the tick step, in scientific notation for very large or small values.
pub(super) fn tick_format(lo: f64, hi: f64, max_points: usize) -> impl Fn(&f64) -> String {
    let step = tick_step(lo, hi, max_points);
    let mag = lo.abs().max(hi.abs());
    let scientific = mag >= 1e5 || (mag > 0.0 && mag < 1e-3);
    let places = |x: f64| x.log10().floor() as i64;
    let digits = if scientific {
        (places(mag) - places(step)).clamp(0, 8) as usize
    } else {
        (-places(step)).clamp(0, 8) as usize
    };
    move |v: &f64| {
        let v = if v.abs() < 1e-9 * step { 0.0 } else { *v };
        if scientific {
            format!("{v:.digits$e}")
        } else {
            format!("{v:.digits$}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12 * b;
        assert!(close(tick_step(0.9, 1.0, 6), 0.02));
        assert!(close(tick_step(1.02, 1.39, 6), 0.1));
        assert!(close(tick_step(10.0, 80.0, 6), 20.0));
        let f = tick_format(0.9, 1.0, 6);
        assert_eq!(f(&0.94), "0.94");
        let f = tick_format(1.02, 1.39, 6);
        assert_eq!(f(&1.2), "1.2");
        let f = tick_format(1.2e6, 1.5e6, 6);
        assert_eq!(f(&1.3e6), "1.3e6");
        let f = tick_format(1.21e6, 1.24e6, 6);
        assert_eq!(f(&1.23e6), "1.23e6");
        let f = tick_format(10.0, 80.0, 6);
        assert_eq!(f(&20.0), "20");
        assert_eq!(f(&-1e-14), "0");
    }
}

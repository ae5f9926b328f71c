//! Plots of a sweep, as PNG and SVG: the rank-selection figure (rank_selection.png/.svg) and one
//! consensus heatmap per rank with a consensus (consensus_rank_<r>.png/.svg).
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (assets/fonts/, Bitstream Vera and Arev
//! licenses in assets/fonts/LICENSE-DejaVu.txt), so no system font or fontconfig is needed. The
//! same input gives the same bytes. Every file is written under a temporary name, synced, then
//! renamed into place, like the tables.

use super::RankOutputs;
use crate::error::{Error, Result};
use crate::nmf::Loss;
use crate::stats::{ConsensusStats, Decision, HeldoutScore};
use crate::sweep::RankSummary;
use ndarray::Array2;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The family name the embedded font is registered under (plotters' default family).
pub(super) const FONT: &str = "sans-serif";
/// DejaVu Sans 2.37.
static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Size of the rank-selection figure in pixels.
const SELECTION_SIZE: (u32, u32) = (1200, 800);
/// Size of a consensus heatmap figure in pixels.
const HEATMAP_SIZE: (u32, u32) = (860, 760);
/// Most cells per side of a heatmap in a PNG (larger consensus matrices are block-averaged).
const MAX_CELLS_PNG: usize = 600;
/// Most cells per side of a heatmap in an SVG (each cell run is an element, so fewer than in PNG).
const MAX_CELLS_SVG: usize = 200;
/// Most ranks labelled on the x axis (every k-th rank beyond that).
const MAX_RANK_TICKS: usize = 12;
/// Most y ticks of a rank-selection panel.
const Y_TICKS: usize = 6;
/// Most consensus clusters outlined on a heatmap.
const MAX_OUTLINES: usize = 60;

const DATA: RGBColor = RGBColor(31, 119, 180);
const NULL: RGBColor = RGBColor(127, 127, 127);
const CHOSEN: RGBColor = RGBColor(230, 85, 13);
const GRID: RGBColor = RGBColor(225, 225, 225);
pub(super) const TEXT: RGBColor = RGBColor(30, 30, 30);
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

/// Writes rank_selection.png and rank_selection.svg, and for every rank with a consensus
/// consensus_rank_<r>.png / .svg, into `dir`. Returns the paths written.
///
/// `outputs[i]` belongs to `ranks[i]` (ascending ranks). The rank-selection figure has one panel
/// per statistic that some rank has: best value of `loss`, held-out deviance per held-out entry
/// (± one standard error over the held-out blocks), cophenetic correlation and dispersion (with
/// the null baseline dashed, when computed), and component stability; a missing value is a gap,
/// and the chosen rank is marked in every panel. Each heatmap shows the consensus matrix in the
/// leaf order of its average-linkage dendrogram, block-averaged down to at most 600 x 600 cells
/// (200 x 200 in the SVG), with the consensus clusters outlined.
pub fn write_plots(
    dir: &Path,
    ranks: &[RankSummary],
    outputs: &[Option<RankOutputs>],
    decision: &Decision,
    loss: Loss,
) -> Result<Vec<PathBuf>> {
    ensure_font()?;
    let mut written = Vec::new();
    let selection = Selection::new(ranks, decision, loss);
    written.extend(write_figure(dir, "rank_selection", &selection)?);
    for (s, out) in ranks.iter().zip(outputs) {
        let Some(out) = out else { continue };
        let Some(heatmap) = Heatmap::new(s, out) else {
            continue;
        };
        written.extend(write_figure(dir, &format!("consensus_rank_{}", s.rank), &heatmap)?);
    }
    Ok(written)
}

/// Registers the embedded font with plotters (once per process).
pub(super) fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::io(
            "cannot load the embedded plot font",
            std::io::Error::other("invalid font data"),
        ))
    }
}

/// A drawing error as text (plotters' errors are generic over the backend).
pub(super) fn de(e: impl Display) -> String {
    e.to_string()
}

/// Something drawn to both a PNG and an SVG.
pub(super) trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws onto `root`; `vector` is true for the SVG.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, vector: bool) -> Result<(), String>;
}

/// Writes `<stem>.png` and `<stem>.svg` into `dir`, each atomically.
pub(super) fn write_figure(dir: &Path, stem: &str, fig: &impl Figure) -> Result<[PathBuf; 2]> {
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    let failed = |path: &Path, msg: String| {
        Error::io(
            format!("cannot write plot {}", path.display()),
            std::io::Error::other(msg),
        )
    };

    // The bitmap backend picks the encoder from the extension, so the temporary name ends in .png.
    let tmp = dir.join(format!("{stem}.partial.png"));
    let drawn = {
        let root = BitMapBackend::new(&tmp, fig.size()).into_drawing_area();
        fig.draw(&root, false).and_then(|_| root.present().map_err(de))
    };
    if let Err(msg) = drawn {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(&png, msg));
    }
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, &png))
        .map_err(|e| Error::io(format!("cannot finalize {}", png.display()), e))?;

    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, fig.size()).into_drawing_area();
        fig.draw(&root, true)
            .and_then(|_| root.present().map_err(de))
            .map_err(|msg| failed(&svg, msg))?;
    }
    super::write_atomic(&svg, &text)?;
    Ok([png, svg])
}

/// Draws `text` centred at the top of `area` (`height` pixels high) and returns the rest.
pub(super) fn title_band<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    size: u32,
    height: u32,
) -> Result<DrawingArea<DB, Shift>, String> {
    let (top, rest) = area.split_vertically(height);
    let (w, h) = top.dim_in_pixel();
    let style = TextStyle::from((FONT, size).into_font())
        .color(&TEXT)
        .pos(Pos::new(HPos::Center, VPos::Center));
    top.draw_text(text, &style, (w as i32 / 2, h as i32 / 2)).map_err(de)?;
    Ok(rest)
}

/// `v` when finite.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Standard error of a held-out mean: the spread of the finite block means, sd / sqrt(n).
fn standard_error(h: &HeldoutScore) -> Option<f64> {
    let v: Vec<f64> = h.block_means.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() < 2 {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    finite((var / n).sqrt())
}

/// One statistic over the ranks.
struct Panel {
    caption: String,
    /// Value per rank.
    values: Vec<Option<f64>>,
    /// Half-width of an error bar per rank.
    errors: Vec<Option<f64>>,
    /// Markers drawn hollow (a fallback value) per rank.
    hollow: Vec<bool>,
    /// Null baseline per rank (dashed).
    baseline: Vec<Option<f64>>,
}

impl Panel {
    fn new(caption: impl Into<String>, values: Vec<Option<f64>>) -> Self {
        let n = values.len();
        Panel {
            caption: caption.into(),
            values,
            errors: vec![None; n],
            hollow: vec![false; n],
            baseline: vec![None; n],
        }
    }

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
}

/// The rank-selection figure.
struct Selection {
    ranks: Vec<usize>,
    panels: Vec<Panel>,
    chosen: Option<usize>,
    title: String,
    /// The decision's reasons, shown in a free cell of the grid.
    reasons: Vec<String>,
}

impl Selection {
    fn new(ranks: &[RankSummary], decision: &Decision, loss: Loss) -> Self {
        let collect = |f: &dyn Fn(&RankSummary) -> Option<f64>| ranks.iter().map(f).collect::<Vec<_>>();
        let mut panels = Vec::new();

        let objective = match loss {
            Loss::Kl => "best KL divergence",
            Loss::Frobenius => "best squared Frobenius error",
        };
        panels.push(Panel::new(
            objective,
            collect(&|s| {
                s.best
                    .as_ref()
                    .and_then(|(rec, _, _)| finite(rec.objectives.value(loss)))
            }),
        ));

        let heldout = match loss {
            Loss::Kl => "held-out deviance per entry (± 1 SE)",
            Loss::Frobenius => "held-out squared error per entry (± 1 SE)",
        };
        let mut p = Panel::new(heldout, collect(&|s| s.heldout.as_ref().and_then(|h| finite(h.mean))));
        p.errors = collect(&|s| s.heldout.as_ref().and_then(standard_error));
        panels.push(p);

        let null_coph = collect(&|s| s.null.as_ref().and_then(|n| n.cophenetic).and_then(finite));
        let null_disp = collect(&|s| s.null.as_ref().and_then(|n| n.dispersion).and_then(finite));
        for (name, values, baseline) in [
            (
                "cophenetic correlation",
                collect(&|s| s.consensus_stats.as_ref().and_then(|c| c.cophenetic).and_then(finite)),
                null_coph,
            ),
            (
                "dispersion",
                collect(&|s| s.consensus_stats.as_ref().and_then(|c| finite(c.dispersion))),
                null_disp,
            ),
        ] {
            let caption = if baseline.iter().any(Option::is_some) {
                format!("{name} (dashed: null)")
            } else {
                name.to_string()
            };
            let mut p = Panel::new(caption, values);
            p.baseline = baseline;
            panels.push(p);
        }

        // The stability the default rule uses: the silhouette, else the mean matched correlation.
        let stability = collect(&|s| {
            s.stability
                .as_ref()
                .and_then(|st| st.silhouette.or(Some(st.corr_mean)))
                .and_then(finite)
        });
        let fallback: Vec<bool> = ranks
            .iter()
            .zip(&stability)
            .map(|(s, v)| v.is_some() && s.stability.as_ref().is_some_and(|st| st.silhouette.is_none()))
            .collect();
        let present = stability.iter().filter(|v| v.is_some()).count();
        let fell_back = fallback.iter().filter(|&&b| b).count();
        let caption = if fell_back == 0 {
            "component stability (silhouette)"
        } else if fell_back == present {
            "component stability (mean matched corr.)"
        } else {
            "component stability (hollow: mean matched corr.)"
        };
        let mut p = Panel::new(caption, stability);
        p.hollow = fallback;
        panels.push(p);

        panels.retain(|p| p.values.iter().any(Option::is_some));

        let rule = decision.rule.name();
        let title = match (decision.chosen, decision.runner_up) {
            (Some(c), Some(u)) => format!("Rank selection: chosen r = {c} (rule {rule}; runner-up r = {u})"),
            (Some(c), None) => format!("Rank selection: chosen r = {c} (rule {rule})"),
            (None, _) => format!("Rank selection: no rank chosen (rule {rule})"),
        };
        Selection {
            ranks: ranks.iter().map(|s| s.rank).collect(),
            panels,
            chosen: decision.chosen,
            title,
            reasons: decision.reasons.clone(),
        }
    }

    fn draw_panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<(), String> {
        let first = self.ranks.first().copied().unwrap_or(1) as f64;
        let last = self.ranks.last().copied().unwrap_or(1) as f64;
        let step = self.ranks.len().div_ceil(MAX_RANK_TICKS).max(1);
        let ticks: Vec<f64> = self.ranks.iter().step_by(step).map(|&r| r as f64).collect();
        let (lo, hi) = p.y_range();
        let mut chart = ChartBuilder::on(area)
            .caption(&p.caption, (FONT, 17).into_font().color(&TEXT))
            .margin_top(6)
            .margin_bottom(8)
            .margin_left(10)
            .margin_right(22)
            .x_label_area_size(44)
            .y_label_area_size(74)
            .build_cartesian_2d(TickedAxis::new(first - 0.5..last + 0.5, ticks), lo..hi)
            .map_err(de)?;
        let y_fmt = tick_format(lo, hi, Y_TICKS);
        let x_fmt = |x: &f64| format!("{}", x.round() as i64);
        chart
            .configure_mesh()
            .x_desc("rank r")
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .y_labels(Y_TICKS)
            .label_style((FONT, 14).into_font().color(&TEXT))
            .axis_desc_style((FONT, 15).into_font().color(&TEXT))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(RGBColor(90, 90, 90))
            .draw()
            .map_err(de)?;

        if let Some(c) = self.chosen {
            let c = c as f64;
            chart
                .draw_series(DashedLineSeries::new([(c, lo), (c, hi)], 7, 5, CHOSEN.stroke_width(2)))
                .map_err(de)?;
        }

        let points = |values: &[Option<f64>]| -> Vec<(usize, f64, f64)> {
            self.ranks
                .iter()
                .zip(values)
                .enumerate()
                .filter_map(|(i, (&r, v))| v.map(|v| (i, r as f64, v)))
                .collect()
        };

        // Null baseline: dashed segments between ranks that have it.
        if p.baseline.iter().any(Option::is_some) {
            for seg in segments(&p.baseline, &self.ranks) {
                chart
                    .draw_series(DashedLineSeries::new(seg, 6, 4, NULL.stroke_width(2)))
                    .map_err(de)?;
            }
            chart
                .draw_series(
                    points(&p.baseline)
                        .into_iter()
                        .map(|(_, x, y)| Circle::new((x, y), 3, NULL.filled())),
                )
                .map_err(de)?;
        }

        // Error bars with caps.
        let cap = 0.12_f64.min(0.25 * step as f64);
        for (i, x, y) in points(&p.values) {
            if let Some(e) = p.errors[i] {
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

        let marker = if self.ranks.len() > 15 { 3 } else { 4 };
        for seg in segments(&p.values, &self.ranks) {
            chart
                .draw_series(LineSeries::new(seg, DATA.stroke_width(2)))
                .map_err(de)?;
        }
        // Hollow markers are white inside, not crossed by the line.
        chart
            .draw_series(
                points(&p.values)
                    .into_iter()
                    .filter(|&(i, _, _)| p.hollow[i])
                    .map(|(_, x, y)| Circle::new((x, y), marker + 1, WHITE.filled())),
            )
            .map_err(de)?;
        chart
            .draw_series(points(&p.values).into_iter().map(|(i, x, y)| {
                let chosen = self.chosen.is_some_and(|c| c == self.ranks[i]);
                let colour = if chosen { CHOSEN } else { DATA };
                let size = if chosen { marker + 2 } else { marker };
                let style = if p.hollow[i] {
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

impl Selection {
    /// The decision's reasons as wrapped text (in a grid cell no panel uses).
    fn draw_reasons<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        if self.reasons.is_empty() {
            return Ok(());
        }
        let area = area.margin(34, 10, 40, 16);
        let (w, h) = area.dim_in_pixel();
        let head = TextStyle::from((FONT, 17).into_font()).color(&TEXT);
        let body = TextStyle::from((FONT, 14).into_font()).color(&TEXT);
        area.draw_text("Why", &head, (0, 0)).map_err(de)?;
        let fits = |line: &str, indent: i32| {
            area.estimate_text_size(line, &body)
                .map(|(lw, _)| lw as i32 + indent <= w as i32)
        };
        let line_height = 20;
        let max_lines = ((h as i32 - 30) / line_height).max(0) as usize;
        // (indent, text): a bullet starts each reason, its continuation lines are indented.
        let indent = 12;
        let mut lines: Vec<(i32, String)> = Vec::new();
        for reason in &self.reasons {
            let (mut at, mut line) = (0, String::from("•"));
            for word in reason.split_whitespace() {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if line == "•" || line.is_empty() || fits(&candidate, at).map_err(de)? {
                    line = candidate;
                } else {
                    lines.push((at, std::mem::replace(&mut line, word.to_string())));
                    at = indent;
                }
            }
            lines.push((at, line));
        }
        if lines.len() > max_lines {
            lines.truncate(max_lines);
            if let Some((_, last)) = lines.last_mut() {
                last.push_str(" …");
            }
        }
        for (k, (at, line)) in lines.iter().enumerate() {
            area.draw_text(line, &body, (*at, 30 + k as i32 * line_height))
                .map_err(de)?;
        }
        Ok(())
    }
}

/// A linear axis with ticks at given values only (plotters' own key points on the rank axis could
/// fall between ranks, and on the colour bar would skip quarters).
struct TickedAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl TickedAxis {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
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

/// The step between the ticks plotters draws for at most `max_points` labels on [lo, hi]: going
/// down 10^k, 5 x 10^(k-1), 2 x 10^(k-1), 10^(k-1), ..., the last step that yields few enough ticks.
fn tick_step(lo: f64, hi: f64, max_points: usize) -> f64 {
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
fn tick_format(lo: f64, hi: f64, max_points: usize) -> impl Fn(&f64) -> String {
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

impl Figure for Selection {
    fn size(&self) -> (u32, u32) {
        SELECTION_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, _vector: bool) -> Result<(), String> {
        root.fill(&WHITE).map_err(de)?;
        let body = title_band(root, &self.title, 24, 52)?;
        if self.panels.is_empty() {
            let (w, h) = body.dim_in_pixel();
            let style = TextStyle::from((FONT, 18).into_font())
                .color(&TEXT)
                .pos(Pos::new(HPos::Center, VPos::Center));
            body.draw_text("no statistics to plot", &style, (w as i32 / 2, h as i32 / 2))
                .map_err(de)?;
            return Ok(());
        }
        let (rows, cols) = match self.panels.len() {
            1 => (1, 1),
            2 => (1, 2),
            3 => (1, 3),
            4 => (2, 2),
            _ => (2, 3),
        };
        let body = body.margin(0, 6, 6, 6);
        let areas = body.split_evenly((rows, cols));
        for (area, p) in areas.iter().zip(&self.panels) {
            self.draw_panel(area, p)?;
        }
        if let Some(free) = areas.get(self.panels.len()) {
            self.draw_reasons(free)?;
        }
        Ok(())
    }
}

/// The consensus matrix of one rank, ordered and block-averaged for display.
struct Heatmap {
    title: String,
    /// N.
    n: usize,
    /// Cells per side for the PNG and for the SVG.
    png: Cells,
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
    fn new(s: &RankSummary, out: &RankOutputs) -> Option<Self> {
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
fn blue(q: u8) -> RGBColor {
    let t = f64::from(q) / 255.0 * (BLUES.len() - 1) as f64;
    let k = (t.floor() as usize).min(BLUES.len() - 2);
    let f = t - k as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + f * (f64::from(b) - f64::from(a))).round() as u8;
    let (a, b) = (BLUES[k], BLUES[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
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
        let n = self.n as f64;
        let note = if cells.block > 1 {
            format!(
                "{} (N = {}; {} x {} block means)",
                self.order_name, self.n, cells.m, cells.m
            )
        } else {
            format!("{} (N = {})", self.order_name, self.n)
        };

        let mut chart = ChartBuilder::on(&main)
            .margin_top(8)
            .margin_bottom(8)
            .margin_left(10)
            .margin_right(6)
            .x_label_area_size(46)
            .y_label_area_size(62)
            .build_cartesian_2d(0.0..n, 0.0..n)
            .map_err(de)?;
        // Position p (0 at the top) is drawn at y = N − p.
        let x_fmt = |x: &f64| format!("{}", x.round() as i64);
        let y_fmt = |y: &f64| format!("{}", (n - y).round() as i64);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(note)
            .y_desc(self.order_name)
            .label_style((FONT, 14).into_font().color(&TEXT))
            .axis_desc_style((FONT, 15).into_font().color(&TEXT))
            .axis_style(RGBColor(90, 90, 90))
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

        // Colour bar, aligned with the plotting area of the heatmap.
        let mut scale = ChartBuilder::on(&bar)
            .margin_top(8)
            .margin_bottom(8 + 46)
            .margin_left(18)
            .margin_right(4)
            .right_y_label_area_size(66)
            .build_cartesian_2d(0.0..1.0, TickedAxis::new(0.0..1.0, vec![0.0, 0.25, 0.5, 0.75, 1.0]))
            .map_err(de)?;
        let y_fmt = |y: &f64| format!("{y}");
        scale
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_label_formatter(&y_fmt)
            .y_desc("consensus")
            .label_style((FONT, 14).into_font().color(&TEXT))
            .axis_desc_style((FONT, 15).into_font().color(&TEXT))
            .axis_style(RGBColor(90, 90, 90))
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
            .draw_series([Rectangle::new(
                [(0.0, 0.0), (1.0, 1.0)],
                RGBColor(90, 90, 90).stroke_width(1),
            )])
            .map_err(de)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmf::mask::BLOCKS;
    use crate::nmf::{Objectives, StopReason};
    use crate::stats::{Rule, StabilityStats};
    use crate::sweep::{FitRecord, Job, JobKind, NullStats};

    fn objectives(v: f64) -> Objectives {
        Objectives {
            penalty: 0.0,
            kl: v,
            poisson_loglik: -v,
            frobenius_sq: 2.0 * v,
        }
    }

    fn heldout(mean: f64, jitter: f64) -> HeldoutScore {
        let mut block_means: Vec<f64> = (0..2 * BLOCKS)
            .map(|b| mean + jitter * ((b * 7 % 11) as f64 / 5.0 - 1.0))
            .collect();
        block_means[3] = f64::NAN; // an empty block
        HeldoutScore {
            mean,
            repeats: 2,
            block_means,
        }
    }

    /// A 30 x 30 consensus with 3 blocks (interleaved observations), and its outputs.
    fn consensus(rank: usize) -> (ConsensusStats, RankOutputs) {
        let n = 30;
        let group = |i: usize| i % 3;
        let mut c = Array2::zeros((n, n));
        for i in 0..n {
            for j in 0..n {
                c[[i, j]] = if i == j {
                    1.0
                } else if group(i) == group(j) {
                    0.9 - 0.01 * ((i + j) % 5) as f64
                } else {
                    0.05 * ((i * j) % 3) as f64
                };
            }
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (group(i), i));
        let labels: Vec<u32> = (0..n).map(|i| group(i) as u32 + 1).collect();
        let stats = ConsensusStats {
            cophenetic: Some(0.97),
            dispersion: 0.81,
            silhouette: Some(0.7),
            labels: labels.clone(),
            order,
        };
        let out = RankOutputs {
            memberships: Array2::zeros((n, rank)),
            labels: vec![0; n],
            consensus_labels: Some(labels),
            consensus: Some(c),
        };
        (stats, out)
    }

    fn summary(rank: usize, objective: f64) -> RankSummary {
        let record = FitRecord {
            job: Job {
                kind: JobKind::Fit,
                rank,
                index: 0,
                seed: 1,
            },
            objectives: objectives(objective),
            iterations: 100,
            stop: StopReason::Converged,
            seconds: 0.1,
        };
        RankSummary {
            rank,
            fits: 10,
            converged: 10,
            max_iter: 0,
            failed: 0,
            best: Some((record, Array2::zeros((30, rank)), Array2::zeros((rank, 8)))),
            consensus: None,
            consensus_stats: None,
            stability: Some(StabilityStats {
                fits: 10,
                corr_mean: 0.9,
                corr_min: 0.8,
                silhouette: Some(1.0 - 0.1 * rank as f64),
            }),
            spread: None,
            heldout: Some(heldout(2.0 - 0.1 * rank as f64, 0.02)),
            null: Some(NullStats {
                best: 2.0 * objective,
                cophenetic: Some(0.6 + 0.01 * rank as f64),
                dispersion: Some(0.3),
            }),
        }
    }

    /// Ranks 2..=5: rank 3 has a consensus, rank 4 has no held-out score and no consensus, rank 5
    /// falls back to the mean matched correlation.
    fn sweep() -> (Vec<RankSummary>, Vec<Option<RankOutputs>>, Decision) {
        let mut ranks: Vec<RankSummary> = (2..=5).map(|r| summary(r, 1000.0 / r as f64)).collect();
        let mut outputs: Vec<Option<RankOutputs>> = vec![None; 4];
        for (k, s) in ranks.iter_mut().enumerate() {
            let (mut stats, out) = consensus(s.rank);
            stats.cophenetic = Some(0.99 - 0.02 * (s.rank as f64 - 3.0).abs());
            stats.dispersion = 0.9 - 0.05 * s.rank as f64;
            if s.rank != 4 {
                s.consensus_stats = Some(stats);
            }
            if s.rank == 3 {
                outputs[k] = Some(out);
            }
        }
        ranks[2].heldout = None;
        if let Some(st) = ranks[3].stability.as_mut() {
            st.silhouette = None;
        }
        // Built through `decide` so that fields added to Decision need no change here.
        let mut decision = crate::stats::decide(Rule::Default, &[]);
        decision.chosen = Some(3);
        decision.runner_up = Some(2);
        (ranks, outputs, decision)
    }

    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&bytes[12..16], b"IHDR");
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        (be(&bytes[16..20]), be(&bytes[20..24]))
    }

    fn read(p: &Path) -> Vec<u8> {
        std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn writes_pngs_and_svgs() {
        let (ranks, outputs, decision) = sweep();
        let dir = tempfile::tempdir().unwrap();
        let written = write_plots(dir.path(), &ranks, &outputs, &decision, Loss::Kl).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "rank_selection.png",
                "rank_selection.svg",
                "consensus_rank_3.png",
                "consensus_rank_3.svg"
            ]
        );
        assert_eq!(png_size(&read(&written[0])), SELECTION_SIZE);
        assert_eq!(png_size(&read(&written[2])), HEATMAP_SIZE);
        let svg = String::from_utf8(read(&written[1])).unwrap();
        assert!(svg.contains("<svg"));
        assert!(svg.contains("chosen r = 3 (rule default"), "title missing");
        assert!(svg.contains("held-out deviance per entry"));
        assert!(svg.contains("hollow: mean matched corr."));
        let svg = String::from_utf8(read(&written[3])).unwrap();
        assert!(svg.contains("<svg"));
        assert!(svg.contains("rank 3: cophenetic 0.9900, dispersion 0.7500"));
        // Nothing but the plots is left in the directory.
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files.len(), 4, "{files:?}");
    }

    #[test]
    fn same_input_same_bytes() {
        let (ranks, outputs, decision) = sweep();
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let wa = write_plots(a.path(), &ranks, &outputs, &decision, Loss::Frobenius).unwrap();
        let wb = write_plots(b.path(), &ranks, &outputs, &decision, Loss::Frobenius).unwrap();
        assert_eq!(wa.len(), 4);
        for (pa, pb) in wa.iter().zip(&wb) {
            assert_eq!(read(pa), read(pb), "{}", pa.display());
        }
    }

    #[test]
    fn missing_statistics_and_no_choice() {
        let (mut ranks, _, mut decision) = sweep();
        for s in &mut ranks {
            s.heldout = None;
            s.null = None;
            s.stability = None;
        }
        decision.chosen = None;
        decision.runner_up = None;
        let sel = Selection::new(&ranks, &decision, Loss::Kl);
        let captions: Vec<&str> = sel.panels.iter().map(|p| p.caption.as_str()).collect();
        assert_eq!(captions, ["best KL divergence", "cophenetic correlation", "dispersion"]);
        assert_eq!(sel.title, "Rank selection: no rank chosen (rule default)");
        let dir = tempfile::tempdir().unwrap();
        let none: Vec<Option<RankOutputs>> = vec![None; ranks.len()];
        let written = write_plots(dir.path(), &ranks, &none, &decision, Loss::Kl).unwrap();
        assert_eq!(written.len(), 2);
        let written = write_plots(dir.path(), &[], &[], &decision, Loss::Kl).unwrap();
        assert_eq!(png_size(&read(&written[0])), SELECTION_SIZE);
    }

    #[test]
    fn unwritable_directory_is_an_error() {
        let (ranks, outputs, decision) = sweep();
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir");
        let err = write_plots(&missing, &ranks, &outputs, &decision, Loss::Kl).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("rank_selection.png"), "{msg}");
        assert!(!missing.exists());
    }

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

//! Maps over a 3-D volume (NMF components of brain images, the ICA/PCA maps of `compare`) drawn
//! as orthogonal slices: one row per map, with its sagittal, coronal and axial slice through the
//! map's peak voxel, the map overlaid on a grey background image where it is large.
//!
//! Axes: array index [i, j, k] is (x, y, z), as NIfTI stores it. The sagittal slice (fixed x) is
//! drawn with y to the right and z up, the coronal slice (fixed y) with x to the right and z up,
//! the axial slice (fixed z) with x to the right and y up. For the usual RAS+ affine that is
//! anterior to the right (sagittal), superior up, anterior up (axial) and the subject's right on
//! the right (neurological view); the figure draws array axes and does not read the affine. Pixel
//! sizes follow `voxel_size` (mm), so anisotropic voxels keep their aspect ratio.
//!
//! Colours: the background in grey (black at 0, light grey at its largest value); a map is drawn
//! where its absolute value is at least [`THRESHOLD`] of its largest absolute value, positive
//! values in a warm scale (dark red to yellow), negative ones in a cool scale (dark blue to cyan),
//! with a colour bar per row. The peak is the voxel of largest absolute value (for a
//! non-negative map, of largest value); an all-zero map overlays nothing and is sliced through the
//! centre of the volume.

use super::figure::{Figure, de, ensure_font, text, write_figure};
use crate::error::{Error, Result};
use ndarray::ArrayView3;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// A map is overlaid where |value| ≥ THRESHOLD x its largest |value|.
pub const THRESHOLD: f64 = 0.2;
/// Pixels given to the longest side of the volume (in mm) in a panel.
const PANEL: f64 = 190.0;
/// Width of the column of map names on the left.
const LABEL_WIDTH: u32 = 150;
/// Width of the colour bar column on the right (bar and its labels).
const BAR_WIDTH: u32 = 96;
/// Pixels between panels and rows.
const GAP: u32 = 12;
/// Height of a panel's title above it.
const PANEL_TITLE: u32 = 20;
/// Height of the figure's title band (title and one line of notes).
const TITLE_HEIGHT: u32 = 62;
/// The background's grey at its largest value (out of 255).
const GREY_MAX: f64 = 210.0;

/// A colour scale: three stops, from the threshold to the peak.
type Stops = [(u8, u8, u8); 3];

/// Warm scale (threshold → peak): dark red, orange, yellow.
const WARM: Stops = [(170, 0, 0), (255, 120, 0), (255, 240, 60)];
/// Cool scale (−threshold → −peak): dark blue, blue, cyan.
const COOL: Stops = [(0, 30, 170), (0, 120, 255), (90, 240, 255)];

/// The three slices, in the order drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plane {
    /// Fixed x; y to the right, z up.
    Sagittal,
    /// Fixed y; x to the right, z up.
    Coronal,
    /// Fixed z; x to the right, y up.
    Axial,
}

impl Plane {
    const ALL: [Plane; 3] = [Plane::Sagittal, Plane::Coronal, Plane::Axial];

    /// (fixed axis, horizontal axis, vertical axis).
    fn axes(self) -> (usize, usize, usize) {
        match self {
            Plane::Sagittal => (0, 1, 2),
            Plane::Coronal => (1, 0, 2),
            Plane::Axial => (2, 0, 1),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Plane::Sagittal => "sagittal",
            Plane::Coronal => "coronal",
            Plane::Axial => "axial",
        }
    }
}

/// Where a map peaks and how it is scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Peak {
    /// The voxel of largest |value| (the centre of the volume for an all-zero map).
    at: [usize; 3],
    /// The value there.
    value: f64,
    /// Its absolute value (0: nothing overlaid).
    max_abs: f64,
    /// Whether some value is ≤ −THRESHOLD · max_abs (the cool scale is used).
    negative: bool,
    /// Whether some value is ≥ THRESHOLD · max_abs (the warm scale is used).
    positive: bool,
}

/// The peak of `map`: the first voxel of largest absolute value (non-finite values ignored).
fn peak(map: ArrayView3<'_, f64>) -> Peak {
    let (nx, ny, nz) = map.dim();
    let mut best: Option<([usize; 3], f64)> = None;
    for ((i, j, k), &v) in map.indexed_iter() {
        if v.is_finite() && v != 0.0 && best.is_none_or(|(_, b)| v.abs() > b.abs()) {
            best = Some(([i, j, k], v));
        }
    }
    let Some((at, value)) = best else {
        return Peak {
            at: [nx / 2, ny / 2, nz / 2],
            value: 0.0,
            max_abs: 0.0,
            negative: false,
            positive: false,
        };
    };
    let max_abs = value.abs();
    let cut = THRESHOLD * max_abs;
    Peak {
        at,
        value,
        max_abs,
        negative: map.iter().any(|&v| v <= -cut),
        positive: map.iter().any(|&v| v >= cut),
    }
}

/// Linear interpolation along a three-stop scale, `t` in [0, 1].
fn scale_colour(stops: &Stops, t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0) * 2.0;
    let k = (t.floor() as usize).min(1);
    let f = t - k as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + f * (f64::from(b) - f64::from(a))).round() as u8;
    let (a, b) = (stops[k], stops[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The overlay colour of `v` in a map of largest |value| `max_abs`, or None below the threshold.
fn overlay(v: f64, max_abs: f64) -> Option<RGBColor> {
    if !(max_abs > 0.0 && v.is_finite()) {
        return None;
    }
    let r = v / max_abs;
    if r.abs() < THRESHOLD {
        return None;
    }
    let t = (r.abs() - THRESHOLD) / (1.0 - THRESHOLD);
    Some(scale_colour(if r > 0.0 { &WARM } else { &COOL }, t))
}

/// The background's grey for `b` when its largest value is `max`: black at 0 (and below).
fn grey(b: f64, max: f64) -> RGBColor {
    let t = if max > 0.0 && b.is_finite() {
        (b / max).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let g = (t * GREY_MAX).round() as u8;
    RGBColor(g, g, g)
}

/// A number in 3 significant digits (scientific notation outside [0.001, 10000)).
fn number(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || !a.is_finite() {
        return format!("{v}");
    }
    if !(1e-3..1e4).contains(&a) {
        return format!("{v:.2e}");
    }
    let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
    format!("{v:.decimals$}")
}

/// The figure: rows of three slices.
struct Slices<'a, 'b> {
    title: &'a str,
    maps: &'a [(String, ArrayView3<'b, f64>)],
    peaks: Vec<Peak>,
    background: ArrayView3<'b, f64>,
    background_max: f64,
    voxel: [f64; 3],
    /// Pixels per mm.
    scale: f64,
}

impl Slices<'_, '_> {
    /// Pixel width and height of a panel of `plane`.
    fn panel_size(&self, plane: Plane) -> (u32, u32) {
        let (_, h, v) = plane.axes();
        let dims = self.background.dim();
        let n = [dims.0, dims.1, dims.2];
        let px = |axis: usize| (n[axis] as f64 * self.voxel[axis] * self.scale).round().max(1.0) as u32;
        (px(h), px(v))
    }

    fn panels_height(&self) -> u32 {
        Plane::ALL.iter().map(|&p| self.panel_size(p).1).max().unwrap_or(1)
    }

    fn row_height(&self) -> u32 {
        PANEL_TITLE + self.panels_height() + GAP
    }

    /// Draws one panel with its top left corner at (x0, y0): background, overlay, title.
    #[allow(clippy::too_many_arguments)]
    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        map: ArrayView3<'_, f64>,
        peak: &Peak,
        plane: Plane,
        (x0, y0): (i32, i32),
    ) -> Result<(), String> {
        let (fixed, h, v) = plane.axes();
        let (w_px, h_px) = self.panel_size(plane);
        let dims = self.background.dim();
        let n = [dims.0, dims.1, dims.2];
        let at = peak.at[fixed];
        let label = format!("{} {} = {at}", plane.name(), ["x", "y", "z"][fixed]);
        let style = text(13).pos(Pos::new(HPos::Center, VPos::Bottom));
        area.draw_text(&label, &style, (x0 + w_px as i32 / 2, y0 - 3))
            .map_err(de)?;
        let edge = |axis: usize, u: usize| (u as f64 * self.voxel[axis] * self.scale).round() as i32;
        let bottom = y0 + h_px as i32;
        for u in 0..n[h] {
            for w in 0..n[v] {
                let mut idx = [0; 3];
                idx[fixed] = at;
                idx[h] = u;
                idx[v] = w;
                let value = map[idx];
                let colour =
                    overlay(value, peak.max_abs).unwrap_or_else(|| grey(self.background[idx], self.background_max));
                let (left, right) = (x0 + edge(h, u), x0 + edge(h, u + 1));
                let (top, low) = (bottom - edge(v, w + 1), bottom - edge(v, w));
                area.draw(&Rectangle::new([(left, top), (right, low)], colour.filled()))
                    .map_err(de)?;
            }
        }
        area.draw(&Rectangle::new(
            [(x0 - 1, y0 - 1), (x0 + w_px as i32, bottom)],
            RGBColor(150, 150, 150).stroke_width(1),
        ))
        .map_err(de)
    }

    /// The colour bar of one row at (x0, y0), `height` pixels: warm above, cool below (or only
    /// the scales the map uses), labelled with the values at its ends and at the threshold.
    fn draw_bar<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        peak: &Peak,
        (x0, y0): (i32, i32),
        height: u32,
    ) -> Result<(), String> {
        let label = text(11).pos(Pos::new(HPos::Left, VPos::Center));
        if peak.max_abs <= 0.0 {
            return area
                .draw_text("no values", &label, (x0, y0 + height as i32 / 2))
                .map_err(de);
        }
        let (m, cut) = (peak.max_abs, THRESHOLD * peak.max_abs);
        // Each scale used gets its share of the bar: (stops, top value, bottom value).
        let mut parts: Vec<(&Stops, f64, f64)> = Vec::new();
        if peak.positive {
            parts.push((&WARM, m, cut));
        }
        if peak.negative {
            parts.push((&COOL, -cut, -m));
        }
        let width = 14;
        // Two parts are drawn with a gap between them, so that their threshold labels stay apart.
        let gap = if parts.len() > 1 { 10 } else { 0 };
        let share = (height as i32 - gap) / parts.len().max(1) as i32;
        for (p, (stops, top_value, bottom_value)) in parts.iter().enumerate() {
            let top = y0 + p as i32 * (share + gap);
            for y in 0..share {
                // t = 1 at the end of largest |value|: the top of the warm part, the bottom of
                // the cool one.
                let f = f64::from(y) / f64::from((share - 1).max(1));
                let t = if *top_value > 0.0 { 1.0 - f } else { f };
                let c = scale_colour(stops, t);
                area.draw(&Rectangle::new([(x0, top + y), (x0 + width, top + y + 1)], c.filled()))
                    .map_err(de)?;
            }
            area.draw_text(&number(*top_value), &label, (x0 + width + 4, top + 5))
                .map_err(de)?;
            area.draw_text(&number(*bottom_value), &label, (x0 + width + 4, top + share - 6))
                .map_err(de)?;
        }
        Ok(())
    }
}

impl Figure for Slices<'_, '_> {
    fn size(&self) -> (u32, u32) {
        let panels: u32 = Plane::ALL.iter().map(|&p| self.panel_size(p).0 + GAP).sum();
        let w = LABEL_WIDTH + panels + BAR_WIDTH;
        // The title must fit too (about 10 pixels a character at size 20).
        let title = self.title.chars().count() as u32 * 10 + 40;
        let rows = self.maps.len() as u32 * self.row_height();
        (w.max(title).max(640), TITLE_HEIGHT + rows + GAP)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, _vector: bool) -> Result<(), String> {
        root.fill(&WHITE).map_err(de)?;
        let (w, _) = root.dim_in_pixel();
        let centre = Pos::new(HPos::Center, VPos::Top);
        root.draw_text(self.title, &text(20).pos(centre), (w as i32 / 2, 8))
            .map_err(de)?;
        let note = format!(
            "slices through each map's peak (largest |value|); coloured where |value| ≥ {:.0}% of it \
             (warm > 0, cool < 0), over the background in grey",
            THRESHOLD * 100.0
        );
        root.draw_text(&note, &text(12).pos(centre), (w as i32 / 2, 36))
            .map_err(de)?;
        let name_style = text(15).pos(Pos::new(HPos::Left, VPos::Top));
        let small = text(12).pos(Pos::new(HPos::Left, VPos::Top));
        for (r, ((name, map), peak)) in self.maps.iter().zip(&self.peaks).enumerate() {
            let y0 = (TITLE_HEIGHT + r as u32 * self.row_height() + PANEL_TITLE) as i32;
            root.draw_text(name, &name_style, (8, y0 + 4)).map_err(de)?;
            let lines = if peak.max_abs > 0.0 {
                vec![
                    format!("peak {}", number(peak.value)),
                    format!("at ({}, {}, {})", peak.at[0], peak.at[1], peak.at[2]),
                ]
            } else {
                vec!["all zero:".to_string(), "nothing overlaid".to_string()]
            };
            for (l, line) in lines.iter().enumerate() {
                root.draw_text(line, &small, (8, y0 + 26 + 16 * l as i32)).map_err(de)?;
            }
            let mut x0 = LABEL_WIDTH as i32;
            for plane in Plane::ALL {
                self.draw_panel(root, *map, peak, plane, (x0, y0))?;
                x0 += (self.panel_size(plane).0 + GAP) as i32;
            }
            self.draw_bar(root, peak, (x0 + 4, y0), self.panels_height())?;
        }
        Ok(())
    }
}

/// Writes `<stem>.png` and `<stem>.svg` into `dir`: one row per map (its name on the left),
/// three panels per row (sagittal, coronal and axial slices through the map's peak voxel, the
/// slice's voxel index in each panel's title), the map over `background` (e.g. the mean image)
/// where |value| ≥ [`THRESHOLD`] of its peak, and a colour bar per row; `voxel_size` (mm along
/// x, y, z) sets the aspect ratio. Every map must have the background's shape. See the module
/// documentation for the axes and colours. Returns the paths written.
pub fn orthogonal_slices(
    dir: &Path,
    stem: &str,
    title: &str,
    maps: &[(String, ArrayView3<'_, f64>)],
    background: ArrayView3<'_, f64>,
    voxel_size: [f64; 3],
) -> Result<[PathBuf; 2]> {
    let invalid = |what: String| {
        Error::io(
            format!("cannot draw {}", dir.join(format!("{stem}.png")).display()),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, what),
        )
    };
    if !voxel_size.iter().all(|d| d.is_finite() && *d > 0.0) {
        return Err(invalid(format!("voxel sizes must be positive, got {voxel_size:?}")));
    }
    if background.is_empty() {
        return Err(invalid("the background volume is empty".into()));
    }
    if let Some((name, m)) = maps.iter().find(|(_, m)| m.dim() != background.dim()) {
        return Err(invalid(format!(
            "map {name} has shape {:?}, the background {:?}",
            m.dim(),
            background.dim()
        )));
    }
    ensure_font()?;
    let (nx, ny, nz) = background.dim();
    let longest = [
        nx as f64 * voxel_size[0],
        ny as f64 * voxel_size[1],
        nz as f64 * voxel_size[2],
    ]
    .into_iter()
    .fold(0.0_f64, f64::max);
    let fig = Slices {
        title,
        maps,
        peaks: maps.iter().map(|(_, m)| peak(*m)).collect(),
        background,
        background_max: background
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0_f64, |a, &b| a.max(b)),
        voxel: voxel_size,
        scale: PANEL / longest,
    };
    write_figure(dir, stem, &fig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn peaks_thresholds_and_colours() {
        let mut m = Array3::<f64>::zeros((4, 5, 6));
        m[[1, 2, 3]] = 2.0;
        m[[3, 4, 5]] = -5.0;
        m[[0, 0, 0]] = f64::NAN;
        let p = peak(m.view());
        assert_eq!((p.at, p.value, p.max_abs), ([3, 4, 5], -5.0, 5.0));
        assert!(p.negative && p.positive);
        let zero = peak(Array3::<f64>::zeros((4, 5, 6)).view());
        assert_eq!((zero.at, zero.max_abs, zero.positive), ([2, 2, 3], 0.0, false));
        assert_eq!(overlay(0.19, 1.0), None);
        assert_eq!(overlay(1.0, 1.0), Some(RGBColor(255, 240, 60)));
        assert_eq!(overlay(0.2, 1.0), Some(RGBColor(170, 0, 0)));
        assert_eq!(overlay(-1.0, 1.0), Some(RGBColor(90, 240, 255)));
        assert_eq!(overlay(1.0, 0.0), None);
        assert_eq!(grey(2.0, 4.0), RGBColor(105, 105, 105));
        assert_eq!(grey(1.0, 0.0), RGBColor(0, 0, 0));
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(0.5), "0.500");
        assert_eq!(number(-2.0e5), "-2.00e5");
    }

    #[test]
    fn writes_png_and_svg_with_an_all_zero_map() {
        let (nx, ny, nz) = (6, 7, 5);
        let blob = Array3::from_shape_fn((nx, ny, nz), |(i, j, k)| {
            let r2 = (i as f64 - 2.0).powi(2) + (j as f64 - 3.0).powi(2) + (k as f64 - 2.0).powi(2);
            (-r2 / 2.0).exp()
        });
        let signed = blob.mapv(|v| 0.5 - v);
        let zero = Array3::<f64>::zeros((nx, ny, nz));
        let background = blob.mapv(|v| 1.0 + v);
        let maps = vec![
            ("component 1".to_string(), blob.view()),
            ("all zero".to_string(), zero.view()),
            ("signed".to_string(), signed.view()),
        ];
        let dir = tempfile::tempdir().unwrap();
        let written = orthogonal_slices(
            dir.path(),
            "slices",
            "test maps",
            &maps,
            background.view(),
            [2.0, 2.0, 3.0],
        )
        .unwrap();
        let png = std::fs::read(&written[0]).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png.len() > 1000);
        let svg = std::fs::read_to_string(&written[1]).unwrap();
        assert!(svg.contains("<svg") && svg.contains("axial z = 2") && svg.contains("nothing overlaid"));
        assert!(svg.contains("sagittal x = 2") && svg.contains("coronal y = 3"));
        // A map of another shape is refused; nothing is written.
        let small = Array3::<f64>::zeros((2, 2, 2));
        let bad = vec![("small".to_string(), small.view())];
        let err = orthogonal_slices(dir.path(), "bad", "t", &bad, background.view(), [1.0; 3]).unwrap_err();
        assert!(err.to_string().contains("map small has shape"), "{err}");
        assert!(!dir.path().join("bad.png").exists());
    }
}

//! Components drawn as images: when each observation is an image (`[data] image_shape`), a basis
//! vector (a row of H, a principal axis, a k-means centroid) is an image too. A montage draws one
//! tile per basis vector; a figure holds one or more montages side by side (`compare`: NMF, PCA,
//! VQ and ICA).
//!
//! Colours: every tile is scaled by its own largest absolute value, with white at 0, black at the
//! largest positive value and red at the most negative one, as Hastie, Tibshirani & Friedman
//! show NMF, VQ and PCA bases (ESL, 2nd ed., Fig. 14.33). A non-negative basis is grey on white;
//! a signed one shows its negative pixels in red.

use super::plots::{Figure, de, ensure_font, text, title_band, write_figure};
use crate::error::Result;
use ndarray::ArrayView2;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// Width in pixels given to one montage (tiles are sized to fit it).
const PANEL_WIDTH: u32 = 420;
/// Pixels between tiles.
const GAP: u32 = 4;
/// Height of the figure's title band.
const TITLE_HEIGHT: u32 = 44;
/// Height of a panel's heading (name and one line of numbers).
const HEADING_HEIGHT: u32 = 48;

/// One montage: a heading, a line of notes, and one tile per row of `basis`.
#[derive(Debug, Clone, Copy)]
pub struct Panel<'a> {
    /// Heading, e.g. "NMF".
    pub title: &'a str,
    /// A line under the heading (e.g. the reconstruction error), may be empty.
    pub note: &'a str,
    /// One basis vector per row (k x height·width), each an image stored row by row.
    pub basis: ArrayView2<'a, f64>,
}

/// A figure of montages side by side.
struct Montages<'a, 'b> {
    title: &'a str,
    panels: &'a [Panel<'b>],
    height: usize,
    width: usize,
}

impl Montages<'_, '_> {
    /// Tile columns and rows for `k` tiles: about square.
    fn grid(k: usize) -> (usize, usize) {
        let cols = (k as f64).sqrt().ceil().max(1.0) as usize;
        (cols, k.div_ceil(cols).max(1))
    }

    /// The largest tile count of any panel.
    fn most_tiles(&self) -> usize {
        self.panels.iter().map(|p| p.basis.nrows()).max().unwrap_or(1)
    }

    /// Screen pixels per image pixel, so that the widest montage fills PANEL_WIDTH.
    fn scale(&self) -> u32 {
        let (cols, _) = Self::grid(self.most_tiles());
        let room = PANEL_WIDTH.saturating_sub(GAP * (cols as u32 + 1));
        (room / (cols as u32 * self.width.max(1) as u32)).max(1)
    }

    fn grid_height(&self) -> u32 {
        let (_, rows) = Self::grid(self.most_tiles());
        rows as u32 * (self.scale() * self.height as u32 + GAP) + GAP
    }
}

/// The colour of value `v` in a tile whose largest absolute value is `max`: white at 0, towards
/// black for positive values and towards red for negative ones.
pub fn colour(v: f64, max: f64) -> RGBColor {
    let t = if max > 0.0 && v.is_finite() {
        (v / max).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let fade = |full: u8, t: f64| (255.0 - (255.0 - f64::from(full)) * t).round() as u8;
    if t >= 0.0 {
        let g = fade(0, t);
        RGBColor(g, g, g)
    } else {
        let t = -t;
        RGBColor(fade(200, t), fade(0, t), fade(0, t))
    }
}

impl Figure for Montages<'_, '_> {
    fn size(&self) -> (u32, u32) {
        let w = self.panels.len().max(1) as u32 * (PANEL_WIDTH + 2 * GAP);
        // The title must fit too (about 10 pixels a character at size 20).
        let title = self.title.chars().count() as u32 * 10 + 40;
        (w.max(title), TITLE_HEIGHT + HEADING_HEIGHT + self.grid_height() + 8)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, _vector: bool) -> Result<(), String> {
        root.fill(&WHITE).map_err(de)?;
        let body = title_band(root, self.title, 20, TITLE_HEIGHT)?;
        let areas = body.split_evenly((1, self.panels.len().max(1)));
        let s = self.scale() as i32;
        let (tile_w, tile_h) = (s * self.width as i32, s * self.height as i32);
        for (area, panel) in areas.iter().zip(self.panels) {
            let (aw, _) = area.dim_in_pixel();
            let top_centre = Pos::new(HPos::Center, VPos::Top);
            let head = text(17).pos(top_centre);
            area.draw_text(panel.title, &head, (aw as i32 / 2, 2)).map_err(de)?;
            let note = text(13).pos(top_centre);
            area.draw_text(panel.note, &note, (aw as i32 / 2, 24)).map_err(de)?;
            let (cols, _) = Montages::grid(panel.basis.nrows());
            let used = cols as i32 * (tile_w + GAP as i32) - GAP as i32;
            let left = (aw as i32 - used).max(0) / 2;
            let top = HEADING_HEIGHT as i32;
            for (t, tile) in panel.basis.rows().into_iter().enumerate() {
                let x0 = left + (t % cols) as i32 * (tile_w + GAP as i32);
                let y0 = top + (t / cols) as i32 * (tile_h + GAP as i32);
                let max = tile.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
                for (k, &v) in tile.iter().enumerate() {
                    let (r, c) = ((k / self.width) as i32, (k % self.width) as i32);
                    let (px, py) = (x0 + c * s, y0 + r * s);
                    area.draw(&Rectangle::new([(px, py), (px + s, py + s)], colour(v, max).filled()))
                        .map_err(de)?;
                }
                area.draw(&Rectangle::new(
                    [(x0 - 1, y0 - 1), (x0 + tile_w, y0 + tile_h)],
                    RGBColor(170, 170, 170).stroke_width(1),
                ))
                .map_err(de)?;
            }
        }
        Ok(())
    }
}

/// Writes `<stem>.png` and `<stem>.svg` into `dir`: the panels side by side under `title`, each
/// basis vector drawn as a `height` x `width` image (row by row). Returns the paths written.
pub fn write_montages(
    dir: &Path,
    stem: &str,
    title: &str,
    panels: &[Panel<'_>],
    (height, width): (usize, usize),
) -> Result<[PathBuf; 2]> {
    ensure_font()?;
    let fig = Montages {
        title,
        panels,
        height,
        width,
    };
    write_figure(dir, stem, &fig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_white_at_zero_black_positive_red_negative() {
        assert_eq!(colour(0.0, 2.0), RGBColor(255, 255, 255));
        assert_eq!(colour(2.0, 2.0), RGBColor(0, 0, 0));
        assert_eq!(colour(-2.0, 2.0), RGBColor(200, 0, 0));
        assert_eq!(colour(1.0, 0.0), RGBColor(255, 255, 255));
    }

    #[test]
    fn grid_is_about_square() {
        assert_eq!(Montages::grid(16), (4, 4));
        assert_eq!(Montages::grid(12), (4, 3));
        assert_eq!(Montages::grid(1), (1, 1));
    }
}

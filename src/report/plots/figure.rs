//! Figure setup shared by every plot: the embedded font, text styles, the `Figure` trait, and
//! writing one figure as a PNG (bitmap backend) and an SVG (vector backend), each atomically.
//! It draws nothing of its own but the centred title band at the top of a figure.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (assets/fonts/, Bitstream Vera and Arev
//! licenses in assets/fonts/LICENSE-DejaVu.txt), so no system font or fontconfig is needed.

use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The family name the embedded font is registered under (plotters' default family).
const FONT: &str = "sans-serif";
/// DejaVu Sans 2.37.
static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// The colour of all text.
const TEXT: RGBColor = RGBColor(30, 30, 30);

/// Registers the embedded font with plotters (once per process).
pub(in crate::report) fn ensure_font() -> Result<()> {
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
pub(in crate::report) fn de(e: impl Display) -> String {
    e.to_string()
}

/// The embedded font at `size` in the text colour, anchored at its top left.
pub(in crate::report) fn text(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&TEXT)
}

/// Something drawn to both a PNG and an SVG.
pub(in crate::report) trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws onto `root`; `vector` is true for the SVG.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, vector: bool) -> Result<(), String>;
}

/// Writes `<stem>.png` and `<stem>.svg` into `dir`, each atomically.
pub(in crate::report) fn write_figure(dir: &Path, stem: &str, fig: &impl Figure) -> Result<[PathBuf; 2]> {
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    let failed = |path: &Path, msg: String| {
        Error::io(
            format!("cannot write plot {}", path.display()),
            std::io::Error::other(msg),
        )
    };

    // The bitmap backend picks the encoder from the extension, so the temporary name ends in .png.
    let tmp = crate::fsio::partial_png(dir, stem);
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
    crate::report::write_atomic(&svg, &text)?;
    Ok([png, svg])
}

/// Draws `line` at font `size`, centred in `area`.
pub(in crate::report) fn centred_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    line: &str,
    size: u32,
) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    let style = text(size).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(line, &style, (w as i32 / 2, h as i32 / 2)).map_err(de)
}

/// Draws `line` centred at the top of `area` (`height` pixels high) and returns the rest.
pub(in crate::report) fn title_band<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    line: &str,
    size: u32,
    height: u32,
) -> Result<DrawingArea<DB, Shift>, String> {
    let (top, rest) = area.split_vertically(height);
    centred_text(&top, line, size)?;
    Ok(rest)
}

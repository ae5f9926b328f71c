//! Configuration: the TOML file (`RawConfig`, serde, unknown keys rejected) is turned into a
//! checked [`Plan`] by [`load`]; only a `Plan` reaches the sweep. `validate.rs` reads the file
//! and runs the checks in a fixed order: the ceilings across sections (`ceilings.rs`), then one
//! section after another (`check_*.rs`). Every rejection names the file, the line, the key and
//! the fix. Values with an invariant carry it in their type (`checked.rs`).

mod ceilings;
mod check_data;
mod check_model;
mod check_report;
mod check_run;
mod check_selection;
mod check_stop;
mod check_sweep;
mod checked;
mod raw;
mod settings;
mod validate;

pub use checked::{HeldoutFraction, Ranks};
pub use raw::RawConfig;
pub use settings::{AttrValue, Role, Setting};
pub use validate::{Overrides, Plan, SelectionSpec, load, parse};

/// 1-based (line, column) of byte offset `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

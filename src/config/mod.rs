//! Configuration: the TOML file (`RawConfig`, serde, unknown keys rejected) is turned into a
//! checked [`Plan`] by [`load`]; only a `Plan` reaches the sweep. Every rule lives in
//! `validate.rs`, and every rejection names the file, the line, the key and the fix.

mod raw;
mod settings;
mod validate;

pub use raw::RawConfig;
pub use settings::{AttrValue, Role, Setting};
pub use validate::{Overrides, Plan, load, parse};

/// 1-based (line, column) of byte offset `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

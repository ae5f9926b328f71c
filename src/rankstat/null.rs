//! The null baseline of a rank: the best loss and the consensus statistics of restarts on
//! column-permuted data, accumulated by the collector (drawn in the consensus panels).

use super::{Cell, Column, RankStatistic};

/// The null baseline.
pub struct Null;

impl RankStatistic for Null {
    fn columns(&self) -> &'static [Column] {
        &[
            Column {
                name: "null_best",
                terminal: None,
                value: |s| Cell::Float(s.null.as_ref().map(|x| x.best)),
            },
            Column {
                name: "null_cophenetic",
                terminal: None,
                value: |s| Cell::Float(s.null.as_ref().and_then(|x| x.cophenetic)),
            },
            Column {
                name: "null_dispersion",
                terminal: None,
                value: |s| Cell::Float(s.null.as_ref().and_then(|x| x.dispersion)),
            },
        ]
    }
}

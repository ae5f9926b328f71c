//! The rank-selection figure (rank_selection.png/.svg): a title naming the chosen rank, one panel
//! per statistic with values (from the rank statistics, `crate::rankstat`) laid out in a grid, and the decision's
//! reasons in a grid cell no panel uses.

use super::figure::{Figure, centred_text, de, text, title_band};
use super::panel::RankAxis;
use crate::nmf::Loss;
use crate::rankstat::Panel;
use crate::record::RankSummary;
use crate::stats::Decision;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Size of the rank-selection figure in pixels.
pub(super) const SELECTION_SIZE: (u32, u32) = (1200, 800);

/// The rank-selection figure.
pub(super) struct Selection {
    /// The ranks of the sweep, ascending.
    ranks: Vec<usize>,
    /// The panels with values, in drawing order.
    pub(super) panels: Vec<Panel>,
    /// The chosen rank.
    chosen: Option<usize>,
    /// The figure's title.
    pub(super) title: String,
    /// The decision's reasons, shown in a free cell of the grid.
    reasons: Vec<String>,
}

impl Selection {
    /// The figure of `ranks` (ascending) and the `decision` made from them.
    pub(super) fn new(ranks: &[RankSummary], decision: &Decision, loss: Loss) -> Self {
        let panels = crate::rankstat::panels(ranks, loss);
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

    /// The decision's reasons as wrapped text (in a grid cell no panel uses).
    fn draw_reasons<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        if self.reasons.is_empty() {
            return Ok(());
        }
        let area = area.margin(34, 10, 40, 16);
        let (w, h) = area.dim_in_pixel();
        let head = text(17);
        let body = text(14);
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

/// Rows and columns of the grid for `panels` panels: one row of up to three, 2 x 2 for four, then
/// rows of three. A cell left over shows the decision's reasons.
fn grid(panels: usize) -> (usize, usize) {
    match panels {
        0..=3 => (1, panels.max(1)),
        4 => (2, 2),
        _ => (panels.div_ceil(3), 3),
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
            return centred_text(&body, "no statistics to plot", 18);
        }
        let body = body.margin(0, 6, 6, 6);
        let areas = body.split_evenly(grid(self.panels.len()));
        let axis = RankAxis {
            ranks: &self.ranks,
            chosen: self.chosen,
        };
        for (area, p) in areas.iter().zip(&self.panels) {
            p.draw(area, &axis)?;
        }
        if let Some(free) = areas.get(self.panels.len()) {
            self.draw_reasons(free)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_holds_every_panel() {
        assert_eq!(grid(1), (1, 1));
        assert_eq!(grid(3), (1, 3));
        assert_eq!(grid(4), (2, 2));
        assert_eq!(grid(5), (2, 3));
        assert_eq!(grid(6), (2, 3));
        assert_eq!(grid(7), (3, 3));
        for n in 1..20 {
            let (rows, cols) = grid(n);
            assert!(rows * cols >= n, "{n} panels");
        }
    }
}

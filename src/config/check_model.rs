//! `[model]`: loss, solver (and whether it minimizes that loss), initialization, precision and
//! penalties.

use super::raw::RawModel;
use super::validate::Checker;
use crate::error::Result;
use crate::nmf::init::Init;
use crate::nmf::{Loss, Penalty, Precision, Solver};
use toml::Spanned;

/// The checked `[model]`.
pub(super) struct Model {
    /// The loss minimized.
    pub loss: Loss,
    /// The algorithm.
    pub solver: Solver,
    /// The starting points.
    pub init: Init,
    /// Floating-point type of the fits' products.
    pub precision: Precision,
    /// L1/L2 penalties on W and H.
    pub penalty: Penalty,
}

impl Checker<'_> {
    /// Checks `[model]`.
    pub(super) fn model(&self, model: &RawModel) -> Result<Model> {
        let loss = self.choice(
            "model.loss",
            model.loss.as_ref(),
            &Loss::ALL,
            Loss::Kl,
            " (\"kl\" is the Poisson likelihood)",
        )?;
        let solver = self.solver(model.solver.as_ref(), loss)?;
        let init = self.choice("model.init", model.init.as_ref(), &Init::ALL, Init::Random, "")?;
        let precision = self.choice(
            "model.precision",
            model.precision.as_ref(),
            &Precision::ALL,
            solver.default_precision(loss),
            " (\"f32\" is about twice as fast; objectives are still computed in f64)",
        )?;
        let penalty = Penalty {
            l1_w: self.weight("model.l1_w", model.l1_w.as_ref())?,
            l1_h: self.weight("model.l1_h", model.l1_h.as_ref())?,
            l2_w: self.weight("model.l2_w", model.l2_w.as_ref())?,
            l2_h: self.weight("model.l2_h", model.l2_h.as_ref())?,
        };
        Ok(Model {
            loss,
            solver,
            init,
            precision,
            penalty,
        })
    }

    /// `solver`: one that minimizes `loss` (by default the fastest that does).
    fn solver(&self, solver: Option<&Spanned<String>>, loss: Loss) -> Result<Solver> {
        let chosen = self.choice("model.solver", solver, &Solver::ALL, Solver::default_for(loss), "")?;
        if let Some(at) = solver.filter(|_| !chosen.supports(loss)) {
            return Err(self.err(
                "model.solver",
                at,
                format!(
                    "solver \"{}\" minimizes the {} loss only, not loss = \"{}\"; use solver = \"mu\" \
                     (or leave solver out for the fastest solver of the loss)",
                    chosen.name(),
                    if loss == Loss::Kl { "Frobenius" } else { "KL" },
                    loss.name()
                ),
            ));
        }
        Ok(chosen)
    }

    /// A penalty weight: finite and ≥ 0 (0, the default, is no penalty).
    fn weight(&self, key: &str, v: Option<&Spanned<f64>>) -> Result<f64> {
        self.value(
            key,
            v,
            0.0,
            |x| (x.is_finite() && x >= 0.0).then_some(x),
            |x| format!("must be a finite number ≥ 0 (got {x}); 0 means no penalty"),
        )
    }
}

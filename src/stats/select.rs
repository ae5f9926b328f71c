//! Choosing the rank, with reasons.
//!
//! Rules (`[selection] rule`):
//! - `default`: held-out likelihood decides which ranks are plausible, stability decides among
//!   them. Let r₀ be the rank with the lowest mean held-out deviance. A rank is plausible when its
//!   deviance exceeds r₀'s by at most one paired standard error (the one-standard-error rule of
//!   Breiman et al. 1984, with paired batch-means errors over the held-out blocks). Among the
//!   plausible ranks the one whose components are the most stable (highest component silhouette)
//!   is chosen; ties go to the smaller rank, and a rank without a silhouette (r = 1, or fewer than
//!   two fits) is preferred by parsimony. A rank whose standard error is undefined (too few
//!   held-out entries) is not compared. Overfitted ranks are rejected because their extra components are not
//!   reproducible across restarts; underfitted ranks because they predict held-out entries worse.
//! - `cophenetic`: Brunet et al. (2004): the first rank at which the cophenetic correlation
//!   begins to fall (the last rank if it never falls).
//! - `heldout`: the rank with the lowest mean held-out deviance (RcppML's choice).

use super::heldout::HeldoutScore;
use crate::names::named_enum;

named_enum! {
    /// A rank-selection rule.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Rule {
        /// Held-out likelihood, then stability.
        Default = "default",
        /// Brunet's cophenetic drop.
        Cophenetic = "cophenetic",
        /// Held-out minimum.
        Heldout = "heldout",
    }
}

named_enum! {
    /// Which solution of each rank the memberships tables use (`[selection] solution`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Solution {
        /// The restart with the best objective.
        Best = "best",
        /// The consensus components (`stats::consensus_fit`) with W refitted to them.
        Consensus = "consensus",
    }
}

/// What a rule may look at for one rank.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The rank.
    pub rank: usize,
    /// Cophenetic correlation of the consensus matrix.
    pub cophenetic: Option<f64>,
    /// Component stability: silhouette, or mean matched correlation where undefined.
    pub stability: Option<f64>,
    /// Held-out score.
    pub heldout: Option<HeldoutScore>,
    /// Held-out fits of this rank that failed numerically (non-finite objective), left out of
    /// the score.
    pub heldout_failed: usize,
}

/// The outcome of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The rule applied.
    pub rule: Rule,
    /// The chosen rank, if the evidence allowed a choice.
    pub chosen: Option<usize>,
    /// The second choice.
    pub runner_up: Option<usize>,
    /// Why, in sentences.
    pub reasons: Vec<String>,
    /// What each of the other rules would choose, for comparison.
    pub others: Vec<(Rule, Option<usize>)>,
}

fn fmt(v: f64) -> String {
    format!("{v:.4}")
}

/// Applies `rule` to the evidence of every rank (ascending ranks).
pub fn decide(rule: Rule, ev: &[Evidence]) -> Decision {
    let mut d = Decision {
        rule,
        chosen: None,
        runner_up: None,
        reasons: Vec::new(),
        others: Vec::new(),
    };
    match rule {
        Rule::Heldout => heldout_min(ev, &mut d),
        Rule::Cophenetic => cophenetic_drop(ev, &mut d),
        Rule::Default => default_rule(ev, &mut d),
    }
    d
}

/// Applies `rule`, and records what every other rule would choose in `others`.
pub fn decide_all(rule: Rule, ev: &[Evidence]) -> Decision {
    let mut d = decide(rule, ev);
    d.others = Rule::ALL
        .iter()
        .filter(|(_, r)| *r != rule)
        .map(|&(_, r)| (r, decide(r, ev).chosen))
        .collect();
    d
}

fn scored(ev: &[Evidence]) -> Vec<(&Evidence, &HeldoutScore)> {
    ev.iter().filter_map(|e| e.heldout.as_ref().map(|h| (e, h))).collect()
}

/// Why no rank has a held-out deviance: its held-out fits failed numerically (then the data's
/// scale is the usual cause), or none was run or scored.
fn no_heldout_reason(ev: &[Evidence]) -> String {
    let failed: usize = ev.iter().map(|e| e.heldout_failed).sum();
    if failed == 0 {
        return "no held-out deviance was computed (heldout_repeats = 0, or no entry was held out: raise heldout_fraction), so this rule cannot choose".into();
    }
    let ranks: Vec<String> = ev
        .iter()
        .filter(|e| e.heldout_failed > 0)
        .map(|e| e.rank.to_string())
        .collect();
    format!(
        "no held-out deviance was computed: the held-out (cross-validation) fits failed numerically ({failed} with a \
         non-finite objective, at r = {}), so this rule cannot choose; check the data's scale (very large or tiny \
         values overflow the fits: rescale it, e.g. divide by its largest entry)",
        ranks.join(", ")
    )
}

fn heldout_min(ev: &[Evidence], d: &mut Decision) {
    let mut s = scored(ev);
    if s.is_empty() {
        d.reasons.push(no_heldout_reason(ev));
        return;
    }
    s.sort_by(|a, b| a.1.mean.total_cmp(&b.1.mean).then(a.0.rank.cmp(&b.0.rank)));
    d.chosen = Some(s[0].0.rank);
    d.runner_up = s.get(1).map(|x| x.0.rank);
    d.reasons.push(format!(
        "held-out deviance is lowest at r = {} ({} per held-out entry)",
        s[0].0.rank,
        fmt(s[0].1.mean)
    ));
    if let Some(second) = s.get(1) {
        d.reasons
            .push(format!("next: r = {} ({})", second.0.rank, fmt(second.1.mean)));
    }
}

fn cophenetic_drop(ev: &[Evidence], d: &mut Decision) {
    let c: Vec<(usize, f64)> = ev.iter().filter_map(|e| e.cophenetic.map(|v| (e.rank, v))).collect();
    if c.is_empty() {
        d.reasons
            .push("no cophenetic correlation was computed (consensus skipped or a single restart)".into());
        return;
    }
    let at = c.windows(2).position(|w| w[1].1 < w[0].1).unwrap_or(c.len() - 1);
    d.chosen = Some(c[at].0);
    if at + 1 < c.len() {
        d.reasons.push(format!(
            "the cophenetic correlation rises up to r = {} ({}) and first falls at r = {} ({}) (Brunet et al. 2004)",
            c[at].0,
            fmt(c[at].1),
            c[at + 1].0,
            fmt(c[at + 1].1)
        ));
    } else {
        d.reasons.push(format!(
            "the cophenetic correlation never falls; the last rank r = {} is taken",
            c[at].0
        ));
    }
    let mut rest: Vec<&(usize, f64)> = c.iter().filter(|x| x.0 != c[at].0).collect();
    rest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    d.runner_up = rest.first().map(|x| x.0);
}

fn default_rule(ev: &[Evidence], d: &mut Decision) {
    let s = scored(ev);
    if s.is_empty() {
        d.reasons.push(no_heldout_reason(ev));
        return;
    }
    let best = s
        .iter()
        .min_by(|a, b| a.1.mean.total_cmp(&b.1.mean).then(a.0.rank.cmp(&b.0.rank)))
        .copied();
    let Some((best_e, best_h)) = best else { return };
    let mut plausible = Vec::new();
    let mut rejected = Vec::new();
    let mut incomparable = Vec::new();
    for (e, h) in &s {
        let (diff, se) = if e.rank == best_e.rank {
            (0.0, 0.0)
        } else {
            h.paired_difference(best_h)
        };
        if se.is_finite() && diff <= se {
            plausible.push((*e, diff, se));
        } else if se.is_finite() {
            rejected.push((e.rank, diff, se));
        } else {
            // Fewer than two held-out blocks in common: no standard error, so not comparable.
            incomparable.push(e.rank);
        }
    }
    d.reasons.push(format!(
        "held-out deviance is lowest at r = {} ({} per held-out entry)",
        best_e.rank,
        fmt(best_h.mean)
    ));
    if !incomparable.is_empty() {
        let list: Vec<String> = incomparable.iter().map(|r| r.to_string()).collect();
        d.reasons.push(format!(
            "r = {} could not be compared with it (too few held-out entries for a standard error; raise \
             heldout_fraction) and are left out",
            list.join(", ")
        ));
    }
    let within: Vec<String> = plausible
        .iter()
        .filter(|(e, _, _)| e.rank != best_e.rank)
        .map(|(e, diff, se)| format!("r = {} (+{} ± {})", e.rank, fmt(*diff), fmt(*se)))
        .collect();
    if !within.is_empty() {
        d.reasons
            .push(format!("within one standard error of it: {}", within.join(", ")));
    }
    if let Some((r, diff, se)) = rejected
        .iter()
        .min_by(|a, b| (a.1 / a.2.max(1e-300)).total_cmp(&(b.1 / b.2.max(1e-300))))
    {
        d.reasons.push(format!(
            "ranks outside it predict held-out entries worse, the closest r = {r} by +{} ± {}",
            fmt(*diff),
            fmt(*se)
        ));
    }
    // Among plausible ranks: highest stability, ties to the smaller rank. A rank without a
    // stability value (r = 1: one component, nothing to cluster; or fewer than two fits) has
    // nothing to be less stable than, and is preferred by parsimony over larger ranks.
    let key = |e: &Evidence| e.stability.unwrap_or(f64::INFINITY);
    let mut order: Vec<&Evidence> = plausible.iter().map(|(e, _, _)| *e).collect();
    order.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.rank.cmp(&b.rank)));
    d.chosen = order.first().map(|e| e.rank);
    if order.len() > 1 {
        let stab: Vec<String> = order
            .iter()
            .map(|e| format!("r = {}: {}", e.rank, e.stability.map_or("n/a".into(), fmt)))
            .collect();
        if order[0].stability.is_some() {
            d.reasons.push(format!(
                "among them the components of r = {} are the most stable across restarts ({})",
                order[0].rank,
                stab.join(", ")
            ));
        } else {
            d.reasons.push(format!(
                "among them r = {} has no component stability to compare (a single component, or fewer than two \
                 fits) and is the simplest; stabilities: {}",
                order[0].rank,
                stab.join(", ")
            ));
        }
        d.runner_up = Some(order[1].rank);
    } else {
        if let Some(st) = order.first().and_then(|e| e.stability) {
            d.reasons.push(format!(
                "its components are reproduced across restarts with stability {}",
                fmt(st)
            ));
        }
        // Runner-up: the next-lowest held-out deviance.
        let mut others: Vec<&(&Evidence, &HeldoutScore)> = s.iter().filter(|x| Some(x.0.rank) != d.chosen).collect();
        others.sort_by(|a, b| a.1.mean.total_cmp(&b.1.mean));
        d.runner_up = others.first().map(|x| x.0.rank);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmf::mask::BLOCKS;

    fn score(mean: f64, jitter: f64) -> HeldoutScore {
        let block_means = (0..BLOCKS)
            .map(|b| mean + if b % 2 == 0 { jitter } else { -jitter })
            .collect();
        HeldoutScore {
            mean,
            repeats: 1,
            block_means,
        }
    }

    fn ev(rank: usize, dev: f64, jitter: f64, stability: f64, coph: f64) -> Evidence {
        Evidence {
            rank,
            cophenetic: Some(coph),
            stability: Some(stability),
            heldout: Some(score(dev, jitter)),
            heldout_failed: 0,
        }
    }

    #[test]
    fn default_prefers_stable_among_plausible() {
        // r = 5 and 6 are indistinguishable on held-out data; 5 is far more stable.
        let e = vec![
            ev(3, 1.30, 0.01, 0.99, 0.99),
            ev(4, 1.15, 0.01, 0.97, 0.98),
            ev(5, 1.0004, 0.01, 0.95, 0.97),
            ev(6, 1.0000, 0.0, 0.40, 0.90),
        ];
        let d = decide(Rule::Default, &e);
        assert_eq!((d.chosen, d.runner_up), (Some(5), Some(6)), "{:?}", d.reasons);
        assert!(d.reasons[0].starts_with("held-out deviance is lowest at r = 6"));
        let d = decide(Rule::Heldout, &e);
        assert_eq!((d.chosen, d.runner_up), (Some(6), Some(5)));
        let d = decide(Rule::Cophenetic, &e);
        assert_eq!((d.chosen, d.runner_up), (Some(3), Some(4)));
    }

    #[test]
    fn rank_one_without_stability_is_kept_by_parsimony_when_plausible() {
        let mut e = vec![
            // Different block patterns: r = 1 is within noise of r = 2 (paired SE ≈ 0.002).
            ev(1, 1.0001, 0.02, 0.0, 0.9),
            ev(2, 1.0, 0.01, 0.95, 0.99),
            ev(3, 1.2, 0.01, 0.9, 0.98),
        ];
        e[0].stability = None;
        let d = decide(Rule::Default, &e);
        assert_eq!((d.chosen, d.runner_up), (Some(1), Some(2)), "{:?}", d.reasons);
        assert!(
            d.reasons.iter().any(|r| r.contains("r = 1 has no component stability")),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn cophenetic_rises_then_falls() {
        let e: Vec<Evidence> = [(2, 0.95), (3, 0.97), (4, 0.99), (5, 0.93), (6, 0.96)]
            .iter()
            .map(|&(r, c)| Evidence {
                rank: r,
                cophenetic: Some(c),
                ..Default::default()
            })
            .collect();
        let d = decide(Rule::Cophenetic, &e);
        assert_eq!(d.chosen, Some(4));
        assert!(d.reasons[0].contains("first falls at r = 5"));
        let none = decide(Rule::Default, &e);
        assert_eq!(none.chosen, None);
    }

    #[test]
    fn failed_heldout_fits_are_named_as_the_reason() {
        let e: Vec<Evidence> = [2, 3]
            .iter()
            .map(|&r| Evidence {
                rank: r,
                heldout_failed: 3,
                ..Default::default()
            })
            .collect();
        for rule in [Rule::Default, Rule::Heldout] {
            let d = decide(rule, &e);
            assert_eq!(d.chosen, None);
            assert!(
                d.reasons[0].contains(
                    "the held-out (cross-validation) fits failed numerically (6 with a non-finite \
                     objective, at r = 2, 3)"
                ) && d.reasons[0].contains("check the data's scale"),
                "{:?}",
                d.reasons
            );
        }
    }
}

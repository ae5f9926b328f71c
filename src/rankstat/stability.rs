//! Component stability of a rank (cNMF, NMFk): every restart's components matched to the best
//! fit's, scored by the silhouette of the matched clusters (mean matched correlation where the
//! silhouette is undefined). It streams twice over the stored records of the rank's fits, so
//! memory is O(r·p) whatever the number of restarts.

use super::{Cell, Column, Context, Panel, RankStatistic, finite, per_rank};
use crate::error::Result;
use crate::nmf::Loss;
use crate::record::{Collected, RankSummary, store, usable_fits};
use crate::stats::{Evidence, StabilityAccumulator};

/// Component stability.
pub struct Stability;

impl RankStatistic for Stability {
    fn collect(&self, c: &mut Collected, ctx: &Context) -> Result<()> {
        for s in &mut c.ranks {
            let fits = usable_fits(&c.records, s.rank);
            if let Some((_, _, h)) = &s.best
                && fits.len() >= 2
            {
                let mut acc = StabilityAccumulator::new(h.view());
                for job in &fits {
                    acc.add(store::read(ctx.out, ctx.fingerprint, job)?.h.view());
                }
                for job in &fits {
                    acc.add_silhouette(store::read(ctx.out, ctx.fingerprint, job)?.h.view());
                }
                s.stability = acc.finish();
            }
        }
        Ok(())
    }

    fn evidence(&self, s: &RankSummary, _: &Collected, e: &mut Evidence) {
        e.stability = s.stability.as_ref().and_then(|st| st.silhouette);
    }

    fn columns(&self) -> &'static [Column] {
        &[
            Column {
                name: "stability",
                terminal: Some("stability"),
                value: |s| Cell::Float(s.stability.as_ref().and_then(|x| x.silhouette)),
            },
            Column {
                name: "match_corr_mean",
                terminal: None,
                value: |s| Cell::Float(s.stability.as_ref().map(|x| x.corr_mean)),
            },
            Column {
                name: "match_corr_min",
                terminal: None,
                value: |s| Cell::Float(s.stability.as_ref().map(|x| x.corr_min)),
            },
        ]
    }

    /// The stability the default rule uses: the silhouette, else (hollow) the mean matched
    /// correlation.
    fn panels(&self, ranks: &[RankSummary], _: Loss) -> Vec<(u32, Panel)> {
        let stability = per_rank(ranks, |s| {
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
        vec![(50, Panel::new(caption, stability).with_hollow(fallback))]
    }
}

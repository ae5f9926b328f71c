//! Matching every rank's components to a reference catalogue (`[report] reference`):
//! reference_rank_<r>.tsv (one row per component, then one per unmatched signature) and the
//! cosine heatmap reference_rank_<r>.png/.svg; results.h5 records the same (see `h5`).

use super::plots::{ReferenceHeatmap, ensure_font, write_figure};
use super::write_atomic;
use crate::data::AlignedReference;
use crate::error::Result;
use crate::record::RankSummary;
use crate::stats::{ReferenceMatch, match_reference};
use ndarray::Axis;
use std::fmt::Write;
use std::path::Path;

/// The matching of each rank's best H (r x p, all p features) to `reference`; None for a rank
/// without a best fit.
pub fn matches(ranks: &[RankSummary], reference: &AlignedReference) -> Vec<Option<ReferenceMatch>> {
    ranks
        .iter()
        .map(|s| {
            let (_, _, h) = s.best.as_ref()?;
            let used = h.select(Axis(1), &reference.columns);
            Some(match_reference(used.view(), reference.reference.view()))
        })
        .collect()
}

fn cos(v: f64) -> String {
    format!("{v:.6}")
}

/// reference_rank_<r>.tsv: a row per component (1-based, as in memberships_rank_<r>.tsv) with its
/// closest signature, the signature matched one-to-one ("unmatched" when there are fewer
/// signatures than components) and the second closest; then a row per signature left unmatched,
/// with its closest component.
pub fn reference_tsv(m: &ReferenceMatch, signatures: &[String]) -> String {
    let mut s =
        String::from("component\tbest_match\tbest_cosine\tmatched\tmatched_cosine\tsecond_best\tsecond_cosine\n");
    for k in 0..m.cosine.nrows() {
        let ranked = m.ranked(k);
        let (best, best_cos) = ranked
            .first()
            .map_or(("NA".into(), "NA".into()), |&(j, c)| (signatures[j].clone(), cos(c)));
        let (second, second_cos) = ranked
            .get(1)
            .map_or(("NA".into(), "NA".into()), |&(j, c)| (signatures[j].clone(), cos(c)));
        let (matched, matched_cos) = match m.assigned[k] {
            Some(j) => (signatures[j].clone(), cos(m.cosine[[k, j]])),
            None => ("unmatched".to_string(), "NA".to_string()),
        };
        let _ = writeln!(
            s,
            "component_{}\t{best}\t{best_cos}\t{matched}\t{matched_cos}\t{second}\t{second_cos}",
            k + 1
        );
    }
    for j in m.unmatched_signatures() {
        // The closest component of an unmatched signature (it is matched to another signature).
        let closest =
            (0..m.cosine.nrows()).max_by(|&a, &b| m.cosine[[a, j]].total_cmp(&m.cosine[[b, j]]).then(b.cmp(&a)));
        let (comp, c) = closest.map_or(("NA".into(), "NA".into()), |k| {
            (format!("component_{}", k + 1), cos(m.cosine[[k, j]]))
        });
        let _ = writeln!(s, "unmatched\t{comp}\t{c}\t{}\tNA\tNA\tNA", signatures[j]);
    }
    s
}

/// Writes reference_rank_<r>.tsv and reference_rank_<r>.png/.svg into `dir` for every rank
/// with a matching.
pub fn write_reference(
    dir: &Path,
    ranks: &[RankSummary],
    matches: &[Option<ReferenceMatch>],
    reference: &AlignedReference,
) -> Result<()> {
    ensure_font()?;
    for (s, m) in ranks.iter().zip(matches) {
        let Some(m) = m else { continue };
        let family = crate::outdir::REFERENCE;
        write_atomic(&dir.join(family.name(s.rank)), &reference_tsv(m, &reference.signatures))?;
        let figure = ReferenceHeatmap::new(s.rank, m, reference);
        write_figure(dir, &family.stem(s.rank), &figure)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn table_lists_components_then_unmatched_signatures() {
        let names: Vec<String> = ["S1", "S2", "S3"].iter().map(|s| s.to_string()).collect();
        let m = ReferenceMatch {
            cosine: array![[0.9, 0.8, 0.1], [0.85, 0.2, 0.0]],
            assigned: vec![Some(1), Some(0)],
        };
        let t = reference_tsv(&m, &names);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1], "component_1\tS1\t0.900000\tS2\t0.800000\tS2\t0.800000");
        assert_eq!(lines[2], "component_2\tS1\t0.850000\tS1\t0.850000\tS2\t0.200000");
        assert_eq!(lines[3], "unmatched\tcomponent_1\t0.100000\tS3\tNA\tNA\tNA");
        // More components than signatures: one component unmatched.
        let m = ReferenceMatch {
            cosine: array![[0.9], [0.3]],
            assigned: vec![Some(0), None],
        };
        let t = reference_tsv(&m, &names[..1]);
        assert!(t.contains("component_2\tS1\t0.300000\tunmatched\tNA\tNA\tNA\n"), "{t}");
    }
}

//! `[selection] solution = "consensus"` end to end: on planted counts with one weak component and
//! restarts cut short (so some stop in poor optima), the consensus components match the planted
//! ones at least as well as the best restart's, the weak component has the lowest mean cosine to
//! its consensus centre, the memberships come from the consensus W, and without the setting
//! nothing of it is written.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use assert_cmd::Command;
use ndarray::{Array2, ArrayView2};
use nnmf_sweep::stats::assign_max;
use rand_distr::{Distribution, Poisson};
use std::path::Path;

fn bin() -> Command {
    Command::cargo_bin("nnmf-sweep").unwrap()
}

/// The planted row of H made weak.
const WEAK: usize = 2;

/// Simulates the planted factors, scales row [`WEAK`] of H down, draws X ~ Poisson(W H) again
/// and writes it to `dir/X.h5`; returns the planted H.
fn weak_data(dir: &Path) -> Array2<f64> {
    let sim = dir.join("sim.h5");
    bin()
        .args([
            "simulate", "--rows", "300", "--cols", "200", "--rank", "4", "--seed", "1", "--out",
        ])
        .arg(&sim)
        .assert()
        .success();
    let f = hdf5::File::open(&sim).unwrap();
    let w = f.dataset("W_true").unwrap().read_2d::<f64>().unwrap();
    let mut h = f.dataset("H_true").unwrap().read_2d::<f64>().unwrap();
    h.row_mut(WEAK).mapv_inplace(|v| 0.15 * v);
    let lambda = w.dot(&h);
    let mut rng = nnmf_sweep::rng::fit_rng(7);
    let x = lambda.mapv(|l| {
        if l > 0.0 {
            Poisson::new(l).unwrap().sample(&mut rng)
        } else {
            0.0
        }
    });
    let out = hdf5::File::create(dir.join("X.h5")).unwrap();
    out.new_dataset_builder().with_data(&x).create("X").unwrap();
    out.close().unwrap();
    f.close().unwrap();
    h
}

/// Cosine of every row of `a` with every row of `b`.
fn cosines(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    Array2::from_shape_fn((a.nrows(), b.nrows()), |(i, j)| {
        let (x, y) = (a.row(i), b.row(j));
        x.dot(&y) / (x.dot(&x).sqrt() * y.dot(&y).sqrt())
    })
}

/// The planted row matched to each row of `h` (one-to-one, largest total cosine) and the mean
/// cosine of the matched pairs.
fn matched(h: ArrayView2<f64>, planted: ArrayView2<f64>) -> (Vec<usize>, f64) {
    let c = cosines(h, planted);
    let assign: Vec<usize> = assign_max(&c).into_iter().map(|a| a.unwrap()).collect();
    let mean = assign.iter().enumerate().map(|(k, &j)| c[[k, j]]).sum::<f64>() / assign.len() as f64;
    (assign, mean)
}

const CONFIG: &str = "[data]\npath = \"X.h5\"\ndataset = \"X\"\n[sweep]\nranks = [4]\nrestarts = 12\nseed = 3\n\
                      [model]\ninit = \"random\"\n[stop]\nmax_iter = 40\n\
                      [selection]\nrule = \"cophenetic\"\nheldout_repeats = 0\n";

#[test]
fn consensus_components_recover_the_planted_ones_and_single_out_the_weak_one() {
    let tmp = tempfile::tempdir().unwrap();
    let planted = weak_data(tmp.path());
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, format!("{CONFIG}solution = \"consensus\"\n")).unwrap();
    bin().arg(&cfg).arg("--quiet").assert().success();
    let out = tmp.path().join("results");
    let res = hdf5::File::open(out.join("results.h5")).unwrap();
    let g = res.group("rank_4").unwrap();
    let best_h = g.dataset("H").unwrap().read_2d::<f64>().unwrap();
    let cons_h = g.dataset("consensus_H").unwrap().read_2d::<f64>().unwrap();
    let cons_w = g.dataset("consensus_W").unwrap().read_2d::<f64>().unwrap();
    assert_eq!((cons_h.dim(), cons_w.dim()), ((4, 200), (300, 4)));
    let (_, best_cos) = matched(best_h.view(), planted.view());
    let (assign, cons_cos) = matched(cons_h.view(), planted.view());
    eprintln!("mean cosine to the planted H after matching: consensus {cons_cos:.6}, best restart {best_cos:.6}");
    assert!(cons_cos >= best_cos - 1e-3, "consensus {cons_cos} vs best {best_cos}");
    assert!(cons_cos > 0.95, "{cons_cos}");

    // The support figures: the weak component's restarts agree least with their centre.
    let cosine = g.dataset("consensus_cosine").unwrap().read_1d::<f64>().unwrap();
    let support = g.dataset("consensus_support").unwrap().read_1d::<u64>().unwrap();
    let outliers = g.dataset("consensus_outliers").unwrap().read_1d::<u64>().unwrap();
    let weak = assign.iter().position(|&j| j == WEAK).unwrap();
    eprintln!("per component: support {support:?}, outliers {outliers:?}, mean cosine {cosine:?}; weak = {weak}");
    for k in 0..4 {
        assert_eq!(support[k] + outliers[k], 12, "every restart is in every group");
        if k != weak {
            assert!(cosine[weak] < cosine[k], "{cosine:?}");
        }
    }

    // The objective of the consensus fit is that of its (W, H), as every fit's.
    let x = hdf5::File::open(tmp.path().join("X.h5"))
        .unwrap()
        .dataset("X")
        .unwrap()
        .read_2d::<f64>()
        .unwrap();
    let wh = cons_w.dot(&cons_h);
    let kl: f64 = x
        .iter()
        .zip(wh.iter())
        .map(|(&x, &l)| if x > 0.0 { x * (x / l).ln() - x + l } else { l })
        .sum();
    let stored = g.attr("consensus_kl").unwrap().read_scalar::<f64>().unwrap();
    assert!((kl - stored).abs() <= 1e-8 * kl, "{kl} vs {stored}");
    // The refit W is the best for the fixed H: the best restart's objective is not beaten by much
    // more than the components' own difference, and the consensus fit is no worse than a
    // poor restart's.
    let best_kl = g.attr("kl").unwrap().read_scalar::<f64>().unwrap();
    eprintln!("KL: consensus {stored}, best restart {best_kl}");
    assert!(stored < 1.05 * best_kl, "{stored} vs {best_kl}");

    // Memberships from the consensus W.
    let m = g.dataset("memberships").unwrap().read_2d::<f64>().unwrap();
    for i in 0..300 {
        let total: f64 = cons_w.row(i).sum();
        for k in 0..4 {
            assert!((m[[i, k]] - cons_w[[i, k]] / total).abs() < 1e-12);
        }
    }

    // The tables.
    let table = std::fs::read_to_string(out.join("consensus_components_rank_4.tsv")).unwrap();
    let mut lines = table.lines();
    assert_eq!(
        lines.next().unwrap(),
        "component\tsupport\toutliers\tmean_cosine\tcosine_to_best"
    );
    assert_eq!(lines.count(), 4);
    let summary = std::fs::read_to_string(out.join("summary.tsv")).unwrap();
    let header: Vec<&str> = summary.lines().next().unwrap().split('\t').collect();
    for col in [
        "consensus_objective",
        "consensus_min_support",
        "consensus_min_cosine",
        "consensus_outliers_total",
    ] {
        assert!(header.contains(&col), "{header:?}");
    }

    // `merge` on the directory gives the same bits (X read again there, not moved).
    let before = std::fs::read(out.join("consensus_components_rank_4.tsv")).unwrap();
    let memberships = std::fs::read(out.join("memberships_rank_4.tsv")).unwrap();
    bin().arg("merge").arg(&out).arg("--quiet").assert().success();
    assert_eq!(
        std::fs::read(out.join("consensus_components_rank_4.tsv")).unwrap(),
        before
    );
    assert_eq!(std::fs::read(out.join("memberships_rank_4.tsv")).unwrap(), memberships);
}

#[test]
fn without_the_setting_nothing_of_the_consensus_solution_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    weak_data(tmp.path());
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    bin().arg(&cfg).arg("--quiet").assert().success();
    let out = tmp.path().join("results");
    assert!(!out.join("consensus_components_rank_4.tsv").exists());
    let summary = std::fs::read_to_string(out.join("summary.tsv")).unwrap();
    assert!(!summary.contains("consensus_objective"), "{summary}");
    let g = hdf5::File::open(out.join("results.h5"))
        .unwrap()
        .group("rank_4")
        .unwrap();
    assert!(g.dataset("consensus_H").is_err());
    assert!(g.attr("consensus_kl").is_err());
}

#[test]
fn an_unknown_solution_is_refused_with_the_choices() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, format!("{CONFIG}solution = \"median\"\n")).unwrap();
    let o = bin().arg(&cfg).assert().failure().get_output().stderr.clone();
    let text = String::from_utf8_lossy(&o);
    assert!(
        text.contains("selection.solution") && text.contains("\"consensus\""),
        "{text}"
    );
}

/// Eight overlapping planted components (minor memberships up to 0.4) and restarts cut at 60
/// iterations: some restarts end in poorer optima. The consensus drops them as outliers and
/// matches the planted H strictly better than the best-likelihood restart.
#[test]
fn with_restarts_in_poor_optima_the_consensus_beats_the_best_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("X.h5");
    bin()
        .args([
            "simulate", "--rows", "300", "--cols", "200", "--rank", "8", "--mix", "0.4", "--seed", "5", "--out",
        ])
        .arg(&data)
        .assert()
        .success();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[data]\npath = \"X.h5\"\ndataset = \"X\"\n[sweep]\nranks = [8]\nrestarts = 20\n[stop]\nmax_iter = 60\n\
         [selection]\nrule = \"cophenetic\"\nheldout_repeats = 0\nsolution = \"consensus\"\n[output]\ndir = \"out\"\n",
    )
    .unwrap();
    bin().arg(&cfg).arg("--quiet").assert().success();
    let planted = hdf5::File::open(&data)
        .unwrap()
        .dataset("H_true")
        .unwrap()
        .read_2d::<f64>()
        .unwrap();
    let f = hdf5::File::open(tmp.path().join("out/results.h5")).unwrap();
    let g = f.group("rank_8").unwrap();
    let best = g.dataset("H").unwrap().read_2d::<f64>().unwrap();
    let consensus = g.dataset("consensus_H").unwrap().read_2d::<f64>().unwrap();
    let outliers: u64 = g.dataset("consensus_outliers").unwrap().read_1d::<u64>().unwrap().sum();
    let (_, best_cos) = matched(best.view(), planted.view());
    let (_, cons_cos) = matched(consensus.view(), planted.view());
    println!(
        "mean matched cosine to the planted H: consensus {cons_cos:.5}, best restart {best_cos:.5}; outliers dropped {outliers}"
    );
    assert!(outliers > 0, "some restarts are outliers");
    assert!(cons_cos > best_cos, "consensus {cons_cos} vs best {best_cos}");
}

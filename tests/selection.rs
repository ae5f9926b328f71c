//! End-to-end rank selection on planted data: the decision and its reasons, the statistics in
//! summary.tsv and results.h5, memberships with observation names, the consensus-memory limit,
//! the null baseline and the named rules.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use assert_cmd::Command;
use hdf5::types::VarLenUnicode;
use nnmf_sweep::error::exit;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

fn bin() -> Command {
    Command::cargo_bin("nnmf-sweep").unwrap()
}

/// A planted rank-5 count matrix (120 x 80) with observation names "cell_<i>".
/// The HDF5 C library opens files without close-on-exec: a binary spawned by one test while
/// another test of this file has its HDF5 input open for writing (`planted` adds the names in
/// this process) inherits that descriptor and its lock, and the other test's run then fails with
/// "unable to lock file" (seen under load in CI). The tests of this file therefore run one at a
/// time (tests/bad_input.rs does the same with a finer read/write lock).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn planted(dir: &Path) -> PathBuf {
    let path = dir.join("planted.h5");
    bin()
        .args(["simulate", "--out"])
        .arg(&path)
        .args(["--rows", "120", "--cols", "80", "--rank", "5", "--seed", "3"])
        .assert()
        .success();
    let f = hdf5::File::open_rw(&path).unwrap();
    let names: Vec<VarLenUnicode> = (0..120).map(|i| format!("cell_{i}").parse().unwrap()).collect();
    f.new_dataset_builder()
        .with_data(&ndarray::Array1::from(names))
        .create("obs")
        .unwrap();
    path
}

fn config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        format!(
            "[data]\npath = \"planted.h5\"\ndataset = \"X\"\nobs_names = \"obs\"\n[sweep]\nranks = [3, 4, 5, 6, 7]\n\
             restarts = 8\nseed = 2\n[stop]\nmax_iter = 1000\ntol = 1e-5\n{extra}"
        ),
    )
    .unwrap();
    path
}

fn summary_column(dir: &Path, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("summary.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let at = header
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    lines.map(|l| l.split('\t').nth(at).unwrap().to_string()).collect()
}

#[test]
fn planted_rank_five_is_chosen_with_reasons_and_every_statistic_is_written() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    planted(tmp.path());
    let cfg = config(tmp.path(), "");
    let out = bin().arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("\nchosen rank: 5 (rule \"default\")\n"), "{stdout}");
    assert!(stdout.contains("  - held-out deviance is lowest at r = "), "{stdout}");
    assert!(stdout.contains("stab"), "the reasons mention stability: {stdout}");
    assert!(stdout.contains("\nrunner-up: "), "{stdout}");
    let dir = tmp.path().join("results");
    assert_eq!(
        std::fs::read_to_string(dir.join("selection.txt")).unwrap(),
        stdout[stdout.find("chosen rank").unwrap()..stdout.find("results in").unwrap()]
    );

    // summary.tsv: one column per statistic, numbers for every rank, "yes" on the chosen one.
    for col in [
        "cophenetic",
        "dispersion",
        "silhouette",
        "stability",
        "match_corr_mean",
        "heldout_deviance",
        "objective_median",
    ] {
        let v = summary_column(&dir, col);
        assert_eq!(v.len(), 5);
        assert!(
            v.iter().all(|x| x.parse::<f64>().is_ok_and(f64::is_finite)),
            "{col}: {v:?}"
        );
    }
    assert_eq!(summary_column(&dir, "chosen"), ["no", "no", "yes", "no", "no"]);
    let dev: Vec<f64> = summary_column(&dir, "heldout_deviance")
        .iter()
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(
        dev[2] < dev[0] && dev[2] < dev[1],
        "held-out deviance falls to the planted rank: {dev:?}"
    );

    // Plots: the rank-selection panel and a consensus heatmap per rank, PNG and SVG.
    for name in [
        "rank_selection",
        "consensus_rank_3",
        "consensus_rank_5",
        "consensus_rank_7",
    ] {
        let png = std::fs::read(dir.join(format!("{name}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}.png");
        let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        assert!(svg.contains("<svg"), "{name}.svg");
    }
    let svg = std::fs::read_to_string(dir.join("rank_selection.svg")).unwrap();
    assert!(svg.contains("chosen r = 5"), "the panel names the chosen rank");

    // heldout.tsv: 5 ranks x 3 repeats.
    let ho = std::fs::read_to_string(dir.join("heldout.tsv")).unwrap();
    assert_eq!(ho.lines().count(), 1 + 15);

    // results.h5: decision, consensus, labels, memberships.
    let res = hdf5::File::open(dir.join("results.h5")).unwrap();
    let u = |n: &str| res.attr(n).unwrap().read_scalar::<u64>().unwrap();
    assert_eq!((u("chosen_rank"), u("chosen_by_default")), (5, 5));
    let reasons = res
        .attr("selection_reasons")
        .unwrap()
        .read_scalar::<VarLenUnicode>()
        .unwrap();
    assert!(reasons.as_str().starts_with("held-out deviance is lowest at r = "));
    let g = res.group("rank_5").unwrap();
    let c = g.dataset("consensus").unwrap().read_2d::<f64>().unwrap();
    assert_eq!(c.dim(), (120, 120));
    assert!(c.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!((0..120).all(|i| c[[i, i]] == 1.0 && (0..120).all(|j| c[[i, j]] == c[[j, i]])));
    let cl: Vec<u32> = g.dataset("consensus_labels").unwrap().read_raw().unwrap();
    let labels: Vec<i64> = g.dataset("labels").unwrap().read_raw().unwrap();
    let m = g.dataset("memberships").unwrap().read_2d::<f64>().unwrap();
    assert_eq!((cl.len(), labels.len(), m.dim()), (120, 120, (120, 5)));
    assert!(
        m.rows()
            .into_iter()
            .all(|r| (r.sum() - 1.0).abs() < 1e-12 && r.iter().all(|v| *v >= 0.0))
    );
    // The planted clusters (observation i belongs to i mod 5) are recovered exactly, up to naming.
    for (labels, what) in [
        (cl.iter().map(|&l| l as i64).collect::<Vec<_>>(), "consensus"),
        (labels, "argmax"),
    ] {
        let mut map = std::collections::HashMap::new();
        for (i, l) in labels.iter().enumerate() {
            assert_eq!(
                *map.entry(*l).or_insert(i % 5),
                i % 5,
                "{what} clusters mix planted clusters"
            );
        }
        assert_eq!(map.len(), 5);
    }

    // memberships_rank_5.tsv with observation names.
    let tsv = std::fs::read_to_string(dir.join("memberships_rank_5.tsv")).unwrap();
    let mut lines = tsv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "observation\tlabel\tconsensus_label\tcomponent_1\tcomponent_2\tcomponent_3\tcomponent_4\tcomponent_5"
    );
    assert!(lines.next().unwrap().starts_with("cell_0\t"));
    let names: Vec<VarLenUnicode> = res.dataset("obs_names").unwrap().read_raw().unwrap();
    assert_eq!(names[7].as_str(), "cell_7");
}

#[test]
fn consensus_over_the_memory_limit_is_skipped_with_a_reason() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    planted(tmp.path());
    let cfg = config(tmp.path(), "[selection]\nconsensus_max_mb = 0\nheldout_repeats = 2\n");
    let out = bin().arg(&cfg).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(
        stderr.contains(
            "warning: consensus statistics (cophenetic, dispersion, consensus clusters) skipped: 120 observations need \
             about 1 MiB for the N x N consensus of 5 ranks, above [selection] consensus_max_mb = 0; raise it to at \
             least 1 to compute them"
        ),
        "{stderr}"
    );
    let dir = tmp.path().join("results");
    assert!(summary_column(&dir, "cophenetic").iter().all(|v| v == "NA"));
    let res = hdf5::File::open(dir.join("results.h5")).unwrap();
    assert!(res.group("rank_5").unwrap().dataset("consensus").is_err());
    assert_eq!(
        res.attr("chosen_rank").unwrap().read_scalar::<u64>().unwrap(),
        5,
        "held-out and stability still decide"
    );
    let tsv = std::fs::read_to_string(dir.join("memberships_rank_5.tsv")).unwrap();
    assert!(tsv.lines().nth(1).unwrap().starts_with("cell_0\t"));
}

#[test]
fn null_baseline_and_named_rules() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    planted(tmp.path());
    let cfg = config(
        tmp.path(),
        "[selection]\nrule = \"cophenetic\"\nnull_restarts = 3\nheldout_repeats = 1\n",
    );
    let out = bin().arg(&cfg).arg("--quiet").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tmp.path().join("results");
    let null_fits = std::fs::read_to_string(dir.join("null_fits.tsv")).unwrap();
    assert_eq!(null_fits.lines().count(), 1 + 5 * 3);
    // Permuted data has no low-rank structure: its best fit is much worse than the data's.
    let best: Vec<f64> = summary_column(&dir, "kl").iter().map(|x| x.parse().unwrap()).collect();
    let null: Vec<f64> = summary_column(&dir, "null_best")
        .iter()
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(
        best.iter().zip(&null).all(|(b, n)| n > &(1.5 * b)),
        "{best:?} vs {null:?}"
    );
    assert!(
        summary_column(&dir, "null_cophenetic")
            .iter()
            .all(|x| x.parse::<f64>().is_ok())
    );
    let res = hdf5::File::open(dir.join("results.h5")).unwrap();
    let rule = res
        .attr("selection_rule")
        .unwrap()
        .read_scalar::<VarLenUnicode>()
        .unwrap();
    assert_eq!(rule.as_str(), "cophenetic");
    assert!(res.group("null_fits").unwrap().dataset("kl").is_ok());
    let text = std::fs::read_to_string(dir.join("selection.txt")).unwrap();
    assert!(
        text.starts_with("chosen rank: ") && text.contains("(rule \"cophenetic\")"),
        "{text}"
    );
    assert!(text.contains("Brunet") || text.contains("never falls"), "{text}");
}

#[test]
fn default_rule_without_heldout_is_a_config_error() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    planted(tmp.path());
    let cfg = config(tmp.path(), "[selection]\nheldout_repeats = 0\n");
    let out = bin().arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(exit::CONFIG.into()));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "error: {}:13: selection.heldout_repeats: rule \"default\" needs the held-out likelihood: set \
             heldout_repeats to 1 or more, or choose rule = \"cophenetic\"\n",
            cfg.display()
        )
    );
}

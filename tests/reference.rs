//! `[report] reference` end to end: components matched one-to-one to a reference catalogue by
//! cosine similarity (planted signatures recovered), by position or by feature name, and the
//! catalogue's faults refused before any fit with nothing written.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use assert_cmd::Command;
use nnmf_sweep::error::exit;
use std::fmt::Write;
use std::path::Path;

fn bin() -> Command {
    Command::cargo_bin("nnmf-sweep").unwrap()
}

fn simulate(dir: &Path) -> ndarray::Array2<f64> {
    let data = dir.join("X.h5");
    bin()
        .args([
            "simulate", "--rows", "300", "--cols", "200", "--rank", "4", "--seed", "1", "--out",
        ])
        .arg(&data)
        .assert()
        .success();
    hdf5::File::open(&data)
        .unwrap()
        .dataset("H_true")
        .unwrap()
        .read_2d::<f64>()
        .unwrap()
}

/// A catalogue TSV: feature names `features`, signatures (rows of `sigs`) named `names`.
fn catalogue(features: &[String], names: &[&str], sigs: &[Vec<f64>]) -> String {
    let mut s = format!("Type\t{}\n", names.join("\t"));
    for (f, name) in features.iter().enumerate() {
        s.push_str(name);
        for sig in sigs {
            write!(s, "\t{}", sig[f]).unwrap();
        }
        s.push('\n');
    }
    s
}

const CONFIG: &str = "[data]\npath = \"X.h5\"\ndataset = \"X\"\n[sweep]\nranks = [3, 4, 5]\nrestarts = 4\nseed = 1\n\
                      [report]\nreference = \"catalogue.tsv\"\n";

#[test]
fn planted_signatures_are_recovered_at_the_planted_rank() {
    let tmp = tempfile::tempdir().unwrap();
    let h_true = simulate(tmp.path());
    assert_eq!(h_true.dim(), (4, 200));
    // Signatures: the planted rows in the order 2, 0, 3, 1, each scaled by its own factor.
    let (perm, scale) = ([2usize, 0, 3, 1], [0.5, 3.0, 7.0, 0.01]);
    let sigs: Vec<Vec<f64>> = perm
        .iter()
        .zip(scale)
        .map(|(&k, c)| h_true.row(k).iter().map(|v| v * c).collect())
        .collect();
    let features: Vec<String> = (0..200).map(|j| format!("f{j}")).collect();
    let names = ["SBS_a", "SBS_b", "SBS_c", "SBS_d"];
    std::fs::write(tmp.path().join("catalogue.tsv"), catalogue(&features, &names, &sigs)).unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    bin().arg(&cfg).arg("--quiet").assert().success();
    let out = tmp.path().join("results");

    // At rank 4 every component is matched to a planted signature with cosine ≥ 0.99, and the
    // matching is one-to-one.
    let table = std::fs::read_to_string(out.join("reference_rank_4.tsv")).unwrap();
    let mut lines = table.lines();
    assert_eq!(
        lines.next().unwrap(),
        "component\tbest_match\tbest_cosine\tmatched\tmatched_cosine\tsecond_best\tsecond_cosine"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 4, "{table}");
    let mut matched: Vec<&str> = rows.iter().map(|r| r[3]).collect();
    for r in &rows {
        let c: f64 = r[4].parse().unwrap();
        eprintln!("rank 4: {} matched to {} with cosine {c}", r[0], r[3]);
        assert!(c >= 0.99, "{table}");
        assert_eq!(r[1], r[3], "{table}");
    }
    matched.sort_unstable();
    assert_eq!(matched, names);

    // Each component's matched signature is its planted row: compare with the fitted H.
    let res = hdf5::File::open(out.join("results.h5")).unwrap();
    let g = res.group("rank_4").unwrap();
    let h = g.dataset("H").unwrap().read_2d::<f64>().unwrap();
    let m = g.dataset("reference_match").unwrap().read_1d::<i64>().unwrap();
    let cos = g.dataset("reference_cosine").unwrap().read_2d::<f64>().unwrap();
    assert_eq!(cos.dim(), (4, 4));
    for k in 0..4 {
        let j = m[k] as usize;
        let planted = h_true.row(perm[j]);
        let row = h.row(k);
        let c = row.dot(&planted) / (row.dot(&row).sqrt() * planted.dot(&planted).sqrt());
        assert!((c - cos[[k, j]]).abs() < 1e-9 && c >= 0.99, "component {k}: {c}");
    }
    assert_eq!(
        res.attr("reference_features_used")
            .unwrap()
            .read_scalar::<u64>()
            .unwrap(),
        200
    );

    // Rectangular: at rank 3 one signature is unmatched, at rank 5 one component.
    let t3 = std::fs::read_to_string(out.join("reference_rank_3.tsv")).unwrap();
    assert_eq!(t3.lines().filter(|l| l.starts_with("unmatched\t")).count(), 1, "{t3}");
    let t5 = std::fs::read_to_string(out.join("reference_rank_5.tsv")).unwrap();
    assert_eq!(
        t5.lines().filter(|l| l.contains("\tunmatched\tNA\t")).count(),
        1,
        "{t5}"
    );
    assert_eq!(
        res.group("rank_5")
            .unwrap()
            .dataset("reference_match")
            .unwrap()
            .read_1d::<i64>()
            .unwrap()
            .iter()
            .filter(|&&j| j < 0)
            .count(),
        1
    );
    for r in [3, 4, 5] {
        for ext in ["png", "svg"] {
            assert!(out.join(format!("reference_rank_{r}.{ext}")).is_file());
        }
    }
}

#[test]
fn features_are_matched_by_name_when_the_data_has_names() {
    let tmp = tempfile::tempdir().unwrap();
    // 40 x 10 counts with a header of gene names; two programs on genes g0-g4 and g5-g9.
    let mut data = String::from("cell");
    for j in 0..10 {
        write!(data, "\tg{j}").unwrap();
    }
    data.push('\n');
    for i in 0..40 {
        write!(data, "c{i}").unwrap();
        for j in 0..10 {
            let v = if (i % 2 == 0) == (j < 5) {
                5 + (i * 7 + j * 3) % 4
            } else {
                (i + j) % 2
            };
            write!(data, "\t{v}").unwrap();
        }
        data.push('\n');
    }
    std::fs::write(tmp.path().join("x.tsv"), data).unwrap();
    // The catalogue lists the genes in reverse order, plus one the data lacks (10 of 11 found).
    let features: Vec<String> = std::iter::once("other".to_string())
        .chain((0..10).rev().map(|j| format!("g{j}")))
        .collect();
    let low: Vec<f64> = (0..11).map(|f| if (1..6).contains(&f) { 0.0 } else { 1.0 }).collect();
    let high: Vec<f64> = low.iter().map(|v| 1.0 - v).collect();
    std::fs::write(
        tmp.path().join("cat.tsv"),
        catalogue(&features, &["first_half", "second_half"], &[low, high]),
    )
    .unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[data]\npath = \"x.tsv\"\n[sweep]\nranks = [2]\nrestarts = 3\n[report]\nreference = \"cat.tsv\"\n",
    )
    .unwrap();
    bin().arg(&cfg).arg("--quiet").assert().success();
    let table = std::fs::read_to_string(tmp.path().join("results/reference_rank_2.tsv")).unwrap();
    for l in table.lines().skip(1) {
        let c: f64 = l.split('\t').nth(4).unwrap().parse().unwrap();
        assert!(c > 0.95, "{table}");
    }

    // Half of the catalogue's features unknown to the data: refused, nothing written.
    let mut bad = std::fs::read_to_string(tmp.path().join("cat.tsv")).unwrap();
    for j in 0..6 {
        bad = bad.replace(&format!("\ng{j}\t"), &format!("\nh{j}\t"));
    }
    std::fs::write(tmp.path().join("cat.tsv"), bad).unwrap();
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("[sweep]", "[output]\ndir = \"out2\"\n[sweep]"),
    )
    .unwrap();
    let a = bin().arg(&cfg).assert().code(i32::from(exit::DATA));
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("cat.tsv") && err.contains("only 4 of its 11 features") && err.contains("\"other\""),
        "{err}"
    );
    assert!(!tmp.path().join("out2").exists());
}

#[test]
fn bad_catalogues_are_refused_before_any_fit() {
    let tmp = tempfile::tempdir().unwrap();
    simulate(tmp.path());
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = tmp.path().join("results");
    let features: Vec<String> = (0..200).map(|j| format!("f{j}")).collect();
    let ones = vec![1.0; 200];
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "cannot be opened"),
        (
            catalogue(&features, &["A", "B"], &[ones.clone(), ones.clone()]).replace("\nf7\t1\t", "\nf7\tNaN\t"),
            "line 9: missing or NaN value",
        ),
        (
            catalogue(&features, &["A", "B"], &[ones.clone(), ones.clone()]).replace("\nf3\t1\t", "\nf3\t-2\t"),
            "line 5: value -2",
        ),
        (
            catalogue(&features, &["A", "A"], &[ones.clone(), ones.clone()]),
            "line 1: signature \"A\" is named twice",
        ),
        (
            catalogue(&features, &["A", "B"], &[ones.clone(), ones.clone()]).replace("\nf3\t", "\nf2\t"),
            "line 5: feature \"f2\" is listed twice",
        ),
        (
            catalogue(&features[..150], &["A"], std::slice::from_ref(&ones)),
            "has 150 features but the data has 200",
        ),
    ];
    for (text, expected) in cases {
        let path = tmp.path().join("catalogue.tsv");
        if text.is_empty() {
            let _ = std::fs::remove_file(&path);
        } else {
            std::fs::write(&path, text).unwrap();
        }
        let a = bin().arg(&cfg).assert().code(i32::from(exit::DATA));
        let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        assert!(
            err.contains("catalogue.tsv") && err.contains(expected),
            "{expected}: {err}"
        );
        assert!(!out.exists(), "{expected}: output written");
    }
    // A config fault is exit 2.
    std::fs::write(&cfg, CONFIG.replace("\"catalogue.tsv\"", "\"\"")).unwrap();
    let a = bin().arg(&cfg).assert().code(i32::from(exit::CONFIG));
    assert!(String::from_utf8_lossy(&a.get_output().stderr).contains("report.reference"));
}

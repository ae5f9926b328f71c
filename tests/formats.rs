//! End-to-end tests of the input formats: one count matrix (40 cells x 25 genes) is written in
//! every format by the packages people write them with (scripts/make_format_fixtures.py:
//! anndata, scipy, h5py, numpy, pandas), and the real binary sweeps each file. Every format must
//! give the results of the reference (the dense HDF5 dataset) to 1e-8 of the largest entry, and
//! the names a file holds must label the outputs (results.h5 obs_names/var_names, the first column
//! of memberships_rank_<r>.tsv).
//!
//! Needs python3 with anndata, scipy, h5py, numpy and pandas: scripts/setup.sh --test installs them.
//! Without them these tests fail (never skip) and say so.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use assert_cmd::Command;
use hdf5::types::VarLenUnicode;
use ndarray::Array2;
use nnmf_sweep::error::exit;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tempfile::TempDir;

/// The HDF5 C library opens files without close-on-exec, so a binary spawned by one test can
/// inherit another test's open HDF5 file and its lock (see tests/bad_input.rs): HDF5 files are
/// opened here under the write side, binaries run under the read side.
static FD_GUARD: RwLock<()> = RwLock::new(());

fn hdf5_open_guard() -> RwLockWriteGuard<'static, ()> {
    FD_GUARD.write().unwrap_or_else(|e| e.into_inner())
}

fn spawn_guard() -> RwLockReadGuard<'static, ()> {
    FD_GUARD.read().unwrap_or_else(|e| e.into_inner())
}

/// The fixtures' folder, written once per test process by scripts/make_format_fixtures.py.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("format-fixtures");
        let _ = std::fs::remove_dir_all(&dir);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make_format_fixtures.py");
        let out = {
            let _g = spawn_guard();
            std::process::Command::new("python3").arg(&script).arg(&dir).output()
        }
        .unwrap_or_else(|e| panic!("python3 is needed for tests/formats.rs ({e}): run scripts/setup.sh --test"));
        assert!(
            out.status.success(),
            "{} failed: {}\nrun scripts/setup.sh --test (it installs anndata, scipy, h5py, numpy)",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// The cell names, then the gene names, as the fixtures hold them.
fn expected_names() -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(fixtures().join("names.txt")).unwrap();
    let mut all: Vec<String> = text.lines().map(str::to_string).collect();
    let genes = all.split_off(40);
    (all, genes)
}

/// What a sweep produced: the best W and H per rank, the names and input attributes of results.h5,
/// and the first column of memberships_rank_2.tsv.
#[derive(Debug)]
struct Outcome {
    factors: Vec<(String, Array2<f64>)>,
    obs_names: Option<Vec<String>>,
    var_names: Option<Vec<String>>,
    input_dataset: String,
    transposed: bool,
    membership_rows: Vec<String>,
    missing_entries: u64,
    input_format: String,
    input_storage: String,
    stderr: String,
}

/// Runs a small sweep (ranks 2 and 3) on the fixture named in `data` (the body of `[data]`, with
/// `{dir}` standing for the fixtures' folder) and collects its outputs.
fn sweep(data: &str) -> Outcome {
    let tmp = TempDir::new().unwrap();
    let data = data.replace("{dir}", &fixtures().display().to_string());
    // precision f64: the sums of sparse and dense input run in different orders, which f64 keeps
    // far below the 1e-8 bound of these comparisons; f32 (the KL default of the cd solver) rounds
    // at about 1e-6 and would hide a reader that is off by that much.
    let config = format!(
        "[data]\n{data}\n[model]\nprecision = \"f64\"\n[sweep]\nranks = [2, 3]\nrestarts = 3\nseed = 5\n\
         [stop]\nmax_iter = 300\ntol = 1e-5\n[selection]\nheldout_repeats = 1\n[output]\ndir = \"out\"\n"
    );
    let cfg = tmp.path().join("config.toml");
    std::fs::write(&cfg, &config).unwrap();
    let out: Output = {
        let _g = spawn_guard();
        // Not --quiet: the warnings (e.g. the count of missing entries) are checked too.
        Command::cargo_bin("nnmf-sweep").unwrap().arg(&cfg).output().unwrap()
    };
    assert_eq!(
        out.status.code(),
        Some(exit::SUCCESS.into()),
        "config:\n{config}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outdir = tmp.path().join("out");
    let _g = hdf5_open_guard();
    let file = hdf5::File::open(outdir.join("results.h5")).unwrap();
    let mut factors = Vec::new();
    for name in ["rank_2/W", "rank_2/H", "rank_3/W", "rank_3/H"] {
        factors.push((name.to_string(), file.dataset(name).unwrap().read_2d::<f64>().unwrap()));
    }
    let names = |n: &str| {
        file.dataset(n).ok().map(|d| {
            d.read_raw::<VarLenUnicode>()
                .unwrap()
                .iter()
                .map(|s| s.as_str().to_string())
                .collect::<Vec<_>>()
        })
    };
    let outcome = Outcome {
        factors,
        obs_names: names("obs_names"),
        var_names: names("var_names"),
        input_dataset: file
            .attr("input_dataset")
            .unwrap()
            .read_scalar::<VarLenUnicode>()
            .unwrap()
            .as_str()
            .to_string(),
        transposed: file.attr("transpose").unwrap().read_scalar::<bool>().unwrap(),
        missing_entries: file.attr("missing_entries").unwrap().read_scalar::<u64>().unwrap(),
        input_format: file
            .attr("input_format")
            .unwrap()
            .read_scalar::<VarLenUnicode>()
            .unwrap()
            .as_str()
            .to_string(),
        input_storage: file
            .attr("input_storage")
            .unwrap()
            .read_scalar::<VarLenUnicode>()
            .unwrap()
            .as_str()
            .to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        membership_rows: std::fs::read_to_string(outdir.join("memberships_rank_2.tsv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect(),
    };
    file.close().unwrap();
    outcome
}

/// The reference: the dense float64 dataset, with its names given by `obs_names`/`var_names`.
fn reference() -> &'static Outcome {
    static REF: OnceLock<Outcome> = OnceLock::new();
    REF.get_or_init(|| {
        let r = sweep("path = \"{dir}/dense.h5\"\ndataset = \"X\"\nobs_names = \"obs\"\nvar_names = \"var\"");
        let (cells, genes) = expected_names();
        assert_eq!(
            (r.obs_names.as_ref(), r.var_names.as_ref()),
            (Some(&cells), Some(&genes))
        );
        r
    })
}

/// The largest difference between `o`'s factors and the reference's, relative to the largest
/// entry of the reference's.
fn largest_difference(o: &Outcome) -> f64 {
    let r = reference();
    let mut worst: f64 = 0.0;
    for ((name, a), (_, b)) in o.factors.iter().zip(&r.factors) {
        assert_eq!(a.dim(), b.dim(), "{name}: shapes differ");
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let diff = a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
        worst = worst.max(diff / scale);
    }
    worst
}

/// Sweeps `data` and checks that it gives the reference's factors (to 1e-8 of the largest entry).
fn same_as_reference(data: &str) -> Outcome {
    let o = sweep(data);
    let d = largest_difference(&o);
    eprintln!("{data}: largest difference from the dense HDF5 reference {d:e} of the largest entry");
    assert!(
        d <= 1e-8,
        "{data}: factors differ from the dense HDF5 reference by {d:e}"
    );
    o
}

/// Checks the names in results.h5 and the memberships table: cells and genes where given.
fn assert_names(o: &Outcome, cells: bool, genes: bool) {
    let (c, g) = expected_names();
    assert_eq!(o.obs_names.as_ref(), cells.then_some(&c), "obs_names");
    assert_eq!(o.var_names.as_ref(), genes.then_some(&g), "var_names");
    let rows: Vec<String> = if cells {
        c
    } else {
        (0..40).map(|i| i.to_string()).collect()
    };
    assert_eq!(o.membership_rows, rows, "memberships_rank_2.tsv rows");
}

#[test]
fn h5ad_dense_x_with_obs_and_var_names() {
    let o = same_as_reference("path = \"{dir}/dense.h5ad\"");
    assert_names(&o, true, true);
    assert_eq!(o.input_dataset, "X");
    let explicit = same_as_reference("path = \"{dir}/dense.h5ad\"\nformat = \"h5ad\"");
    assert_names(&explicit, true, true);
}

#[test]
fn h5ad_sparse_csr_x() {
    let o = same_as_reference("path = \"{dir}/sparse.h5ad\"");
    assert_names(&o, true, true);
    assert_eq!(o.input_dataset, "X");
    // Read and fitted sparse (not densified), and recorded so.
    assert_eq!(
        (o.input_format.as_str(), o.input_storage.as_str()),
        ("h5ad csr", "sparse")
    );
    assert_eq!(reference().input_storage, "dense");
}

#[test]
fn h5ad_counts_layer_stored_as_csc() {
    let o = same_as_reference("path = \"{dir}/sparse.h5ad\"\nlayer = \"counts\"");
    assert_names(&o, true, true);
    assert_eq!(o.input_dataset, "layers/counts");
}

#[test]
fn h5ad_layer_selects_another_matrix() {
    let o = sweep("path = \"{dir}/sparse.h5ad\"\nformat = \"h5ad\"\nlayer = \"log1p\"");
    assert_eq!(o.input_dataset, "layers/log1p");
    assert_names(&o, true, true);
    assert!(
        largest_difference(&o) > 1e-3,
        "layer log1p gave the counts' factors: the layer was not read"
    );
    // A dense layer, by its path.
    let half = sweep("path = \"{dir}/dense.h5ad\"\ndataset = \"layers/half\"");
    assert_eq!(half.input_dataset, "layers/half");
    assert_names(&half, true, true);
}

#[test]
fn csr_group_with_anndata_attributes() {
    let o = same_as_reference("path = \"{dir}/groups.h5\"\ndataset = \"csr\"");
    assert_names(&o, false, false);
    let explicit = same_as_reference("path = \"{dir}/groups.h5\"\nformat = \"csr\"\ndataset = \"csr\"");
    assert_names(&explicit, false, false);
}

#[test]
fn csc_group_with_shape_dataset_and_unsigned_indices() {
    // No attributes: CSC is told from indptr's length (26 = genes + 1).
    let o = same_as_reference("path = \"{dir}/groups.h5\"\ndataset = \"csc\"");
    assert_names(&o, false, false);
    same_as_reference("path = \"{dir}/groups.h5\"\nformat = \"csc\"\ndataset = \"csc\"");
}

#[test]
fn h5sparse_group_with_float32_values() {
    same_as_reference("path = \"{dir}/groups.h5\"\nformat = \"hdf5\"\ndataset = \"csr_h5sparse\"");
}

#[test]
fn tenx_feature_barcode_matrix() {
    let o = same_as_reference("path = \"{dir}/tenx.h5\"");
    assert_names(&o, true, true);
    assert_eq!(o.input_dataset, "matrix");
    assert!(o.transposed, "a 10x file stores cells as columns: X is its transpose");
    same_as_reference("path = \"{dir}/tenx.h5\"\nformat = \"10x\"");
}

#[test]
fn tenx_transposed_has_genes_as_observations() {
    let o = sweep("path = \"{dir}/tenx.h5\"\ntranspose = true");
    let (cells, genes) = expected_names();
    assert!(!o.transposed);
    assert_eq!((o.factors[0].1.dim(), o.factors[1].1.dim()), ((25, 2), (2, 40)));
    assert_eq!((o.obs_names, o.var_names), (Some(genes.clone()), Some(cells)));
    assert_eq!(o.membership_rows, genes);
}

#[test]
fn matrix_market_coordinate() {
    let o = same_as_reference("path = \"{dir}/counts.mtx\"");
    assert_names(&o, false, false);
    assert_eq!(o.input_dataset, "");
    same_as_reference("path = \"{dir}/counts.mtx\"\nformat = \"mtx\"");
}

#[test]
fn matrix_market_transposed() {
    let o = same_as_reference("path = \"{dir}/counts_t.mtx\"\ntranspose = true");
    assert!(o.transposed);
}

#[test]
fn csv_with_header_row() {
    let o = same_as_reference("path = \"{dir}/counts.csv\"");
    assert_names(&o, false, true);
}

#[test]
fn tsv_with_header_row_and_row_names() {
    let o = same_as_reference("path = \"{dir}/counts.tsv\"");
    assert_names(&o, true, true);
    let explicit = same_as_reference("path = \"{dir}/counts.tsv\"\nformat = \"tsv\"");
    assert_names(&explicit, true, true);
}

/// The factors of two outcomes, bit for bit.
fn same_bits(a: &Outcome, b: &Outcome) -> bool {
    a.factors
        .iter()
        .zip(&b.factors)
        .all(|((_, x), (_, y))| x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()))
}

fn missing_count() -> u64 {
    std::fs::read_to_string(fixtures().join("missing.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// NaN entries with `missing = "nan"` are left out of the fits: the run says how many, records
/// it in results.h5, and gives the same bits as a mask over the same entries whose values there
/// are 1e6 (so the values at missing entries play no part), with a 0/1 mask or a boolean one.
#[test]
fn missing_values_as_nan_or_as_a_mask_give_the_same_fit() {
    let nan = sweep("path = \"{dir}/missing.h5\"\ndataset = \"X\"\nmissing = \"nan\"");
    let count = missing_count();
    assert!(count > 50, "{count}");
    assert_eq!(nan.missing_entries, count);
    assert!(
        nan.stderr.contains(&format!("{count} of 1000 entries")) && nan.stderr.contains("are missing"),
        "{}",
        nan.stderr
    );
    for mask in ["mask", "mask_bool"] {
        let masked = sweep(&format!(
            "path = \"{{dir}}/missing.h5\"\ndataset = \"X_filled\"\nmask = \"{mask}\""
        ));
        assert_eq!(masked.missing_entries, count);
        assert!(same_bits(&nan, &masked), "{mask}: factors differ from the NaN file's");
    }
    // And the fit is not the one of the complete data.
    assert!(largest_difference(&nan) > 1e-3);
}

/// Sparse input with NaN stored at the missing entries gives the dense NaN file's fit (1e-8).
#[test]
fn missing_values_in_sparse_input_match_dense() {
    let dense = sweep("path = \"{dir}/missing.h5\"\ndataset = \"X\"\nmissing = \"nan\"");
    let sparse = sweep("path = \"{dir}/missing.h5ad\"\nmissing = \"nan\"");
    assert_eq!(sparse.missing_entries, missing_count());
    let mut worst: f64 = 0.0;
    for ((name, a), (_, b)) in sparse.factors.iter().zip(&dense.factors) {
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let d = a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale;
        assert!(d <= 1e-8, "{name}: sparse and dense differ by {d:e}");
        worst = worst.max(d);
    }
    eprintln!("sparse vs dense with missing values: largest difference {worst:e} of the largest entry");
}

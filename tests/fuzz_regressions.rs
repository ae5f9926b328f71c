//! What the fuzzers found, and properties in their spirit that run on stable with `cargo test`.
//!
//! Every file under `tests/fuzz_regressions/<target>/` is an input that once crashed, hung or
//! exhausted memory in the cargo-fuzz target `<target>` (see fuzz/README.md); each is fed through
//! the same entry point (fuzz/harness.rs) and must now return (`Ok` or an error) without a panic.
//! The proptest properties feed random bytes through the config parser and the text readers,
//! random arrays through the CSR checks, and check that small non-negative matrices written as
//! Matrix Market and CSV/TSV text read back to the same values.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

#[path = "../fuzz/harness.rs"]
mod harness;

use nnmf_sweep::data::{Format, Matrix, read_text};
use nnmf_sweep::sparse::Csr;
use proptest::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

#[test]
fn every_saved_fuzz_input_returns_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut failed = Vec::new();
    let mut count = 0;
    for (target, run) in harness::TARGETS {
        let dir = root.join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files.into_iter().filter(|f| f.is_file()) {
            let bytes = std::fs::read(&file).unwrap();
            count += 1;
            if std::panic::catch_unwind(|| run(&bytes)).is_err() {
                failed.push(file.display().to_string());
            }
        }
    }
    assert!(failed.is_empty(), "these saved fuzz inputs panic: {failed:#?}");
    eprintln!("{count} saved fuzz inputs return without a panic");
}

/// The hand-written config regression does reach the check it is about (and gets an error).
#[test]
fn a_huge_image_shape_is_an_error_against_the_data() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions/config/image-shape-product-overflow.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let plan = nnmf_sweep::config::parse(&text, &path, &Default::default()).unwrap();
    let e = plan.check_image_shape(6).unwrap_err().to_string();
    assert!(e.contains("is 18446744078004518912 pixels"), "{e}");
}

/// The fuzz seeds (fuzz/seeds/<target>/) are valid examples: each must go through its target too.
#[test]
fn the_fuzz_seeds_go_through_their_targets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (target, run) in harness::TARGETS {
        for e in std::fs::read_dir(root.join(target)).unwrap() {
            run(&std::fs::read(e.unwrap().path()).unwrap());
        }
    }
}

/// A small non-negative matrix (1..6 x 1..6) with at least one positive entry; values are zeros,
/// small counts and arbitrary finite reals.
fn matrix() -> impl Strategy<Value = Vec<Vec<f64>>> {
    let value = prop_oneof![
        3 => Just(0.0),
        2 => (0u32..1000).prop_map(f64::from),
        2 => 0.0..1e6f64,
        1 => (0.0..1.0f64).prop_map(|v| v * 1e-300),
    ];
    (1usize..6, 1usize..6)
        .prop_flat_map(move |(n, p)| proptest::collection::vec(proptest::collection::vec(value.clone(), p), n))
        .prop_filter("some positive entry", |x| x.iter().flatten().any(|&v| v > 0.0))
}

fn dense(m: &Matrix) -> Vec<Vec<f64>> {
    m.to_dense().rows().into_iter().map(|r| r.to_vec()).collect()
}

fn transposed(x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    (0..x[0].len()).map(|j| x.iter().map(|r| r[j]).collect()).collect()
}

/// The CSR arrays of a dense matrix, built by hand (not by `Csr::from_dense`).
fn csr_parts(x: &[Vec<f64>]) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
    let (mut indptr, mut indices, mut data) = (vec![0], Vec::new(), Vec::new());
    for row in x {
        for (j, &v) in row.iter().enumerate() {
            if v != 0.0 {
                indices.push(j as u32);
                data.push(v);
            }
        }
        indptr.push(indices.len());
    }
    (indptr, indices, data)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_the_config_parser(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        harness::config(&bytes);
    }

    #[test]
    fn toml_like_text_never_panics_the_config_parser(
        text in "(\\[(data|model|sweep|stop|output|run|selection)\\]\n|[a-z_]{1,12} = (-?[0-9]{1,20}|\"[a-z./]{0,6}\"|\\[[-0-9, ]{0,30}\\]|[0-9.e+-]{1,8}|true)\n){0,14}"
    ) {
        harness::config(text.as_bytes());
    }

    #[test]
    fn random_bytes_never_panic_the_text_readers(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        harness::mtx(&bytes);
        harness::csv(&bytes);
        let mut with_header = b"%%MatrixMarket matrix coordinate real general\n".to_vec();
        with_header.extend_from_slice(&bytes);
        harness::mtx(&with_header);
    }

    #[test]
    fn mtx_like_text_never_panics_the_reader(
        text in "%%MatrixMarket matrix (coordinate|array) (real|integer|pattern) general\n([0-9]{1,11}( [0-9.e-]{1,6}){0,3}\n){0,8}"
    ) {
        harness::mtx(text.as_bytes());
    }

    #[test]
    fn random_arrays_never_panic_the_csr_checks(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        small in any::<bool>(),
    ) {
        let mut bytes = bytes;
        if let Some(b) = bytes.first_mut() {
            *b = (*b & !1) | u8::from(small);
        }
        harness::sparse(&bytes);
    }

    #[test]
    fn valid_csr_arrays_are_accepted(x in matrix(), csc in any::<bool>()) {
        let (indptr, indices, data) = csr_parts(&x);
        let what = if csc { "column" } else { "row" };
        let c = Csr::from_parts((x.len(), x[0].len()), indptr, indices, data, what);
        prop_assert!(c.is_ok(), "{c:?}");
        let c = c.unwrap();
        harness::check_csr(&c, what);
        prop_assert_eq!(dense(&Matrix::Sparse(c)), x);
    }

    #[test]
    fn matrices_written_as_mtx_read_back_to_the_same_values(x in matrix(), transpose in any::<bool>()) {
        let (n, p) = (x.len(), x[0].len());
        let want = if transpose { transposed(&x) } else { x.clone() };
        // Coordinate: the non-zero entries, 1-based, in no particular order (last row first).
        let mut entries = Vec::new();
        for (i, row) in x.iter().enumerate().rev() {
            for (j, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    entries.push(format!("{} {} {v}", i + 1, j + 1));
                }
            }
        }
        let coordinate = format!(
            "%%MatrixMarket matrix coordinate real general\n% a comment\n{n} {p} {}\n{}\n",
            entries.len(),
            entries.join("\n")
        );
        let d = read_text(coordinate.as_bytes(), Path::new("x.mtx"), Format::Mtx, transpose, false).unwrap();
        prop_assert!(matches!(d.x, Matrix::Sparse(_)));
        prop_assert_eq!(d.provenance.stored_shape, [n, p]);
        prop_assert_eq!(dense(&d.x), want.clone());
        // Array: column by column.
        let mut array = format!("%%MatrixMarket matrix array real general\n{n} {p}\n");
        for j in 0..p {
            for row in &x {
                writeln!(array, "{}", row[j]).unwrap();
            }
        }
        let d = read_text(array.as_bytes(), Path::new("x.mtx"), Format::Mtx, transpose, false).unwrap();
        prop_assert_eq!(dense(&d.x), want);
    }

    #[test]
    fn matrices_written_as_csv_read_back_to_the_same_values(x in matrix(), names in any::<bool>(), tsv in any::<bool>()) {
        let (delimiter, format) = if tsv { ('\t', Format::Tsv) } else { (',', Format::Csv) };
        let d = delimiter.to_string();
        let mut text = String::new();
        if names {
            let header: Vec<String> = (0..x[0].len()).map(|j| format!("gene {j}")).collect();
            writeln!(text, "cell{d}{}", header.join(&d)).unwrap();
        }
        for (i, row) in x.iter().enumerate() {
            let fields: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            if names {
                write!(text, "\"cell {i}\"{d}").unwrap();
            }
            writeln!(text, "{}", fields.join(&d)).unwrap();
        }
        let got = read_text(text.as_bytes(), Path::new("x.txt"), format, false, false).unwrap();
        prop_assert_eq!(dense(&got.x), x.clone());
        prop_assert_eq!(got.obs_names.is_some(), names);
        prop_assert_eq!(got.var_names.map(|v| v.len()), names.then_some(x[0].len()));
    }
}

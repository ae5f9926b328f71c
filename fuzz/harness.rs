//! The fuzzing entry points, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`) and the
//! stable regression test (`tests/fuzz_regressions.rs`), so that a saved crashing input goes
//! through exactly the code that crashed. Each function takes the raw input bytes; any panic is
//! a bug (every input must give `Ok` or an error).

use nnmf_sweep::config::{Overrides, parse};
use nnmf_sweep::data::{Format, Matrix, read_text};
use nnmf_sweep::sparse::Csr;
use std::path::Path;

/// A fuzz entry point: takes the raw input bytes.
pub type Target = fn(&[u8]);

/// The targets by name (the folder names under `tests/fuzz_regressions/`).
pub const TARGETS: [(&str, Target); 4] = [("config", config), ("mtx", mtx), ("csv", csv), ("sparse", sparse)];

/// Config text -> checked `Plan`, then the checks a `Plan` runs against the data's shape.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(plan) = parse(text, Path::new("fuzz/config.toml"), &Overrides::default()) {
        for (n, p) in [(1, 1), (7, 3), (usize::MAX, 2)] {
            let _ = plan.check_image_shape(p);
            let _ = plan.check_ranks(n, p, n > 1);
        }
    }
}

/// Matrix Market text -> checked `Dataset`, as stored (NaN an error) and transposed (NaN
/// allowed as missing).
pub fn mtx(data: &[u8]) {
    let path = Path::new("fuzz.mtx");
    let _ = read_text(data, path, Format::Mtx, false, false);
    let _ = read_text(data, path, Format::Mtx, true, true);
}

/// CSV text (as stored, NaN an error) and TSV text (transposed, NaN allowed) -> checked `Dataset`.
pub fn csv(data: &[u8]) {
    let _ = read_text(data, Path::new("fuzz.csv"), Format::Csv, false, false);
    let _ = read_text(data, Path::new("fuzz.tsv"), Format::Tsv, true, true);
}

/// Reads the input as little-endian numbers of `width` bytes (a short tail is zero-padded).
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn take(&mut self, width: usize) -> u64 {
        let n = width.min(self.0.len());
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        u64::from_le_bytes(b)
    }
}

/// The arguments of `Csr::from_parts`: shape, indptr, indices, data and the name of a line.
pub type SparseParts = ((usize, usize), Vec<usize>, Vec<u32>, Vec<f64>, &'static str);

/// The arrays of a CSR matrix decoded from fuzz bytes: byte 0 holds the flags (bit 0: small
/// mode, bit 1: CSC), bytes 1-3 the lengths of indptr, indices and data; then the shape and the
/// arrays. In small mode the shape is below 32, every number is one byte and indptr is built
/// from steps of 0 to 3, so that valid matrices are common; otherwise shape and offsets are full
/// 8-byte numbers (huge ones included) and values are any f64 bit pattern.
pub fn sparse_parts(data: &[u8]) -> SparseParts {
    let mut b = Bytes(data);
    let flags = b.take(1);
    let (small, csc) = (flags & 1 == 1, flags & 2 == 2);
    let lens = [b.take(1), b.take(1), b.take(1)].map(|l| l as usize);
    let (w_big, w_idx, w_val) = if small { (1, 1, 1) } else { (8, 4, 8) };
    let mut nrows = b.take(w_big) as usize;
    let mut ncols = b.take(w_big) as usize;
    let mut indptr: Vec<usize> = (0..lens[0]).map(|_| b.take(w_big) as usize).collect();
    let mut indices: Vec<u32> = (0..lens[1]).map(|_| b.take(w_idx) as u32).collect();
    let data: Vec<f64> = (0..lens[2])
        .map(|_| {
            let v = b.take(w_val);
            if small { v as f64 } else { f64::from_bits(v) }
        })
        .collect();
    if small {
        nrows %= 32;
        ncols %= 32;
        let mut at = 0;
        for v in &mut indptr {
            at += *v % 4;
            *v = at;
        }
        for j in &mut indices {
            *j %= 33;
        }
    }
    (
        (nrows, ncols),
        indptr,
        indices,
        data,
        if csc { "column" } else { "row" },
    )
}

/// The sparse-group checks: `Csr::from_parts` on the decoded arrays must return an error, never
/// panic; a matrix it accepts must keep its invariants through the operations the sweep uses
/// (dense form, transpose, selection, retain, checksum).
pub fn sparse(data: &[u8]) {
    let ((nrows, ncols), indptr, indices, values, what) = sparse_parts(data);
    let Ok(c) = Csr::from_parts((nrows, ncols), indptr, indices, values, what) else {
        return;
    };
    check_csr(&c, what);
}

/// The invariants of an accepted CSR matrix `c`, checked through its operations.
pub fn check_csr(c: &Csr, what: &str) {
    let (n, p) = c.dim();
    assert_eq!(c.indptr().len(), n + 1);
    let t = c.transpose();
    assert_eq!(t.dim(), (p, n));
    assert_eq!(t.nnz(), c.nnz());
    let back = Csr::from_parts(
        (p, n),
        t.indptr().to_vec(),
        t.indices().to_vec(),
        t.data().to_vec(),
        what,
    );
    assert!(back.is_ok(), "the transpose breaks an invariant: {back:?}");
    if n.saturating_mul(p) <= 1 << 16 {
        let d = c.to_dense();
        let td = t.to_dense();
        assert!(d.t().iter().zip(td.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
    let rows: Vec<usize> = (0..n).step_by(2).collect();
    let cols: Vec<usize> = (0..p).filter(|j| j % 3 != 1).collect();
    let s = c.select(&rows, &cols);
    assert_eq!(s.dim(), (rows.len(), cols.len()));
    let mut r = c.clone();
    r.retain(|i, j, v| (i + j) % 2 == 0 && !v.is_nan());
    assert!(r.nnz() <= c.nnz());
    let _ = Matrix::Sparse(c.clone()).checksum();
}

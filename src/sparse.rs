//! Compressed sparse row (CSR) matrices: the in-memory form of sparse input (single-cell and text
//! counts), checked when built so that every later loop can trust its invariants.
//!
//! A CSR matrix of shape N x p stores, for row i, the column indices `indices[indptr[i]..indptr[i+1]]`
//! (strictly increasing) and their values `data[..]` at the same positions (SciPy's and AnnData's
//! layout). A CSC matrix is the CSR form of its transpose.

use ndarray::{Array2, ArrayView2};

/// The most columns a CSR matrix may declare beyond its stored values (2^25). The file gives
/// an offset per row (indptr) but only declares the columns, and the transpose, the all-zero
/// line scan and the factors take memory per column: a shape far beyond the stored values is
/// refused before anything is allocated for it.
pub const MAX_DECLARED_LINES: usize = 1 << 25;

/// A checked CSR matrix (N x p) of f64 values: indptr has N + 1 non-decreasing offsets from 0 to
/// nnz, every row's column indices are strictly increasing and below p.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    nrows: usize,
    ncols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f64>,
}

impl Csr {
    /// Builds a CSR matrix from its arrays, checking every invariant; the error says which one
    /// fails and where (0-based), in words meant for a user who wrote the file. The columns may
    /// number at most [`MAX_DECLARED_LINES`] or the stored values, whichever is larger.
    ///
    /// `what` names a line of the matrix ("row" for CSR, "column" for CSC read as its transpose).
    pub fn from_parts(
        shape: (usize, usize),
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f64>,
        what: &str,
    ) -> Result<Csr, String> {
        let (nrows, ncols) = shape;
        let other = if what == "row" { "column" } else { "row" };
        if ncols > u32::MAX as usize {
            return Err(format!("has {ncols} {other}s; at most {} are supported", u32::MAX));
        }
        // Compared as `len - 1` so that a shape of usize::MAX lines cannot overflow.
        if indptr.len().checked_sub(1) != Some(nrows) {
            return Err(format!(
                "indptr has {} entries, but the shape says {nrows} {what}s, which needs {} (one more than the {what}s)",
                indptr.len(),
                nrows as u128 + 1
            ));
        }
        if indices.len() != data.len() {
            return Err(format!(
                "indices has {} entries but data has {}; they must have one entry per stored value",
                indices.len(),
                data.len()
            ));
        }
        let max_other = MAX_DECLARED_LINES.max(data.len());
        if ncols > max_other {
            return Err(format!(
                "the shape says {ncols} {other}s, but only {} values are stored; with so few values at most                  {max_other} {other}s are supported (every {other} takes memory, stored value or not): is the                  shape right?",
                data.len()
            ));
        }
        if indptr[0] != 0 {
            return Err(format!("indptr starts at {}; it must start at 0", indptr[0]));
        }
        if let Some(k) = indptr.windows(2).position(|w| w[1] < w[0]) {
            return Err(format!(
                "indptr decreases at {what} {k} ({} then {}); it must be non-decreasing",
                indptr[k],
                indptr[k + 1]
            ));
        }
        let last = indptr[nrows];
        if last != indices.len() {
            return Err(format!(
                "indptr ends at {last}, but there are {} stored values (indices and data); they must agree",
                indices.len()
            ));
        }
        for i in 0..nrows {
            let cols = &indices[indptr[i]..indptr[i + 1]];
            if let Some(&c) = cols.iter().find(|&&c| c as usize >= ncols) {
                return Err(format!(
                    "index {c} in {what} {i} is out of range: the shape has {ncols} {other}s (indices 0 to {})",
                    ncols.saturating_sub(1)
                ));
            }
            if let Some(k) = cols.windows(2).position(|w| w[1] <= w[0]) {
                let (a, b) = (cols[k], cols[k + 1]);
                return Err(if a == b {
                    format!(
                        "{what} {i} stores {other} {a} twice (duplicate indices); sum the duplicates before writing \
                         (scipy: X.sum_duplicates())"
                    )
                } else {
                    format!(
                        "the indices of {what} {i} are not sorted ({a} before {b}); sort them before writing \
                         (scipy: X.sort_indices())"
                    )
                });
            }
        }
        Ok(Csr {
            nrows,
            ncols,
            indptr,
            indices,
            data,
        })
    }

    /// The CSR form of a dense matrix (N x p); zeros are not stored.
    pub fn from_dense(x: ArrayView2<f64>) -> Csr {
        let (nrows, ncols) = x.dim();
        let mut indptr = Vec::with_capacity(nrows + 1);
        let (mut indices, mut data) = (Vec::new(), Vec::new());
        indptr.push(0);
        for row in x.rows() {
            for (j, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    indices.push(j as u32);
                    data.push(v);
                }
            }
            indptr.push(indices.len());
        }
        Csr {
            nrows,
            ncols,
            indptr,
            indices,
            data,
        }
    }

    /// The dense matrix (N x p).
    pub fn to_dense(&self) -> Array2<f64> {
        let mut x = Array2::zeros((self.nrows, self.ncols));
        for (i, mut row) in x.rows_mut().into_iter().enumerate() {
            let (cols, vals) = self.row(i);
            for (&j, &v) in cols.iter().zip(vals) {
                row[j as usize] = v;
            }
        }
        x
    }

    /// The transpose (p x N), i.e. the CSC form of this matrix, in O(nnz + N + p).
    pub fn transpose(&self) -> Csr {
        let mut counts = vec![0usize; self.ncols + 1];
        for &j in &self.indices {
            counts[j as usize + 1] += 1;
        }
        for j in 0..self.ncols {
            counts[j + 1] += counts[j];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.nnz()];
        let mut data = vec![0.0; self.nnz()];
        for i in 0..self.nrows {
            let (cols, vals) = self.row(i);
            for (&j, &v) in cols.iter().zip(vals) {
                let at = &mut next[j as usize];
                indices[*at] = i as u32;
                data[*at] = v;
                *at += 1;
            }
        }
        Csr {
            nrows: self.ncols,
            ncols: self.nrows,
            indptr,
            indices,
            data,
        }
    }

    /// The submatrix of the given rows and columns (both ascending), renumbered from 0.
    pub fn select(&self, rows: &[usize], cols: &[usize]) -> Csr {
        let mut new_col = vec![u32::MAX; self.ncols];
        for (k, &j) in cols.iter().enumerate() {
            new_col[j] = k as u32;
        }
        let mut indptr = Vec::with_capacity(rows.len() + 1);
        let (mut indices, mut data) = (Vec::new(), Vec::new());
        indptr.push(0);
        for &i in rows {
            let (c, v) = self.row(i);
            for (&j, &x) in c.iter().zip(v) {
                let k = new_col[j as usize];
                if k != u32::MAX {
                    indices.push(k);
                    data.push(x);
                }
            }
            indptr.push(indices.len());
        }
        Csr {
            nrows: rows.len(),
            ncols: cols.len(),
            indptr,
            indices,
            data,
        }
    }

    /// The matrix whose row k is row `rows[k]` of this one (rows in any order, repeats allowed).
    pub fn take_rows(&self, rows: &[usize]) -> Csr {
        let mut indptr = Vec::with_capacity(rows.len() + 1);
        let (mut indices, mut data) = (Vec::new(), Vec::new());
        indptr.push(0);
        for &i in rows {
            let (c, v) = self.row(i);
            indices.extend_from_slice(c);
            data.extend_from_slice(v);
            indptr.push(indices.len());
        }
        Csr {
            nrows: rows.len(),
            ncols: self.ncols,
            indptr,
            indices,
            data,
        }
    }

    /// (N, p).
    pub fn dim(&self) -> (usize, usize) {
        (self.nrows, self.ncols)
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.data.len()
    }

    /// Row i's column indices and values.
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let r = self.indptr[i]..self.indptr[i + 1];
        (&self.indices[r.clone()], &self.data[r])
    }

    /// The N + 1 row offsets.
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    /// Column index of every stored entry.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Value of every stored entry.
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// Replaces every stored value v by `f(v)`, in storage order (row by row, columns ascending).
    pub fn map_values(&mut self, f: impl FnMut(f64) -> f64) {
        let mut f = f;
        for v in &mut self.data {
            *v = f(*v);
        }
    }

    /// Keeps the stored entries for which `keep(i, j, value)` is true and drops the rest.
    pub fn retain(&mut self, mut keep: impl FnMut(usize, usize, f64) -> bool) {
        let mut at = 0;
        let mut start = 0;
        for i in 0..self.nrows {
            let end = self.indptr[i + 1];
            for e in start..end {
                let (j, v) = (self.indices[e], self.data[e]);
                if keep(i, j as usize, v) {
                    self.indices[at] = j;
                    self.data[at] = v;
                    at += 1;
                }
            }
            start = end;
            self.indptr[i + 1] = at;
        }
        self.indices.truncate(at);
        self.data.truncate(at);
    }

    /// `X B` (N x k) for B (p x k).
    pub fn mul_dense(&self, b: ArrayView2<f64>) -> Array2<f64> {
        let mut out = Array2::zeros((self.nrows, b.ncols()));
        for (i, mut o) in out.rows_mut().into_iter().enumerate() {
            let (cols, vals) = self.row(i);
            for (&j, &v) in cols.iter().zip(vals) {
                o.scaled_add(v, &b.row(j as usize));
            }
        }
        out
    }

    /// `Xᵀ B` (p x k) for B (N x k).
    pub fn t_mul_dense(&self, b: ArrayView2<f64>) -> Array2<f64> {
        let mut out = Array2::zeros((self.ncols, b.ncols()));
        for i in 0..self.nrows {
            let (cols, vals) = self.row(i);
            let bi = b.row(i);
            for (&j, &v) in cols.iter().zip(vals) {
                out.row_mut(j as usize).scaled_add(v, &bi);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn parts(indptr: &[usize], indices: &[u32], data: &[f64], shape: (usize, usize)) -> Result<Csr, String> {
        Csr::from_parts(shape, indptr.to_vec(), indices.to_vec(), data.to_vec(), "row")
    }

    #[test]
    fn round_trips_dense_transpose_and_products() {
        let x = array![[0.0, 2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 4.0, 0.0]];
        let c = Csr::from_dense(x.view());
        assert_eq!(c.nnz(), 4);
        assert_eq!(c.to_dense(), x);
        assert_eq!(c.transpose().to_dense(), x.t());
        assert_eq!(c.transpose().transpose(), c);
        let b = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]];
        assert_eq!(c.mul_dense(b.view()), x.dot(&b));
        let b3 = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        assert_eq!(c.t_mul_dense(b3.view()), x.t().dot(&b3));
        let s = c.select(&[0, 2], &[0, 1, 3]);
        assert_eq!(s.to_dense(), array![[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]]);
        let mut r = c.clone();
        r.retain(|i, j, _| !(i == 2 && j == 0));
        assert_eq!(
            r.to_dense(),
            array![[0.0, 2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 4.0, 0.0]]
        );
    }

    #[test]
    fn every_broken_invariant_is_named() {
        let ok = parts(&[0, 2, 3], &[0, 2, 1], &[1.0, 2.0, 3.0], (2, 3));
        assert!(ok.is_ok());
        let e = |r: Result<Csr, String>| r.unwrap_err();
        assert_eq!(
            e(parts(&[0, 2], &[0, 2], &[1.0, 2.0], (2, 3))),
            "indptr has 2 entries, but the shape says 2 rows, which needs 3 (one more than the rows)"
        );
        assert_eq!(
            e(parts(&[0, 2, 3], &[0, 2, 1], &[1.0, 2.0], (2, 3))),
            "indices has 3 entries but data has 2; they must have one entry per stored value"
        );
        assert_eq!(
            e(parts(&[0, 2, 1, 3], &[0, 2, 1], &[1.0, 2.0, 3.0], (3, 3))),
            "indptr decreases at row 1 (2 then 1); it must be non-decreasing"
        );
        assert_eq!(
            e(parts(&[0, 2, 2], &[0, 2, 1], &[1.0, 2.0, 3.0], (2, 3))),
            "indptr ends at 2, but there are 3 stored values (indices and data); they must agree"
        );
        assert_eq!(
            e(parts(&[0, 2, 3], &[0, 3, 1], &[1.0, 2.0, 3.0], (2, 3))),
            "index 3 in row 0 is out of range: the shape has 3 columns (indices 0 to 2)"
        );
        assert!(
            e(parts(&[0, 2, 3], &[2, 0, 1], &[1.0, 2.0, 3.0], (2, 3)))
                .starts_with("the indices of row 0 are not sorted")
        );
        assert!(e(parts(&[0, 2, 3], &[1, 1, 1], &[1.0, 2.0, 3.0], (2, 3))).starts_with("row 0 stores column 1 twice"));
        assert_eq!(
            e(parts(&[1, 2, 3], &[0, 2, 1], &[1.0, 2.0, 3.0], (2, 3))),
            "indptr starts at 1; it must start at 0"
        );
        assert!(
            e(parts(&[0, 1, 2], &[0, 1], &[1.0, 2.0], (2, MAX_DECLARED_LINES + 1)))
                .starts_with("the shape says 33554433 columns, but only 2 values are stored")
        );
        assert!(e(parts(&[0], &[], &[], (usize::MAX, 1))).starts_with("indptr has 1 entries"));
    }
}

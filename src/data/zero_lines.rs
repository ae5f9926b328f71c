//! All-zero rows and columns.
//!
//! Under either loss the optimal factors for an all-zero row i of X are W_i· = 0 (its contribution
//! Σ_j λ_ij under KL, or Σ_j λ_ij² under Frobenius, is minimized by λ_i· = 0), and likewise H_·j = 0
//! for an all-zero column. The sweep therefore fits the matrix without them and restores them as
//! zero rows of W and zero columns of H, with a warning that counts them: the objectives are the
//! same as those of the full matrix, and the KL updates never see a 0/0 on such lines.

use super::Matrix;
use ndarray::{Array2, Axis};

/// The all-zero lines of X (N x p) and the kept ones.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeroLines {
    /// N.
    pub n: usize,
    /// p.
    pub p: usize,
    /// Indices of all-zero rows.
    pub zero_rows: Vec<usize>,
    /// Indices of all-zero columns.
    pub zero_cols: Vec<usize>,
    kept_rows: Vec<usize>,
    kept_cols: Vec<usize>,
}

impl ZeroLines {
    /// Finds the all-zero rows and columns of `x` (missing (NaN) entries count as zero: a line
    /// with no positive observed entry is fitted by zeros all the same).
    pub fn find(x: &Matrix) -> Self {
        let (n, p) = x.dim();
        let mut row_nz = vec![false; n];
        let mut col_nz = vec![false; p];
        let mut mark = |i: usize, j: usize, v: f64| {
            if v > 0.0 {
                row_nz[i] = true;
                col_nz[j] = true;
            }
        };
        match x {
            Matrix::Dense(x) => x.indexed_iter().for_each(|((i, j), &v)| mark(i, j, v)),
            Matrix::Sparse(x) => {
                for i in 0..n {
                    let (c, v) = x.row(i);
                    c.iter().zip(v).for_each(|(&j, &v)| mark(i, j as usize, v));
                }
            }
        }
        let split = |nz: &[bool]| -> (Vec<usize>, Vec<usize>) { (0..nz.len()).partition(|&i| !nz[i]) };
        let (zero_rows, kept_rows) = split(&row_nz);
        let (zero_cols, kept_cols) = split(&col_nz);
        ZeroLines {
            n,
            p,
            zero_rows,
            zero_cols,
            kept_rows,
            kept_cols,
        }
    }

    /// Indices of the rows that are fitted (not all zero), ascending.
    pub fn kept_rows(&self) -> &[usize] {
        &self.kept_rows
    }

    /// True when nothing is dropped.
    pub fn is_empty(&self) -> bool {
        self.zero_rows.is_empty() && self.zero_cols.is_empty()
    }

    /// X without its all-zero rows and columns (N' x p'); X itself when there are none.
    pub fn reduce(&self, x: Matrix) -> Matrix {
        if self.is_empty() {
            return x;
        }
        match &x {
            Matrix::Dense(x) => Matrix::Dense(x.select(Axis(0), &self.kept_rows).select(Axis(1), &self.kept_cols)),
            Matrix::Sparse(x) => Matrix::Sparse(x.select(&self.kept_rows, &self.kept_cols)),
        }
    }

    /// W (N' x r) of the reduced matrix → W (N x r) with zero rows restored.
    pub fn restore_w(&self, w: &Array2<f64>) -> Array2<f64> {
        let mut full = Array2::zeros((self.n, w.ncols()));
        for (src, &dst) in self.kept_rows.iter().enumerate() {
            full.row_mut(dst).assign(&w.row(src));
        }
        full
    }

    /// H (r x p') of the reduced matrix → H (r x p) with zero columns restored.
    pub fn restore_h(&self, h: &Array2<f64>) -> Array2<f64> {
        let mut full = Array2::zeros((h.nrows(), self.p));
        for (src, &dst) in self.kept_cols.iter().enumerate() {
            full.column_mut(dst).assign(&h.column(src));
        }
        full
    }

    /// A warning that counts (and shows the first few of) the dropped lines, or None.
    pub fn warning(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let list = |v: &[usize]| {
            let head: Vec<String> = v.iter().take(5).map(|i| i.to_string()).collect();
            format!("{}{}", head.join(", "), if v.len() > 5 { ", ..." } else { "" })
        };
        let mut parts = Vec::new();
        if !self.zero_rows.is_empty() {
            parts.push(format!(
                "{} all-zero rows ({})",
                self.zero_rows.len(),
                list(&self.zero_rows)
            ));
        }
        if !self.zero_cols.is_empty() {
            parts.push(format!(
                "{} all-zero columns ({})",
                self.zero_cols.len(),
                list(&self.zero_cols)
            ));
        }
        Some(format!(
            "the data has {}; they are fitted exactly by zero rows of W and zero columns of H, and left out of the updates",
            parts.join(" and ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn reduce_and_restore() {
        let x = array![[0.0, 0.0, 0.0], [1.0, 0.0, 2.0], [3.0, 0.0, 0.0]];
        let x = Matrix::Dense(x);
        let z = ZeroLines::find(&x);
        assert_eq!((z.zero_rows.clone(), z.zero_cols.clone()), (vec![0], vec![1]));
        assert_eq!(z.reduce(x.clone()), Matrix::Dense(array![[1.0, 2.0], [3.0, 0.0]]));
        let w = array![[1.0], [2.0]];
        assert_eq!(z.restore_w(&w), array![[0.0], [1.0], [2.0]]);
        let h = array![[5.0, 6.0]];
        assert_eq!(z.restore_h(&h), array![[5.0, 0.0, 6.0]]);
        assert_eq!(
            z.warning().unwrap(),
            "the data has 1 all-zero rows (0) and 1 all-zero columns (1); they are fitted exactly by zero rows of W \
             and zero columns of H, and left out of the updates"
        );
        assert!(ZeroLines::find(&Matrix::Dense(array![[1.0]])).warning().is_none());
    }
}

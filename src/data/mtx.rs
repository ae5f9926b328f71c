//! Matrix Market exchange files (NIST's format, as written by `scipy.io.mmwrite`, R's
//! `Matrix::writeMM` and Cell Ranger): `%%MatrixMarket matrix coordinate real|integer|pattern
//! general` (1-based row, column, value per line; read as CSR) and `... array real|integer general`
//! (dense, column by column). Symmetric, skew-symmetric, Hermitian and complex matrices are
//! refused; gzip-compressed files are refused when detected (see `detect`).

use super::check::{BadEntries, Pos, Read, ValueRules};
use super::text::{Lines, number};
use super::{Format, Matrix};
use crate::data::DataSpec;
use crate::error::{Error, Result};
use crate::sparse::Csr;
use ndarray::{Array2, ShapeBuilder};
use std::io::BufRead;
use std::path::Path;

/// Reads and checks the Matrix Market file of `spec`; X is its transpose when `spec.transpose`.
/// The size line is checked against the file's length and `spec`'s memory limit before anything
/// of that size is allocated ([`declared`]).
pub(crate) fn read(spec: &DataSpec, _: Format, rules: ValueRules) -> Result<Read> {
    let (path, transpose) = (spec.path.as_path(), spec.transpose);
    let err = |message: String| Error::DataFile {
        path: path.to_path_buf(),
        message,
    };
    let f = std::fs::File::open(path).map_err(|e| err(format!("cannot be read: {e}")))?;
    let len = f.metadata().map_or(u64::MAX, |m| m.len());
    let check = |s: &Size| declared(s, len, transpose, spec);
    read_checked(std::io::BufReader::new(f), path, transpose, rules, &check)
}

/// [`read`] of a Matrix Market text from `reader`; `path` names it in error messages. Its length
/// is unknown, so the size line is not checked against it (the reader still never allocates
/// more than the entries it has read, and at most 2^25 rows or columns).
pub(crate) fn read_from<R: BufRead>(reader: R, path: &Path, transpose: bool, rules: ValueRules) -> Result<Read> {
    read_checked(reader, path, transpose, rules, &|_| Ok(()))
}

/// Parses (with `check` on the size line) and transposes when asked.
fn read_checked<R: BufRead>(
    reader: R,
    path: &Path,
    transpose: bool,
    rules: ValueRules,
    check: &dyn Fn(&Size) -> Result<(), String>,
) -> Result<Read> {
    let err = |message: String| Error::DataFile {
        path: path.to_path_buf(),
        message,
    };
    let parsed = parse_checked(reader, rules, check).map_err(err)?;
    let stored_shape = [parsed.x.dim().0, parsed.x.dim().1];
    let x = match (parsed.x, transpose) {
        (Matrix::Sparse(c), true) => Matrix::Sparse(c.transpose()),
        (Matrix::Dense(a), true) => Matrix::Dense(a.t().as_standard_layout().into_owned()),
        (x, false) => x,
    };
    Ok(Read {
        x,
        transposed: transpose,
        stored_shape,
        dtype: parsed.field.to_string(),
        dataset: String::new(),
        format: "mtx".into(),
        obs_names: None,
        var_names: None,
        values_checked: true,
        volumes: None,
    })
}

/// The most rows or columns a coordinate file may declare (2^25): the CSR form holds an offset
/// per row, and per column when transposed, whether or not the file lists an entry there.
const MAX_SPARSE_LINES: usize = 1 << 25;

/// Values or entries reserved before they are read (the size line may declare any number).
const PREALLOCATE: usize = 1 << 16;

/// A parsed file: the matrix as stored and its field ("real", "integer" or "pattern").
#[derive(Debug)]
struct Parsed {
    x: Matrix,
    field: &'static str,
}

/// Whitespace-separated words of a line with their 1-based columns.
fn words(line: &str) -> impl Iterator<Item = (usize, &str)> {
    line.split_ascii_whitespace()
        .map(move |w| (w.as_ptr() as usize - line.as_ptr() as usize + 1, w))
}

/// The next line that is neither blank nor a comment ('%').
fn content_line<R: BufRead>(lines: &mut Lines<R>) -> Result<Option<(usize, String)>, String> {
    while let Some((n, l)) = lines.next_line()? {
        let t = l.trim();
        if !t.is_empty() && !t.starts_with('%') {
            return Ok(Some((n, l.to_string())));
        }
    }
    Ok(None)
}

/// A 1-based index below or at `max`, as a 0-based one.
fn index(word: (usize, &str), line: usize, what: &str, max: usize) -> Result<usize, String> {
    let (col, w) = word;
    let i: usize = w
        .parse()
        .map_err(|_| format!("line {line}, column {col}: {what} index \"{w}\" is not a positive integer"))?;
    if i == 0 || i > max {
        return Err(format!(
            "line {line}, column {col}: {what} index {i} is out of range: the size line gives {max} {what}s, \
             numbered 1 to {max} (Matrix Market indices start at 1)"
        ));
    }
    Ok(i - 1)
}

/// One coordinate entry, with the line it came from (for duplicates).
#[derive(Debug, Clone, Copy)]
struct Entry {
    row: u32,
    col: u32,
    line: usize,
    value: f64,
}

/// What the size line declares.
#[derive(Debug, Clone, Copy)]
struct Size {
    /// 1-based line of the size line.
    line: usize,
    rows: usize,
    cols: usize,
    /// Stored entries (coordinate files); rows x cols for array files.
    entries: usize,
    coordinate: bool,
    pattern: bool,
}

/// Checks a size line against the file's length `len` (each coordinate entry takes at least 4
/// bytes, "1 1\n", or 6 with a value; each array value at least 2, "0\n") and the memory limit of
/// `spec` (the entries while read, the CSR or dense form, its transpose, the all-zero line search).
fn declared(s: &Size, len: u64, transpose: bool, spec: &DataSpec) -> Result<(), String> {
    use crate::limits::bytes;
    let per_entry = match (s.coordinate, s.pattern) {
        (true, true) => 4,
        (true, false) => 6,
        (false, _) => 2,
    };
    let least = bytes(&[s.entries as u64, per_entry]).saturating_sub(1);
    if least > len {
        let what = if s.coordinate { "entries" } else { "values" };
        return Err(format!(
            "line {}: the size line declares {} x {} with {} {what}, which take at least {least} bytes, but the file \
             has {len} bytes; fix the size line (or the truncated file)",
            s.line, s.rows, s.cols, s.entries
        ));
    }
    let (rows, cols, entries) = (s.rows as u64, s.cols as u64, s.entries as u64);
    let lines = bytes(&[rows + cols + 2, 8, 3]);
    let need = if s.coordinate {
        bytes(&[entries, 24 + 12 + if transpose { 12 } else { 0 }]).saturating_add(lines)
    } else {
        bytes(&[entries, 8, if transpose { 3 } else { 2 }]).saturating_add(lines)
    };
    super::check_declared(
        spec,
        &format!("line {}: the size line's {} x {} matrix", s.line, s.rows, s.cols),
        need,
    )
}

#[cfg(test)]
fn parse<R: BufRead>(reader: R, rules: ValueRules) -> Result<Parsed, String> {
    parse_checked(reader, rules, &|_| Ok(()))
}

/// [`parse`], with `check` run on the size line before anything of its size is allocated.
fn parse_checked<R: BufRead>(
    reader: R,
    rules: ValueRules,
    check: &dyn Fn(&Size) -> Result<(), String>,
) -> Result<Parsed, String> {
    let mut lines = Lines::new(reader);
    let Some((_, header)) = lines.next_line()? else {
        return Err("is empty; a Matrix Market file starts with a %%MatrixMarket header line".into());
    };
    let header = header.to_string();
    let head: Vec<(usize, &str)> = words(&header).collect();
    if head
        .first()
        .is_none_or(|(_, w)| !w.eq_ignore_ascii_case("%%MatrixMarket"))
    {
        return Err(
            "line 1: no %%MatrixMarket header; a Matrix Market file starts with e.g. \
             \"%%MatrixMarket matrix coordinate real general\" (or set [data] format to the file's format)"
                .into(),
        );
    }
    if head.len() != 5 {
        return Err(format!(
            "line 1: the header has {} words; it needs 5: %%MatrixMarket matrix coordinate|array \
             real|integer|pattern general",
            head.len()
        ));
    }
    let lower: Vec<String> = head.iter().map(|(_, w)| w.to_ascii_lowercase()).collect();
    let bad_word = |k: usize, what: &str, supported: &str| {
        format!(
            "line 1, column {}: {what} \"{}\" is not supported; {supported}",
            head[k].0, head[k].1
        )
    };
    if lower[1] != "matrix" {
        return Err(bad_word(1, "object", "only \"matrix\" is"));
    }
    let coordinate = match lower[2].as_str() {
        "coordinate" => true,
        "array" => false,
        _ => {
            return Err(bad_word(
                2,
                "format",
                "use \"coordinate\" (sparse) or \"array\" (dense)",
            ));
        }
    };
    let field = match lower[3].as_str() {
        "real" | "double" => "real",
        "integer" => "integer",
        "pattern" if coordinate => "pattern",
        "complex" => return Err(bad_word(3, "field", "NMF needs real non-negative values")),
        _ => {
            return Err(bad_word(
                3,
                "field",
                "use \"real\", \"integer\" or \"pattern\" (coordinate only)",
            ));
        }
    };
    if lower[4] != "general" {
        return Err(bad_word(
            4,
            "symmetry",
            "write the full matrix with symmetry \"general\" (scipy: mmwrite(path, X, symmetry=\"general\"))",
        ));
    }
    let Some((size_line, size)) = content_line(&mut lines)? else {
        return Err("has no size line after the header (rows, columns and, for coordinate files, entries)".into());
    };
    let size_words: Vec<(usize, &str)> = words(&size).collect();
    let want = if coordinate { 3 } else { 2 };
    if size_words.len() != want {
        return Err(format!(
            "line {size_line}: the size line has {} numbers; it needs {want} ({})",
            size_words.len(),
            if coordinate {
                "rows, columns, entries"
            } else {
                "rows, columns"
            }
        ));
    }
    let mut dims = [0usize; 3];
    for (k, &(col, w)) in size_words.iter().enumerate() {
        dims[k] = w
            .parse()
            .map_err(|_| format!("line {size_line}, column {col}: \"{w}\" is not a non-negative integer"))?;
    }
    let [nrows, ncols, nnz] = dims;
    // A coordinate file is read as CSR, with an offset per row (and, transposed, per column) that
    // the file itself does not hold: its declared rows and columns are capped.
    let max = if coordinate {
        MAX_SPARSE_LINES
    } else {
        u32::MAX as usize
    };
    if ncols > max || nrows > max {
        return Err(format!(
            "line {size_line}: {nrows} x {ncols} is too large; at most {max} rows and columns are supported{}",
            if coordinate { " in a coordinate file" } else { "" }
        ));
    }
    check(&Size {
        line: size_line,
        rows: nrows,
        cols: ncols,
        entries: if coordinate { nnz } else { nrows.saturating_mul(ncols) },
        coordinate,
        pattern: field == "pattern",
    })?;
    let mut bad = BadEntries::new(rules);
    let x = if coordinate {
        let entries = coordinate_entries(&mut lines, field, [nrows, ncols, nnz], size_line, &mut bad)?;
        Matrix::Sparse(to_csr(entries, nrows, ncols)?)
    } else {
        // The size line is not trusted for the allocation: the values grow as they are read.
        let mut values = Vec::with_capacity(nrows.saturating_mul(ncols).min(PREALLOCATE));
        while let Some((n, l)) = content_line(&mut lines)? {
            let w: Vec<(usize, &str)> = words(&l).collect();
            if w.len() != 1 {
                return Err(format!(
                    "line {n}: {} fields; an array file has one value per line",
                    w.len()
                ));
            }
            if values.len() == nrows * ncols {
                return Err(format!(
                    "line {n}: more values than the {} of the size line (line {size_line}: {nrows} x {ncols})",
                    nrows * ncols
                ));
            }
            let (col, word) = w[0];
            let v = number(word).ok_or_else(|| format!("line {n}, column {col}: \"{word}\" is not a number"))?;
            bad.note(v, || Pos::Text(n, col));
            values.push(v);
        }
        if values.len() != nrows * ncols {
            return Err(format!(
                "the size line (line {size_line}) gives {nrows} x {ncols} = {} values, but the file has {}",
                nrows * ncols,
                values.len()
            ));
        }
        // Column by column (Fortran order).
        let a = Array2::from_shape_vec((nrows, ncols).f(), values).map_err(|e| e.to_string())?;
        Matrix::Dense(a.as_standard_layout().into_owned())
    };
    if let Some(b) = bad.describe() {
        return Err(format!("has {b}"));
    }
    Ok(Parsed { x, field })
}

/// The entries of a coordinate file after its size line, checked (count, index range, values).
fn coordinate_entries<R: BufRead>(
    lines: &mut Lines<R>,
    field: &str,
    [nrows, ncols, nnz]: [usize; 3],
    size_line: usize,
    bad: &mut BadEntries,
) -> Result<Vec<Entry>, String> {
    let pattern = field == "pattern";
    let want = if pattern { 2 } else { 3 };
    // The size line is not trusted for the allocation: the entries grow as they are read.
    let mut entries = Vec::with_capacity(nnz.min(PREALLOCATE));
    while let Some((n, l)) = content_line(lines)? {
        let w: Vec<(usize, &str)> = words(&l).collect();
        if w.len() != want {
            return Err(format!(
                "line {n}: {} fields; a {field} coordinate entry is {}",
                w.len(),
                if pattern { "row column" } else { "row column value" }
            ));
        }
        if entries.len() == nnz {
            return Err(format!(
                "line {n}: more entries than the {nnz} of the size line (line {size_line})"
            ));
        }
        let row = index(w[0], n, "row", nrows)?;
        let col = index(w[1], n, "column", ncols)?;
        let value = if pattern {
            1.0
        } else {
            let (c, word) = w[2];
            let v = number(word).ok_or_else(|| format!("line {n}, column {c}: \"{word}\" is not a number"))?;
            bad.note(v, || Pos::Text(n, c));
            v
        };
        entries.push(Entry {
            row: row as u32,
            col: col as u32,
            line: n,
            value,
        });
    }
    if entries.len() != nnz {
        return Err(format!(
            "the size line (line {size_line}) gives {nnz} entries, but the file has {}",
            entries.len()
        ));
    }
    Ok(entries)
}

/// The CSR form of coordinate entries; two entries at one position are an error naming both lines.
fn to_csr(mut entries: Vec<Entry>, nrows: usize, ncols: usize) -> Result<Csr, String> {
    entries.sort_unstable_by_key(|e| (e.row, e.col, e.line));
    if let Some(w) = entries
        .windows(2)
        .find(|w| (w[0].row, w[0].col) == (w[1].row, w[1].col))
    {
        return Err(format!(
            "lines {} and {} both give the entry at row {}, column {} (1-based); list each entry once: sum the \
             duplicates before writing (scipy: X.sum_duplicates())",
            w[0].line,
            w[1].line,
            w[0].row + 1,
            w[0].col + 1
        ));
    }
    let mut indptr = vec![0usize; nrows + 1];
    for e in &entries {
        indptr[e.row as usize + 1] += 1;
    }
    for i in 0..nrows {
        indptr[i + 1] += indptr[i];
    }
    let indices = entries.iter().map(|e| e.col).collect();
    let data = entries.iter().map(|e| e.value).collect();
    Csr::from_parts((nrows, ncols), indptr, indices, data, "row")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn parse_str(text: &str) -> Result<Parsed, String> {
        parse(text.as_bytes(), ValueRules::default())
    }

    fn dense(text: &str) -> Array2<f64> {
        match parse_str(text).unwrap().x {
            Matrix::Dense(a) => a,
            Matrix::Sparse(c) => c.to_dense(),
        }
    }

    #[test]
    fn coordinate_files_with_comments_and_blank_lines() {
        let text =
            "%%MatrixMarket matrix coordinate integer general\n% written by a test\n%\n2 3 3\n1 2 5\n\n2 1 7\n1 3 1\n";
        let p = parse_str(text).unwrap();
        assert_eq!(p.field, "integer");
        assert!(matches!(p.x, Matrix::Sparse(_)));
        assert_eq!(dense(text), array![[0.0, 5.0, 1.0], [7.0, 0.0, 0.0]]);
        let pattern = "%%MatrixMarket MATRIX Coordinate Pattern General\n2 2 2\n1 1\n2 2\n";
        assert_eq!(dense(pattern), array![[1.0, 0.0], [0.0, 1.0]]);
        let real = "%%MatrixMarket matrix coordinate real general\n1 2 1\n1 2 2.5e-1\n";
        assert_eq!(dense(real), array![[0.0, 0.25]]);
    }

    #[test]
    fn array_files_are_column_major() {
        let text = "%%MatrixMarket matrix array real general\n2 3\n1\n2\n3\n4\n5\n6\n";
        assert_eq!(dense(text), array![[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]);
    }

    #[test]
    fn every_fault_names_its_line() {
        let head = "%%MatrixMarket matrix coordinate real general\n";
        let cases = [
            (
                format!("{head}2 2 2\n1 1 1\n1 1 2\n"),
                "lines 3 and 4 both give the entry at row 1, column 1 (1-based); list each entry once: sum the \
                 duplicates before writing (scipy: X.sum_duplicates())",
            ),
            (
                format!("{head}2 2 1\n3 1 1\n"),
                "line 3, column 1: row index 3 is out of range: the size line gives 2 rows, numbered 1 to 2 \
                 (Matrix Market indices start at 1)",
            ),
            (
                format!("{head}2 2 1\n1 0 1\n"),
                "line 3, column 3: column index 0 is out of range: the size line gives 2 columns, numbered 1 to 2 \
                 (Matrix Market indices start at 1)",
            ),
            (
                format!("{head}2 2 2\n1 1 1\n"),
                "the size line (line 2) gives 2 entries, but the file has 1",
            ),
            (
                format!("{head}2 2 1\n1 1 1\n2 2 1\n"),
                "line 4: more entries than the 1 of the size line (line 2)",
            ),
            (
                format!("{head}2 2 1\n1 1 x\n"),
                "line 3, column 5: \"x\" is not a number",
            ),
            (
                format!("{head}2 2 1\n1 1\n"),
                "line 3: 2 fields; a real coordinate entry is row column value",
            ),
            (
                format!("{head}2 2\n"),
                "line 2: the size line has 2 numbers; it needs 3 (rows, columns, entries)",
            ),
            (
                format!("{head}2 2 2\n1 1 -1\n2 2 inf\n"),
                "has 1 negative entries (first at line 3, column 5: -1); NMF needs non-negative data: shift or clip \
                 it before fitting; 1 infinite entries (first at line 4, column 5); remove or cap them",
            ),
            (
                "%%MatrixMarket matrix coordinate real symmetric\n2 2 1\n1 1 1\n".to_string(),
                "line 1, column 39: symmetry \"symmetric\" is not supported; write the full matrix with symmetry \
                 \"general\" (scipy: mmwrite(path, X, symmetry=\"general\"))",
            ),
            (
                "%%MatrixMarket matrix coordinate complex general\n".to_string(),
                "line 1, column 34: field \"complex\" is not supported; NMF needs real non-negative values",
            ),
            (
                "1 2 3\n".to_string(),
                "line 1: no %%MatrixMarket header; a Matrix Market file starts with e.g. \"%%MatrixMarket matrix \
                 coordinate real general\" (or set [data] format to the file's format)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_str(&text).unwrap_err(), want, "{text}");
        }
    }

    #[test]
    fn nan_is_an_error_unless_missing_values_are_enabled() {
        let text = "%%MatrixMarket matrix coordinate real general\n1 2 2\n1 1 NaN\n1 2 1\n";
        assert!(parse_str(text).unwrap_err().starts_with("has 1 missing or NaN entries"));
        let p = parse(text.as_bytes(), ValueRules { missing_allowed: true }).unwrap();
        assert!(p.x.to_dense()[[0, 0]].is_nan());
    }
}

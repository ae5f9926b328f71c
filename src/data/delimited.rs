//! CSV and TSV files of numbers (as written by `numpy.savetxt`, pandas `to_csv`, R `write.csv`):
//! one row of X per line, with an optional header row of feature names and an optional first
//! column of row names, each detected by holding something that is not a number. Fields may be
//! double-quoted (`""` is a quote inside); blank lines are skipped; a missing value is `NaN`,
//! `nan`, `NA` or an empty field, and is an error unless missing values are enabled.
//!
//! Detection: the first line is a header when one of its fields after the first is not a number,
//! or when its first field is not a number but the next line's is. Row names are present when the
//! first field of the first row of numbers is not a number, or when the header's first field is
//! empty above a column (pandas writes the index so, even when it holds numbers). Feature names
//! that are all numbers, and row names that are all numbers without such a header, cannot be told
//! from values: they are read as numbers.

use super::DataSpec;
use super::check::{BadEntries, Pos, Read, ValueRules};
use super::text::{Lines, number};
use super::{Format, Matrix};
use crate::error::{Error, Result};
use ndarray::Array2;
use std::borrow::Cow;
use std::io::BufRead;
use std::path::Path;

/// Reads and checks the CSV (`Format::Csv`) or TSV file of `spec`; X is its transpose when
/// `spec.transpose`.
pub(crate) fn read(spec: &DataSpec, format: Format, rules: ValueRules) -> Result<Read> {
    let (path, transpose) = (spec.path.as_path(), spec.transpose);
    let err = |message: String| Error::DataFile {
        path: path.to_path_buf(),
        message,
    };
    let f = std::fs::File::open(path).map_err(|e| err(format!("cannot be read: {e}")))?;
    read_from(std::io::BufReader::new(f), path, format, transpose, rules)
}

/// [`read`] of a CSV (`Format::Csv`) or TSV text from `reader`; `path` names it in error messages.
pub(crate) fn read_from<R: BufRead>(
    reader: R,
    path: &Path,
    format: Format,
    transpose: bool,
    rules: ValueRules,
) -> Result<Read> {
    let err = |message: String| Error::DataFile {
        path: path.to_path_buf(),
        message,
    };
    let delimiter = if format == Format::Csv { ',' } else { '\t' };
    let t = parse(reader, delimiter, rules).map_err(err)?;
    let stored_shape = [t.values.nrows(), t.values.ncols()];
    let (x, obs_names, var_names) = if transpose {
        let x = t.values.t().as_standard_layout().into_owned();
        (x, t.col_names, t.row_names)
    } else {
        (t.values, t.row_names, t.col_names)
    };
    Ok(Read {
        x: Matrix::Dense(x),
        transposed: transpose,
        stored_shape,
        dtype: "text".into(),
        dataset: String::new(),
        format: format.name().into(),
        obs_names,
        var_names,
        values_checked: true,
        volumes: None,
    })
}

/// A parsed table: the numbers and the names found around them.
#[derive(Debug)]
struct Table {
    values: Array2<f64>,
    row_names: Option<Vec<String>>,
    col_names: Option<Vec<String>>,
}

/// A field of a line: its 1-based character column and its text (unquoted, trimmed).
#[derive(Debug, Clone, PartialEq)]
struct Field {
    col: usize,
    text: String,
}

/// Splits `line` (line number `n`) at `delimiter`, honouring double quotes.
fn split(line: &str, n: usize, delimiter: char) -> Result<Vec<Field>, String> {
    Ok(fields(line, n, delimiter)?
        .into_iter()
        .map(|(col, text)| Field {
            col,
            text: text.into_owned(),
        })
        .collect())
}

/// The fields of `line` (line number `n`) with their 1-based character columns, borrowed from the
/// line unless quotes had to be removed.
fn fields(line: &str, n: usize, delimiter: char) -> Result<Vec<(usize, Cow<'_, str>)>, String> {
    if line.contains('"') {
        return quoted_fields(line, n, delimiter);
    }
    let ascii = line.is_ascii();
    let mut out = Vec::new();
    let mut start = 0;
    // Characters before byte `counted` of the line: columns of a non-ASCII line are counted
    // forward from the previous field, so a long line costs linear time, not quadratic.
    let (mut counted, mut chars_before) = (0, 0);
    for piece in line.split(delimiter) {
        let lead = piece.len() - piece.trim_start().len();
        let byte = start + if lead == piece.len() { 0 } else { lead };
        let col = if ascii {
            byte + 1
        } else {
            chars_before += line[counted..byte].chars().count();
            counted = byte;
            chars_before + 1
        };
        out.push((col, Cow::Borrowed(piece.trim())));
        start += piece.len() + delimiter.len_utf8();
    }
    Ok(out)
}

/// [`fields`] of a line with double quotes (`""` is a quote inside a quoted field).
fn quoted_fields(line: &str, n: usize, delimiter: char) -> Result<Vec<(usize, Cow<'_, str>)>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().enumerate().peekable();
    loop {
        // Leading blanks (not the delimiter itself: a tab may be the delimiter).
        while chars.peek().is_some_and(|&(_, c)| c != delimiter && c.is_whitespace()) {
            chars.next();
        }
        let col = chars.peek().map_or(line.chars().count() + 1, |&(k, _)| k + 1);
        let mut text = String::new();
        if chars.peek().is_some_and(|&(_, c)| c == '"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("line {n}, column {col}: unterminated quote")),
                    Some((_, '"')) if chars.peek().is_some_and(|&(_, c)| c == '"') => {
                        chars.next();
                        text.push('"');
                    }
                    Some((_, '"')) => break,
                    Some((_, c)) => text.push(c),
                }
            }
            // Anything up to the delimiter after the closing quote is kept, trimmed.
            let mut rest = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c == delimiter {
                    break;
                }
                rest.push(c);
                chars.next();
            }
            text.push_str(rest.trim());
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if c == delimiter {
                    break;
                }
                text.push(c);
                chars.next();
            }
            text.truncate(text.trim_end().len());
        }
        fields.push((col, Cow::Owned(text)));
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

fn numeric(f: &Field) -> bool {
    number(&f.text).is_some()
}

/// The next line that is not blank, split into fields.
fn next_row<R: BufRead>(lines: &mut Lines<R>, delimiter: char) -> Result<Option<(usize, Vec<Field>)>, String> {
    while let Some((n, l)) = lines.next_line()? {
        if !l.trim().is_empty() {
            return Ok(Some((n, split(l, n, delimiter)?)));
        }
    }
    Ok(None)
}

fn parse<R: BufRead>(reader: R, delimiter: char, rules: ValueRules) -> Result<Table, String> {
    let mut lines = Lines::new(reader);
    let Some(first) = next_row(&mut lines, delimiter)? else {
        return Err("is empty: no line holds a number".into());
    };
    let second = next_row(&mut lines, delimiter)?;
    let header = first.1[1..].iter().any(|f| !numeric(f))
        || (!numeric(&first.1[0]) && second.as_ref().is_some_and(|s| numeric(&s.1[0])));
    // The second line is a row of numbers too when the first is not a header.
    let (header, data, pending) = if header {
        (Some(first), second, None)
    } else {
        (None, Some(first), second)
    };
    let Some(data) = data else {
        return Err("has a header line but no rows of numbers".into());
    };
    let width = data.1.len();
    let row_names = !numeric(&data.1[0])
        || header
            .as_ref()
            .is_some_and(|h| width > 1 && h.1.len() == width && h.1[0].text.is_empty());
    let skip = usize::from(row_names);
    if width == skip {
        return Err(format!(
            "line {}: no column of numbers (the only field is a row name)",
            data.0
        ));
    }
    let col_names = match &header {
        None => None,
        Some((n, h)) => {
            let names = if h.len() == width {
                &h[skip..]
            } else if row_names && h.len() + 1 == width {
                &h[..]
            } else {
                return Err(format!(
                    "the header (line {n}) has {} fields, but line {} (the first row of numbers) has {width}{}; \
                     the header needs one name per column",
                    h.len(),
                    data.0,
                    if row_names { " including its row name" } else { "" }
                ));
            };
            Some(names.iter().map(|f| f.text.clone()).collect::<Vec<_>>())
        }
    };
    let first_line = data.0;
    let mut names = Vec::new();
    let mut values = Vec::new();
    let mut bad = BadEntries::new(rules);
    let mut rows = 0;
    let mut row = |n: usize, fields: &[(usize, &str)]| -> Result<(), String> {
        if fields.len() != width {
            return Err(format!(
                "line {n} has {} fields, but line {first_line} (the first row of numbers) has {width}; every row \
                 needs the same number of fields",
                fields.len()
            ));
        }
        if row_names {
            names.push(fields[0].1.to_string());
        }
        for &(col, text) in &fields[skip..] {
            let v = number(text).ok_or_else(|| {
                format!(
                    "line {n}, column {col}: \"{text}\" is not a number; after the header row{} every field must be \
                     a number (or NaN, NA or empty for a missing value)",
                    if row_names { " and the row names" } else { "" }
                )
            })?;
            bad.note(v, || Pos::Text(n, col));
            values.push(v);
        }
        rows += 1;
        Ok(())
    };
    // The rows read for the detection, then the rest straight from each line.
    for (n, f) in std::iter::once(data).chain(pending) {
        row(n, &f.iter().map(|f| (f.col, f.text.as_str())).collect::<Vec<_>>())?;
    }
    while let Some((n, l)) = lines.next_line()? {
        if !l.trim().is_empty() {
            let f = fields(l, n, delimiter)?;
            row(n, &f.iter().map(|(c, t)| (*c, t.as_ref())).collect::<Vec<_>>())?;
        }
    }
    if let Some(b) = bad.describe() {
        return Err(format!("has {b}"));
    }
    let values = Array2::from_shape_vec((rows, width - skip), values).map_err(|e| e.to_string())?;
    Ok(Table {
        values,
        row_names: row_names.then_some(names),
        col_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn csv(text: &str) -> Result<Table, String> {
        parse(text.as_bytes(), ',', ValueRules::default())
    }

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn plain_numbers() {
        let t = csv("1,2,3\n4, 5 ,6e0\n\n").unwrap();
        assert_eq!(t.values, array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!((t.row_names, t.col_names), (None, None));
    }

    #[test]
    fn header_and_row_names_are_detected() {
        let t = csv("g1,g2\n1,2\n3,4\n").unwrap();
        assert_eq!((t.row_names, t.col_names), (None, strings(&["g1", "g2"])));
        let t = csv("cell,g1,g2\nc1,1,2\nc2,3,4\n").unwrap();
        assert_eq!(t.values, array![[1.0, 2.0], [3.0, 4.0]]);
        assert_eq!(
            (t.row_names, t.col_names),
            (strings(&["c1", "c2"]), strings(&["g1", "g2"]))
        );
        // R's write.csv: quoted, empty corner.
        let t = csv("\"\",\"g 1\",\"g,2\"\n\"c1\",1,2\n").unwrap();
        assert_eq!((t.row_names, t.col_names), (strings(&["c1"]), strings(&["g 1", "g,2"])));
        // A header without a name for the row-name column.
        let t = csv("g1,g2\nc1,1,2\n").unwrap();
        assert_eq!((t.row_names, t.col_names), (strings(&["c1"]), strings(&["g1", "g2"])));
        // Row names, no header.
        let t = csv("c1,1,2\nc2,3,4\n").unwrap();
        assert_eq!((t.row_names, t.col_names), (strings(&["c1", "c2"]), None));
        // pandas: an empty corner above a numeric index.
        let t = csv(",g1,g2\n0,1,2\n1,3,4\n").unwrap();
        assert_eq!(t.values, array![[1.0, 2.0], [3.0, 4.0]]);
        assert_eq!(
            (t.row_names, t.col_names),
            (strings(&["0", "1"]), strings(&["g1", "g2"]))
        );
        // One column with a header.
        let t = csv("g1\n1\n2\n").unwrap();
        assert_eq!((t.values, t.col_names), (array![[1.0], [2.0]], strings(&["g1"])));
    }

    #[test]
    fn tabs_and_quotes() {
        let t = parse("\tg 1\tg2\nc 1\t1\t2\n".as_bytes(), '\t', ValueRules::default()).unwrap();
        assert_eq!((t.row_names, t.col_names), (strings(&["c 1"]), strings(&["g 1", "g2"])));
        assert_eq!(
            split("\"a\"\"b\", c ,", 1, ','),
            Ok(vec![
                Field {
                    col: 1,
                    text: "a\"b".into()
                },
                Field {
                    col: 9,
                    text: "c".into()
                },
                Field {
                    col: 12,
                    text: "".into()
                }
            ])
        );
        assert_eq!(
            split("a,\"b", 7, ','),
            Err("line 7, column 3: unterminated quote".into())
        );
    }

    #[test]
    fn columns_of_non_ascii_lines_count_characters() {
        let line = "é,1, 2,ü ,x";
        let cols: Vec<usize> = fields(line, 1, ',').unwrap().iter().map(|f| f.0).collect();
        assert_eq!(cols, [1, 3, 6, 8, 11]);
        // The same columns as counting each field's prefix from the line start.
        let long: String = (0..2000).map(|i| format!("é{i}")).collect::<Vec<_>>().join("\t");
        let got = fields(&long, 1, '\t').unwrap();
        let mut byte = 0;
        for (k, piece) in long.split('\t').enumerate() {
            assert_eq!(got[k].0, long[..byte].chars().count() + 1);
            byte += piece.len() + 1;
        }
    }

    #[test]
    fn faults_name_line_and_column() {
        assert_eq!(
            csv("g1,g2,g3\n1,2,3\n4,5\n").unwrap_err(),
            "line 3 has 2 fields, but line 2 (the first row of numbers) has 3; every row needs the same number of fields"
        );
        assert_eq!(
            csv("1,2\n3,x4\n").unwrap_err(),
            "line 2, column 3: \"x4\" is not a number; after the header row every field must be a number (or NaN, NA \
             or empty for a missing value)"
        );
        assert_eq!(
            csv("a,b,c\n1,2\n").unwrap_err(),
            "the header (line 1) has 3 fields, but line 2 (the first row of numbers) has 2; the header needs one name \
             per column"
        );
        assert_eq!(csv("\n\n").unwrap_err(), "is empty: no line holds a number");
        assert_eq!(csv("a,b\n").unwrap_err(), "has a header line but no rows of numbers");
        assert_eq!(
            csv("1,-2\nNA,3\n,inf\n").unwrap_err(),
            "has 1 negative entries (first at line 1, column 3: -2); NMF needs non-negative data: shift or clip it \
             before fitting; 2 missing or NaN entries (NaN, NA or an empty field; first at line 2, column 1); remove \
             or impute them, or set [data] missing = \"nan\" to leave them out of the fits; 1 infinite entries (first at line 3, column 2); remove or cap them"
        );
        let t = parse("1,NA\n".as_bytes(), ',', ValueRules { missing_allowed: true }).unwrap();
        assert!(t.values[[0, 1]].is_nan());
    }
}

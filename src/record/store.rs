//! Durable per-fit records: one file per finished job under `<out>/records/`, written once and
//! atomically (temporary file, fsync, rename), with a SHA-256 over its content and the fingerprint
//! of the plan and data it was made from. Statistics that need every restart's factors (component
//! stability) stream over these files, so memory does not grow with the number of restarts.
//!
//! Layout (little-endian): magic `NNMFREC1`, fingerprint (32 bytes), kind (u8), rank, index, seed,
//! iterations (u64), stop (u8), kl, poisson_loglik, frobenius_sq, penalty, seconds (f64), W rows, W cols,
//! H cols (u64), W (row-major f64), H (row-major f64), extra count (u64), extra (f64), SHA-256 of
//! everything before it (32 bytes).

use super::{FitRecord, Job, JobKind};
use crate::error::{Error, Result};
use crate::nmf::{Objectives, StopReason};
use ndarray::Array2;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"NNMFREC1";

/// A record read back: the fit's summary, its factors (of the fitted matrix, before zero lines are
/// restored) and kind-specific numbers (held-out block sums).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFit {
    /// The summary written to fits.tsv.
    pub record: FitRecord,
    /// W (N' x r).
    pub w: Array2<f64>,
    /// H (r x p').
    pub h: Array2<f64>,
    /// Kind-specific values.
    pub extra: Vec<f64>,
}

/// The records directory of an output directory.
pub fn records_dir(out: &Path) -> PathBuf {
    out.join(crate::outdir::RECORDS)
}

/// The file of `job`'s record.
pub fn record_path(out: &Path, job: &Job) -> PathBuf {
    records_dir(out).join(format!("{}-r{:03}-{:05}.rec", job.kind.name(), job.rank, job.index))
}

fn stop_code(s: StopReason) -> u8 {
    match s {
        StopReason::Converged => 0,
        StopReason::MaxIter => 1,
        StopReason::NonFinite => 2,
        StopReason::Cancelled => 3,
        StopReason::Stationary => 4,
    }
}

fn stop_from(c: u8) -> Option<StopReason> {
    Some(match c {
        0 => StopReason::Converged,
        1 => StopReason::MaxIter,
        2 => StopReason::NonFinite,
        3 => StopReason::Cancelled,
        4 => StopReason::Stationary,
        _ => return None,
    })
}

/// Encodes a record.
pub fn encode(fingerprint: &[u8; 32], fit: &StoredFit) -> Vec<u8> {
    let r = &fit.record;
    let mut b = Vec::with_capacity(200 + 8 * (fit.w.len() + fit.h.len() + fit.extra.len()));
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(fingerprint);
    b.push(r.job.kind.code());
    for v in [r.job.rank as u64, r.job.index as u64, r.job.seed, r.iterations as u64] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.push(stop_code(r.stop));
    for v in [
        r.objectives.kl,
        r.objectives.poisson_loglik,
        r.objectives.frobenius_sq,
        r.objectives.penalty,
        r.seconds,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for v in [fit.w.nrows(), fit.w.ncols(), fit.h.ncols()] {
        b.extend_from_slice(&(v as u64).to_le_bytes());
    }
    for v in fit.w.iter().chain(fit.h.iter()) {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&(fit.extra.len() as u64).to_le_bytes());
    for v in &fit.extra {
        b.extend_from_slice(&v.to_le_bytes());
    }
    let digest = Sha256::digest(&b);
    b.extend_from_slice(&digest);
    b
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes)
    }
    fn f64(&mut self) -> Option<f64> {
        self.u64().map(f64::from_bits)
    }
    fn matrix(&mut self, rows: usize, cols: usize) -> Option<Array2<f64>> {
        let len = rows.checked_mul(cols)?;
        let bytes = self.take(len.checked_mul(8)?)?;
        let v: Vec<f64> = bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        Array2::from_shape_vec((rows, cols), v).ok()
    }
}

/// Why a record cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Truncated, corrupted, or not a record (checksum or layout).
    Damaged,
    /// Made from another config or other data.
    OtherPlan,
}

/// Decodes a record; only complete records (checksum) made under `fingerprint` are accepted.
pub fn decode(bytes: &[u8], fingerprint: &[u8; 32]) -> std::result::Result<StoredFit, Invalid> {
    if bytes.len() < MAGIC.len() + 64 || &bytes[..8] != MAGIC {
        return Err(Invalid::Damaged);
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != digest {
        return Err(Invalid::Damaged);
    }
    if &body[8..40] != fingerprint {
        return Err(Invalid::OtherPlan);
    }
    let mut r = Reader { b: body, at: 40 };
    let parse = |r: &mut Reader| -> Option<StoredFit> {
        let kind = JobKind::from_code(r.u8()?)?;
        let (rank, index, seed, iterations) = (r.u64()? as usize, r.u64()? as usize, r.u64()?, r.u64()? as usize);
        let stop = stop_from(r.u8()?)?;
        let objectives = Objectives {
            kl: r.f64()?,
            poisson_loglik: r.f64()?,
            frobenius_sq: r.f64()?,
            penalty: r.f64()?,
        };
        let seconds = r.f64()?;
        let (wr, wc, hc) = (r.u64()? as usize, r.u64()? as usize, r.u64()? as usize);
        let w = r.matrix(wr, wc)?;
        let h = r.matrix(wc, hc)?;
        let n_extra = r.u64()? as usize;
        let extra = (0..n_extra).map(|_| r.f64()).collect::<Option<Vec<f64>>>()?;
        (r.at == r.b.len()).then_some(())?;
        let job = Job {
            kind,
            rank,
            index,
            seed,
        };
        Some(StoredFit {
            record: FitRecord {
                job,
                objectives,
                iterations,
                stop,
                seconds,
            },
            w,
            h,
            extra,
        })
    };
    parse(&mut r).ok_or(Invalid::Damaged)
}

/// Writes `fit`'s record under `out` atomically and durably.
pub fn write(out: &Path, fingerprint: &[u8; 32], fit: &StoredFit) -> Result<()> {
    let path = record_path(out, &fit.record.job);
    // A name of this process's own: two processes that (by mistake) run the same job never write
    // into one temporary file.
    let tmp = crate::fsio::private_partial_path(&path);
    let err = |e| Error::io(format!("cannot write fit record {}", path.display()), e);
    let bytes = encode(fingerprint, fit);
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(&bytes).and_then(|_| f.sync_all()).map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(err)?;
    crate::fsio::sync_parent(&path).map_err(err)
}

/// What the records directory holds for one job.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordState {
    /// A complete record of this job made under the fingerprint (its summary).
    Done(FitRecord),
    /// No record.
    Missing,
    /// A record that fails its checksum or layout, or is not this job's (torn or corrupted).
    Damaged,
    /// A complete record made from another config or other data.
    OtherPlan,
}

/// Checks `job`'s record under `out` (reads the whole file to verify its checksum).
pub fn check(out: &Path, fingerprint: &[u8; 32], job: &Job) -> Result<RecordState> {
    let path = record_path(out, job);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RecordState::Missing),
        Err(e) => return Err(Error::io(format!("cannot read fit record {}", path.display()), e)),
    };
    Ok(match decode(&bytes, fingerprint) {
        Ok(fit) if fit.record.job == *job => RecordState::Done(fit.record),
        Ok(_) | Err(Invalid::Damaged) => RecordState::Damaged,
        Err(Invalid::OtherPlan) => RecordState::OtherPlan,
    })
}

/// Reads `job`'s record under `out`.
pub fn read(out: &Path, fingerprint: &[u8; 32], job: &Job) -> Result<StoredFit> {
    let path = record_path(out, job);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(format!("cannot read fit record {}", path.display()), e))?;
    decode(&bytes, fingerprint).map_err(|why| {
        Error::io(
            format!("fit record {}", path.display()),
            std::io::Error::other(match why {
                Invalid::Damaged => "damaged (checksum or layout)",
                Invalid::OtherPlan => "made from another config or other data",
            }),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredFit {
        let job = Job {
            kind: JobKind::Heldout,
            rank: 3,
            index: 2,
            seed: 99,
        };
        let objectives = Objectives {
            kl: 1.5,
            poisson_loglik: -2.5,
            frobenius_sq: 3.5,
            penalty: 0.25,
        };
        StoredFit {
            record: FitRecord {
                job,
                objectives,
                iterations: 40,
                stop: StopReason::Converged,
                seconds: 0.25,
            },
            w: Array2::from_shape_fn((5, 3), |(i, j)| (i * 3 + j) as f64),
            h: Array2::from_shape_fn((3, 4), |(i, j)| (i + j) as f64 / 7.0),
            extra: vec![1.0, 2.0],
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let fp = [7u8; 32];
        let fit = sample();
        let bytes = encode(&fp, &fit);
        assert_eq!(decode(&bytes, &fp).unwrap(), fit);
        assert_eq!(decode(&bytes, &[8u8; 32]), Err(Invalid::OtherPlan));
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(decode(&bytes[..cut], &fp), Err(Invalid::Damaged), "truncated at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[100] ^= 1;
        assert_eq!(decode(&flipped, &fp), Err(Invalid::Damaged));
    }

    #[test]
    fn write_is_atomic_and_readable() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(records_dir(tmp.path())).unwrap();
        let fit = sample();
        write(tmp.path(), &[1; 32], &fit).unwrap();
        let path = record_path(tmp.path(), &fit.record.job);
        assert!(path.ends_with("records/heldout-r003-00002.rec"), "{}", path.display());
        assert_eq!(read(tmp.path(), &[1; 32], &fit.record.job).unwrap(), fit);
        assert_eq!(std::fs::read_dir(records_dir(tmp.path())).unwrap().count(), 1);
    }
}

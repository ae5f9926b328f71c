//! `nnmf_sweep._native`: the CPython extension module of the Python package, a thin layer over
//! the same Rust library as the `nnmf-sweep` command line (no second implementation).
//!
//! - [`run_config`] runs a TOML config as `nnmf-sweep CONFIG` does ([`app::run_plan`]);
//! - [`sweep`] runs a config text (written by the Python side from keyword arguments) on a matrix
//!   held in memory: a numpy array (float64 or float32, any strides: read in place, no Python-side
//!   copy) or the parts of a SciPy CSR matrix (kept sparse);
//! - [`project`] scores new observations against a finished sweep's components (H fixed, W
//!   solved: `nnmf-sweep project`'s solver), returning W as a numpy array.
//!
//! Each call runs with the GIL released, on a worker thread; the calling thread wakes every
//! [`POLL`] to let Python run its signal handlers, and on Ctrl-C (KeyboardInterrupt) sets the
//! run's cancellation flag, which stops it as SIGINT stops the command line (finished fits are
//! stored; calling again resumes). Errors arrive as `NativeError(exit_code, message,
//! interrupted)`, with the command line's message and exit code; the Python side maps them to
//! its exception classes.

use ndarray::{Array2, ArrayView2, Zip};
use nnmf_sweep::app::project::{Fixed, project_onto, read_model};
use nnmf_sweep::app::{self, Outcome, RunOptions};
use nnmf_sweep::config::{self, Overrides, Plan};
use nnmf_sweep::data::{self, Dataset, Matrix};
use nnmf_sweep::progress::Observer;
use nnmf_sweep::record::FitRecord;
use nnmf_sweep::sparse::Csr;
use nnmf_sweep::sweep::Shard;
use nnmf_sweep::{Error, Result};
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pyo3::create_exception!(
    _native,
    NativeError,
    pyo3::exceptions::PyException,
    "An nnmf-sweep error: args are (exit_code, message, interrupted)."
);

/// How often the calling thread wakes to let Python handle a signal (Ctrl-C).
const POLL: Duration = Duration::from_millis(50);

/// The Python exception of a library error: its exit code and message, as the command line
/// would print them.
fn native_err(e: &Error, interrupted: bool) -> PyErr {
    NativeError::new_err((e.exit_code(), e.to_string(), interrupted))
}

/// Shows progress (when asked) and keeps the warnings, which the Python side turns into
/// `warnings.warn` calls instead of printing them.
struct Collect {
    inner: Option<Box<dyn Observer>>,
    warnings: Vec<String>,
}

impl Observer for Collect {
    fn start(&mut self, total: usize) {
        if let Some(o) = self.inner.as_mut() {
            o.start(total);
        }
    }
    fn fit_done(&mut self, rec: &FitRecord) {
        if let Some(o) = self.inner.as_mut() {
            o.fit_done(rec);
        }
    }
    fn finish(&mut self) {
        if let Some(o) = self.inner.as_mut() {
            o.finish();
        }
    }
    fn warn(&mut self, message: &str) {
        self.warnings.push(message.to_string());
    }
}

/// What a run hands back to Python: the output directory, whether the results were merged
/// (false: a shard whose fits are stored), and the warnings.
type RunReturn = (String, bool, Vec<String>);

/// Runs `plan` on a worker thread with the GIL released; Ctrl-C cancels it like SIGINT.
fn run_detached(
    py: Python<'_>,
    plan: Plan,
    given: Option<Dataset>,
    opts: RunOptions,
    command: &'static str,
    progress: bool,
) -> PyResult<RunReturn> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    let worker = std::thread::Builder::new()
        .name("nnmf-sweep".into())
        .spawn(move || {
            let mut obs = Collect {
                inner: progress.then(|| nnmf_sweep::progress::for_stderr(false)),
                warnings: Vec::new(),
            };
            let outcome = app::run_plan(&plan, given, opts, command, &mut obs, &flag);
            (plan.out_dir, outcome, obs.warnings)
        })
        .map_err(|e| native_err(&Error::io("cannot start the sweep's thread", e), false))?;
    let mut interrupted = None;
    while !worker.is_finished() {
        py.detach(|| std::thread::sleep(POLL));
        if interrupted.is_none()
            && let Err(e) = py.check_signals()
        {
            // Stop like SIGINT: the fits in flight are dropped, the finished ones are kept.
            cancel.store(true, Ordering::SeqCst);
            interrupted = Some(e);
        }
    }
    let (out, outcome, warnings) = worker.join().map_err(|_| {
        pyo3::exceptions::PyRuntimeError::new_err("the sweep's thread panicked (a bug: please report it)")
    })?;
    let out = out.display().to_string();
    match (outcome, interrupted) {
        (Ok(Outcome::Merged(_)), None) => Ok((out, true, warnings)),
        (Ok(Outcome::Shard { .. }), None) => Ok((out, false, warnings)),
        (Err(e), None) => Err(native_err(&e, false)),
        (Err(e @ Error::Incomplete { .. }), Some(sig)) if sig.is_instance_of::<PyKeyboardInterrupt>(py) => {
            Err(native_err(&e, true))
        }
        // The run finished (or failed) before it saw the flag, or a signal handler raised
        // something else (SystemExit, ...): Python's own exception goes on.
        (_, Some(e)) => Err(e),
    }
}

/// The shard to run: "I/N" when given, else a Slurm array task's from the environment (as the
/// command line does).
fn shard_of(shard: Option<&str>) -> Result<Option<Shard>> {
    match shard {
        Some(text) => Shard::parse(text, "shard").map(Some),
        None => Shard::from_env(|k| std::env::var(k).ok()),
    }
}

/// Runs (or resumes) the sweep of the config file at `config_path` exactly as `nnmf-sweep
/// CONFIG [--threads N] [--out DIR] [--force] [--shard I/N]` does. Returns (output directory,
/// merged, warnings).
#[pyfunction]
#[pyo3(signature = (config_path, threads=None, out=None, force=false, shard=None, progress=false))]
fn run_config(
    py: Python<'_>,
    config_path: PathBuf,
    threads: Option<usize>,
    out: Option<PathBuf>,
    force: bool,
    shard: Option<String>,
    progress: bool,
) -> PyResult<RunReturn> {
    let path = std::fs::canonicalize(&config_path).unwrap_or(config_path);
    let setup = || -> Result<(Plan, RunOptions)> {
        let plan = config::load(&path, &Overrides { threads, out })?;
        let opts = RunOptions {
            force,
            shard: shard_of(shard.as_deref())?,
            check_data: None,
        };
        Ok((plan, opts))
    };
    let (plan, opts) = setup().map_err(|e| native_err(&e, false))?;
    let command = if force {
        "nnmf_sweep.run(force=True)"
    } else {
        "nnmf_sweep.run()"
    };
    run_detached(py, plan, None, opts, command, progress)
}

/// Checks that a matrix of `n` x `p` f64 values (and `extra` more bytes) fits the plan's memory
/// limit before it is allocated; the message names the key that raises it.
fn check_size(plan: &Plan, label: &str, n: usize, p: usize, extra: u64) -> Result<()> {
    let need = (n as u64)
        .saturating_mul(p as u64)
        .saturating_mul(8)
        .saturating_add(extra);
    if need <= plan.data.memory_limit() {
        return Ok(());
    }
    Err(Error::DataFile {
        path: PathBuf::from(label),
        message: format!(
            "its copy for the sweep ({n} x {p}) needs about {} MiB, above the memory limit of {}; raise \
             memory_limit_mb (the [run] key)",
            nnmf_sweep::limits::mib(need),
            plan.data.memory_limit_text()
        ),
    })
}

/// X (N x p, f64, standard layout) from a 2-D numpy array of float64 or float32, read in place
/// whatever its strides (C or Fortran order, or a view).
fn dense_of(plan: &Plan, label: &str, x: &Bound<'_, PyAny>) -> PyResult<(Matrix, &'static str)> {
    fn copy<T: Copy + Into<f64> + numpy::Element>(v: ArrayView2<'_, T>) -> Array2<f64> {
        let mut a = Array2::<f64>::zeros(v.dim());
        Zip::from(&mut a).and(&v).for_each(|d, &s| *d = s.into());
        a
    }
    let shape_ok = |dim: (usize, usize)| check_size(plan, label, dim.0, dim.1, 0).map_err(|e| native_err(&e, false));
    // The copy runs with the GIL released (the readonly borrow keeps other Rust code from
    // writing to the array meanwhile).
    if let Ok(a) = x.extract::<PyReadonlyArray2<'_, f64>>() {
        let v = a.as_array();
        shape_ok(v.dim())?;
        return Ok((Matrix::Dense(x.py().detach(|| copy(v))), "float64"));
    }
    if let Ok(a) = x.extract::<PyReadonlyArray2<'_, f32>>() {
        let v = a.as_array();
        shape_ok(v.dim())?;
        return Ok((Matrix::Dense(x.py().detach(|| copy(v))), "float32"));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "{label}: expected a 2-D numpy array of float64 or float32, got {}",
        x.get_type().name()?
    )))
}

/// An index array (int32 or int64, as SciPy stores them) as usize, refusing negative entries.
fn indices_of(label: &str, what: &str, a: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let bad = |v: i64| {
        native_err(
            &Error::DataFile {
                path: PathBuf::from(label),
                message: format!("{what} holds the negative entry {v}; a CSR matrix's {what} are non-negative"),
            },
            false,
        )
    };
    if let Ok(v) = a.extract::<PyReadonlyArray1<'_, i32>>() {
        return v
            .as_array()
            .iter()
            .map(|&i| usize::try_from(i).map_err(|_| bad(i64::from(i))))
            .collect();
    }
    if let Ok(v) = a.extract::<PyReadonlyArray1<'_, i64>>() {
        return v
            .as_array()
            .iter()
            .map(|&i| usize::try_from(i).map_err(|_| bad(i)))
            .collect();
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "{label}: {what} must be a 1-D int32 or int64 numpy array"
    )))
}

/// X (N x p) from the parts of a CSR matrix: ((N, p), indptr, indices, data), checked by
/// [`Csr::from_parts`] (the invariants SciPy's canonical format promises).
fn csr_of(plan: &Plan, label: &str, parts: &Bound<'_, PyTuple>) -> PyResult<(Matrix, &'static str)> {
    let (shape, indptr, indices, values): ((usize, usize), Bound<'_, PyAny>, Bound<'_, PyAny>, Bound<'_, PyAny>) =
        parts.extract()?;
    let nnz = values.len()?;
    // The CSR copy: 8 bytes of value, 4 of column index per entry, 8 per row offset.
    let extra = (nnz as u64).saturating_mul(12).saturating_add((shape.0 as u64 + 1) * 8);
    check_size(plan, label, 0, 0, extra).map_err(|e| native_err(&e, false))?;
    let indptr = indices_of(label, "indptr", &indptr)?;
    let indices = indices_of(label, "indices", &indices)?
        .into_iter()
        .map(|j| u32::try_from(j).unwrap_or(u32::MAX))
        .collect();
    let (data, dtype) = if let Ok(v) = values.extract::<PyReadonlyArray1<'_, f64>>() {
        (v.as_array().to_vec(), "float64")
    } else if let Ok(v) = values.extract::<PyReadonlyArray1<'_, f32>>() {
        (v.as_array().iter().map(|&x| f64::from(x)).collect(), "float32")
    } else {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{label}: the data array must be float64 or float32"
        )));
    };
    let csr = Csr::from_parts(shape, indptr, indices, data, "row").map_err(|message| {
        native_err(
            &Error::DataFile {
                path: PathBuf::from(label),
                message,
            },
            false,
        )
    })?;
    Ok((Matrix::Sparse(csr), dtype))
}

/// The matrix of `x`: a 2-D numpy array, or a tuple ((N, p), indptr, indices, data) of CSR parts.
fn matrix_of(plan: &Plan, label: &str, x: &Bound<'_, PyAny>) -> PyResult<(Matrix, &'static str)> {
    match x.cast::<PyTuple>() {
        Ok(parts) => csr_of(plan, label, parts),
        Err(_) => dense_of(plan, label, x),
    }
}

/// Runs the sweep of `config_text` (a TOML config the Python side wrote from `sweep()`'s keyword
/// arguments; `[output] dir` comes from `out`) on the matrix `x` held in memory (see
/// [`matrix_of`]; `label` names it in messages, `missing`: NaN entries are missing values).
/// Returns (output directory, merged, warnings).
#[pyfunction]
#[pyo3(signature = (config_text, x, label, out, obs_names=None, var_names=None, missing=false, threads=None, force=false, progress=false))]
#[allow(clippy::too_many_arguments)]
fn sweep(
    py: Python<'_>,
    config_text: &str,
    x: &Bound<'_, PyAny>,
    label: &str,
    out: PathBuf,
    obs_names: Option<Vec<String>>,
    var_names: Option<Vec<String>>,
    missing: bool,
    threads: Option<usize>,
    force: bool,
    progress: bool,
) -> PyResult<RunReturn> {
    let plan = config::parse(
        config_text,
        Path::new("sweep() arguments"),
        &Overrides {
            threads,
            out: Some(out),
        },
    )
    .map_err(|e| native_err(&e, false))?;
    let (matrix, dtype) = matrix_of(&plan, label, x)?;
    // The value checks and checksum read all of X: without the GIL.
    let dataset = py
        .detach(|| data::from_memory(label, matrix, dtype, obs_names, var_names, missing))
        .map_err(|e| native_err(&e, false))?;
    let opts = RunOptions {
        force,
        shard: None,
        check_data: None,
    };
    let command = if force {
        "nnmf_sweep.sweep(force=True)"
    } else {
        "nnmf_sweep.sweep()"
    };
    run_detached(py, plan, Some(dataset), opts, command, progress)
}

/// Projects new observations `x` (N_new x p; see [`matrix_of`]) onto the components of the
/// finished sweep in `model_dir` at `rank` (None: its chosen rank): H (r x p) fixed, W_new
/// (N_new x r) solved under the sweep's loss and W penalties, features matched by name when both
/// sides have names. Returns (W_new, rank, per-row loss, per-row fraction explained, features
/// matched, model features missing from the data).
#[pyfunction]
#[pyo3(signature = (model_dir, x, label, rank=None, var_names=None))]
#[allow(clippy::type_complexity)]
fn project<'py>(
    py: Python<'py>,
    model_dir: PathBuf,
    x: &Bound<'py, PyAny>,
    label: &str,
    rank: Option<usize>,
    var_names: Option<Vec<String>>,
) -> PyResult<(Bound<'py, PyArray2<f64>>, usize, Vec<f64>, Vec<f64>, usize, usize)> {
    let model = py
        .detach(|| read_model(&model_dir, rank))
        .map_err(|e| native_err(&e, false))?;
    let (matrix, dtype) = matrix_of(&model.plan, label, x)?;
    let (_, projected) = py
        .detach(|| {
            let dataset = data::from_memory(label, matrix, dtype, None, var_names, false)?;
            project_onto(&model, &model_dir, dataset, Fixed::H, Path::new(label))
        })
        .map_err(|e| native_err(&e, false))?;
    let m = &projected.matching;
    Ok((
        projected.factor.into_pyarray(py),
        projected.rank,
        projected.row_loss,
        projected.explained,
        m.matched,
        m.missing_count,
    ))
}

/// The library's version (the command line's `--version`).
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The module: its functions and `NativeError`. Products run on one BLAS thread, as in the
/// command line (parallelism is rayon's, and results must not depend on the thread count).
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    nnmf_sweep::linalg::set_blas_threads(1);
    m.add_function(wrap_pyfunction!(run_config, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(project, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    Ok(())
}

//! One fit with its loss trace, for time-to-target measurements (`scripts/compare.py`).
//!
//! ```text
//! cargo run --release --example trace -- --data x.h5 [--dataset X] --solver mu-kl|mu-frobenius|hals|cd-kl
//!     --rank R [--init random|nndsvda] [--seed S] [--max-iter 2000] [--every 1]
//!     [--target V] [--max-seconds T] [--precision f64|f32]
//! ```
//!
//! Reads X (N x p, observations as rows) from the HDF5 file `simulate` writes, starts from the
//! given init (`random`: `init::random` with `rng::fit_rng(seed)`; `nndsvda`: the SVD start that
//! matches scikit-learn's), runs the solver with OpenBLAS at 1 thread, and prints TSV lines
//!
//! ```text
//! iteration  seconds  kl  frobenius_sq
//! ```
//!
//! at iteration 0 and every `--every` iterations. `seconds` is the cumulative time of the update
//! iterations only: the objective evaluations that make the trace are outside the clock (so
//! tracing does not slow the fit down). The init's own time (SVD included) is printed once in a
//! `# init_seconds` line. With `--target V` the fit stops at the first traced iteration whose
//! objective of the solver's loss (KL or squared Frobenius) is ≤ V; with `--max-seconds T` when
//! the iterations' clock passes T. Lines starting with `#` are comments. All-zero rows or columns
//! are not dropped (unlike `nnmf-sweep` runs); planted data has none. With `--precision f32` the
//! iterations run in f32 (as `[model] precision = "f32"`); the objectives are computed in f64
//! from the factors rounded up, as the sweep does.

mod support;

use nnmf_sweep::linalg::set_blas_threads;
use nnmf_sweep::nmf::init::{self, Init, Svd};
use nnmf_sweep::nmf::{FitMatrix, Scalar, loss::objectives_of};
use std::time::Instant;
use support::SolverCase;

fn usage(msg: &str) -> ! {
    eprintln!(
        "trace: {msg}\nusage: trace --data FILE.h5 [--dataset X] --solver mu-kl|mu-frobenius|hals|cd-kl --rank R \
         [--init random|nndsvda] [--seed 1] [--max-iter 2000] [--every 1] [--target V] [--max-seconds T] [--precision f64|f32]"
    );
    std::process::exit(2)
}

/// `val` parsed as the value of `flag`, or the usage message.
fn value<T: std::str::FromStr>(flag: &str, val: &str) -> T {
    val.parse()
        .unwrap_or_else(|_| usage(&format!("bad value {val} for {flag}")))
}

struct Args {
    data: String,
    dataset: String,
    case: SolverCase,
    rank: usize,
    init: Init,
    seed: u64,
    max_iter: usize,
    every: usize,
    target: Option<f64>,
    max_seconds: f64,
    /// `--precision f32`.
    single: bool,
}

fn parse_args() -> Args {
    let (mut data, mut dataset, mut case, mut rank) = (None, "X".to_string(), None, None);
    let (mut init, mut seed, mut max_iter, mut every) = (Init::Random, 1u64, 2000usize, 1usize);
    let (mut target, mut max_seconds) = (None, f64::INFINITY);
    let mut single = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let bad = || -> ! { usage(&format!("bad value {val} for {flag}")) };
        match flag.as_str() {
            "--data" => data = Some(val.clone()),
            "--dataset" => dataset = val.clone(),
            "--solver" => case = Some(SolverCase::parse(&val).unwrap_or_else(|| bad())),
            "--rank" => rank = Some(value(&flag, &val)),
            "--init" => {
                init = match val.as_str() {
                    "random" => Init::Random,
                    "nndsvda" => Init::Nndsvda,
                    _ => bad(),
                }
            }
            "--seed" => seed = value(&flag, &val),
            "--max-iter" => max_iter = value(&flag, &val),
            "--every" => every = value::<usize>(&flag, &val).max(1),
            "--target" => target = Some(value(&flag, &val)),
            "--max-seconds" => max_seconds = value(&flag, &val),
            "--precision" => {
                single = match val.as_str() {
                    "f32" => true,
                    "f64" => false,
                    _ => usage(&format!("bad value {val} for --precision (f64 or f32)")),
                }
            }
            _ => usage(&format!("unknown argument {flag}")),
        }
    }
    Args {
        data: data.unwrap_or_else(|| usage("--data is required")),
        dataset,
        case: case.unwrap_or_else(|| usage("--solver is required")),
        rank: rank.unwrap_or_else(|| usage("--rank is required")),
        init,
        seed,
        max_iter,
        every,
        target,
        max_seconds,
        single,
    }
}

fn read_x(path: &str, dataset: &str) -> hdf5::Result<ndarray::Array2<f64>> {
    hdf5::File::open(path)?.dataset(dataset)?.read_2d::<f64>()
}

fn main() {
    let a = parse_args();
    set_blas_threads(1);
    let x = read_x(&a.data, &a.dataset).unwrap_or_else(|e| {
        eprintln!("trace: cannot read {} dataset {}: {e}", a.data, a.dataset);
        std::process::exit(1)
    });
    let (n, p) = x.dim();
    let r = a.rank;
    let data = FitMatrix::new(x);

    let t0 = Instant::now();
    let mut rng = nnmf_sweep::rng::fit_rng(a.seed);
    let (w, h) = match a.init {
        Init::Random => init::random(&mut rng, n, p, r, data.mean()),
        _ => {
            let svd = Svd::top_of(&data, r).unwrap_or_else(|| {
                eprintln!("trace: the SVD of X failed");
                std::process::exit(1)
            });
            init::nndsvd(&svd, r, a.init, data.mean(), &mut rng)
        }
    };
    let init_seconds = t0.elapsed().as_secs_f64();

    println!(
        "# trace: {} (rank {r}) on {} [{}] {n} x {p}, init {} seed {}, 1 BLAS thread",
        a.case.name(),
        a.data,
        a.dataset,
        a.init.name(),
        a.seed
    );
    println!("# init_seconds\t{init_seconds}");
    println!("# seconds = cumulative time of the iterations only (objective evaluations excluded)");
    println!("iteration\tseconds\tkl\tfrobenius_sq");

    let (stop, it) = if a.single {
        iterate::<f32>(&a, &data, w, h)
    } else {
        iterate::<f64>(&a, &data, w, h)
    };
    println!("# stop\t{stop}\t{it}");
}

/// Runs the iterations in precision T and prints the trace; returns why it stopped and the
/// iterations run.
fn iterate<T: Scalar>(
    a: &Args,
    data: &FitMatrix,
    w0: ndarray::Array2<f64>,
    h0: ndarray::Array2<f64>,
) -> (&'static str, usize) {
    let (_, loss) = a.case.solver_loss();
    let (mut w, mut h) = (w0.mapv(T::of), h0.mapv(T::of));
    let mut rule = a.case.rule::<T>(data, a.rank);
    let mut scratch = data.objective_scratch(a.rank);
    let mut eval = |w: &ndarray::Array2<T>, h: &ndarray::Array2<T>| {
        let (w, h) = (w.mapv(|v| v.f64()), h.mapv(|v| v.f64()));
        objectives_of(data, w.view(), h.view(), &mut scratch)
    };
    let mut clock = 0.0;
    let reached = |o: &nnmf_sweep::nmf::Objectives| a.target.is_some_and(|t| o.value(loss) <= t);
    let o = eval(&w, &h);
    println!("0\t0\t{:.17e}\t{:.17e}", o.kl, o.frobenius_sq);
    let mut stop = if reached(&o) { "target" } else { "max_iter" };
    let mut it = 0;
    while stop == "max_iter" && it < a.max_iter {
        let t = Instant::now();
        SolverCase::step(rule.as_mut(), &mut w, &mut h);
        clock += t.elapsed().as_secs_f64();
        it += 1;
        if it % a.every == 0 || it == a.max_iter {
            let o = eval(&w, &h);
            println!("{it}\t{clock}\t{:.17e}\t{:.17e}", o.kl, o.frobenius_sq);
            if !o.value(loss).is_finite() {
                stop = "non_finite";
            } else if reached(&o) {
                stop = "target";
            } else if clock > a.max_seconds {
                stop = "max_seconds";
            }
        }
    }
    (stop, it)
}

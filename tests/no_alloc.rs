//! "No allocation per iteration": a counting global allocator (per thread, so the test harness's
//! own threads cannot interfere) around iterations of each update rule and the objective evaluation.

#![allow(clippy::unwrap_used)] // test code

use ndarray::Array2;
use nnmf_sweep::nmf::loss::objectives_of;
use nnmf_sweep::nmf::mask::HeldOut;
use nnmf_sweep::nmf::{FitMatrix, Loss, Scalar, Solver, init};
use nnmf_sweep::sparse::Csr;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

/// Allocations in 20 steps of `solver` in precision T after one warm-up step (lazy one-time
/// initialization, e.g. OpenBLAS buffers or a rule's transposed copy of X, happens there).
fn step_allocations<T: Scalar>(data: &FitMatrix, r: usize, solver: Solver, loss: Loss) -> usize {
    let (n, p) = data.dim();
    let (w, h) = init::random(&mut nnmf_sweep::rng::fit_rng(1), n, p, r, data.mean());
    let (mut w, mut h) = (w.mapv(T::of), h.mapv(T::of));
    let mut rule = solver.rule::<T>(data, loss, r, nnmf_sweep::nmf::Penalty::NONE);
    rule.step(&mut w, &mut h);
    allocations_in(|| {
        for _ in 0..20 {
            rule.step(&mut w, &mut h);
        }
    })
}

#[test]
fn iterations_and_objectives_do_not_allocate() {
    nnmf_sweep::linalg::set_blas_threads(1);
    // The counter sees allocations (so a 0 below means something).
    assert_eq!(allocations_in(|| drop(std::hint::black_box(vec![1u8; 10]))), 1);
    let (n, p, r) = (120, 80, 5);
    let x = Array2::from_shape_fn((n, p), |(i, j)| ((i * 7 + j * 13) % 17) as f64);
    let (train, ho) = HeldOut::split(x.view(), 3, 0, 0.1, None);
    let ho = Arc::new(ho);
    let sparse = Csr::from_dense(x.view());
    let sparse_train = Csr::from_dense(train.view());
    // Dense, sparse, and both with left-out entries (missing or held out: the weighted rules).
    let cases = [
        ("dense", FitMatrix::new(x.clone())),
        ("sparse", FitMatrix::sparse(sparse)),
        ("dense, left out", FitMatrix::with_heldout(train, Arc::clone(&ho))),
        (
            "sparse, left out",
            FitMatrix::sparse(sparse_train).excluding(Some(Arc::clone(&ho)), Some(Arc::clone(&ho))),
        ),
    ];
    for (what, data) in &cases {
        for (solver, loss) in [
            (Solver::Mu, Loss::Kl),
            (Solver::Cd, Loss::Kl),
            (Solver::Mu, Loss::Frobenius),
            (Solver::Hals, Loss::Frobenius),
        ] {
            for (precision, count) in [
                ("f64", step_allocations::<f64>(data, r, solver, loss)),
                ("f32", step_allocations::<f32>(data, r, solver, loss)),
            ] {
                assert_eq!(
                    count, 0,
                    "{what}: {solver:?} {loss:?} {precision}: {count} allocations in 20 iterations"
                );
            }
        }
        let (w, h) = init::random(&mut nnmf_sweep::rng::fit_rng(1), n, p, r, data.mean());
        let mut scratch = data.objective_scratch(r);
        let _ = objectives_of(data, w.view(), h.view(), &mut scratch);
        let count = allocations_in(|| {
            for _ in 0..20 {
                assert!(objectives_of(data, w.view(), h.view(), &mut scratch).is_finite());
            }
        });
        assert_eq!(count, 0, "{what}: {count} allocations in 20 objective evaluations");
    }
}

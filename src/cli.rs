//! The command line: parses flags, runs the sweep, prints the summary or the error, and maps the
//! error to its documented exit code (see `error.rs` and the README).

use crate::config::{self, Overrides};
use crate::error::{Error, Result};
use crate::report;
use crate::simulate::{self, Planted};
use crate::sweep;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

/// Non-negative matrix factorization sweeps: every rank of a range, many random restarts each,
/// the best-likelihood fit per rank, every fit recorded.
#[derive(Debug, Parser)]
#[command(
    name = "nnmf-sweep",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
#[command(
    after_help = "Exit codes: 0 success, 1 internal error, 2 bad command line or config, \
3 bad input data, 4 output directory problem, 5 numerical failure.\nThe README documents every config key."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

/// `nnmf-sweep CONFIG [flags]`: run a sweep.
#[derive(Debug, Args)]
struct RunArgs {
    /// The sweep's TOML config file (relative paths inside it start at its folder).
    #[arg(required = true)]
    config: Option<PathBuf>,
    /// Worker threads, overriding [run] threads (0: all cores). Results do not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Output directory, overriding [output] dir (relative to the current directory).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print nothing but errors (no progress, warnings or summary).
    #[arg(long, short)]
    quiet: bool,
    /// Overwrite results already in the output directory.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a planted low-rank Poisson count matrix to HDF5 (datasets X, W_true, H_true).
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// The HDF5 file to create.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Observations N (rows of X).
    #[arg(long, default_value_t = 300)]
    rows: usize,
    /// Features p (columns of X).
    #[arg(long, default_value_t = 200)]
    cols: usize,
    /// Planted rank.
    #[arg(long, default_value_t = 4)]
    rank: usize,
    /// Mean of the planted H's entries (the counts' scale).
    #[arg(long, default_value_t = 10.0)]
    mean: f64,
    /// Weight of minor memberships in the planted W.
    #[arg(long, default_value_t = 0.1)]
    mix: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Overdispersed counts: negative-binomial size k (variance λ + λ²/k); default Poisson.
    #[arg(long, value_name = "K")]
    dispersion: Option<f64>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Simulate(a)) => simulate_cmd(a),
        None => sweep_cmd(cli.run),
    }
}

fn sweep_cmd(a: RunArgs) -> Result<()> {
    let path = a.config.unwrap_or_default();
    let plan = config::load(
        &path,
        &Overrides {
            threads: a.threads,
            out: a.out,
        },
    )?;
    let mut obs = crate::progress::for_stderr(a.quiet);
    let cancel = AtomicBool::new(false);
    let outcome = sweep::execute(&plan, a.force, obs.as_mut(), &cancel)?;
    if !a.quiet {
        print!(
            "{}",
            report::summary_table(&outcome.collected.ranks, &outcome.decision, plan.loss.name())
        );
        println!("results in {}", plan.out_dir.display());
    }
    Ok(())
}

fn simulate_cmd(a: SimulateArgs) -> Result<()> {
    let bad = |m: &str| Error::ConfigValue {
        path: PathBuf::from("<command line>"),
        line: 0,
        key: "simulate".into(),
        message: m.into(),
    };
    if a.rows == 0 || a.cols == 0 || a.rank == 0 {
        return Err(bad("--rows, --cols and --rank must be at least 1"));
    }
    if !(a.mean.is_finite() && a.mean > 0.0 && a.mix.is_finite() && a.mix >= 0.0) {
        return Err(bad("--mean must be positive and --mix non-negative"));
    }
    if a.out.exists() && !a.force {
        return Err(bad(&format!(
            "{} exists; pass --force to overwrite it",
            a.out.display()
        )));
    }
    if a.dispersion.is_some_and(|k| !(k.is_finite() && k > 0.0)) {
        return Err(bad("--dispersion must be positive"));
    }
    let s = Planted {
        n: a.rows,
        p: a.cols,
        rank: a.rank,
        mean: a.mean,
        mix: a.mix,
        seed: a.seed,
        dispersion: a.dispersion,
    };
    simulate::write(&a.out, &s)?;
    println!(
        "wrote {} ({} x {}, planted rank {})",
        a.out.display(),
        a.rows,
        a.cols,
        a.rank
    );
    Ok(())
}

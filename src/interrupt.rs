//! SIGTERM and SIGINT (what Slurm sends at a time limit or on `scancel`, and Ctrl-C) at every
//! phase of a command: the handlers are installed before anything else runs, the commands check
//! the flag between phases (after reading the data, after the checks, before merging and before
//! writing the results), the fit loop checks it every iteration, and the run ends with exit 6
//! and a message naming the phase. Where a phase cannot look at the flag (a long read inside the
//! HDF5 library, a figure being drawn), a watchdog ends the process [`GRACE`] after the signal
//! with the same message and code; every file is written under a temporary name and renamed into
//! place, so stopping there loses nothing finished (it is the same as SIGKILL, which resume
//! handles). A second signal exits at once.

use crate::error::exit::INCOMPLETE;
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long a phase may run on after the first signal before the watchdog ends the process.
pub const GRACE: Duration = Duration::from_secs(5);

/// The phases a command goes through, named in the message of an interrupted run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Parsing the command line and the config.
    Starting,
    /// Reading and checking the input data.
    Loading,
    /// Checking the output directory and the stored records.
    Checking,
    /// Fitting.
    Fitting,
    /// Reducing the stored records and computing the rank statistics.
    Merging,
    /// Writing tables, figures and results.h5.
    Writing,
}

const PHASES: [Phase; 6] = [
    Phase::Starting,
    Phase::Loading,
    Phase::Checking,
    Phase::Fitting,
    Phase::Merging,
    Phase::Writing,
];

impl Phase {
    /// "while reading the data", ...
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Starting => "while starting (nothing was read or written yet)",
            Phase::Loading => "while reading the data",
            Phase::Checking => "while checking the output directory and the stored fits",
            Phase::Fitting => "while fitting",
            Phase::Merging => "while merging the stored fits (every finished fit is kept)",
            Phase::Writing => {
                "while writing the results (every finished fit is kept; results.h5 is not written, so the \
                 directory does not count as finished)"
            }
        }
    }
}

static PHASE: AtomicUsize = AtomicUsize::new(0);
static EXITING: AtomicBool = AtomicBool::new(false);
static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Records the phase the command is in (named if a signal stops it).
pub fn set_phase(p: Phase) {
    let i = PHASES.iter().position(|&q| q == p).unwrap_or(0);
    PHASE.store(i, Ordering::SeqCst);
}

/// The phase the command is in.
pub fn phase() -> Phase {
    PHASES[PHASE.load(Ordering::SeqCst).min(PHASES.len() - 1)]
}

/// Tells the watchdog that the command is ending by itself (it then never prints).
pub fn exiting() {
    EXITING.store(true, Ordering::SeqCst);
}

/// Installs the SIGTERM/SIGINT handlers (once; later calls return the same flag) and starts the
/// watchdog. The flag is set by the first signal; a second signal exits at once with code 6.
pub fn install() -> Result<Arc<AtomicBool>> {
    if let Some(f) = FLAG.get() {
        return Ok(Arc::clone(f));
    }
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(sig, i32::from(INCOMPLETE), Arc::clone(&flag))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&flag)))
            .map_err(|e| Error::io("cannot install the SIGTERM/SIGINT handlers", e))?;
    }
    let watched = Arc::clone(&flag);
    std::thread::Builder::new()
        .name("signal-watchdog".into())
        .spawn(move || watchdog(&watched))
        .map_err(|e| Error::io("cannot start the signal watchdog thread", e))?;
    Ok(Arc::clone(FLAG.get_or_init(|| flag)))
}

/// The flag set by a signal (installing the handlers if that was not done yet).
pub fn flag() -> Result<Arc<AtomicBool>> {
    install()
}

/// Waits for the flag, then gives the command [`GRACE`] to stop by itself; ends the process with
/// exit 6 and the message otherwise.
fn watchdog(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(GRACE);
    if EXITING.load(Ordering::SeqCst) {
        return;
    }
    eprintln!("error: {}", stopped_error().to_string().trim_end());
    // _exit: no atexit handlers (the HDF5 library's would run while another thread is inside it).
    // SAFETY: _exit ends the process; it has no preconditions.
    unsafe { libc::_exit(i32::from(INCOMPLETE)) }
}

/// The error of a command stopped by a signal in the current phase.
pub fn stopped_error() -> Error {
    Error::Incomplete {
        message: format!(
            "stopped by a signal {}; run the same command again to resume",
            phase().describe()
        ),
    }
}

/// Err([`stopped_error`]) when a signal has arrived; called between phases.
pub fn check(flag: &AtomicBool) -> Result<()> {
    if flag.load(Ordering::SeqCst) {
        Err(stopped_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_name_themselves() {
        set_phase(Phase::Loading);
        assert_eq!(phase(), Phase::Loading);
        let flag = AtomicBool::new(true);
        let e = check(&flag).unwrap_err();
        assert_eq!(e.exit_code(), INCOMPLETE);
        assert_eq!(
            e.to_string(),
            "incomplete: stopped by a signal while reading the data; run the same command again to resume"
        );
        assert!(check(&AtomicBool::new(false)).is_ok());
        set_phase(Phase::Starting);
    }
}

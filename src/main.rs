//! The `nnmf-sweep` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    nnmf_sweep::cli::main()
}

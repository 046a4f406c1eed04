//! `switchyard`, the operator's command line (`src/cli`).

fn main() -> std::process::ExitCode {
    switchyard::cli::main()
}

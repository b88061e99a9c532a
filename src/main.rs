//! `deployer`: the command-line tool for local use (plan, explain, validate, filter, deploy).
//!
//! One module per subcommand under `src/cli/`; this file only starts it.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}

//! `deployer-actions`: every action in one binary, for the runtime image.
//!
//! The image links `/usr/local/bin/action-generate`, `action-filter`,
//! `action-comment` and `action-setup-cluster` to this binary; it runs the
//! action named by the path it was started as. One binary instead of four
//! keeps the shared code (HTTP, TLS, YAML, JSON) in the image once.

use std::process::ExitCode;

use deployer::stages::entrypoints::{entrypoint, ENTRYPOINTS};

fn main() -> ExitCode {
    let program = std::env::args().next().unwrap_or_default();
    match entrypoint(&program) {
        Some(action) => deployer::base::runner::run_action(action),
        None => {
            let names: Vec<&str> = ENTRYPOINTS.iter().map(|(name, _)| *name).collect();
            deployer::base::runner::print_stderr(&format!(
                "deployer-actions: started as `{program}`; link it as one of: {}",
                names.join(", ")
            ));
            ExitCode::from(2)
        }
    }
}

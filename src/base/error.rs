//! The library's error type. Binaries wrap it in `anyhow`; the runner renders it.

use std::path::PathBuf;

use crate::base::diagnostic::Diagnostic;

/// Everything that can stop a stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more configuration files are invalid; every problem is listed.
    #[error("{}", render_diagnostics(.0))]
    Config(Vec<Diagnostic>),

    /// Some clusters could not be planned because of problems in their own files; the others were planned.
    #[error(
        "{} blocked by problems in {} own files ({}); the other clusters were planned.\n{}",
        if .clusters.len() == 1 { "1 cluster is".to_owned() } else { format!("{} clusters are", .clusters.len()) },
        if .clusters.len() == 1 { "its" } else { "their" },
        .clusters.join(", "),
        render_diagnostics(.problems)
    )]
    Blocked { clusters: Vec<String>, problems: Vec<Diagnostic> },

    /// An action input or command-line value is malformed.
    #[error("invalid input `{input}`: {message}")]
    Input { input: String, message: String },

    /// A file or directory could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The runner environment is missing something the stage needs.
    #[error("{0}")]
    Runner(String),

    /// The GitHub API answered with an error.
    #[error("GitHub API {method} {endpoint}: HTTP {status}: {message}")]
    Api { method: String, endpoint: String, status: u16, message: String },

    /// A GitHub API request did not get an answer.
    #[error("GitHub API {method} {endpoint}: {message}")]
    Http { method: String, endpoint: String, message: String },

    /// An artifact (untrusted input) was refused.
    #[error("refusing the artifact: {0}")]
    Artifact(String),

    /// Getting access to a cluster failed.
    #[error("{provider}: {step} failed: {message}")]
    Access { provider: &'static str, step: String, message: String },

    /// An external program (helm, sops, kubectl) failed.
    #[error("{program} failed: {message}")]
    Command { program: String, message: String },

    /// One release's command failed: `file` and `line` are where `cluster.yaml`
    /// lists the release; `summary` is the step summary's table of releases.
    #[error("{program} failed: {message}")]
    ReleaseFailed { program: String, message: String, file: String, line: Option<usize>, summary: String },

    /// Clusters of a deploy leg failed (each reported as it failed); the others were deployed.
    #[error(
        "the leg failed on {}: {} (its other clusters ran to the end; results in {})",
        if .failed.len() == 1 { "1 cluster".to_owned() } else { format!("{} clusters", .failed.len()) },
        .failed.join(", "),
        .results_file
    )]
    LegFailed { failed: Vec<String>, results_file: String },

    /// A `git` command failed.
    #[error("git {args}: {message}")]
    Git { args: String, message: String },

    /// A signal (SIGTERM, SIGINT) stopped the stage; the message says what was cleaned up.
    #[error("stopped by {}: {message}", signal_name(*.signal))]
    Interrupted { signal: i32, message: String },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// An [`Error::Input`] for the input `input`.
    pub fn input(input: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input { input: input.into(), message: message.into() }
    }

    /// The process exit code for this error: 128 + the signal's number for
    /// [`Error::Interrupted`] (143 for SIGTERM, 130 for SIGINT), as a shell reports it; 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted { signal, .. } => u8::try_from(128 + signal).unwrap_or(1),
            _ => 1,
        }
    }
}

fn render_diagnostics(diagnostics: &[Diagnostic]) -> String {
    let mut text = match diagnostics.len() {
        1 => String::from("invalid configuration:"),
        n => format!("invalid configuration ({n} problems):"),
    };
    for diagnostic in diagnostics {
        text.push('\n');
        text.push_str(&diagnostic.to_string());
    }
    text
}

/// `SIGTERM`, `SIGINT`, or `signal N`.
pub fn signal_name(signal: i32) -> String {
    match signal {
        #[cfg(unix)]
        libc::SIGTERM => "SIGTERM".into(),
        #[cfg(unix)]
        libc::SIGINT => "SIGINT".into(),
        #[cfg(unix)]
        libc::SIGKILL => "SIGKILL".into(),
        other => format!("signal {other}"),
    }
}

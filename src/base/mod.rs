//! Foundations every layer stands on: the runner contract (environment, inputs,
//! outputs, the log and its one sanitiser), the triggering event, repository
//! paths and the one place that resolves them on disk, the error and diagnostic
//! types, and signal handling.

pub mod diagnostic;
pub mod error;
pub mod event;
pub mod private_dir;
pub mod repo_fs;
pub mod repo_path;
pub mod runner;
pub mod stop;

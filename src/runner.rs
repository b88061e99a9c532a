//! The GitHub Actions runner contract, in one place: the environment read
//! once into a value, `INPUT_*` variables, `$GITHUB_OUTPUT` in its heredoc
//! form, `$GITHUB_STEP_SUMMARY`, and workflow commands (annotations, groups,
//! masks) on stdout.
//!
//! Stdout is a control channel in Actions: the runner parses workflow
//! commands from it. This module is the only one allowed to write to it.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::event::{parse_trigger, RepoRef, Trigger};

/// The process environment, read once. Tests build it from a list of pairs.
#[derive(Debug, Clone, Default)]
pub struct RunnerEnv {
    vars: BTreeMap<String, String>,
}

impl RunnerEnv {
    /// Reads the real environment (variables that are not UTF-8 are skipped).
    pub fn from_process() -> Self {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))))
    }

    /// Builds an environment from name/value pairs.
    pub fn from_vars<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        RunnerEnv { vars: vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// A variable, if set.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// An action input, as the runner passes it: `INPUT_` + the name upper-cased,
    /// hyphens kept, spaces as `_`. Empty or blank values count as absent.
    pub fn input(&self, name: &str) -> Option<&str> {
        self.var(&input_variable(name)).map(str::trim).filter(|v| !v.is_empty())
    }

    /// A boolean input: `true`/`false` (any case); absent means `default`.
    pub fn bool_input(&self, name: &str, default: bool) -> Result<bool, Error> {
        match self.input(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(Error::input(name, format!("expected `true` or `false`, got `{other}`"))),
        }
    }

    /// The repository checkout: `GITHUB_WORKSPACE`, or the current folder.
    pub fn workspace(&self) -> PathBuf {
        self.var("GITHUB_WORKSPACE").map_or_else(|| PathBuf::from("."), PathBuf::from)
    }

    /// The file step outputs are appended to.
    pub fn output_file(&self) -> Result<PathBuf, Error> {
        self.var("GITHUB_OUTPUT").filter(|v| !v.is_empty()).map(PathBuf::from).ok_or_else(|| {
            Error::Runner("GITHUB_OUTPUT is not set: this binary runs as a GitHub Action step; use the `deployer` command locally".into())
        })
    }

    /// The Markdown step summary file, when the runner provides one.
    pub fn summary_file(&self) -> Option<PathBuf> {
        self.var("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()).map(PathBuf::from)
    }

    /// The triggering event (`GITHUB_EVENT_NAME` and the `GITHUB_EVENT_PATH` payload), if the runner gave one.
    pub fn trigger(&self) -> Result<Option<Trigger>, Error> {
        let Some(path) = self.var("GITHUB_EVENT_PATH").filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let payload: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Runner(format!("GITHUB_EVENT_PATH {path} is not JSON: {e}")))?;
        let name = match self.var("GITHUB_EVENT_NAME").filter(|v| !v.is_empty()) {
            Some(name) => name,
            // Without a name, a payload with a pull request is taken as one.
            None if payload.get("pull_request").is_some() => "pull_request",
            None => return Ok(None),
        };
        parse_trigger(name, &payload).map(Some)
    }

    /// The pull request of the triggering event (number and head SHA), if it was one.
    pub fn pull_request(&self) -> Result<Option<(u64, String)>, Error> {
        Ok(match self.trigger()? {
            Some(Trigger::PullRequest(pr)) => Some((pr.number, pr.head_sha)),
            _ => None,
        })
    }

    /// `GITHUB_REPOSITORY` as owner and name.
    pub fn repository(&self) -> Result<RepoRef, Error> {
        RepoRef::parse(self.var("GITHUB_REPOSITORY").unwrap_or_default())
    }
}

/// The variable the runner sets for the input `name`.
pub fn input_variable(name: &str) -> String {
    format!("INPUT_{}", name.replace(' ', "_").to_ascii_uppercase())
}

/// Step outputs, written all at once when the step has succeeded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    entries: Vec<(String, String)>,
}

impl Outputs {
    /// Adds an output.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.entries.push((name.to_owned(), value.into()));
    }

    /// Adds an output holding `value` as compact JSON.
    pub fn set_json<T: serde::Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), Error> {
        let json = serde_json::to_string(value)
            .map_err(|e| Error::Runner(format!("cannot serialise output `{name}`: {e}")))?;
        self.set(name, json);
        Ok(())
    }

    /// The outputs in the `$GITHUB_OUTPUT` heredoc form, each value under a
    /// delimiter from `new_delimiter`. A value containing its delimiter is refused.
    pub fn encode(&self, mut new_delimiter: impl FnMut() -> Result<String, Error>) -> Result<String, Error> {
        let mut out = String::new();
        for (name, value) in &self.entries {
            if name.is_empty() || name.contains(['\n', '\r']) || name.contains("<<") {
                return Err(Error::Runner(format!("invalid output name {name:?}")));
            }
            let delimiter = new_delimiter()?;
            if value.contains(&delimiter) || name.contains(&delimiter) {
                return Err(Error::Runner(format!(
                    "the value of output `{name}` contains its delimiter; refusing to write it"
                )));
            }
            out.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        }
        Ok(out)
    }

    /// Appends every output to `$GITHUB_OUTPUT` in one write.
    pub fn write(&self, env: &RunnerEnv) -> Result<(), Error> {
        let path = env.output_file()?;
        let text = self.encode(random_delimiter)?;
        append(&path, &text)
    }

    /// Appends every entry to `$GITHUB_ENV` (same heredoc form): environment
    /// variables for the job's later steps.
    pub fn write_env(&self, env: &RunnerEnv) -> Result<(), Error> {
        let path =
            env.var("GITHUB_ENV").filter(|v| !v.is_empty()).map(PathBuf::from).ok_or_else(|| {
                Error::Runner("GITHUB_ENV is not set: this binary runs as a GitHub Action step".into())
            })?;
        let text = self.encode(random_delimiter)?;
        append(&path, &text)
    }
}

/// `ghadelimiter_` and 128 random bits, fresh for every value.
pub fn random_delimiter() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Runner(format!("no randomness for an output delimiter: {e}")))?;
    Ok(format!("ghadelimiter_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// Appends Markdown to the step summary, if the runner provides one.
pub fn append_summary(env: &RunnerEnv, markdown: &str) -> Result<(), Error> {
    match env.summary_file() {
        Some(path) => append(&path, markdown),
        None => Ok(()),
    }
}

fn append(path: &Path, text: &str) -> Result<(), Error> {
    let mut file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| Error::io(path, e))?;
    file.write_all(text.as_bytes()).map_err(|e| Error::io(path, e))
}

/// Escapes a workflow-command message.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow-command property value.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Severity of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }
}

/// An annotation command for a diagnostic: at its file and line, hint included.
pub fn diagnostic_command(level: Level, diagnostic: &Diagnostic) -> String {
    let mut properties = vec![format!("file={}", escape_property(&diagnostic.file))];
    if let Some(line) = diagnostic.line {
        properties.push(format!("line={line}"));
    }
    if let Some(column) = diagnostic.column {
        properties.push(format!("col={column}"));
    }
    let mut message = diagnostic.headline();
    if let Some(hint) = &diagnostic.hint {
        message.push_str("\nhint: ");
        message.push_str(hint);
    }
    format!("::{} {}::{}", level.command(), properties.join(","), escape_data(&message))
}

/// An annotation command with no file.
pub fn message_command(level: Level, message: &str) -> String {
    format!("::{}::{}", level.command(), escape_data(message))
}

/// Writes text to stdout as it is. Only for trusted text with no workflow commands.
pub fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `deployer ... | head`) is not an error worth failing for.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Writes text that may hold user content; see [`untrusted_block`].
pub fn print_untrusted(text: &str) -> Result<(), Error> {
    print(&untrusted_block(text, random_delimiter)?);
    Ok(())
}

/// Text that may hold user content, made safe to print: if any line could be
/// read as a workflow command, command processing is paused around it with a
/// token from `new_token`.
pub fn untrusted_block(text: &str, new_token: impl FnOnce() -> Result<String, Error>) -> Result<String, Error> {
    if !text.lines().any(|line| line.trim_start().starts_with("::")) {
        return Ok(text.to_owned());
    }
    let token = new_token()?;
    let body = text.strip_suffix('\n').unwrap_or(text);
    Ok(format!("::stop-commands::{token}\n{body}\n::{token}::\n"))
}

/// Prints an annotation for a diagnostic.
pub fn annotate(level: Level, diagnostic: &Diagnostic) {
    print(&format!("{}\n", diagnostic_command(level, diagnostic)));
}

/// Prints an annotation with no file.
pub fn annotate_message(level: Level, message: &str) {
    print(&format!("{}\n", message_command(level, message)));
}

/// Registers a secret with the runner so that it is masked in every later log line.
/// A value is registered once per process, however many layers ask (a
/// provider as it obtains a token, the stage again before it writes it).
pub fn add_mask(secret: &str) {
    static MASKED: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    for line in secret.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let first_time = MASKED.lock().map(|mut masked| masked.insert(line.to_owned())).unwrap_or(true);
        if first_time {
            print(&format!("::add-mask::{}\n", escape_data(line)));
        }
    }
}

/// Opens a collapsible log group.
pub fn group(title: &str) {
    print(&format!("::group::{}\n", escape_data(title)));
}

/// Closes the current log group.
pub fn end_group() {
    print("::endgroup::\n");
}

/// Runs an action's stage with the process environment, and turns its result
/// into the exit code, reporting a failure with [`report_error`].
pub fn run_action(stage: impl FnOnce(&RunnerEnv) -> Result<(), Error>) -> std::process::ExitCode {
    let env = RunnerEnv::from_process();
    match stage(&env) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            report_error(&error);
            std::process::ExitCode::FAILURE
        }
    }
}

/// Reports a failed stage: annotations on stdout, a readable message on stderr.
pub fn report_error(error: &Error) {
    match error {
        Error::Config(diagnostics) => {
            for diagnostic in diagnostics {
                annotate(Level::Error, diagnostic);
            }
        }
        other => annotate_message(Level::Error, &other.to_string()),
    }
    // The runner reads workflow commands from stderr too: a line of quoted
    // output (helm's, sops', an API's) must not start with `::`.
    eprintln!("{}", quote_command_lines(&format!("error: {error}")));
}

/// Where a stage's output is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A GitHub Actions log: annotations.
    Actions,
    /// A person at a terminal: readable lines.
    Terminal,
}

/// Reports problems that do not stop a stage (warnings, notices), in one
/// place: in an action, an annotation per diagnostic at its file and line on
/// stdout; on a terminal, `warning: file:line:col: field: message` (and its
/// hint) on stderr.
pub fn report_diagnostics(level: Level, diagnostics: &[Diagnostic], audience: Audience) {
    for diagnostic in diagnostics {
        match audience {
            Audience::Actions => annotate(level, diagnostic),
            Audience::Terminal => eprintln!("{}", quote_command_lines(&format!("{}: {diagnostic}", level.command()))),
        }
    }
}

/// Prefixes every line that could be read as a workflow command.
pub fn quote_command_lines(text: &str) -> String {
    text.lines()
        .map(|line| if line.trim_start().starts_with("::") { format!("> {line}") } else { line.to_owned() })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_use_the_runner_names() {
        let env = RunnerEnv::from_vars([
            ("INPUT_CHANGED-FILES", " a.yaml "),
            ("INPUT_LABELS", "  "),
            ("INPUT_MY_INPUT", "x"),
        ]);
        assert_eq!(env.input("changed-files"), Some("a.yaml"));
        assert_eq!(env.input("labels"), None);
        assert_eq!(env.input("my input"), Some("x"));
        assert_eq!(input_variable("plan-dir"), "INPUT_PLAN-DIR");
    }

    #[test]
    fn reads_the_real_environment_once() {
        let env = temp_env::with_vars(
            [("INPUT_PLAN-DIR", Some("out")), ("GITHUB_WORKSPACE", Some("/github/workspace")), ("GITHUB_OUTPUT", None)],
            RunnerEnv::from_process,
        );
        assert_eq!(env.input("plan-dir"), Some("out"));
        assert_eq!(env.workspace(), PathBuf::from("/github/workspace"));
        assert!(env.output_file().unwrap_err().to_string().starts_with("GITHUB_OUTPUT is not set"));
    }

    #[test]
    fn bool_inputs() {
        let env = RunnerEnv::from_vars([("INPUT_A", "TRUE"), ("INPUT_B", "false"), ("INPUT_C", "yes")]);
        assert!(env.bool_input("a", false).unwrap());
        assert!(!env.bool_input("b", true).unwrap());
        assert!(env.bool_input("missing", true).unwrap());
        assert_eq!(
            env.bool_input("c", true).unwrap_err().to_string(),
            "invalid input `c`: expected `true` or `false`, got `yes`"
        );
    }

    #[test]
    fn outputs_use_heredocs_and_refuse_their_delimiter() {
        let mut outputs = Outputs::default();
        outputs.set("a", "1");
        outputs.set("b", "two\nlines");
        let mut n = 0;
        let text = outputs
            .encode(|| {
                n += 1;
                Ok(format!("EOF{n}"))
            })
            .unwrap();
        assert_eq!(text, "a<<EOF1\n1\nEOF1\nb<<EOF2\ntwo\nlines\nEOF2\n");

        let mut hostile = Outputs::default();
        hostile.set("a", "x\nEOF\nevil=1");
        assert!(hostile.encode(|| Ok("EOF".into())).is_err());
    }

    #[test]
    fn delimiters_are_fresh() {
        let a = random_delimiter().unwrap();
        let b = random_delimiter().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), "ghadelimiter_".len() + 32);
    }

    #[test]
    fn commands_are_escaped() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
        let diagnostic =
            Diagnostic::new("dir,x/cluster.yaml", "bad: value").at(Some((3, 7))).field("hubs[0].name").hint("fix");
        assert_eq!(
            diagnostic_command(Level::Error, &diagnostic),
            "::error file=dir%2Cx/cluster.yaml,line=3,col=7::hubs[0].name: bad: value%0Ahint: fix"
        );
        assert_eq!(message_command(Level::Warning, "a\nb"), "::warning::a%0Ab");
    }

    #[test]
    fn error_text_cannot_run_commands() {
        assert_eq!(
            quote_command_lines("error: x\n::add-mask::y\n  ::error::z\nok"),
            "error: x\n> ::add-mask::y\n>   ::error::z\nok"
        );
    }

    #[test]
    fn untrusted_text_cannot_run_commands() {
        let token = || Ok("TOKEN".to_owned());
        assert_eq!(untrusted_block("│ a │\n", token).unwrap(), "│ a │\n");
        assert_eq!(
            untrusted_block("x\n  ::add-mask::y\n", token).unwrap(),
            "::stop-commands::TOKEN\nx\n  ::add-mask::y\n::TOKEN::\n"
        );
    }

    #[test]
    fn pull_request_from_event() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("event.json");
        let sha = "0123456789abcdef0123456789abcdef01234567";
        std::fs::write(&path, format!(r#"{{"pull_request": {{"number": 12, "head": {{"sha": "{sha}"}}}}}}"#)).unwrap();
        let env = RunnerEnv::from_vars([("GITHUB_EVENT_PATH", path.to_str().unwrap())]);
        assert_eq!(env.pull_request().unwrap(), Some((12, sha.into())));
        std::fs::write(&path, r#"{"ref": "refs/heads/main"}"#).unwrap();
        assert_eq!(env.pull_request().unwrap(), None);
        assert_eq!(RunnerEnv::default().pull_request().unwrap(), None);
    }
}

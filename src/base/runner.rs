//! The GitHub Actions runner contract, in one place: the environment read
//! once into a value, `INPUT_*` variables, `$GITHUB_OUTPUT` in its heredoc
//! form, `$GITHUB_STEP_SUMMARY`, and workflow commands (annotations, groups,
//! masks) on stdout.
//!
//! Stdout and stderr are a control channel in Actions: the runner parses
//! workflow commands from both. This module is the only one allowed to write
//! to them, and everything it writes that is not one of its own commands
//! passes [`log_text`], the one place that sanitises text for the log.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::base::diagnostic::Diagnostic;
use crate::base::error::Error;
use crate::base::event::{parse_trigger, RepoRef, Trigger};

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

/// `first` then `second` as one list: an action's `ALL` inputs or outputs built from
/// lists it shares with another action, so that a shared name is written once.
/// `N` must be the two lengths' sum (checked when the constant is evaluated).
pub const fn concat_names<const N: usize>(first: &[&'static str], second: &[&'static str]) -> [&'static str; N] {
    assert!(first.len() + second.len() == N, "N is the sum of the two lengths");
    let mut all = [""; N];
    let mut index = 0;
    while index < first.len() {
        all[index] = first[index];
        index += 1;
    }
    while index < N {
        all[index] = second[index - first.len()];
        index += 1;
    }
    all
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

    /// The names of the outputs added, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| name.as_str())
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

/// Characters that change how text looks without being seen: control
/// characters (C0, DEL, C1, but not `\n` and `\t`), the Unicode format
/// characters (category Cf: bidi embeddings, overrides and isolates,
/// zero-width spaces and joiners, the BOM, the soft hyphen, tags...), and the
/// line and paragraph separators.
pub fn is_invisible(c: char) -> bool {
    if c == '\n' || c == '\t' {
        return false;
    }
    if c.is_control() {
        return true;
    }
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// Untrusted text made safe for the job log, on stdout and stderr alike: the
/// one place that sanitises text for the log.
///
/// The runner reads workflow commands from both streams; it breaks lines at
/// `\n`, `\r\n` and a lone `\r`, takes a line whose trimmed start is `::` as a
/// command, and the old form `##[command]` anywhere in a line. So:
///
/// - `\r\n` becomes `\n`; every other invisible character ([`is_invisible`]:
///   a lone `\r`, NUL, ESC, bidi overrides, zero-width characters...) is shown
///   as its code point, `\u{d}`, `\u{1b}`, `\u{202e}`;
/// - `::` at the start of a line (after any whitespace) becomes `:\:`;
/// - `##[` anywhere becomes `##\[`.
///
/// Text with none of these is returned as it is.
pub fn log_text(untrusted: &str) -> String {
    let mut visible = String::with_capacity(untrusted.len());
    let mut chars = untrusted.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            c if is_invisible(c) => visible.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => visible.push(c),
        }
    }
    let mut out = String::with_capacity(visible.len());
    for (index, line) in visible.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let body = line.trim_start();
        match body.strip_prefix("::") {
            Some(rest) => {
                out.push_str(&line[..line.len() - body.len()]);
                out.push_str(":\\:");
                out.push_str(rest);
            }
            None => out.push_str(line),
        }
    }
    out.replace("##[", "##\\[")
}

/// JSON text (as `serde_json` writes it) made safe for the job log, staying
/// the same JSON: control characters are already escaped in its strings; the
/// other invisible characters become `\uXXXX` escapes and `##[` becomes
/// `##\u005b`. A line of such JSON never starts with `::`.
pub fn log_json(json: &str) -> std::borrow::Cow<'_, str> {
    // Most plans hold nothing to escape: no copy of a large plan then.
    if !json.contains("##[") && !json.chars().any(|c| c != '\r' && is_invisible(c)) {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c != '\r' && is_invisible(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out.replace("##[", "##\\u005b"))
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
/// The file name and the message are untrusted: both pass [`log_text`].
pub fn diagnostic_command(level: Level, diagnostic: &Diagnostic) -> String {
    let mut properties = vec![format!("file={}", escape_property(&log_text(&diagnostic.file)))];
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
    format!("::{} {}::{}", level.command(), properties.join(","), escape_data(&log_text(&message)))
}

/// An annotation command with no file; the message passes [`log_text`].
pub fn message_command(level: Level, message: &str) -> String {
    format!("::{}::{}", level.command(), escape_data(&log_text(message)))
}

/// Writes a workflow command, or text already made safe, to stdout as it is.
fn write_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `deployer ... | head`) is not an error worth failing for.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Writes text to stdout, made safe with [`log_text`]: whatever it holds, it
/// cannot issue a workflow command.
/// The width of the terminal stdout is, in columns; `None` when stdout is
/// not a terminal (a CI log, a pipe, a file: tables keep their full width
/// there). A terminal that reports no size falls back to `COLUMNS`.
pub fn stdout_terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills the `winsize` it is given and reads nothing else.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let reported = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_col > 0;
    if reported {
        return Some(usize::from(size.ws_col));
    }
    std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse().ok()).filter(|c| *c > 0)
}

pub fn print(text: &str) {
    write_stdout(&log_text(text));
}

/// Writes text that holds user content to stdout; the same as [`print`]
/// (every print is sanitised), kept for the callers that say so.
pub fn print_untrusted(text: &str) -> Result<(), Error> {
    print(text);
    Ok(())
}

/// Writes JSON to stdout, made safe with [`log_json`] (it stays the same JSON).
pub fn print_json(json: &str) {
    write_stdout(&log_json(json));
}

/// Writes one line to stderr (where the runner reads workflow commands too),
/// made safe with [`log_text`].
pub fn print_stderr(line: &str) {
    eprintln!("{}", log_text(line));
}

/// Pauses workflow-command processing until [`resume_commands`] with the
/// token returned: a second fence, around a block of program output (each
/// of its lines is printed through [`print`] all the same).
pub fn pause_commands() -> Result<String, Error> {
    let token = random_delimiter()?;
    write_stdout(&format!("::stop-commands::{token}\n"));
    Ok(token)
}

/// Resumes workflow-command processing paused with `token`.
pub fn resume_commands(token: &str) {
    write_stdout(&format!("::{token}::\n"));
}

/// Prints an annotation for a diagnostic.
pub fn annotate(level: Level, diagnostic: &Diagnostic) {
    write_stdout(&format!("{}\n", diagnostic_command(level, diagnostic)));
}

/// Prints an annotation with no file.
pub fn annotate_message(level: Level, message: &str) {
    write_stdout(&format!("{}\n", message_command(level, message)));
}

/// Registers a secret with the runner so that it is masked in every later log line.
/// A value is registered once per process, however many layers ask (a
/// provider as it obtains a token, the stage again before it writes it).
/// The value is not sanitised: the mask must match the secret exactly.
pub fn add_mask(secret: &str) {
    static MASKED: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    for line in secret.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let first_time = MASKED.lock().map(|mut masked| masked.insert(line.to_owned())).unwrap_or(true);
        if first_time {
            write_stdout(&format!("::add-mask::{}\n", escape_data(line)));
        }
    }
}

/// Opens a collapsible log group; the title passes [`log_text`].
pub fn group(title: &str) {
    write_stdout(&format!("::group::{}\n", escape_data(&log_text(title))));
}

/// Closes the current log group.
pub fn end_group() {
    write_stdout("::endgroup::\n");
}

/// Runs an action's stage with the process environment, and turns its result
/// into the exit code, reporting a failure with [`report_error`].
pub fn run_action(stage: impl FnOnce(&RunnerEnv) -> Result<(), Error>) -> std::process::ExitCode {
    let env = RunnerEnv::from_process();
    match stage(&env) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            report_error(&error);
            std::process::ExitCode::from(error.exit_code())
        }
    }
}

/// Reports a failed stage: annotations on stdout, a readable message on
/// stderr; both made safe with [`log_text`], as they quote files, API
/// answers and program output.
pub fn report_error(error: &Error) {
    match error {
        Error::Config(diagnostics) | Error::Blocked { problems: diagnostics, .. } => {
            for diagnostic in diagnostics {
                annotate(Level::Error, diagnostic);
            }
        }
        Error::ReleaseFailed { file, line, .. } => {
            annotate(Level::Error, &Diagnostic::new(file.as_str(), error.to_string()).at(line.map(|line| (line, 1))));
        }
        other => annotate_message(Level::Error, &other.to_string()),
    }
    print_stderr(&format!("error: {error}"));
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
/// hint) on stderr. Both sanitised like every other print.
pub fn report_diagnostics(level: Level, diagnostics: &[Diagnostic], audience: Audience) {
    for diagnostic in diagnostics {
        match audience {
            Audience::Actions => annotate(level, diagnostic),
            Audience::Terminal => print_stderr(&format!("{}: {diagnostic}", level.command())),
        }
    }
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

    /// What the runner would read as a workflow command: a line (broken at
    /// `\n`, `\r\n` or a lone `\r`) starting with `::` after whitespace, or
    /// holding `##[`.
    fn command_like(text: &str) -> Vec<String> {
        text.split(['\n', '\r'])
            .filter(|line| line.trim_start().starts_with("::") || line.contains("##["))
            .map(str::to_owned)
            .collect()
    }

    const HOSTILE: &[&str] = &[
        "x\r::set-output name=x::y",
        "x\r\n::error::x",
        "x##[error]y",
        "##[set-output name=a]b",
        "::add-mask::",
        "  \t::stop-commands::x",
        "\u{a0}\u{2003}::warning::nbsp",
        "a\u{85}::error::nel",
        "a\u{2028}::error::ls",
        "#\u{200b}#[error]zw",
        "###[error]three",
        "##[##[error]twice",
        "\u{202e}::error::bidi",
        "nul\0::error::x",
        "\u{1b}[31m::error::ansi\u{1b}[0m",
        "\u{b}::error::vt\u{c}::error::ff",
    ];

    #[test]
    fn log_text_neutralises_every_command_form() {
        for hostile in HOSTILE {
            let safe = log_text(hostile);
            assert_eq!(command_like(&safe), Vec::<String>::new(), "{hostile:?} -> {safe:?}");
            assert!(!safe.chars().any(is_invisible), "{hostile:?} -> {safe:?}");
            assert_eq!(log_text(&safe), safe, "sanitising twice changes nothing: {hostile:?}");
        }
    }

    #[test]
    fn log_text_shows_what_it_replaced() {
        let cases = [
            ("plain │ text\n\ttabbed\n", "plain │ text\n\ttabbed\n"),
            ("a\r\nb", "a\nb"),
            ("a\rb", "a\\u{d}b"),
            ("x\r::set-output name=x::y", "x\\u{d}::set-output name=x::y"),
            ("ok\n  ::add-mask::y\n::error::z", "ok\n  :\\:add-mask::y\n:\\:error::z"),
            ("x##[error]y", "x##\\[error]y"),
            ("###[a] ##[b", "###\\[a] ##\\[b"),
            ("nul\0 esc\u{1b}[0m", "nul\\u{0} esc\\u{1b}[0m"),
            ("\u{202e}evil\u{200b}", "\\u{202e}evil\\u{200b}"),
            ("soft\u{ad}hyphen \u{feff}bom \u{e0041}tag", "soft\\u{ad}hyphen \\u{feff}bom \\u{e0041}tag"),
            ("a::b and https://x", "a::b and https://x"),
            ("é ü 中文 🚀", "é ü 中文 🚀"),
        ];
        for (input, expected) in cases {
            assert_eq!(log_text(input), expected, "{input:?}");
        }
    }

    #[test]
    fn log_json_stays_the_same_json() {
        let value = serde_json::json!({"hostile": HOSTILE, "plain": "a::b", "emoji": "🚀"});
        for json in [serde_json::to_string(&value).unwrap(), serde_json::to_string_pretty(&value).unwrap()] {
            let safe = log_json(&json);
            assert_eq!(command_like(&safe), Vec::<String>::new(), "{safe}");
            assert!(!safe.chars().any(|c| c != '\n' && is_invisible(c)), "{safe}");
            assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), value);
        }
        assert_eq!(log_json("{\"a\": \"\u{202e}##[x\"}"), "{\"a\": \"\\u202e##\\u005bx\"}");
        assert_eq!(log_json("\"\u{e0041}\""), "\"\\udb40\\udc41\"");
    }

    #[test]
    fn annotations_sanitise_their_message_and_file() {
        let diagnostic = Diagnostic::new("x\u{202e}/##[y].yaml", "bad\r::add-mask::z").hint("##[error]h");
        let command = diagnostic_command(Level::Error, &diagnostic);
        assert_eq!(command, "::error file=x\\u{202e}/##\\[y].yaml::bad\\u{d}::add-mask::z%0Ahint: ##\\[error]h");
        assert_eq!(message_command(Level::Warning, "a\n::error::b"), "::warning::a%0A:\\:error::b");
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

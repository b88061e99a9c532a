//! Reads a step's stdout or stderr the way the GitHub Actions runner does,
//! and returns the workflow commands it would recognise:
//!
//! - lines break at `\n`, `\r\n` and a lone `\r`;
//! - a line whose start, after whitespace, is `::name props::data` is a command;
//! - `##[name props]data` anywhere in a line is a command too (the old form);
//! - `::stop-commands::TOKEN` ignores every command until `::TOKEN::` (or
//!   `##[TOKEN]`), which is reported as a `resume-commands` command.
//!
//! It is stricter than the runner: a command name need not be one the runner
//! knows, and a line is searched for both forms, so that anything that could
//! become a command in some runner version counts.

/// A recognised workflow command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Lower-cased, as the runner compares them; `resume-commands` for the end of a pause.
    pub name: String,
    pub properties: String,
    pub data: String,
}

/// Splits text into lines as the runner's line reader does.
pub fn runner_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(['\r', '\n']) {
        lines.push(&rest[..at]);
        let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[at + skip..];
    }
    if !rest.is_empty() {
        lines.push(rest);
    }
    lines
}

/// `name props` split at the first space.
fn command(info: &str, data: &str) -> Option<Command> {
    let (name, properties) = info.split_once(' ').unwrap_or((info, ""));
    (!name.is_empty()).then(|| Command {
        name: name.to_ascii_lowercase(),
        properties: properties.to_owned(),
        data: data.to_owned(),
    })
}

/// Every command form in one line: the `::` form, then each `##[` form.
fn parse_line(line: &str) -> Vec<Command> {
    let mut found = Vec::new();
    if let Some(body) = line.trim_start().strip_prefix("::") {
        if let Some((info, data)) = body.split_once("::") {
            found.extend(command(info, data));
        }
    }
    let mut rest = line;
    while let Some(at) = rest.find("##[") {
        let after = &rest[at + 3..];
        match after.split_once(']') {
            Some((info, data)) => found.extend(command(info, data)),
            None => break,
        }
        rest = after;
    }
    found
}

/// The commands the runner would act on in `text` (one stream), in order.
pub fn commands(text: &str) -> Vec<Command> {
    let mut recognised = Vec::new();
    let mut paused: Option<String> = None;
    for line in runner_lines(text) {
        for found in parse_line(line) {
            match &paused {
                Some(token) => {
                    if found.name == token.to_ascii_lowercase() {
                        recognised.push(Command {
                            name: "resume-commands".into(),
                            properties: String::new(),
                            data: token.clone(),
                        });
                        paused = None;
                    }
                }
                None => {
                    if found.name == "stop-commands" {
                        paused = Some(found.data.clone());
                    }
                    recognised.push(found);
                }
            }
        }
    }
    recognised
}

/// The names of the commands in `text`, in order.
pub fn command_names(text: &str) -> Vec<String> {
    commands(text).into_iter().map(|c| c.name).collect()
}

//! Properties of the log sanitiser (issue 27): no untrusted text can act as a workflow command.
//!
//! The GitHub runner reads workflow commands from a step's stdout and stderr alike. This file
//! models how it reads them ([`runner_commands`], after `actions/runner`'s `OutputManager`,
//! `ActionCommandManager` and `ActionCommand.TryParseV2`/`TryParse`), then states, over arbitrary
//! strings (control characters, `\r`, `\r\n`, `\n`, `::`, `##[`, `%0A`-style escapes, bidi and
//! other invisible characters, very long strings, strings built from pieces of command syntax):
//!
//! - `log_text` never leaves a command the runner would act on, leaves no invisible character,
//!   is idempotent, and leaves text holding nothing to neutralise as it is;
//! - the runner's unescaping gives back exactly what `escape_data` and `escape_property` escaped;
//! - `message_command` is exactly one annotation of its level, whose message reads back as the
//!   sanitised text; `diagnostic_command` the same, its `file` reading back as the sanitised file;
//! - `log_json` leaves no command and stays the same JSON;
//! - through the real binaries (`action-filter`, `action-generate`), hostile text placed where it
//!   reaches the log changes nothing in the commands the action issues on stdout (exactly the
//!   ones it issues for plain text) and issues none on stderr; no `##[` is left anywhere.

mod support;

use std::fs;
use std::path::Path;

use deployer::base::diagnostic::Diagnostic;
use deployer::base::runner::{
    diagnostic_command, escape_data, escape_property, is_invisible, log_json, log_text, message_command, Level,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use support::runner_log::runner_lines;
use support::{copy_tree, example_repo, yaml_quoted, ActionResult, ActionRun};

/// Cases per in-process property: a thousand strings (or sets of strings) each, a few seconds in a
/// debug build (strings run to some ten thousand characters).
const CASES: u32 = 1000;
/// Cases of the JSON property, each a document of up to a dozen such strings.
const JSON_CASES: u32 = 300;
/// Cases per property that runs a binary (one or two processes each): about 10 s for all of them.
const BINARY_CASES: u32 = 40;

// ---------------------------------------------------------------------------------------------
// The runner's reading of a log, as `actions/runner` implements it.
// ---------------------------------------------------------------------------------------------

/// The commands `ActionCommandManager` registers (its own `stop-commands`, and every command
/// extension's name). `internal-set-repo-path` is registered only for the runner's plugins; it is
/// counted here all the same. Names compare with `OrdinalIgnoreCase`.
const REGISTERED: &[&str] = &[
    "stop-commands",
    "set-env",
    "set-output",
    "save-state",
    "add-mask",
    "add-path",
    "add-matcher",
    "remove-matcher",
    "debug",
    "warning",
    "error",
    "notice",
    "group",
    "endgroup",
    "echo",
    "internal-set-repo-path",
];

/// How the runner's `string.IndexOf(string)` and `StartsWith(string)` compare. They are
/// culture-sensitive in .NET: on Linux with ICU, code points that collate as nothing (controls,
/// format characters, variation selectors...) are skipped inside a match, so `:\u{fe0f}:` can
/// match `::`; with invariant globalization they compare ordinally. Both readings are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Search {
    Ordinal,
    Culture,
}

/// A command the runner acts on: its name (as registered: `ERROR` is read as `error`), its properties
/// (key, unescaped value) and its unescaped data. A paused runner's resume is reported as a command named by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RunnerCommand {
    name: String,
    properties: Vec<(String, String)>,
    data: String,
}

impl RunnerCommand {
    fn property(&self, key: &str) -> Option<&str> {
        self.properties.iter().find(|(k, _)| same_name(k, key)).map(|(_, v)| v.as_str())
    }
}

/// `OrdinalIgnoreCase`: each UTF-16 unit upper-cased by its simple mapping (so `ſ` matches `s`).
fn same_name(a: &str, b: &str) -> bool {
    fn upper(c: char) -> char {
        let mut mapped = c.to_uppercase();
        match (mapped.next(), mapped.next()) {
            (Some(single), None) => single,
            _ => c,
        }
    }
    a.chars().map(upper).eq(b.chars().map(upper))
}

/// Code points ICU's root collation gives no weight at all: skipped inside a culture-sensitive match.
fn collation_ignorable(c: char) -> bool {
    c.is_control()
        || matches!(u32::from(c), 0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0
            | 0xFFF9..=0xFFFB | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
            | 0xE0100..=0xE01EF)
}

/// A line as .NET holds it: UTF-16 units.
struct Units(Vec<u16>);

impl Units {
    fn new(text: &str) -> Self {
        Units(text.encode_utf16().collect())
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn text(&self, from: usize, to: usize) -> String {
        String::from_utf16_lossy(&self.0[from.min(to)..to])
    }

    /// The code point at `at` and how many units it takes.
    fn scalar(&self, at: usize) -> (Option<char>, usize) {
        match char::decode_utf16(self.0[at..].iter().copied()).next() {
            Some(Ok(c)) => (Some(c), c.len_utf16()),
            _ => (None, 1),
        }
    }

    fn is_whitespace(&self, at: usize) -> bool {
        self.scalar(at).0.is_some_and(char::is_whitespace)
    }

    /// Whether `needle` (ASCII) matches at `at`: unit for unit, or skipping ignorable code points
    /// after its first character.
    fn matches_at(&self, at: usize, needle: &str, search: Search) -> bool {
        let mut position = at;
        for (index, unit) in needle.encode_utf16().enumerate() {
            if search == Search::Culture && index > 0 {
                while position < self.len() {
                    match self.scalar(position) {
                        (Some(c), width) if collation_ignorable(c) => position += width,
                        _ => break,
                    }
                }
            }
            if self.0.get(position) != Some(&unit) {
                return false;
            }
            position += 1;
        }
        true
    }

    /// `IndexOf(needle, from)`.
    fn index_of(&self, needle: &str, from: usize, search: Search) -> Option<usize> {
        (from..self.len()).find(|&at| self.matches_at(at, needle, search))
    }

    /// `StartsWith(needle)`: leading ignorable code points are skipped too in a culture-sensitive match.
    fn starts_with(&self, needle: &str, search: Search) -> bool {
        let mut at = 0;
        if search == Search::Culture {
            while at < self.len() {
                match self.scalar(at) {
                    (Some(c), width) if collation_ignorable(c) => at += width,
                    _ => break,
                }
            }
        }
        self.matches_at(at, needle, search)
    }

    /// `IndexOf(char, from)`: always ordinal.
    fn index_of_unit(&self, unit: u8, from: usize) -> Option<usize> {
        (from..self.len()).find(|&at| self.0[at] == u16::from(unit))
    }
}

/// `text.Split(separator, count, StringSplitOptions.RemoveEmptyEntries)` as .NET does it: empty
/// pieces are dropped and do not count, and once `count - 1` pieces are taken, the separators
/// right after them are skipped and the rest is the last piece.
fn split_non_empty(text: &str, separator: char, count: Option<usize>) -> Vec<&str> {
    let separators: Vec<usize> = text.match_indices(separator).map(|(at, _)| at).collect();
    let mut pieces = Vec::new();
    let mut current = 0;
    let mut index = 0;
    while index < separators.len() && current < text.len() {
        if separators[index] > current {
            pieces.push(&text[current..separators[index]]);
        }
        current = separators[index] + separator.len_utf8();
        if count.is_some_and(|count| pieces.len() == count - 1) {
            while index + 1 < separators.len() && separators[index + 1] == current {
                index += 1;
                current += separator.len_utf8();
            }
            break;
        }
        index += 1;
    }
    if current < text.len() {
        pieces.push(&text[current..]);
    }
    pieces
}

/// `string.Replace` (ordinal) of each mapping in turn.
fn unescape(text: &str, mappings: &[(&str, &str)]) -> String {
    mappings.iter().fold(text.to_owned(), |text, (escaped, plain)| text.replace(escaped, plain))
}

/// `ActionCommand.UnescapeData`.
fn unescape_data(text: &str) -> String {
    unescape(text, &[("%0D", "\r"), ("%0A", "\n"), ("%25", "%")])
}

/// `ActionCommand.UnescapeProperty`.
fn unescape_property(text: &str) -> String {
    unescape(text, &[("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")])
}

/// `ActionCommand.Unescape`, for the old `##[` form.
fn unescape_old(text: &str) -> String {
    unescape(text, &[("%3B", ";"), ("%0D", "\r"), ("%0A", "\n"), ("%5D", "]"), ("%25", "%")])
}

fn is_registered(name: &str, registered: &[String]) -> bool {
    registered.iter().any(|r| same_name(r, name))
}

/// The registered command `name` stands for, as registered.
fn registered_name(name: &str, registered: &[String]) -> Option<String> {
    registered.iter().find(|r| same_name(r, name)).cloned()
}

/// `ActionCommand.TryParseV2`: `::name props::data` at the start of the trimmed line.
fn parse_v2(line: &str, registered: &[String], search: Search) -> Option<RunnerCommand> {
    let units = Units::new(line);
    let start = (0..units.len()).find(|&at| !units.is_whitespace(at)).unwrap_or(units.len());
    let message = Units(units.0[start..].to_vec());
    if !message.starts_with("::", search) {
        return None;
    }
    let end = message.index_of("::", 2, search)?;
    let info = message.text(2, end);
    let (name, properties) = match info.find(' ') {
        Some(space) => (&info[..space], Some(&info[space + 1..])),
        None => (info.as_str(), None),
    };
    let name = registered_name(name, registered)?;
    let mut command = RunnerCommand { name, properties: Vec::new(), data: String::new() };
    // `spaceIndex > 0`: a space right after `::` leaves an empty name, refused above.
    if let Some(properties) = properties {
        for property in split_non_empty(properties.trim(), ',', None) {
            if let [key, value] = split_non_empty(property, '=', Some(2))[..] {
                command.properties.retain(|(k, _)| !same_name(k, key));
                command.properties.push((key.to_owned(), unescape_property(value)));
            }
        }
    }
    command.data = unescape_data(&message.text(end + 2, message.len()));
    Some(command)
}

/// `ActionCommand.TryParse`: `##[name props]data` anywhere in the line (its first `##[`).
fn parse_old(line: &str, registered: &[String], search: Search) -> Option<RunnerCommand> {
    let units = Units::new(line);
    let prefix = units.index_of("##[", 0, search)?;
    let bracket = units.index_of_unit(b']', prefix)?;
    let start = prefix + 3;
    if bracket < start {
        return None; // `Substring` throws; the runner catches it and sees no command.
    }
    let info = units.text(start, bracket);
    let (name, properties) = match info.find(' ') {
        Some(space) => (&info[..space], Some(&info[space + 1..])),
        None => (info.as_str(), None),
    };
    let name = registered_name(name, registered)?;
    let mut command = RunnerCommand { name, properties: Vec::new(), data: String::new() };
    if let Some(properties) = properties {
        for property in split_non_empty(properties, ';', None) {
            if let [key, value] = split_non_empty(property, '=', Some(2))[..] {
                command.properties.retain(|(k, _)| !same_name(k, key));
                command.properties.push((key.to_owned(), unescape_old(value)));
            }
        }
    }
    command.data = unescape_old(&units.text(bracket + 1, units.len()));
    Some(command)
}

/// The commands the runner acts on in one stream, in order (`OutputManager.OnDataReceived` then
/// `ActionCommandManager.TryProcessCommand`): a line holding `##[` or `::` is parsed in the `::`
/// form, else in the `##[` form; `stop-commands` pauses every command until one named by its token.
fn runner_commands_with(output: &str, search: Search) -> Vec<RunnerCommand> {
    let mut registered: Vec<String> = REGISTERED.iter().map(|name| (*name).to_owned()).collect();
    let mut paused: Option<String> = None;
    let mut acted = Vec::new();
    for line in runner_lines(output) {
        let units = Units::new(line);
        if line.is_empty() || (units.index_of("##[", 0, search).is_none() && units.index_of("::", 0, search).is_none())
        {
            continue;
        }
        let Some(command) = parse_v2(line, &registered, search).or_else(|| parse_old(line, &registered, search)) else {
            continue;
        };
        match &paused {
            Some(token) => {
                if same_name(&command.name, token) {
                    registered.retain(|r| r != token);
                    paused = None;
                    acted.push(command);
                }
            }
            None => {
                if same_name(&command.name, "stop-commands") {
                    let token = command.data.clone();
                    // `ValidateStopToken` throws for these: the runner does not pause.
                    let valid =
                        !token.is_empty() && !is_registered(&token, &registered) && !same_name(&token, "pause-logging");
                    if valid {
                        registered.push(token.clone());
                        paused = Some(token);
                    }
                }
                acted.push(command);
            }
        }
    }
    acted
}

/// The commands of `output` in both readings, which must agree for the tests' texts.
fn runner_commands(output: &str) -> Vec<RunnerCommand> {
    let ordinal = runner_commands_with(output, Search::Ordinal);
    let culture = runner_commands_with(output, Search::Culture);
    assert_eq!(ordinal, culture, "the two readings differ on {output:?}");
    ordinal
}

fn command_names(output: &str) -> Vec<String> {
    runner_commands(output).into_iter().map(|c| c.name).collect()
}

#[test]
fn the_model_reads_lines_as_the_runner_does() {
    assert_eq!(runner_lines("a\rb\r\nc\nd"), ["a", "b", "c", "d"]);
    assert_eq!(runner_lines("a\n\nb\n"), ["a", "", "b"]);
    assert_eq!(runner_lines("a\u{85}b\u{2028}c"), ["a\u{85}b\u{2028}c"]);
    assert_eq!(split_non_empty("file==x", '=', Some(2)), ["file", "x"]);
    assert_eq!(split_non_empty("a=b=c", '=', Some(2)), ["a", "b=c"]);
    assert_eq!(split_non_empty(",a,,b,", ',', None), ["a", "b"]);
    assert_eq!(unescape_data("50%25 done%0D%0Anext %250A"), "50% done\r\nnext %0A");
}

#[test]
fn the_model_recognises_the_runner_command_forms() {
    let one = |text: &str| {
        let commands = runner_commands(text);
        assert_eq!(commands.len(), 1, "{text:?}: {commands:?}");
        commands[0].clone()
    };
    let error = one("::error::x");
    assert_eq!((error.name.as_str(), error.data.as_str()), ("error", "x"));
    let warning = one("  \t::warning file=a%2Cb%3Ac,line=3::m%0An::o");
    assert_eq!(warning.property("file"), Some("a,b:c"));
    assert_eq!(warning.property("LINE"), Some("3"));
    assert_eq!(warning.data, "m\nn::o");
    let old = one("text ##[set-output name=a%3Bb;x=y]c%5D");
    assert_eq!((old.name.as_str(), old.property("name"), old.data.as_str()), ("set-output", Some("a;b"), "c]"));
    // Names compare as OrdinalIgnoreCase does; .NET whitespace (NBSP, NEL, ideographic space) is trimmed.
    assert_eq!(command_names("::ERROR::x"), ["error"]);
    assert_eq!(command_names("::ſet-output name=a::b"), ["set-output"]);
    assert_eq!(command_names("\u{a0}\u{85}\u{3000}::notice::x"), ["notice"]);
    // Not commands: an unknown name, no second `::`, `::` not at the start, a NEL is no line break.
    for text in ["::nope::x", "::error x", "a ::error::x", "a\u{85}::error::x", "##[nope]x", "##[error", ": :error::x"]
    {
        assert_eq!(command_names(text), Vec::<String>::new(), "{text:?}");
    }
    // Line breaks: each line is read on its own.
    assert_eq!(command_names("x\r::error::a\r\n::warning::b\n##[group]c"), ["error", "warning", "group"]);
    // A pause ignores every command until its token; an invalid token does not pause.
    let paused = "::stop-commands::tok1\n::error::ignored\n##[error]ignored\n::TOK1::\n::error::seen";
    assert_eq!(command_names(paused), ["stop-commands", "tok1", "error"]);
    assert_eq!(runner_commands(paused)[1].name, "tok1");
    assert_eq!(command_names("::stop-commands::error\n::error::x"), ["stop-commands", "error"]);
}

#[test]
fn the_culture_reading_skips_ignorable_code_points() {
    // ICU matches `:\u{fe0f}:` as `::`: the culture reading finds the separator.
    let text = "::error:\u{fe0f}:x";
    assert_eq!(runner_commands_with(text, Search::Ordinal), Vec::new());
    let culture = runner_commands_with(text, Search::Culture);
    assert_eq!(culture.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["error"]);
    // An ignorable code point before the name shifts where the runner reads it from: no command.
    for text in ["\u{200b}::error::x", ":\u{200b}:error::x", "#\u{fe0f}#[error]x", "##\u{200b}[error]x"] {
        assert_eq!(runner_commands_with(text, Search::Culture), Vec::new(), "{text:?}");
    }
    // And an earlier culture match of `##[` hides a later ordinal one from the culture reading.
    let text = "#\u{200b}#[x] ##[error]y";
    assert_eq!(runner_commands_with(text, Search::Culture), Vec::new());
    assert_eq!(runner_commands_with(text, Search::Ordinal).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------------------

/// Pieces of command syntax, line breaks, escapes and invisible characters.
const FRAGMENTS: &[&str] = &[
    "::",
    ":",
    "##[",
    "#",
    "[",
    "]",
    "\r",
    "\n",
    "\r\n",
    " ",
    "\t",
    "  ",
    "error",
    "warning",
    "notice",
    "group",
    "endgroup",
    "add-mask",
    "set-output name=x",
    "stop-commands",
    "ERROR",
    "ſet-output",
    "error file=a,line=1",
    "%0A",
    "%0D",
    "%25",
    "%3A",
    "%2C",
    "%5D",
    "%3B",
    "%",
    ",",
    "=",
    ";",
    "\\",
    "\\:",
    "\\[",
    "\\u{d}",
    "\0",
    "\u{1b}[31m",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "\u{ad}",
    "\u{200b}",
    "\u{200e}",
    "\u{202e}",
    "\u{2028}",
    "\u{2029}",
    "\u{2066}",
    "\u{3000}",
    "\u{feff}",
    "\u{fe0f}",
    "\u{e0041}",
    "\u{180e}",
    "\u{b}",
    "\u{c}",
    "é",
    "中文",
    "🚀",
    "\"",
    "'",
];

/// A string of fragments: command syntax taken apart and put back together at random.
fn fragments() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..32).prop_map(|pieces| pieces.concat())
}

/// A string of arbitrary code points, and one of arbitrary code points mixed with fragments.
fn arbitrary() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..48).prop_map(String::from_iter),
        proptest::collection::vec(
            prop_oneof![
                any::<char>().prop_map(String::from),
                proptest::sample::select(FRAGMENTS).prop_map(String::from)
            ],
            0..48
        )
        .prop_map(|pieces| pieces.concat()),
    ]
}

/// A long string: a hostile piece repeated, up to some ten thousand characters.
fn long() -> impl Strategy<Value = String> {
    (fragments(), 20usize..200).prop_map(|(piece, times)| piece.repeat(times))
}

/// Lines shaped like commands: .NET whitespace (or none) before `::name props::data` or
/// `##[name props]data`, a registered name in any case, after any text and a line break.
fn command_lines() -> impl Strategy<Value = String> {
    let line = (
        proptest::sample::select(vec!["", "x", "a b ", "\u{200b}"]),
        proptest::sample::select(vec!["\n", "\r", "\r\n", ""]),
        proptest::sample::select(vec!["", " ", "\t", "  \t", "\u{a0}", "\u{85}", "\u{3000}", "\u{2028}", "\u{b}"]),
        any::<bool>(),
        proptest::sample::select(REGISTERED),
        any::<bool>(),
        proptest::sample::select(vec!["", " file=a,line=1", " name=x"]),
        fragments(),
    )
        .prop_map(|(before, newline, space, new_form, name, upper, properties, data)| {
            let name = if upper { name.to_uppercase() } else { name.to_owned() };
            if new_form {
                format!("{before}{newline}{space}::{name}{properties}::{data}")
            } else {
                format!("{before}{space}##[{name}{properties}]{data}")
            }
        });
    proptest::collection::vec(line, 1..4).prop_map(|lines| lines.concat())
}

/// Untrusted text of any of the kinds above.
fn untrusted() -> impl Strategy<Value = String> {
    prop_oneof![4 => fragments(), 4 => command_lines(), 3 => arbitrary(), 1 => long()]
}

fn level() -> impl Strategy<Value = (Level, &'static str)> {
    prop_oneof![Just((Level::Error, "error")), Just((Level::Warning, "warning")), Just((Level::Notice, "notice"))]
}

/// What the runner should read back as a `file` property: the sanitised file, read as the runner
/// reads properties (the property list trimmed when `file` is last, leading `=` lost, an empty
/// value dropped).
fn file_as_read(file: &str, last: bool) -> Option<String> {
    let escaped = escape_property(&log_text(file));
    let escaped = if last { escaped.trim_end() } else { escaped.as_str() };
    let value = escaped.trim_start_matches('=');
    (!value.is_empty()).then(|| unescape_property(value))
}

/// Characters that hide or reorder text, by this file's own list (not the library's): controls but
/// `\n` and `\t`, the format characters (Unicode category Cf) and the line and paragraph separators.
fn hides_text(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(u32::from(c), 0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
            | 0x180E | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
            | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
            | 0xE0001 | 0xE0020..=0xE007F)
}

/// A line starts with `::` after whitespace, or holds `##[`: what the runner might read as a command.
fn command_shaped(text: &str) -> bool {
    runner_lines(text).iter().any(|line| line.trim_start().starts_with("::") || line.contains("##["))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn sanitised_text_issues_no_command(text in untrusted()) {
        let safe = log_text(&text);
        prop_assert_eq!(runner_commands(&safe), Vec::new(), "{:?} -> {:?}", text, safe);
        prop_assert!(!command_shaped(&safe), "{:?} -> {:?}", text, safe);
        prop_assert!(!safe.contains('\r'), "{:?} -> {:?}", text, safe);
        prop_assert!(!safe.chars().any(is_invisible), "{:?} -> {:?}", text, safe);
        prop_assert!(!safe.chars().any(hides_text), "{:?} -> {:?}", text, safe);
        // Sanitising twice changes nothing.
        prop_assert_eq!(log_text(&safe), safe.clone(), "{:?}", text);
        // Text with nothing to neutralise is left as it is.
        if !text.contains('\r') && !text.chars().any(is_invisible) && !command_shaped(&text) {
            prop_assert_eq!(safe, text);
        }
    }

    #[test]
    fn the_runner_unescapes_what_was_escaped(text in untrusted()) {
        let data = escape_data(&text);
        prop_assert!(!data.contains(['\r', '\n']), "{:?}", data);
        prop_assert_eq!(unescape_data(&data), text.clone());
        let property = escape_property(&text);
        prop_assert!(!property.contains(['\r', '\n', ':', ',']), "{:?}", property);
        prop_assert_eq!(unescape_property(&property), text);
    }

    #[test]
    fn a_message_annotation_is_one_command_reading_back_as_the_sanitised_text(
        (level, name) in level(),
        message in untrusted(),
    ) {
        let command = message_command(level, &message);
        let read = runner_commands(&command);
        prop_assert_eq!(read.len(), 1, "{:?}", command);
        prop_assert_eq!(read[0].name.as_str(), name);
        prop_assert_eq!(&read[0].properties, &Vec::new());
        prop_assert_eq!(&read[0].data, &log_text(&message));
        // The same followed by more output: still one command, the next line stays text.
        prop_assert_eq!(runner_commands(&format!("{command}\n{}", log_text(&message))).len(), 1);
    }

    #[test]
    fn a_diagnostic_annotation_is_one_command_reading_back_as_the_sanitised_file_and_text(
        (level, name) in level(),
        file in untrusted(),
        message in untrusted(),
        field in proptest::option::of(untrusted()),
        hint in proptest::option::of(untrusted()),
        at in proptest::option::of((1usize..10_000, 1usize..500)),
    ) {
        let mut diagnostic = Diagnostic::new(file.as_str(), message.as_str()).at(at);
        diagnostic.field = field;
        diagnostic.hint = hint.clone();
        let command = diagnostic_command(level, &diagnostic);
        let read = runner_commands(&command);
        prop_assert_eq!(read.len(), 1, "{:?}", command);
        let read = &read[0];
        prop_assert_eq!(read.name.as_str(), name);
        prop_assert_eq!(read.property("file").map(str::to_owned), file_as_read(&file, at.is_none()), "{:?}", command);
        prop_assert_eq!(read.property("line").map(str::to_owned), at.map(|(line, _)| line.to_string()));
        prop_assert_eq!(read.property("col").map(str::to_owned), at.map(|(_, column)| column.to_string()));
        let keys: Vec<&str> = read.properties.iter().map(|(k, _)| k.as_str()).collect();
        prop_assert!(keys.iter().all(|k| ["file", "line", "col"].contains(k)), "{:?}", keys);
        let mut text = diagnostic.headline();
        if let Some(hint) = &hint {
            text.push_str("\nhint: ");
            text.push_str(hint);
        }
        prop_assert_eq!(&read.data, &log_text(&text));
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: JSON_CASES, ..ProptestConfig::default() })]

    #[test]
    fn sanitised_json_issues_no_command_and_stays_the_same_json(
        entries in proptest::collection::vec((untrusted(), untrusted()), 0..4),
        list in proptest::collection::vec(untrusted(), 0..4),
    ) {
        let object: serde_json::Map<String, Value> =
            entries.into_iter().map(|(key, value)| (key, Value::String(value))).collect();
        let value = json!({"object": object, "list": list, "nested": [{"deeper": list}]});
        let compact = serde_json::to_string(&value).expect("json");
        for text in [compact, serde_json::to_string_pretty(&value).expect("json")] {
            let safe = log_json(&text);
            prop_assert_eq!(runner_commands(&safe), Vec::new(), "{:?}", safe);
            prop_assert!(!command_shaped(&safe), "{:?}", safe);
            prop_assert!(!safe.chars().any(|c| c != '\n' && is_invisible(c)), "{:?}", safe);
            prop_assert_eq!(serde_json::from_str::<Value>(&safe).expect("still JSON"), value.clone());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Through the real binaries.
// ---------------------------------------------------------------------------------------------

/// Hostile text an environment variable can carry (no NUL), not blank (a blank input is absent).
fn env_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => fragments(),
        2 => command_lines(),
        2 => arbitrary(),
        1 => (fragments(), 5usize..20).prop_map(|(p, n)| p.repeat(n)),
    ]
    .prop_map(|text| format!("x{}", text.replace('\0', "")))
}

/// Hostile text that can be a file name: no `/`, no NUL, short enough for the file system.
fn file_name_text() -> impl Strategy<Value = String> {
    prop_oneof![fragments(), arbitrary()].prop_map(|text| {
        let mut name: String = text.chars().filter(|c| !matches!(c, '/' | '\0')).collect();
        while name.len() > 180 {
            name.pop();
        }
        name
    })
}

fn logs(result: &ActionResult) -> String {
    format!("stdout:\n{:?}\nstderr:\n{:?}", result.stdout, result.stderr)
}

/// The run issued exactly `expected` on stdout (names in order), nothing on stderr, and left no
/// `##[` anywhere (the actions never use that form; a stray one would be untrusted text).
fn assert_only_own_commands(result: &ActionResult, expected: &[&str]) -> Result<(), TestCaseError> {
    prop_assert_eq!(command_names(&result.stdout), expected, "{}", logs(result));
    prop_assert_eq!(command_names(&result.stderr), Vec::<String>::new(), "{}", logs(result));
    // The stricter reading of the other log tests agrees (any name, both forms in every line).
    let strict: Vec<String> = support::runner_log::command_names(&result.stdout);
    prop_assert_eq!(strict, expected, "{}", logs(result));
    prop_assert_eq!(support::runner_log::command_names(&result.stderr), Vec::<String>::new(), "{}", logs(result));
    prop_assert!(!result.stdout.contains("##[") && !result.stderr.contains("##["), "{}", logs(result));
    Ok(())
}

/// A support-and-staging leg of `cluster`, as generate writes it.
fn canary_leg(cluster: &str) -> Value {
    json!({"cluster_name": cluster, "provider": "gcp", "upgrade_support": true,
           "reason_for_support_redeploy": "support", "upgrade_staging": false,
           "reason_for_staging_redeploy": "", "staging_hubs": []})
}

fn prod_job(cluster: &str, hub: &str, reason: &str) -> Value {
    json!({"cluster_name": cluster, "provider": "gcp", "hub_name": hub, "reason_for_redeploy": reason})
}

proptest! {
    #![proptest_config(ProptestConfig { cases: BINARY_CASES, ..ProptestConfig::default() })]

    /// Hostile cluster and hub names and reasons in the matrices, a failed and a missing result:
    /// the filter prints them in its table and warning; the commands are its own.
    #[test]
    fn the_filter_prints_hostile_names_as_text(cluster in env_text(), hub in env_text(), reason in env_text()) {
        let workspace = tempfile::tempdir().expect("temp");
        let cluster = format!("c{cluster}");
        let result = ActionRun::new("action-filter", workspace.path())
            .input(
                "prod-hub-matrix-jobs",
                json!([prod_job(&cluster, &hub, &reason), prod_job("plain", &hub, &reason)]).to_string(),
            )
            .input("support-and-staging-matrix-jobs", json!([canary_leg(&cluster), canary_leg("plain")]).to_string())
            .input("results", json!({cluster.clone(): "failure"}).to_string())
            .run();
        prop_assert!(result.success(), "{}", logs(&result));
        // `plain` has no result: one warning; then the table in a group.
        assert_only_own_commands(&result, &["warning", "group", "endgroup"])?;
    }

    /// A hostile result for a hostile cluster: the filter fails with one error quoting both.
    #[test]
    fn the_filter_quotes_hostile_results_as_text(cluster in env_text(), value in env_text()) {
        let workspace = tempfile::tempdir().expect("temp");
        let result = ActionRun::new("action-filter", workspace.path())
            .input("prod-hub-matrix-jobs", json!([prod_job(&cluster, "h", "r")]).to_string())
            .input("support-and-staging-matrix-jobs", json!([canary_leg(&cluster)]).to_string())
            .input("results", json!({cluster.clone(): value}).to_string())
            .run();
        prop_assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
        assert_only_own_commands(&result, &["error"])?;
    }

    /// Hostile `config` and `max-jobs` inputs: generate fails with one error quoting them.
    #[test]
    fn generate_quotes_hostile_inputs_as_text(config in env_text(), max_jobs in env_text()) {
        let repo = shared_repo();
        let changed = json!(["config/clusters/cluster1/hub1.values.yaml"]).to_string();
        for (input, value) in [("config", config), ("max-jobs", max_jobs)] {
            let result = ActionRun::new("action-generate", repo)
                .input("changed-files", changed.clone())
                .input("plan-dir", "plan")
                .input(input, value)
                .run();
            prop_assert_eq!(result.output.status.code(), Some(1), "{}", logs(&result));
            assert_only_own_commands(&result, &["error"])?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: BINARY_CASES / 2, ..ProptestConfig::default() })]

    /// A changed values file and a pull-request label with hostile names: generate prints them in
    /// its plan tables; the commands are its own.
    #[test]
    fn generate_prints_hostile_file_names_and_labels_as_text(file in file_name_text(), label in env_text()) {
        let repo = tempfile::tempdir().expect("temp");
        copy_tree(&example_repo(), repo.path());
        let values = format!("staging{file}.values.yaml");
        let cluster1 = repo.path().join("config/clusters/cluster1");
        fs::write(cluster1.join(&values), "# hostile\n").expect("values file");
        rewrite_values_file(&cluster1.join("cluster.yaml"), &values);
        fs::write(repo.path().join("deployer.yaml"), format!("labels:\n  deploy_support: {}\n", yaml_quoted(&label)))
            .expect("deployer.yaml");
        let result = ActionRun::new("action-generate", repo.path())
            .input("changed-files", json!([format!("config/clusters/cluster1/{values}")]).to_string())
            .input("labels", json!([label]).to_string())
            .temp_input("plan-dir", "plan")
            .run();
        prop_assert!(result.success(), "{}", logs(&result));
        let jobs = result.json_output("support-and-staging-matrix-jobs");
        prop_assert_eq!(&jobs[0]["reason_for_support_redeploy"], &json!(format!("{label} label detected")));
        // The bundled repository's `nofiles` hub lists no values files: one warning, then the plan.
        assert_only_own_commands(&result, &["warning", "group", "endgroup"])?;
    }
}

/// One copy of the bundled repository for the runs that fail before they write anything.
fn shared_repo() -> &'static Path {
    static REPO: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    REPO.get_or_init(|| {
        let repo = tempfile::tempdir().expect("temp");
        copy_tree(&example_repo(), repo.path());
        repo
    })
    .path()
}

/// `cluster.yaml` of `cluster1` with its staging hub's values file replaced by `values`.
fn rewrite_values_file(file: &Path, values: &str) {
    let text = fs::read_to_string(file).expect("cluster.yaml");
    let text = text.replacen("      - staging.values.yaml\n", &format!("      - {}\n", yaml_quoted(values)), 1);
    fs::write(file, text).expect("write cluster.yaml");
}

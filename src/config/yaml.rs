//! Parses one YAML document into a raw config type, turning parser errors into diagnostics.
//!
//! The text is first checked by [`super::yaml_guard`] (no anchors or aliases,
//! nesting of at most 64 levels, valid syntax; proven by a byte scan for
//! ordinary files), so the deserialiser only ever sees a bounded document. Its error messages can quote what it found (a
//! string, a number, an unknown key or variant); [`without_values`] rewrites
//! them to say only the kind of value found and what was expected, so an
//! error never prints the content of a file.

use serde::de::DeserializeOwned;

use super::yaml_guard::{self, Refusal};
use crate::base::diagnostic::Diagnostic;

/// Parses `source` (the text of `file`) as `T`. A failure is one diagnostic,
/// in a list so that callers can merge it with others.
pub fn parse<T: DeserializeOwned>(file: &str, source: &str) -> Result<T, Vec<Diagnostic>> {
    parse_with(file, source, T::deserialize)
}

/// [`parse`] with the deserialization given: `T::deserialize`, or one that
/// also notes what it reads (see [`super::unread`]).
pub fn parse_with<'de, T>(
    file: &str,
    source: &'de str,
    deserialize: impl FnOnce(yaml_serde::Deserializer<'de>) -> Result<T, yaml_serde::Error>,
) -> Result<T, Vec<Diagnostic>> {
    if source.trim().is_empty() {
        return Err(vec![Diagnostic::new(file, "the file is empty").at(Some((1, 1)))]);
    }
    // Ordinary files are proven fine by a byte scan; the rest get the event pass first.
    let scanned = yaml_guard::provably_within_limits(source);
    if !scanned {
        if let Err(refusal) = yaml_guard::check(source) {
            return Err(vec![refused(file, &refusal)]);
        }
    }
    deserialize(yaml_serde::Deserializer::from_str(source)).map_err(|error| {
        // A syntax error is reported with libyaml's own message, from the event pass.
        if scanned {
            if let Err(refusal) = yaml_guard::check(source) {
                return vec![refused(file, &refusal)];
            }
        }
        let location = error.location().map(|l| (l.line(), l.column()));
        let rewritten = without_values(&strip_position(&error.to_string()));
        let hint = hint_for(&rewritten.message);
        let mut diagnostic = Diagnostic::new(file, rewritten.message).at(location).hint(hint);
        diagnostic.field = rewritten.path;
        vec![diagnostic]
    })
}

fn refused(file: &str, refusal: &Refusal) -> Diagnostic {
    let aliases_hint = "write the value out in full: anchors and aliases are refused in configuration files, \
                        so that a small file cannot expand into a huge one";
    let (message, hint) = match refusal {
        Refusal::Anchor { .. } => ("YAML anchors (`&name`) are not allowed in this file".to_owned(), aliases_hint),
        Refusal::Alias { .. } => ("YAML aliases (`*name`) are not allowed in this file".to_owned(), aliases_hint),
        Refusal::TooDeep { .. } => (
            format!("the YAML is nested more than {} levels deep", yaml_guard::MAX_DEPTH),
            "configuration files need only a few levels of nesting",
        ),
        Refusal::Syntax { message, .. } => (message.clone(), SYNTAX_HINT),
    };
    Diagnostic::new(file, message).at(Some(refusal.location())).hint(hint)
}

const SYNTAX_HINT: &str = "check the YAML syntax (indentation, quoting, `key: value`) at this line";

/// Removes the ` at line N column M` the deserialiser appends at the end; the
/// diagnostic carries the position itself.
fn strip_position(message: &str) -> String {
    let Some(index) = message.rfind(" at line ") else {
        return message.to_owned();
    };
    let rest = &message[index + " at line ".len()..];
    let mut parts = rest.splitn(3, ' ');
    let (Some(line), Some("column"), Some(column)) = (parts.next(), parts.next(), parts.next()) else {
        return message.to_owned();
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(line) || !digits(column) {
        return message.to_owned();
    }
    message[..index].to_owned()
}

/// A deserialiser's error message (YAML or JSON, any input) as text that
/// quotes nothing from the input: the field path when it is plain keys and
/// indexes, then what was expected and the kind of value found
/// (`clusters: invalid type: string, expected a sequence`). For files that
/// hold secrets (a kubeconfig, a decrypted key) and for credential answers.
pub fn value_free_message(message: &str) -> String {
    let rewritten = without_values(&strip_position(message));
    match rewritten.path {
        Some(path) => format!("{path}: {}", rewritten.message),
        None => rewritten.message,
    }
}

/// [`value_free_message`] for a JSON error: syntax errors keep serde_json's
/// own words (fixed texts, with the position); a data error (a type or value
/// the target does not take) is rewritten.
pub fn value_free_json_message(error: &serde_json::Error) -> String {
    match error.classify() {
        serde_json::error::Category::Data => value_free_message(&error.to_string()),
        _ => error.to_string(),
    }
}

/// A deserialiser message with every value from the file taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The field path the deserialiser named (`hubs[0].name`), when it is made only of plain keys and indexes.
    pub path: Option<String>,
    pub message: String,
}

/// Messages of the deserialiser that are fixed texts.
const FIXED_MESSAGES: &[&str] = &[
    "EOF while parsing a value",
    "deserializing from YAML containing more than one document is not supported",
    "recursion limit exceeded",
    "repetition limit exceeded",
    "serialization and deserialization of bytes in YAML is not implemented",
    "unknown anchor",
    "expected a mapping or list of mappings for merging, but found scalar",
    "unexpected tagged value in merge",
    "expected a mapping for merging, but found scalar",
    "expected a mapping for merging, but found sequence",
    "empty YAML tag is not allowed",
    "failed to parse YAML number",
];

/// What replaces a message that has no known shape: it could quote anything.
const UNRECOGNISED: &str = "this value is not valid here";

/// Rewrites a deserialiser message (position already stripped) so it quotes
/// nothing from the file. Serde's shapes keep their words, with the value
/// found replaced by its kind (`invalid type: string, expected a sequence`);
/// an unknown variant is never named, an unknown field only when it is a short
/// plain name; the leading field path is kept only when it is plain keys and
/// indexes. A message of any other shape is replaced as a whole.
pub fn without_values(message: &str) -> Rewritten {
    if FIXED_MESSAGES.contains(&message) {
        return Rewritten { path: None, message: message.to_owned() };
    }
    // `path: body`, where the path is made of keys from the file: try every
    // place the body could start, and keep the first whose path is plain and
    // whose body has a known shape from its first character to its last.
    let mut starts = vec![0];
    starts.extend(message.match_indices(": ").map(|(index, _)| index + 2));
    for start in starts {
        let path = if start == 0 { None } else { Some(&message[..start - 2]) };
        if path.is_some_and(|path| !is_plain_path(path)) {
            continue;
        }
        if let Some(body) = rewrite_body(&message[start..]) {
            return Rewritten { path: path.map(str::to_owned), message: body };
        }
    }
    Rewritten { path: None, message: UNRECOGNISED.to_owned() }
}

fn rewrite_body(body: &str) -> Option<String> {
    for (prefix, shape) in [("invalid type: ", "invalid type"), ("invalid value: ", "invalid value")] {
        if let Some(rest) = body.strip_prefix(prefix) {
            let (kind, expected) = unexpected_kind(rest)?;
            return Some(format!("{shape}: {kind}, expected {}", plain_expected(expected)?));
        }
    }
    if let Some(rest) = body.strip_prefix("invalid length ") {
        let (length, expected) = rest.split_once(", expected ")?;
        length.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
        return Some(format!("invalid length {length}, expected {}", plain_expected(expected)?));
    }
    if let Some(rest) = body.strip_prefix("unknown variant `") {
        let (_, tail) = unknown_name_and_tail(rest, "variants")?;
        return Some(format!("unknown variant{tail}"));
    }
    if let Some(rest) = body.strip_prefix("unknown field `") {
        let (name, tail) = unknown_name_and_tail(rest, "fields")?;
        return Some(match name.filter(|name| is_plain_name(name)) {
            Some(name) => format!("unknown field `{name}`{tail}"),
            None => format!("unknown field{tail}"),
        });
    }
    for shape in ["missing field", "duplicate field"] {
        if let Some(rest) = body.strip_prefix(shape).and_then(|rest| rest.strip_prefix(" `")) {
            let name = rest.strip_suffix('`')?;
            return Some(if is_plain_name(name) { format!("{shape} `{name}`") } else { shape.to_owned() });
        }
    }
    if body.starts_with("duplicate entry ") {
        return Some("duplicate entry: a key is repeated".to_owned());
    }
    if let Some(name) = body.strip_prefix("data did not match any variant of untagged enum ") {
        return is_plain_name(name).then(|| body.to_owned());
    }
    None
}

/// `string "…", expected X` → (`string`, `X`): the found value's kind, without the value.
fn unexpected_kind(rest: &str) -> Option<(&'static str, &str)> {
    if let Some(quoted) = rest.strip_prefix("string \"") {
        // Serde prints the string escaped: the first `"` not after a `\` closes it.
        let mut escaped = false;
        for (index, c) in quoted.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    return quoted[index + 1..].strip_prefix(", expected ").map(|expected| ("string", expected));
                }
                _ => escaped = false,
            }
        }
        return None;
    }
    for (prefix, kind) in [
        ("integer `", "integer"),
        ("floating point `", "floating point"),
        ("boolean `", "boolean"),
        ("character `", "character"),
    ] {
        if let Some(value_and_rest) = rest.strip_prefix(prefix) {
            // Numbers and booleans hold no backtick: the first one closes the value.
            let (_, after) = value_and_rest.split_once('`')?;
            return after.strip_prefix(", expected ").map(|expected| (kind, expected));
        }
    }
    const VALUELESS: &[(&str, &str)] = &[
        ("unit value", "unit value"),
        ("Option value", "Option value"),
        ("newtype struct", "newtype struct"),
        ("sequence", "sequence"),
        ("map", "map"),
        ("enum", "enum"),
        ("unit variant", "unit variant"),
        ("newtype variant", "newtype variant"),
        ("tuple variant", "tuple variant"),
        ("struct variant", "struct variant"),
        ("byte array", "byte array"),
    ];
    VALUELESS.iter().find_map(|(text, kind)| {
        rest.strip_prefix(text).and_then(|after| after.strip_prefix(", expected ")).map(|expected| (*kind, expected))
    })
}

/// After `unknown variant \`` / `unknown field \``: the name when it can be
/// told apart, and the tail (`, expected one of …` or `, there are no …`).
/// The name is the file's and may hold anything, so the tail is found from the end.
fn unknown_name_and_tail<'m>(rest: &'m str, things: &str) -> Option<(Option<&'m str>, String)> {
    let none = format!("`, there are no {things}");
    if let Some(name) = rest.strip_suffix(none.as_str()) {
        return Some((Some(name), format!(", there are no {things}")));
    }
    let index = rest.rfind("`, expected ")?;
    let expected = plain_expected(&rest[index + "`, expected ".len()..])?;
    Some((Some(&rest[..index]), format!(", expected {expected}")))
}

/// What serde says it expected comes from the Rust types, not the file; it is
/// kept when it looks like it (printable, no `"` or `:`, short), else dropped.
fn plain_expected(expected: &str) -> Option<&str> {
    let plain = !expected.is_empty()
        && expected.len() <= 300
        && expected.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != ':' || c == ' ');
    plain.then_some(expected)
}

/// A key that may be named in a message: at most 40 of `[A-Za-z0-9_.-]`.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// A field path such as `hubs[0].helm_chart_values_files[2]` or `support.?`.
fn is_plain_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 200
        && path.split('.').all(|segment| {
            let name_end = segment.find('[').unwrap_or(segment.len());
            let (name, indexes) = segment.split_at(name_end);
            let name_ok = name == "?"
                || (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            let indexes_ok = indexes.is_empty()
                || (indexes.starts_with('[')
                    && indexes.ends_with(']')
                    && indexes[1..indexes.len() - 1]
                        .split("][")
                        .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())));
            (name_ok || (name.is_empty() && !indexes.is_empty())) && indexes_ok && name.len() <= 40
        })
}

fn hint_for(message: &str) -> &'static str {
    if message.contains("missing field") {
        "add the missing field; see schemas/ for every field and its type"
    } else if message.contains("unknown variant") {
        "use one of the values listed"
    } else if message.contains("unknown field") {
        "check the spelling; see schemas/ for the fields this file accepts"
    } else if message.contains("invalid type") {
        "check the value's type (a list needs `- item` entries, a text may need quotes)"
    } else if message.contains("duplicate") {
        "remove the repeated key"
    } else if message == UNRECOGNISED {
        "see schemas/ for the fields this file accepts and their types"
    } else {
        SYNTAX_HINT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_lose_the_values_only() {
        #[derive(Debug, serde::Deserialize)]
        struct Answer {
            #[allow(dead_code)]
            kubeconfigs: Vec<String>,
        }
        let data = serde_json::from_str::<Answer>(r#"{"kubeconfigs": "SENTINEL-KUBECONFIG"}"#).unwrap_err();
        assert_eq!(value_free_json_message(&data), "invalid type: string, expected a sequence");
        let syntax = serde_json::from_str::<Answer>("{\"kubeconfigs\": [").unwrap_err();
        assert_eq!(value_free_json_message(&syntax), "EOF while parsing a list at line 1 column 17");
        assert_eq!(
            value_free_message("clusters: invalid type: string \"SENTINEL\", expected a sequence at line 1 column 11"),
            "clusters: invalid type: string, expected a sequence"
        );
    }

    #[test]
    fn strips_positions() {
        let cases = [
            ("name: bad at line 3 column 5", "name: bad"),
            ("x at line 1 column 2: y at line 3 column 5", "x at line 1 column 2: y"),
            ("no position here", "no position here"),
            ("at line x column 3", "at line x column 3"),
            ("bad at line 3 column 5x", "bad at line 3 column 5x"),
        ];
        for (input, expected) in cases {
            assert_eq!(strip_position(input), expected);
        }
    }

    #[test]
    fn messages_lose_every_value_from_the_file() {
        let some = |path: &str, message: &str| Rewritten { path: Some(path.into()), message: message.into() };
        let none = |message: &str| Rewritten { path: None, message: message.into() };
        let cases = [
            (
                "hubs: invalid type: string \"-----BEGIN PRIVATE KEY-----\\nMIIE\", expected a sequence",
                some("hubs", "invalid type: string, expected a sequence"),
            ),
            (
                "invalid type: string \"a\\\", expected x: \\\"b\", expected struct RawCluster",
                none("invalid type: string, expected struct RawCluster"),
            ),
            (
                "hubs[0].name: invalid type: integer `5`, expected a string",
                some("hubs[0].name", "invalid type: integer, expected a string"),
            ),
            (
                "name: invalid type: floating point `1.5`, expected a string",
                some("name", "invalid type: floating point, expected a string"),
            ),
            (
                "name: invalid type: boolean `true`, expected a string",
                some("name", "invalid type: boolean, expected a string"),
            ),
            ("hubs: invalid type: map, expected a sequence", some("hubs", "invalid type: map, expected a sequence")),
            (
                "invalid type: unit value, expected struct RawSettings",
                none("invalid type: unit value, expected struct RawSettings"),
            ),
            (
                "x: invalid value: string \"SECRET\", expected a boolean",
                some("x", "invalid value: string, expected a boolean"),
            ),
            ("x: invalid value: integer `-1`, expected u64", some("x", "invalid value: integer, expected u64")),
            (
                "x: invalid length 3, expected a tuple of size 2",
                some("x", "invalid length 3, expected a tuple of size 2"),
            ),
            (
                "provider: unknown variant `openstack`, expected one of `gcp`, `aws`, `azure`, `kubeconfig`",
                some("provider", "unknown variant, expected one of `gcp`, `aws`, `azure`, `kubeconfig`"),
            ),
            (
                "provider: unknown variant `x`, expected one of `y`, expected one of `gcp`, `aws`",
                some("provider", "unknown variant, expected one of `gcp`, `aws`"),
            ),
            ("x: unknown variant `SECRET`, there are no variants", some("x", "unknown variant, there are no variants")),
            (
                "labels: unknown field `deploy_hub`, expected one of `skip_deploy`, `deploy_hubs`",
                some("labels", "unknown field `deploy_hub`, expected one of `skip_deploy`, `deploy_hubs`"),
            ),
            (
                "unknown field `-----BEGIN PRIVATE KEY----- MIIE`, expected one of `clusters`, `labels`",
                none("unknown field, expected one of `clusters`, `labels`"),
            ),
            (
                "unknown field `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`, there are no fields",
                none("unknown field, there are no fields"),
            ),
            ("missing field `name`", none("missing field `name`")),
            ("hubs[1]: missing field `name`", some("hubs[1]", "missing field `name`")),
            ("duplicate field `name`", none("duplicate field `name`")),
            ("support.x: duplicate entry with key \"SECRET\"", some("support.x", "duplicate entry: a key is repeated")),
            (
                "aws.account: data did not match any variant of untagged enum Text",
                some("aws.account", "data did not match any variant of untagged enum Text"),
            ),
            ("recursion limit exceeded", none("recursion limit exceeded")),
            ("empty YAML tag is not allowed", none("empty YAML tag is not allowed")),
            // Paths made of keys that are not plain names are dropped with whatever follows them.
            ("some key: invalid type: map, expected a sequence", none(UNRECOGNISED)),
            ("SECRET value: empty YAML tag is not allowed", none(UNRECOGNISED)),
            // A key crafted to look like a message cannot smuggle text into the expected part.
            (
                "a: invalid type: unit value, expected SECRETabc: invalid type: map, expected a sequence",
                none(UNRECOGNISED),
            ),
            ("x: a custom message quoting SECRET", none(UNRECOGNISED)),
            ("invalid type: string \"unterminated, expected a sequence", none(UNRECOGNISED)),
            ("invalid type: string \"x\", expected \"quoted\"", none(UNRECOGNISED)),
        ];
        for (input, expected) in cases {
            assert_eq!(without_values(input), expected, "{input:?}");
        }
    }

    #[test]
    fn plain_paths() {
        let cases = [
            ("hubs", true),
            ("hubs[0].name", true),
            ("support.helm_chart_values_files[12]", true),
            ("a[0][1]", true),
            ("support.?", true),
            ("", false),
            ("a b", false),
            ("a.", false),
            ("a[x]", false),
            ("a[]", false),
            ("a:b", false),
            (&"k".repeat(41), false),
        ];
        for (path, expected) in cases {
            assert_eq!(is_plain_path(path), expected, "{path:?}");
        }
    }

    #[test]
    fn empty_files_are_reported_at_line_one() {
        let error = parse::<serde::de::IgnoredAny>("x.yaml", "  \n").unwrap_err();
        assert_eq!(error[0].to_string(), "x.yaml:1:1: the file is empty");
    }

    #[test]
    fn refused_documents_never_reach_the_deserialiser() {
        let cases = [
            ("a: &x 1\nb: *x\n", "x.yaml:1:4: YAML anchors (`&name`) are not allowed in this file"),
            ("a: 1\nb: *x\n", "x.yaml:2:4: YAML aliases (`*name`) are not allowed in this file"),
            ("a: [1, 2\n", "x.yaml:2:1: did not find expected ',' or ']', while parsing a flow sequence"),
        ];
        for (text, expected) in cases {
            let error = parse::<serde::de::IgnoredAny>("x.yaml", text).unwrap_err();
            assert_eq!(error[0].to_string().lines().next().unwrap(), expected, "{text:?}");
        }
        let deep = format!("x: {}", "[".repeat(100_000));
        let error = parse::<serde::de::IgnoredAny>("x.yaml", &deep).unwrap_err();
        assert_eq!(
            error[0].to_string().lines().next().unwrap(),
            "x.yaml:1:67: the YAML is nested more than 64 levels deep"
        );
    }

    #[test]
    fn a_file_that_is_one_string_is_not_quoted() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            name: String,
        }
        let error = parse::<Doc>("x.yaml", "-----BEGIN PRIVATE KEY-----\n").unwrap_err();
        let text = error[0].to_string();
        assert!(!text.contains("PRIVATE"), "{text}");
        assert_eq!(text.lines().next().unwrap(), "x.yaml:1:1: invalid type: string, expected struct Doc");
    }
}

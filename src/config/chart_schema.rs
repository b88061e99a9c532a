//! Chart files that would make helm reach outside the chart: the JSON
//! Schemas (`values.schema.json`, the chart's own and every subchart's) whose
//! `$ref`, `$id` or `$schema` names another document. Helm resolves such a
//! reference while rendering, reading a file (`file:///…`, quoted in part in
//! its error) or sending a GET to any host, so a schema may refer only inside
//! itself (`#…`) and name only a known draft. Pure: the chart's files are
//! passed in as read through `repo_fs`.
//!
//! The scan is a JSON parser of its own, at least as strict as Go's
//! `encoding/json` (what helm uses): it sees every key, escaped or
//! duplicated, and reports each reference at its line and column. What it
//! cannot parse is refused too (helm could not use it either).

use super::locate::display_path;
use super::locate::Segment;
use crate::base::diagnostic::Diagnostic;

/// A chart's values schema file name.
pub const SCHEMA_FILE: &str = "values.schema.json";
/// Nesting deeper than this is refused.
const MAX_DEPTH: usize = 256;
/// Characters of a refused reference quoted in a message.
const MAX_QUOTED: usize = 120;

/// The meta-schemas helm knows without fetching anything, as `$schema` names them (a trailing `#` aside).
const KNOWN_DRAFTS: &[&str] = &[
    "json-schema.org/draft-04/schema",
    "json-schema.org/draft-06/schema",
    "json-schema.org/draft-07/schema",
    "json-schema.org/draft/2019-09/schema",
    "json-schema.org/draft/2020-12/schema",
];

/// The problems of one schema file (`file` is its repository path, for the diagnostics).
pub fn check_schema(file: &str, bytes: &[u8]) -> Vec<Diagnostic> {
    let hint = "helm would read that file or fetch that URL while rendering; keep the definitions in this \
                file (`definitions` or `$defs`) and refer to them as `#/definitions/...`";
    let Ok(text) = std::str::from_utf8(bytes) else {
        return vec![Diagnostic::new(file, "the schema is not UTF-8 text").hint("save it as UTF-8")];
    };
    let mut scanner = Scanner { text, bytes: text.as_bytes(), pos: 0, found: Vec::new() };
    let parsed = scanner.document();
    let mut problems: Vec<Diagnostic> = scanner
        .found
        .iter()
        .map(|found| {
            Diagnostic::new(file, found.message.clone())
                .at(Some(position(text, found.at)))
                .field(display_path(&found.path.iter().map(|s| s.as_segment()).collect::<Vec<_>>()))
                .hint(hint)
        })
        .collect();
    if let Err((at, why)) = parsed {
        problems.push(
            Diagnostic::new(file, format!("the schema is not valid JSON: {why}"))
                .at(Some(position(text, at)))
                .hint("helm cannot use it either; fix the JSON"),
        );
    }
    problems
}

/// (line, column), from 1, of a byte offset; the column counts characters.
fn position(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// Where a value sits, for which keys are keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A schema, or something not known to be data (checked).
    Schema,
    /// A map of names to schemas (`properties`, `$defs`, ...): its keys are names.
    Names,
    /// An instance value (`enum`, `const`, `default`, `examples`): never resolved.
    Data,
}

/// The place of the value of `key` in an object at `place`.
fn place_of(place: Place, key: &str) -> Place {
    match place {
        Place::Data => Place::Data,
        Place::Names => Place::Schema,
        Place::Schema => match key {
            "enum" | "const" | "default" | "examples" => Place::Data,
            "properties" | "patternProperties" | "definitions" | "$defs" | "dependentSchemas" | "dependencies" => {
                Place::Names
            }
            _ => Place::Schema,
        },
    }
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

impl Step {
    fn as_segment(&self) -> Segment<'_> {
        match self {
            Step::Key(key) => Segment::Key(key),
            Step::Index(index) => Segment::Index(*index),
        }
    }
}

struct Found {
    at: usize,
    path: Vec<Step>,
    message: String,
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    found: Vec<Found>,
}

type Parsed<T> = Result<T, (usize, String)>;

impl Scanner<'_> {
    fn document(&mut self) -> Parsed<()> {
        let mut path = Vec::new();
        self.value(Place::Schema, &mut path, 0)?;
        self.space();
        if self.pos < self.bytes.len() {
            return Err((self.pos, "more after the end of the document".into()));
        }
        Ok(())
    }

    fn space(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn fail<T>(&self, what: &str) -> Parsed<T> {
        Err((self.pos, what.to_owned()))
    }

    fn value(&mut self, place: Place, path: &mut Vec<Step>, depth: usize) -> Parsed<()> {
        if depth > MAX_DEPTH {
            return self.fail(&format!("nested more than {MAX_DEPTH} deep"));
        }
        self.space();
        match self.bytes.get(self.pos) {
            Some(b'{') => self.object(place, path, depth),
            Some(b'[') => self.array(place, path, depth),
            Some(b'"') => self.string().map(drop),
            Some(b't') => self.word("true"),
            Some(b'f') => self.word("false"),
            Some(b'n') => self.word("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.fail("unexpected character"),
            None => self.fail("unexpected end"),
        }
    }

    fn word(&mut self, word: &str) -> Parsed<()> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            self.fail("unexpected character")
        }
    }

    fn number(&mut self) -> Parsed<()> {
        let digits = |s: &mut Self| {
            let start = s.pos;
            while matches!(s.bytes.get(s.pos), Some(b'0'..=b'9')) {
                s.pos += 1;
            }
            s.pos > start
        };
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        if self.bytes.get(self.pos) == Some(&b'0') {
            self.pos += 1;
        } else if !digits(self) {
            return self.fail("a number expected");
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if !digits(self) {
                return self.fail("digits expected after `.`");
            }
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return self.fail("digits expected in the exponent");
            }
        }
        Ok(())
    }

    /// A string at `pos` (on its opening quote), unescaped as Go does (a lone surrogate becomes U+FFFD).
    fn string(&mut self) -> Parsed<String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.text[self.pos..].chars().next() else {
                return self.fail("unterminated string");
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    self.pos += 1;
                    let escaped = self.bytes.get(self.pos).copied();
                    self.pos += 1;
                    match escaped {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let first = self.hex4()?;
                            if (0xD800..0xDC00).contains(&first) && self.text[self.pos..].starts_with("\\u") {
                                let save = self.pos;
                                self.pos += 2;
                                let second = self.hex4()?;
                                if (0xDC00..0xE000).contains(&second) {
                                    let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                                } else {
                                    out.push('\u{fffd}');
                                    self.pos = save;
                                }
                            } else {
                                out.push(char::from_u32(first).unwrap_or('\u{fffd}'));
                            }
                        }
                        _ => {
                            self.pos -= 1;
                            return self.fail("invalid escape");
                        }
                    }
                }
                c if (c as u32) < 0x20 => return self.fail("a control character in a string"),
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    fn hex4(&mut self) -> Parsed<u32> {
        let digits = self.text.get(self.pos..self.pos + 4).unwrap_or_default();
        match (digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(digits, 16).ok())
            .flatten()
        {
            Some(code) => {
                self.pos += 4;
                Ok(code)
            }
            None => self.fail("invalid \\u escape"),
        }
    }

    fn object(&mut self, place: Place, path: &mut Vec<Step>, depth: usize) -> Parsed<()> {
        self.pos += 1;
        self.space();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.space();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return self.fail("a key expected");
            }
            let key = self.string()?;
            self.space();
            if self.bytes.get(self.pos) != Some(&b':') {
                return self.fail("`:` expected");
            }
            self.pos += 1;
            self.space();
            path.push(Step::Key(key.clone()));
            let at = self.pos;
            if place == Place::Schema && self.bytes.get(self.pos) == Some(&b'"') {
                let value = self.string()?;
                if let Some(message) = refused(&key, &value) {
                    self.found.push(Found { at, path: path.clone(), message });
                }
            } else {
                self.value(place_of(place, &key), path, depth + 1)?;
            }
            path.pop();
            self.space();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.fail("`,` or `}` expected"),
            }
        }
    }

    fn array(&mut self, place: Place, path: &mut Vec<Step>, depth: usize) -> Parsed<()> {
        self.pos += 1;
        self.space();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(());
        }
        // Items of an array of schemas (`allOf`, `items`) are schemas; of data, data.
        let inner = if place == Place::Data { Place::Data } else { Place::Schema };
        let mut index = 0;
        loop {
            path.push(Step::Index(index));
            self.value(inner, path, depth + 1)?;
            path.pop();
            index += 1;
            self.space();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.fail("`,` or `]` expected"),
            }
        }
    }
}

/// Why the keyword `key` with the string `value` is refused in a schema, if it is.
fn refused(key: &str, value: &str) -> Option<String> {
    let quoted = || shown(value, MAX_QUOTED);
    match key {
        "$ref" | "$dynamicRef" | "$recursiveRef" if !value.starts_with('#') => {
            Some(format!("`{key}` is `{}`, another document: a schema may refer only inside itself (`#...`)", quoted()))
        }
        "$id" | "id" if !value.is_empty() && !value.starts_with('#') => Some(format!(
            "`{key}` is `{}`: a schema may not change its base address (its references would leave it)",
            quoted()
        )),
        "$schema" if !is_known_draft(value) => {
            Some(format!("`$schema` is `{}`, not a JSON Schema draft helm knows without fetching it", quoted()))
        }
        _ => None,
    }
}

/// Text from a checkout file as a message quotes it: at most `max` characters,
/// control and invisible characters shown as `\u{..}`, so it stays one line.
pub fn shown(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars().take(max) {
        if c.is_control() || crate::base::runner::is_invisible(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

fn is_known_draft(value: &str) -> bool {
    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")).unwrap_or("");
    let rest = rest.strip_suffix('#').unwrap_or(rest);
    KNOWN_DRAFTS.contains(&rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        check_schema("helm-charts/c/values.schema.json", text.as_bytes())
            .iter()
            .map(|d| d.to_string().lines().next().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn local_references_and_known_drafts_pass() {
        let text = r##"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "definitions": {"port": {"type": "integer"}},
  "properties": {
    "id": {"type": "string", "default": "x"},
    "port": {"$ref": "#/definitions/port"},
    "list": {"type": "array", "items": [{"$ref": "#/definitions/port"}]},
    "$ref": {"type": "string"}
  },
  "default": {"id": "https://example.org/data-not-schema", "nested": [{"id": "x/y"}]},
  "examples": [{"$id": "data"}],
  "$id": "#root",
  "n": [-1.5e3, 0, true, false, null, "\u00e9\ud83d\ude00"]
}"##;
        assert_eq!(problems(text), Vec::<String>::new());
        for draft in [
            "https://json-schema.org/draft/2020-12/schema",
            "http://json-schema.org/draft-04/schema#",
            "https://json-schema.org/draft/2019-09/schema#",
        ] {
            assert_eq!(problems(&format!("{{\"$schema\": \"{draft}\"}}")), Vec::<String>::new(), "{draft}");
        }
    }

    #[test]
    fn references_to_other_documents_are_refused_at_their_line() {
        let text = "{\n  \"properties\": {\n    \"a\": {\"$ref\": \"file:///etc/passwd\"},\n    \"b\": {\"allOf\": [{\"$ref\": \"http://127.0.0.1:9/x.json#/y\"}]},\n    \"default\": {\"$ref\": \"other.json\"}\n  },\n  \"\\u0024ref\": \"https://evil.example/s\",\n  \"$ref\": \"#ok\", \"$ref\": \"//host/dup\",\n  \"$dynamicRef\": \"x#a\",\n  \"$id\": \"https://evil.example/base\",\n  \"$schema\": \"https://evil.example/meta\"\n}";
        assert_eq!(
            problems(text),
            [
                "helm-charts/c/values.schema.json:3:19: properties.a.$ref: `$ref` is `file:///etc/passwd`, another document: a schema may refer only inside itself (`#...`)",
                "helm-charts/c/values.schema.json:4:30: properties.b.allOf[0].$ref: `$ref` is `http://127.0.0.1:9/x.json#/y`, another document: a schema may refer only inside itself (`#...`)",
                "helm-charts/c/values.schema.json:5:25: properties.default.$ref: `$ref` is `other.json`, another document: a schema may refer only inside itself (`#...`)",
                "helm-charts/c/values.schema.json:7:16: $ref: `$ref` is `https://evil.example/s`, another document: a schema may refer only inside itself (`#...`)",
                "helm-charts/c/values.schema.json:8:26: $ref: `$ref` is `//host/dup`, another document: a schema may refer only inside itself (`#...`)",
                "helm-charts/c/values.schema.json:9:18: $dynamicRef: `$dynamicRef` is `x#a`, another document: a schema may refer only inside itself (`#...`)",
                "helm-charts/c/values.schema.json:10:10: $id: `$id` is `https://evil.example/base`: a schema may not change its base address (its references would leave it)",
                "helm-charts/c/values.schema.json:11:14: $schema: `$schema` is `https://evil.example/meta`, not a JSON Schema draft helm knows without fetching it",
            ]
        );
    }

    #[test]
    fn quoted_references_stay_on_one_line() {
        let found = problems("{\"$ref\": \"http://x/\\n::error::injected\\r##[warning]x\\u202e\"}");
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("`http://x/\\u{a}::error::injected\\u{d}##[warning]x\\u{202e}`"), "{found:?}");
        assert_eq!(shown(&"a".repeat(200), 3), "aaa…");
    }

    #[test]
    fn what_does_not_parse_is_refused() {
        let cases = [
            ("{\"a\": }", "1:7: the schema is not valid JSON: unexpected character"),
            ("{\"a\": 1", "1:8: the schema is not valid JSON: `,` or `}` expected"),
            ("\u{feff}{}", "1:1: the schema is not valid JSON: unexpected character"),
            ("{} {}", "1:4: the schema is not valid JSON: more after the end of the document"),
            ("\"\\x\"", "1:3: the schema is not valid JSON: invalid escape"),
        ];
        for (text, expected) in cases {
            let got = problems(text);
            assert_eq!(got.len(), 1, "{text:?}: {got:?}");
            assert!(got[0].ends_with(expected), "{text:?}: {got:?}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        assert!(problems(&deep)[0].contains("nested more than 256 deep"));
        let latin1 = check_schema("s.json", &[b'{', 0xe9, b'}']);
        assert_eq!(latin1[0].message, "the schema is not UTF-8 text");
    }
}

//! Refuses what a configuration file never needs, before it is deserialised:
//! YAML anchors and aliases (a few kilobytes of aliases expand into gigabytes)
//! and nesting deeper than [`MAX_DEPTH`] (the parser's work grows with the
//! depth). One pass over the events of libyaml, the parser `yaml_serde` itself
//! uses, stopping at the first problem; a syntax error is reported from here
//! too, with libyaml's own fixed message (which never quotes the text).
//!
//! Parser events, not text patterns: a `&` or `*` inside a quoted string or a
//! plain scalar such as `a*b` is a character, not an anchor or alias.

use std::ffi::CStr;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use libyaml_rs as sys;

/// The deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 64;

/// Why a document was refused, at 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `&name` on a node.
    Anchor { line: usize, column: usize },
    /// `*name`.
    Alias { line: usize, column: usize },
    /// The mapping or sequence that opens level `MAX_DEPTH + 1`.
    TooDeep { line: usize, column: usize },
    /// A YAML syntax error: libyaml's problem and context texts (fixed strings).
    Syntax { message: String, line: usize, column: usize },
}

impl Refusal {
    /// Line and column.
    pub fn location(&self) -> (usize, usize) {
        match self {
            Refusal::Anchor { line, column }
            | Refusal::Alias { line, column }
            | Refusal::TooDeep { line, column }
            | Refusal::Syntax { line, column, .. } => (*line, *column),
        }
    }
}

/// Checks `text` in one streaming pass; `Ok` when it has no anchor, no alias,
/// no syntax error and no nesting deeper than [`MAX_DEPTH`].
pub fn check(text: &str) -> Result<(), Refusal> {
    let Some(mut parser) = EventParser::new(text.as_bytes()) else {
        // libyaml could not allocate its buffers; the deserialiser will fail the same way.
        return Ok(());
    };
    let mut depth = 0usize;
    loop {
        let event = parser.next()?;
        let (line, column) = (event.line, event.column);
        if event.anchored {
            return Err(Refusal::Anchor { line, column });
        }
        match event.kind {
            Kind::Alias => return Err(Refusal::Alias { line, column }),
            Kind::CollectionStart => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Refusal::TooDeep { line, column });
                }
            }
            Kind::CollectionEnd => depth = depth.saturating_sub(1),
            Kind::StreamEnd => return Ok(()),
            Kind::Other => {}
        }
    }
}

/// True when one scan of the bytes proves [`check`] could refuse the text for
/// nothing but a syntax error: no anchor or alias can be in it (no `&`, `*`),
/// and it cannot nest more than [`MAX_DEPTH`] levels. Then the event pass can
/// be skipped, and run only if the text turns out not to parse. Ordinary
/// configuration files take this path; anything unusual takes the exact one.
///
/// The depth bound: a block collection starts where a node starts, at a
/// line's first character or after a leading chain of `- `, `? `, `: `
/// indicators; along a nesting path columns never decrease, and one column
/// holds at most two collections (a mapping, and the indentless sequence of
/// one of its values). So block depth is at most twice the number of such
/// columns, and flow depth at most the number of `[` and `{`. Tags, tabs and
/// the rarer line breaks would need more care, so they take the exact path.
/// True when `text` has no anchor, alias or nesting past the limit: safe to
/// parse into a `yaml_serde::Value` (which expands aliases). Every lenient
/// parse of a file's text (a blocked cluster's, a previous version's) asks this first.
pub fn is_bounded(text: &str) -> bool {
    provably_within_limits(text) || check(text).is_ok()
}

pub fn provably_within_limits(text: &str) -> bool {
    let bytes = text.as_bytes();
    let ends_line = |b: u8| b == b'\n' || b == b'\r';
    let mut flow = 0usize;
    let mut columns: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // The start of a line: where its first node, and any compact ones after
        // `- `, `? `, `: ` or `--- `, start.
        let mut column = 0;
        while bytes.get(i) == Some(&b' ') {
            i += 1;
            column += 1;
        }
        if bytes.get(i).is_some_and(|&b| !ends_line(b) && b != b'#') {
            loop {
                if !columns.contains(&column) {
                    columns.push(column);
                    if 2 * columns.len() > MAX_DEPTH {
                        return false;
                    }
                }
                let indicator = match &bytes[i..] {
                    [b'-' | b'?' | b':', b' ', ..] => 1,
                    [b'-', b'-', b'-', b' ', ..] => 3,
                    _ => break,
                };
                i += indicator;
                column += indicator;
                while bytes.get(i) == Some(&b' ') {
                    i += 1;
                    column += 1;
                }
                if bytes.get(i).is_none_or(|&b| ends_line(b) || b == b'#') {
                    break;
                }
            }
        }
        // The rest of the line.
        while let Some(&b) = bytes.get(i) {
            i += 1;
            match b {
                b'\n' | b'\r' => break,
                b'&' | b'*' | b'!' | b'\t' => return false,
                b'[' | b'{' => flow += 1,
                // NEL (C2 85), LS and PS (E2 80 A8/A9): line breaks to libyaml.
                0x85 if i >= 2 && bytes[i - 2] == 0xc2 => return false,
                0xa8 | 0xa9 if i >= 3 && bytes[i - 2] == 0x80 && bytes[i - 3] == 0xe2 => return false,
                _ => {}
            }
        }
    }
    2 * columns.len() + flow <= MAX_DEPTH
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Alias,
    CollectionStart,
    CollectionEnd,
    StreamEnd,
    Other,
}

struct Event {
    kind: Kind,
    /// The node carries an anchor (`&name`).
    anchored: bool,
    line: usize,
    column: usize,
}

/// A libyaml parser over a borrowed input. The parser keeps a pointer to the
/// input and one to itself, so it lives in a box that never moves and borrows
/// the input for its whole life.
struct EventParser<'input> {
    parser: *mut sys::yaml_parser_t,
    input: PhantomData<&'input [u8]>,
}

impl<'input> EventParser<'input> {
    fn new(input: &'input [u8]) -> Option<Self> {
        let parser = Box::into_raw(Box::new(MaybeUninit::<sys::yaml_parser_t>::uninit())).cast::<sys::yaml_parser_t>();
        // SAFETY: `parser` points to a live, aligned allocation of a parser;
        // `yaml_parser_initialize` zeroes and sets it up. The input outlives
        // the parser (`'input`), as `yaml_parser_set_input_string` requires.
        unsafe {
            if sys::yaml_parser_initialize(parser).fail {
                drop(Box::from_raw(parser.cast::<MaybeUninit<sys::yaml_parser_t>>()));
                return None;
            }
            sys::yaml_parser_set_encoding(parser, sys::YAML_UTF8_ENCODING);
            sys::yaml_parser_set_input_string(parser, input.as_ptr(), input.len() as u64);
        }
        Some(EventParser { parser, input: PhantomData })
    }

    /// The next event; a syntax error ends the pass. Not called again after an error or the stream end.
    fn next(&mut self) -> Result<Event, Refusal> {
        let mut event = MaybeUninit::<sys::yaml_event_t>::uninit();
        // SAFETY: the parser is initialised and owned by `self`; on success
        // `yaml_parser_parse` fills `event`, whose union is read only for the
        // variant its type names, and which is deleted before returning.
        unsafe {
            if sys::yaml_parser_parse(self.parser, event.as_mut_ptr()).fail {
                return Err(self.syntax_error());
            }
            let event = event.as_mut_ptr();
            let (kind, anchor) = match (*event).type_ {
                sys::YAML_ALIAS_EVENT => (Kind::Alias, std::ptr::null_mut()),
                sys::YAML_SCALAR_EVENT => (Kind::Other, (*event).data.scalar.anchor),
                sys::YAML_SEQUENCE_START_EVENT => (Kind::CollectionStart, (*event).data.sequence_start.anchor),
                sys::YAML_MAPPING_START_EVENT => (Kind::CollectionStart, (*event).data.mapping_start.anchor),
                sys::YAML_SEQUENCE_END_EVENT | sys::YAML_MAPPING_END_EVENT => {
                    (Kind::CollectionEnd, std::ptr::null_mut())
                }
                sys::YAML_STREAM_END_EVENT => (Kind::StreamEnd, std::ptr::null_mut()),
                _ => (Kind::Other, std::ptr::null_mut()),
            };
            let mark = (*event).start_mark;
            let found = Event {
                kind,
                anchored: !anchor.is_null(),
                line: usize::try_from(mark.line).unwrap_or(usize::MAX).saturating_add(1),
                column: usize::try_from(mark.column).unwrap_or(usize::MAX).saturating_add(1),
            };
            sys::yaml_event_delete(event);
            Ok(found)
        }
    }

    /// libyaml's problem (and context) of a failed parse, at the problem's position.
    fn syntax_error(&self) -> Refusal {
        // SAFETY: after a failed parse, `problem` and `context` are null or
        // point to libyaml's static NUL-terminated messages.
        let (problem, context, mark) = unsafe {
            let prefix = &**self.parser;
            let text = |pointer: *const std::ffi::c_char| {
                (!pointer.is_null()).then(|| CStr::from_ptr(pointer).to_string_lossy().into_owned())
            };
            (text(prefix.problem), text(prefix.context), prefix.problem_mark)
        };
        let mut message = problem.unwrap_or_else(|| "the YAML cannot be parsed".to_owned());
        if let Some(context) = context {
            message.push_str(", ");
            message.push_str(&context);
        }
        Refusal::Syntax {
            message,
            line: usize::try_from(mark.line).unwrap_or(usize::MAX).saturating_add(1),
            column: usize::try_from(mark.column).unwrap_or(usize::MAX).saturating_add(1),
        }
    }
}

impl Drop for EventParser<'_> {
    fn drop(&mut self) {
        // SAFETY: the parser was initialised in `new` and is deleted and freed once, here.
        unsafe {
            sys::yaml_parser_delete(self.parser);
            drop(Box::from_raw(self.parser.cast::<MaybeUninit<sys::yaml_parser_t>>()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_aliases_and_depth_are_refused_where_they_are() {
        let too_deep_flow = format!("x: {}{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let cases: Vec<(String, Result<(), Refusal>)> = vec![
            ("name: c1\nhubs:\n  - name: a\n".into(), Ok(())),
            // `&` and `*` as characters of scalars.
            ("a: 'x &y *z'\nb: \"&q\"\nc: a*b\nd: a&b\ne: |\n  &not *an alias\n".into(), Ok(())),
            ("# &comment *too\na: 1\n".into(), Ok(())),
            ("a: &x 1\nb: *x\n".into(), Err(Refusal::Anchor { line: 1, column: 4 })),
            ("a:\n  - &list [1]\n".into(), Err(Refusal::Anchor { line: 2, column: 5 })),
            ("a: &m {k: v}\n".into(), Err(Refusal::Anchor { line: 1, column: 4 })),
            ("a: 1\nb: *undefined\n".into(), Err(Refusal::Alias { line: 2, column: 4 })),
            ("<<: *base\n".into(), Err(Refusal::Alias { line: 1, column: 5 })),
            // The root mapping is level 1: 63 more levels fit, one more does not.
            (too_deep_flow, Err(Refusal::TooDeep { line: 1, column: 4 + MAX_DEPTH - 1 })),
            (format!("x: {}{}\n", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1)), Ok(())),
            (format!("{}\n", "- ".repeat(MAX_DEPTH + 5)), Err(Refusal::TooDeep { line: 1, column: 2 * MAX_DEPTH + 1 })),
        ];
        for (text, expected) in cases {
            assert_eq!(check(&text), expected, "{text:?}");
        }
    }

    #[test]
    fn block_mappings_count_too() {
        let nested: String = (0..=MAX_DEPTH).map(|level| format!("{}k:\n", " ".repeat(level))).collect();
        assert_eq!(check(&nested), Err(Refusal::TooDeep { line: MAX_DEPTH + 1, column: MAX_DEPTH + 1 }));
        let fits: String = (0..MAX_DEPTH).map(|level| format!("{}k:\n", " ".repeat(level))).collect();
        assert_eq!(check(&fits), Ok(()));
    }

    #[test]
    fn syntax_errors_carry_libyaml_fixed_messages() {
        let cases = [
            ("a: [1, 2\n", "did not find expected ',' or ']', while parsing a flow sequence", (2, 1)),
            ("a: 'secret-value\n", "found unexpected end of stream, while scanning a quoted scalar", (2, 1)),
            ("a: b: c\n", "mapping values are not allowed in this context", (1, 5)),
        ];
        for (text, message, (line, column)) in cases {
            assert_eq!(check(text), Err(Refusal::Syntax { message: message.into(), line, column }), "{text:?}");
        }
    }

    #[test]
    fn the_byte_scan_lets_ordinary_files_skip_the_event_pass() {
        let ordinary = "name: c1\nprovider: gcp\n# a comment\nsupport:\n  helm_chart_values_files:\n    - support.values.yaml\nhubs:\n  - name: staging\n    helm_chart_values_files: [common.values.yaml, staging.values.yaml]\n";
        assert!(provably_within_limits(ordinary));
        for unusual in [
            "a: &x 1\n",
            "a: *x\n",
            "a: 'x*y'\n",
            "a: !tag x\n",
            "a:\tb\n",
            "a: b\u{2028}c: d\n",
            "a: b\u{85}c: d\n",
            "a: b\u{2029}c\n",
            "a:\n\t- b\n",
        ] {
            assert!(!provably_within_limits(unusual), "{unusual:?}");
        }
        let deep_flow = format!("x: {}{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(!provably_within_limits(&deep_flow));
    }

    /// Nested documents of every shape and depth around the limit.
    fn corpus() -> Vec<String> {
        let mut texts = Vec::new();
        for depth in 1..=MAX_DEPTH + 3 {
            for indent in 1..=2 {
                let mappings: String = (0..depth).map(|l| format!("{}k:\n", " ".repeat(l * indent))).collect();
                texts.push(format!("{mappings}{}v\n", " ".repeat(depth * indent)));
                // A mapping whose value is an indentless sequence of mappings, repeated.
                let mut mixed = String::new();
                for level in 0..depth {
                    let pad = " ".repeat(level * 2);
                    mixed.push_str(&format!("{pad}k:\n{pad}- a: 1\n{pad}  b:\n"));
                }
                texts.push(mixed);
            }
            texts.push(format!("{}x\n", "- ".repeat(depth)));
            texts.push(format!("{}a: 1\n", "- ".repeat(depth)));
            texts.push(format!("a: {}1{}\n", "[".repeat(depth), "]".repeat(depth)));
            texts.push(format!("a: {}1{}\n", "{b: ".repeat(depth), "}".repeat(depth)));
            let half = depth / 2;
            let block: String = (0..half).map(|l| format!("{}k:\n", " ".repeat(l))).collect();
            texts.push(format!(
                "{block}{}v: {}1{}\n",
                " ".repeat(half),
                "[".repeat(depth - half),
                "]".repeat(depth - half)
            ));
            texts.push(format!("{}? - a\n: b\n", "- ".repeat(depth)));
        }
        texts
    }

    #[test]
    fn the_byte_scan_never_lets_a_refused_document_through() {
        let mut skipped = 0;
        for text in corpus() {
            if provably_within_limits(&text) {
                skipped += 1;
                assert!(matches!(check(&text), Ok(()) | Err(Refusal::Syntax { .. })), "{text:?}: {:?}", check(&text));
            }
        }
        assert!(skipped > 50, "the scan should pass shallow documents ({skipped})");
    }

    #[test]
    fn hostile_sizes_stop_early() {
        let laughs = format!("a: &a [x]\n{}", (1..2000).map(|i| format!("b{i}: [*a, *a]\n")).collect::<String>());
        assert_eq!(check(&laughs), Err(Refusal::Anchor { line: 1, column: 4 }));
        let brackets = format!("x: {}", "[".repeat(100_000));
        assert!(matches!(check(&brackets), Err(Refusal::TooDeep { line: 1, .. })));
        let braces = format!("x: {}", "{a: ".repeat(100_000));
        assert!(matches!(check(&braces), Err(Refusal::TooDeep { line: 1, .. })));
    }
}

//! Markdown that is safe to show on GitHub, whatever text it holds: table
//! cells we render, and free-form bodies a stranger wrote.

use crate::base::runner::is_invisible;

/// True for a word GitHub could turn into a link or a notification: a
/// mention (`@user`, `@org/team`, an e-mail), an issue or pull-request
/// reference (`#123`, `org/repo#123`, `GH-123`), a URL (`https://…`, `www.…`),
/// or what may be a commit SHA (7 to 40 hex digits).
fn could_autolink(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let reference = bytes.windows(2).any(|w| w[0] == b'#' && w[1].is_ascii_digit())
        || lower.match_indices("gh-").any(|(at, _)| bytes.get(at + 3).is_some_and(u8::is_ascii_digit));
    let hex = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let sha = (7..=40).contains(&hex.len())
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && hex.bytes().any(|b| b.is_ascii_digit());
    word.contains('@') || reference || lower.contains("://") || lower.contains("www.") || sha
}

/// `word` as a code span, where GitHub links nothing: fenced with more
/// backticks than its longest run of them. The word holds no `|` and no
/// whitespace (the caller splits there).
fn code_span(word: &str) -> String {
    let longest = word.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if word.starts_with('`') || word.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{word}{pad}{fence}")
}

/// One word with Markdown, HTML and entity syntax escaped.
fn escape_word(word: &str, out: &mut String) {
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '`' => out.push_str("\\`"),
            '[' => out.push_str("\\["),
            ']' => out.push_str("\\]"),
            '*' => out.push_str("\\*"),
            '_' => out.push_str("\\_"),
            '~' => out.push_str("\\~"),
            '!' => out.push_str("\\!"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
}

/// Escapes text for one Markdown table cell: no table breaks (`|`, newlines),
/// no HTML, emphasis or links; Unicode format characters (bidi overrides,
/// zero-width characters) and control characters removed; and every word
/// that GitHub could auto-link or that would notify someone
/// ([`could_autolink`]) shown in a code span instead.
pub fn escape_cell(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if matches!(c, '\r' | '\n' | '\t') { ' ' } else { c })
        .filter(|c| !is_invisible(*c))
        .collect();
    let mut out = String::with_capacity(clean.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if could_autolink(word) {
            out.push_str(&code_span(word));
        } else {
            escape_word(word, out);
        }
        word.clear();
    };
    for c in clean.chars() {
        if c.is_whitespace() || c == '|' {
            flush(&mut word, &mut out);
            out.push_str(if c == '|' { "\\|" } else { " " });
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A free-form Markdown body from a stranger, made harmless to post, at
/// the price of some fidelity (code blocks included, as telling them apart
/// is the kind of parsing an attacker aims at):
///
/// - invisible characters (bidi overrides, zero-width, controls) removed;
/// - `&` and `<` escaped as `&amp;` and `&lt;`: no raw HTML, no HTML
///   comments (so no second marker), no entities that decode to `@` or `!`;
/// - `![` becomes `&#33;[`: no images, which would load a URL as people read;
/// - `@` before a letter or digit becomes `＠` (U+FF20): no mentions of
///   users or teams.
pub fn neutralise_body(text: &str) -> String {
    let clean: String =
        text.replace("\r\n", "\n").chars().filter(|c| *c == '\n' || *c == '\t' || !is_invisible(*c)).collect();
    let mut out = String::with_capacity(clean.len());
    let mut chars = clean.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '!' if chars.peek() == Some(&'[') => out.push_str("&#33;"),
            '@' if chars.peek().is_some_and(char::is_ascii_alphanumeric) => out.push('\u{FF20}'),
            c => out.push(c),
        }
    }
    out
}

/// A Markdown table with centred columns; every cell is escaped.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = table_header(headers);
    for row in rows {
        out.push_str(&table_row(row));
    }
    out
}

/// The header and separator lines of a table with centred columns.
pub fn table_header(headers: &[&str]) -> String {
    let mut out = String::from("|");
    for header in headers {
        out.push(' ');
        out.push_str(&escape_cell(header));
        out.push_str(" |");
    }
    out.push_str("\n|");
    for _ in headers {
        out.push_str(":-:|");
    }
    out.push('\n');
    out
}

/// One table row, every cell escaped.
pub fn table_row(cells: &[String]) -> String {
    let mut out = String::from("|");
    for cell in cells {
        out.push(' ');
        out.push_str(&escape_cell(cell));
        out.push_str(" |");
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_cells() {
        let cases = [
            ("plain text, ok", "plain text, ok"),
            ("a|b", "a\\|b"),
            ("`code`", "\\`code\\`"),
            ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
            ("line\nbreak\r\nand\ttab", "line break  and tab"),
            ("[x](javascript:alert)", "\\[x\\](javascript:alert)"),
            ("a_b*c ~~s~~ ![i]", "a\\_b\\*c \\~\\~s\\~\\~ \\!\\[i\\]"),
            ("&amp;", "&amp;amp;"),
            // Nothing links, nothing notifies.
            ("ping @octocat and @org/team", "ping `@octocat` and `@org/team`"),
            ("mail a@b.org", "mail `a@b.org`"),
            ("fixes #123, org/repo#7 and GH-12", "fixes `#123,` `org/repo#7` and `GH-12`"),
            ("see https://evil.example/x and www.evil.example", "see `https://evil.example/x` and `www.evil.example`"),
            ("[x](https://evil)", "`[x](https://evil)`"),
            ("commit 0123abc and deadbeef99", "commit `0123abc` and `deadbeef99`"),
            ("hub1 staging c0ffee 1234567 # 1", "hub1 staging c0ffee `1234567` # 1"),
            ("a`@b`c", "``a`@b`c``"),
            ("`@x`", "`` `@x` ``"),
            ("@a|@b", "`@a`\\|`@b`"),
            // Invisible characters are removed.
            ("evil\u{202e}txt.exe\u{200b}", "eviltxt.exe"),
            ("\u{2066}@\u{200d}user\u{2069}", "`@user`"),
            ("nul\0 esc\u{1b}[31m soft\u{ad}hyphen \u{feff}bom", "nul esc\\[31m softhyphen bom"),
        ];
        for (input, expected) in cases {
            assert_eq!(escape_cell(input), expected, "{input:?}");
        }
    }

    #[test]
    fn neutralises_free_bodies() {
        let cases = [
            ("## Coverage\n\n98% of lines\n", "## Coverage\n\n98% of lines\n"),
            ("thanks @octocat and @org/team", "thanks \u{ff20}octocat and \u{ff20}org/team"),
            ("&#64;user &commat;user", "&amp;#64;user &amp;commat;user"),
            (
                "![pixel](https://evil/track.png) and ![ref][x]",
                "&#33;[pixel](https://evil/track.png) and &#33;[ref][x]",
            ),
            ("\\![escaped]", "\\&#33;[escaped]"),
            ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)>"),
            ("<!-- deployment-plan -->", "&lt;!-- deployment-plan -->"),
            ("<details><summary>x</summary>", "&lt;details>&lt;summary>x&lt;/summary>"),
            ("a\r\nb\u{202e}c\u{200b}\0", "a\nbc"),
            ("wow! [link](https://ok) @ 5", "wow! [link](https://ok) @ 5"),
        ];
        for (input, expected) in cases {
            assert_eq!(neutralise_body(input), expected, "{input:?}");
        }
    }

    #[test]
    fn renders_table() {
        let out = table(&["A", "B"], &[vec!["1".into(), "x|y".into()]]);
        assert_eq!(out, "| A | B |\n|:-:|:-:|\n| 1 | x\\|y |\n");
    }
}

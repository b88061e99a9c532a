//! Markdown tables whose cells are safe to show on GitHub, whatever text they hold.

/// Escapes text for one Markdown table cell: no table breaks (`|`, newlines),
/// no code spans, HTML or links, and no `@mentions` that would notify anyone.
pub fn escape_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            '`' => out.push_str("\\`"),
            '[' => out.push_str("\\["),
            ']' => out.push_str("\\]"),
            '*' => out.push_str("\\*"),
            '_' => out.push_str("\\_"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '@' => out.push_str("&#64;"),
            '\r' | '\n' => out.push(' '),
            c if c.is_control() => {}
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
            ("ping @octocat", "ping &#64;octocat"),
            ("line\nbreak", "line break"),
            ("[x](http://evil)", "\\[x\\](http://evil)"),
            ("a_b*c", "a\\_b\\*c"),
            ("&amp;", "&amp;amp;"),
        ];
        for (input, expected) in cases {
            assert_eq!(escape_cell(input), expected, "{input:?}");
        }
    }

    #[test]
    fn renders_table() {
        let out = table(&["A", "B"], &[vec!["1".into(), "x|y".into()]]);
        assert_eq!(out, "| A | B |\n|:-:|:-:|\n| 1 | x\\|y |\n");
    }
}

//! Box-drawn text tables for the job log, in the style of Python's `rich`.

/// A titled table of text cells.
#[derive(Debug, Clone)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Renders `table` with a heavy header and light body, its title centred above it.
/// Every cell on one line: the full width, for CI logs.
pub fn render(table: &Table) -> String {
    render_within(table, None)
}

/// Columns narrower than this are never shrunk to fit a terminal.
const MIN_FITTED_COLUMN: usize = 10;

/// Like [`render`], but when `max_width` is given and the table is wider,
/// the widest columns are narrowed (down to their header's longest word, or
/// [`MIN_FITTED_COLUMN`]) and their cells, headers included, wrapped at
/// spaces onto more lines.
pub fn render_within(table: &Table, max_width: Option<usize>) -> String {
    let columns = table.headers.len();
    let mut widths: Vec<usize> = table.headers.iter().map(|h| width(h)).collect();
    for row in &table.rows {
        for (index, cell) in row.iter().enumerate().take(columns) {
            widths[index] = widths[index].max(width(cell));
        }
    }
    if let Some(max_width) = max_width {
        fit(&mut widths, &table.headers, &table.rows, max_width);
    }
    let total: usize = widths.iter().map(|w| w + 3).sum::<usize>() + 1;
    let mut out = String::new();
    let title_width = width(&table.title);
    let pad = total.saturating_sub(title_width) / 2;
    out.push_str(&" ".repeat(pad));
    out.push_str(&table.title);
    out.push('\n');
    out.push_str(&rule('┏', '━', '┳', '┓', &widths));
    out.push_str(&line('┃', &table.headers, &widths));
    out.push_str(&rule('┡', '━', '╇', '┩', &widths));
    for row in &table.rows {
        out.push_str(&line('│', row, &widths));
    }
    out.push_str(&rule('└', '─', '┴', '┘', &widths));
    out
}

/// Narrows columns, one character at a time, until the table fits
/// `max_width` or none can shrink further: the widest column of prose (cells
/// with spaces, such as reasons) first, then the widest of any.
fn fit(widths: &mut [usize], headers: &[String], rows: &[Vec<String>], max_width: usize) {
    // A header wraps at its spaces too, so only its longest word bounds it.
    let floor: Vec<usize> = headers
        .iter()
        .zip(widths.iter())
        .map(|(h, w)| h.split(' ').map(width).max().unwrap_or(0).max((*w).min(MIN_FITTED_COLUMN)))
        .collect();
    let prose: Vec<bool> =
        (0..widths.len()).map(|i| rows.iter().any(|row| row.get(i).is_some_and(|c| c.contains(' ')))).collect();
    for prose_only in [true, false] {
        loop {
            let total: usize = widths.iter().map(|w| w + 3).sum::<usize>() + 1;
            if total <= max_width {
                return;
            }
            let widest = widths
                .iter()
                .enumerate()
                .filter(|(i, w)| **w > floor[*i] && (prose[*i] || !prose_only))
                .max_by_key(|(_, w)| **w)
                .map(|(i, _)| i);
            match widest {
                Some(index) => widths[index] -= 1,
                None => break,
            }
        }
    }
}

/// `text` broken into lines of at most `max` characters, at spaces where it
/// can be, inside a word where one is longer than a line.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        let current_width = width(&current);
        if !current.is_empty() && current_width + 1 + word.len() <= max {
            current.push(' ');
            current.extend(word);
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        while word.len() > max {
            let rest = word.split_off(max);
            lines.push(word.into_iter().collect());
            word = rest;
        }
        current = word.into_iter().collect();
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

fn width(text: &str) -> usize {
    text.chars().count()
}

fn rule(left: char, fill: char, cross: char, right: char, widths: &[usize]) -> String {
    let mut out = String::new();
    out.push(left);
    for (index, w) in widths.iter().enumerate() {
        if index > 0 {
            out.push(cross);
        }
        out.extend(std::iter::repeat_n(fill, w + 2));
    }
    out.push(right);
    out.push('\n');
    out
}

fn line(border: char, cells: &[String], widths: &[usize]) -> String {
    // Cells are one line each as given: a newline inside one would break the table.
    let wrapped: Vec<Vec<String>> = widths
        .iter()
        .enumerate()
        .map(|(index, w)| {
            let cell = cells.get(index).map(String::as_str).unwrap_or_default().replace(['\n', '\r'], " ");
            if width(&cell) <= *w {
                vec![cell]
            } else {
                wrap(&cell, *w)
            }
        })
        .collect();
    let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
    let mut out = String::new();
    for row in 0..height {
        out.push(border);
        for (index, w) in widths.iter().enumerate() {
            let cell = wrapped[index].get(row).map(String::as_str).unwrap_or_default();
            out.push(' ');
            out.push_str(cell);
            out.push_str(&" ".repeat(w.saturating_sub(width(cell)) + 1));
            out.push(border);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_boxed_table() {
        let table = Table {
            title: "Things".into(),
            headers: vec!["Name".into(), "Why".into()],
            rows: vec![vec!["a".into(), "because".into()], vec!["longer name".into(), "".into()]],
        };
        let expected = concat!(
            "         Things\n",
            "┏━━━━━━━━━━━━━┳━━━━━━━━━┓
┃ Name        ┃ Why     ┃
┡━━━━━━━━━━━━━╇━━━━━━━━━┩
│ a           │ because │
│ longer name │         │
└─────────────┴─────────┘\n"
        );
        assert_eq!(render(&table), expected);
        // Wide enough: the same table.
        assert_eq!(render_within(&table, Some(80)), expected);
    }

    #[test]
    fn a_table_wider_than_the_terminal_wraps_its_widest_cells() {
        let reason = "Following helm chart values files were modified: hub1.values.yaml";
        let table = Table {
            title: "T".into(),
            headers: vec!["Hub".into(), "Reason".into()],
            rows: vec![vec!["hub1".into(), reason.into()], vec!["h2".into(), "short".into()]],
        };
        for max in [60, 40, 30] {
            let text = render_within(&table, Some(max));
            for line in text.lines() {
                assert!(line.chars().count() <= max, "{max}: {line:?}\n{text}");
            }
            // Every word is still there, in order.
            let words: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with('│'))
                .flat_map(|l| l.split('│').nth(2).unwrap_or_default().split_whitespace())
                .collect();
            assert_eq!(words.join(" "), format!("{reason} short"), "{max}\n{text}");
        }
        // Narrower than the columns can go: the floor holds, nothing is lost.
        let text = render_within(&table, Some(5));
        assert!(text.contains("hub1"), "{text}");
        assert_eq!(render_within(&table, None), render(&table));
    }

    #[test]
    fn wrap_cases() {
        let cases: &[(&str, usize, &[&str])] = &[
            ("a b c", 3, &["a b", "c"]),
            ("abcdefgh", 3, &["abc", "def", "gh"]),
            ("", 4, &[""]),
            ("one two", 10, &["one two"]),
            ("ab cdefg", 4, &["ab", "cdef", "g"]),
        ];
        for (text, max, want) in cases {
            assert_eq!(wrap(text, *max), *want, "{text:?} at {max}");
        }
    }
}

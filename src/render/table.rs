//! Box-drawn text tables for the job log, in the style of Python's `rich`.

/// A titled table of text cells.
#[derive(Debug, Clone)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Renders `table` with a heavy header and light body, its title centred above it.
pub fn render(table: &Table) -> String {
    let columns = table.headers.len();
    let mut widths: Vec<usize> = table.headers.iter().map(|h| width(h)).collect();
    for row in &table.rows {
        for (index, cell) in row.iter().enumerate().take(columns) {
            widths[index] = widths[index].max(width(cell));
        }
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
    let mut out = String::new();
    out.push(border);
    for (index, w) in widths.iter().enumerate() {
        let cell = cells.get(index).map(String::as_str).unwrap_or_default();
        // Cells are one line each: a newline inside one would break the table.
        let cell = cell.replace(['\n', '\r'], " ");
        out.push(' ');
        out.push_str(&cell);
        out.push_str(&" ".repeat(w - width(&cell) + 1));
        out.push(border);
    }
    out.push('\n');
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
    }
}

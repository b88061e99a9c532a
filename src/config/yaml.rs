//! Parses one YAML document into a raw config type, turning parser errors into diagnostics.

use serde::de::DeserializeOwned;

use crate::diagnostic::Diagnostic;

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
    deserialize(yaml_serde::Deserializer::from_str(source)).map_err(|error| {
        let location = error.location().map(|l| (l.line(), l.column()));
        let message = strip_position(&error.to_string());
        let hint = hint_for(&message);
        vec![Diagnostic::new(file, message).at(location).hint(hint)]
    })
}

/// Removes the ` at line N column M` the parser appends; the diagnostic carries the position itself.
fn strip_position(message: &str) -> String {
    let Some(index) = message.find(" at line ") else {
        return message.to_owned();
    };
    let rest = &message[index + " at line ".len()..];
    let mut parts = rest.splitn(3, ' ');
    let (Some(line), Some("column"), Some(tail)) = (parts.next(), parts.next(), parts.next()) else {
        return message.to_owned();
    };
    let column_digits = tail.chars().take_while(char::is_ascii_digit).count();
    if !line.chars().all(|c| c.is_ascii_digit()) || column_digits == 0 {
        return message.to_owned();
    }
    format!("{}{}", &message[..index], &tail[column_digits..])
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
    } else {
        "check the YAML syntax (indentation, quoting, `key: value`) at this line"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_positions() {
        let cases = [
            ("name: bad at line 3 column 5", "name: bad"),
            (
                "did not find expected key at line 3 column 5, while parsing a block mapping",
                "did not find expected key, while parsing a block mapping",
            ),
            ("no position here", "no position here"),
            ("at line x column 3", "at line x column 3"),
        ];
        for (input, expected) in cases {
            assert_eq!(strip_position(input), expected);
        }
    }

    #[test]
    fn empty_files_are_reported_at_line_one() {
        let error = parse::<serde::de::IgnoredAny>("x.yaml", "  \n").unwrap_err();
        assert_eq!(error[0].to_string(), "x.yaml:1:1: the file is empty");
    }
}

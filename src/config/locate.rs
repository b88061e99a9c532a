//! Finds the line and column of a field path in a YAML document.
//!
//! The validation layer works on deserialised values, which carry no
//! positions. When it finds a problem it asks this module where the field is:
//! a probe walks the document along the path with the same YAML parser and
//! fails on purpose at the target node, and the parser stamps that failure
//! with the node's position. This costs nothing until an error is reported.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a field path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index.
    Index(usize),
}

/// Renders a path as `hubs[1].name`.
pub fn display_path(path: &[Segment<'_>]) -> String {
    let mut text = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Segment::Index(index) => {
                text.push('[');
                text.push_str(&index.to_string());
                text.push(']');
            }
        }
    }
    text
}

/// Line and column (1-based) of the node at `path`, or of its nearest existing ancestor.
pub fn locate(source: &str, path: &[Segment<'_>]) -> Option<(usize, usize)> {
    (0..=path.len()).rev().find_map(|len| locate_exact(source, &path[..len]))
}

const PROBE_MARK: &str = "\u{1}deployer-locate-probe";

fn locate_exact(source: &str, path: &[Segment<'_>]) -> Option<(usize, usize)> {
    let deserializer = yaml_serde::Deserializer::from_str(source);
    match Probe(path).deserialize(deserializer) {
        Err(error) if error.to_string().contains(PROBE_MARK) => {
            error.location().map(|location| (location.line(), location.column()))
        }
        _ => None,
    }
}

/// Walks to the target node along `path`, then fails there.
struct Probe<'p, 'a>(&'p [Segment<'a>]);

impl<'de> DeserializeSeed<'de> for Probe<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.0.split_first() {
            None => deserializer.deserialize_any(Target),
            Some((Segment::Key(key), rest)) => deserializer.deserialize_map(KeyStep { key, rest }),
            Some((Segment::Index(index), rest)) => deserializer.deserialize_seq(IndexStep { index: *index, rest }),
        }
    }
}

/// Rejects whatever node it is given, so the parser reports that node's position.
struct Target;

impl<'de> Visitor<'de> for Target {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PROBE_MARK)
    }
}

struct KeyStep<'p, 'a> {
    key: &'a str,
    rest: &'p [Segment<'a>],
}

impl<'de> Visitor<'de> for KeyStep<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<yaml_serde::Value>()? {
            if key.as_str() == Some(self.key) {
                return map.next_value_seed(Probe(self.rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

struct IndexStep<'p, 'a> {
    index: usize,
    rest: &'p [Segment<'a>],
}

impl<'de> Visitor<'de> for IndexStep<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for _ in 0..self.index {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Probe(self.rest))?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Segment::{Index, Key};
    use super::*;

    const DOC: &str = "\
name: c1
provider: gcp
hubs:
  - name: staging
    helm_chart_values_files:
      - a.yaml
      - b.yaml
  - name: prod
    other: {x: 1}
";

    type Case<'a> = (&'a [Segment<'a>], Option<(usize, usize)>);

    #[test]
    fn finds_nodes_and_falls_back_to_ancestors() {
        let cases: &[Case] = &[
            (&[Key("name")], Some((1, 7))),
            (&[Key("provider")], Some((2, 11))),
            (&[Key("hubs")], Some((4, 3))),
            (&[Key("hubs"), Index(0)], Some((4, 5))),
            (&[Key("hubs"), Index(1), Key("name")], Some((8, 11))),
            (&[Key("hubs"), Index(0), Key("helm_chart_values_files"), Index(1)], Some((7, 9))),
            // Missing nodes resolve to the nearest ancestor that exists.
            (&[Key("hubs"), Index(7), Key("name")], Some((4, 3))),
            (&[Key("nope")], Some((1, 1))),
        ];
        for (path, expected) in cases {
            assert_eq!(locate(DOC, path), *expected, "path {}", display_path(path));
        }
    }

    #[test]
    fn renders_paths() {
        assert_eq!(display_path(&[Key("hubs"), Index(2), Key("name")]), "hubs[2].name");
        assert_eq!(display_path(&[]), "");
    }

    #[test]
    fn broken_documents_have_no_location() {
        for broken in ["x: ]\na: 1\n", "x: \"\na: 1\n"] {
            assert_eq!(locate_exact(broken, &[Key("a")]), None, "{broken:?}");
        }
    }
}

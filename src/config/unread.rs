//! Parses a YAML document into a serde type and notes, in the same parse,
//! every mapping key whose value the type ignores: the keys the deployer
//! does not read, each with the path of its mapping and its place there.
//!
//! The document's deserializer is wrapped: a struct derived with serde
//! skips an unknown key's value with `deserialize_ignored_any`, which the
//! wrapper sees, knowing the key and its path. Everything else is passed
//! through, so the type is read exactly as a plain parse reads it. (The
//! idea of the `serde_ignored` crate, for the few shapes the config uses.)

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::locate::OwnedSegment;

/// A key whose value the type does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadKey {
    /// Path of the mapping that holds it.
    pub mapping: Vec<OwnedSegment>,
    /// Its place among that mapping's keys (0 for the first).
    pub entry: usize,
    /// The key as text.
    pub key: String,
}

/// Deserializes `T` from `de`, with the keys `T` does not read, in document
/// order. For [`super::yaml::parse_with`].
pub fn deserialize<'de, T: Deserialize<'de>>(
    de: yaml_serde::Deserializer<'de>,
) -> Result<(T, Vec<UnreadKey>), yaml_serde::Error> {
    let found = RefCell::new(Vec::new());
    let value = T::deserialize(Tracked { de, path: Path::Root, found: &found })?;
    Ok((value, found.into_inner()))
}

/// Where a value is: a linked list up to the document's root.
#[derive(Clone, Copy)]
enum Path<'p> {
    Root,
    Key { parent: &'p Path<'p>, key: &'p str, entry: usize },
    Item { parent: &'p Path<'p>, index: usize },
}

impl Path<'_> {
    fn owned(&self) -> Vec<OwnedSegment> {
        let mut segments = Vec::new();
        let mut at = self;
        loop {
            match at {
                Path::Root => break,
                Path::Key { parent, key, .. } => {
                    segments.push(OwnedSegment::Key((*key).to_owned()));
                    at = parent;
                }
                Path::Item { parent, index } => {
                    segments.push(OwnedSegment::Index(*index));
                    at = parent;
                }
            }
        }
        segments.reverse();
        segments
    }
}

/// The wrapped deserializer of one value.
struct Tracked<'p, D> {
    de: D,
    path: Path<'p>,
    found: &'p RefCell<Vec<UnreadKey>>,
}

impl<'p, D> Tracked<'p, D> {
    fn wrap<V>(&self, visitor: V) -> Wrap<'p, V> {
        Wrap { visitor, path: self.path, found: self.found }
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                let wrapped = self.wrap(visitor);
                self.de.$method($($arg,)* wrapped)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Tracked<'_, D> {
    type Error = D::Error;

    forward! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
    }

    /// What a derived struct calls for the value of a key it does not know.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        if let Path::Key { parent, key, entry } = self.path {
            self.found.borrow_mut().push(UnreadKey { mapping: parent.owned(), entry, key: key.to_owned() });
        }
        self.de.deserialize_ignored_any(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// A seed whose deserializer is tracked at `path`.
struct TrackedSeed<'p, S> {
    seed: S,
    path: Path<'p>,
    found: &'p RefCell<Vec<UnreadKey>>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for TrackedSeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Tracked { de, path: self.path, found: self.found })
    }
}

/// The type's visitor, with its maps and sequences tracked.
struct Wrap<'p, V> {
    visitor: V,
    path: Path<'p>,
    found: &'p RefCell<Vec<UnreadKey>>,
}

macro_rules! forward_visits {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
                self.visitor.$method(value)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    forward_visits! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(Tracked { de, path: self.path, found: self.found })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(Tracked { de, path: self.path, found: self.found })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_seq(TrackedSeq { seq, path: self.path, found: self.found, index: 0 })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(TrackedMap { map, path: self.path, found: self.found, key: None, entries: 0 })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        // The config's enums are names (`provider`): nothing inside to track.
        self.visitor.visit_enum(data)
    }
}

struct TrackedSeq<'p, A> {
    seq: A,
    path: Path<'p>,
    found: &'p RefCell<Vec<UnreadKey>>,
    index: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for TrackedSeq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        let path = Path::Item { parent: &self.path, index: self.index };
        self.index += 1;
        self.seq.next_element_seed(TrackedSeed { seed, path, found: self.found })
    }

    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

struct TrackedMap<'p, A> {
    map: A,
    path: Path<'p>,
    found: &'p RefCell<Vec<UnreadKey>>,
    /// The current key, and how many keys came before it.
    key: Option<String>,
    entries: usize,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TrackedMap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        // The key is read as text, then handed to the type as a string, as
        // the YAML parser hands it a plain key.
        let Some(key) = self.map.next_key_seed(KeyText)? else { return Ok(None) };
        self.entries += 1;
        let value = seed.deserialize(key.as_str().into_deserializer())?;
        self.key = Some(key);
        Ok(Some(value))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let key = self.key.as_deref().unwrap_or_default();
        let path = Path::Key { parent: &self.path, key, entry: self.entries.saturating_sub(1) };
        self.map.next_value_seed(TrackedSeed { seed, path, found: self.found })
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// A mapping key as text: a string, or a number or boolean written as one.
struct KeyText;

impl<'de> DeserializeSeed<'de> for KeyText {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<String, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyText {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        Ok(value.to_owned())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok("~".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawCluster;

    fn parse(text: &str) -> Result<(RawCluster, Vec<UnreadKey>), yaml_serde::Error> {
        deserialize(yaml_serde::Deserializer::from_str(text))
    }

    fn keys(text: &str) -> Vec<(String, usize, String)> {
        let (_, unread) = parse(text).unwrap();
        unread
            .into_iter()
            .map(|key| (crate::config::locate::display_path(&OwnedSegment::borrow(&key.mapping)), key.entry, key.key))
            .collect()
    }

    #[test]
    fn notes_every_key_the_type_ignores() {
        type Case<'a> = (&'a str, &'a [(&'a str, usize, &'a str)]);
        let cases: &[Case] = &[
            ("name: c\nprovider: gcp\n", &[]),
            (
                "name: c\nmetadata: {a: [1, {b: 2}]}\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart_value_files: [x]\n    domain: d\n",
                &[("", 1, "metadata"), ("hubs[0]", 1, "helm_chart_value_files")],
            ),
            (
                "name: c\nprovider: aws\naws:\n  account: 123\n  clusterType: eks\nsupport:\n  config: {x: 1}\n1: one\n",
                &[("aws", 1, "clusterType"), ("support", 0, "config"), ("", 4, "1")],
            ),
            (
                "name: c\nprovider: gcp\nhubs:\n  - {name: a, x: 1}\n  - name: b\n    'quoted key': 2\n",
                &[("hubs[0]", 1, "x"), ("hubs[1]", 1, "quoted key")],
            ),
        ];
        for (text, expected) in cases {
            let expected: Vec<(String, usize, String)> =
                expected.iter().map(|(path, entry, key)| ((*path).to_owned(), *entry, (*key).to_owned())).collect();
            assert_eq!(keys(text), expected, "{text:?}");
        }
    }

    #[test]
    fn reads_the_type_as_a_plain_parse_does() {
        let documents = [
            "name: c\nprovider: aws\naws: {account: 123456789012, clusterName: k, region: r}\nsupport:\n  helm_chart_values_files: [s.yaml]\nhubs:\n  - name: a\n    helm_chart: basehub\n    helm_chart_values_files: [a.yaml, b.yaml]\n",
            "name: c\nprovider: gcp\ngcp: &g {project: p}\nhubs: []\nextra: *g\n",
            "name: c\nprovider: kubeconfig\nkubeconfig:\n  file: f\nsupport:\n",
        ];
        for text in documents {
            let plain: RawCluster = yaml_serde::from_str(text).unwrap();
            let (tracked, _) = parse(text).unwrap();
            assert_eq!(format!("{tracked:?}"), format!("{plain:?}"), "{text:?}");
        }
        let rejected = [
            "name: c\n",
            "name: c\nprovider: ibm\n",
            "name: c\nprovider: gcp\nhubs: x\n",
            "name: c\nprovider: gcp\nname: d\n",
            "name: c\nprovider: gcp\n? [a]\n: 1\n",
            "name: [c]\nprovider: gcp\n",
            "name: c\nprovider: gcp\nhubs:\n  - name: a\n    helm_chart_values_files: x\n",
            "name: c\nprovider: gcp\nsupport:\n  helm_chart_values_files: [[x]]\n",
            "name: c\nprovider: aws\naws:\n  account: [1]\n",
            "name: c\nprovider: gcp\nhubs:\n  - name: a\n    name: b\n",
        ];
        for text in rejected {
            let plain = yaml_serde::from_str::<RawCluster>(text).unwrap_err().to_string();
            let tracked = parse(text).unwrap_err().to_string();
            if text.contains("? [a]") {
                // A key that is a sequence: refused by both, in other words.
                assert!(tracked.contains("line 3 column 3"), "{tracked}");
            } else {
                assert_eq!(tracked, plain, "the same error, at the same place: {text:?}");
            }
        }
    }
}

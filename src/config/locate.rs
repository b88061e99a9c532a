//! Where things are in a YAML document: an index of node and key positions
//! by field path, built in one parse.
//!
//! The validation layer works on deserialised values, which carry no
//! positions. [`Index::build`] walks the document once with the same YAML
//! parser and records the line and column of every node and every mapping
//! key, and the keys of every mapping in order; each problem is then located
//! by a lookup, so N problems in a file cost one parse, not N.
//!
//! The parser tells positions only in its errors, so the walk makes every
//! scalar fail on purpose and reads the position from that error. The parser
//! has consumed the scalar before its visitor runs, so the walk carries on
//! from the next node as if nothing had happened. A mapping or sequence is
//! placed at its first key or item (for block style, where the parser places it too).
//!
//! Those failures are what the walk costs beyond a parse, so callers build
//! an index only once they have something to locate.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess, VariantAccess};

/// A 1-based line and column.
pub type Position = (usize, usize);

/// One step of a field path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index.
    Index(usize),
}

/// A [`Segment`] that owns its key, for paths kept until a problem is located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedSegment {
    Key(String),
    Index(usize),
}

impl OwnedSegment {
    /// The path `path`, owned.
    pub fn path(path: &[Segment<'_>]) -> Vec<OwnedSegment> {
        path.iter()
            .map(|segment| match segment {
                Segment::Key(key) => OwnedSegment::Key((*key).to_owned()),
                Segment::Index(index) => OwnedSegment::Index(*index),
            })
            .collect()
    }

    /// The owned path `path`, borrowed as segments.
    pub fn borrow(path: &[OwnedSegment]) -> Vec<Segment<'_>> {
        path.iter()
            .map(|segment| match segment {
                OwnedSegment::Key(key) => Segment::Key(key),
                OwnedSegment::Index(index) => Segment::Index(*index),
            })
            .collect()
    }
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

/// Line and column of the node at `path`, or of its nearest existing ancestor.
/// Parses `source` once, reading only the nodes on the way; to locate several
/// paths, build an [`Index`].
pub fn locate(source: &str, path: &[Segment<'_>]) -> Option<Position> {
    Index::build(source, Shape::Path(path)).ok()?.locate(path)
}

/// Which nodes of a document an [`Index`] walks. Nodes not walked are
/// skipped unread (their keys are still recorded), so that a part of the
/// document the deployer ignores can neither fail nor slow the walk.
#[derive(Debug, Clone, Copy)]
pub enum Shape<'s> {
    /// This node and everything below it.
    All,
    /// Nothing: the node is skipped.
    Skip,
    /// This node only: a mapping's keys, a sequence's first item (shallow).
    Shallow,
    /// A mapping whose listed keys have these shapes; other values are skipped.
    Fields(&'s [(&'s str, Shape<'s>)]),
    /// A sequence whose items have this shape.
    Items(&'s Shape<'s>),
    /// The nodes on the way to the end of this path, and that node shallowly.
    Path(&'s [Segment<'s>]),
}

impl<'s> Shape<'s> {
    /// The shape of the value of `key` in a mapping of this shape.
    fn value(self, key: Option<&str>) -> Shape<'s> {
        match self {
            Shape::All => Shape::All,
            Shape::Fields(fields) => key
                .and_then(|key| fields.iter().find(|(name, _)| *name == key))
                .map_or(Shape::Skip, |(_, shape)| *shape),
            Shape::Path([Segment::Key(wanted), rest @ ..]) if key == Some(*wanted) => Shape::Path(rest),
            Shape::Skip | Shape::Shallow | Shape::Items(_) | Shape::Path(_) => Shape::Skip,
        }
    }

    /// The shape of item `index` in a sequence of this shape.
    fn item(self, index: usize) -> Shape<'s> {
        match self {
            Shape::All => Shape::All,
            Shape::Items(shape) => *shape,
            Shape::Path([Segment::Index(wanted), rest @ ..]) if index == *wanted => Shape::Path(rest),
            // The first item places the sequence.
            Shape::Shallow | Shape::Path(_) if index == 0 => Shape::Shallow,
            Shape::Skip | Shape::Shallow | Shape::Fields(_) | Shape::Path(_) => Shape::Skip,
        }
    }
}

/// Nodes deeper than this are skipped (the parser refuses depth 128).
const MAX_DEPTH: usize = 64;
/// Nodes recorded at most; the rest are skipped, so that a document of
/// aliases that expand exponentially costs bounded time and memory.
const MAX_NODES: usize = 500_000;
/// Mappings with more keys than this get a hash table for lookups.
const HASHED_MAPPING_LEN: usize = 8;

/// The positions of a document's nodes and keys.
#[derive(Debug, Default)]
pub struct Index {
    root: Option<Node>,
}

/// One node of the document.
#[derive(Debug)]
pub struct Node {
    /// Where it is: a scalar's own position; a mapping's first key; a
    /// sequence's first item. `None` for empty collections and skipped nodes.
    pub position: Option<Position>,
    pub kind: NodeKind,
}

/// What a node is.
#[derive(Debug)]
pub enum NodeKind {
    Scalar,
    Mapping(Mapping),
    Sequence(Vec<Node>),
    /// Not walked: too deep, or past the node budget.
    Skipped,
}

/// A mapping's entries in document order.
#[derive(Debug, Default)]
pub struct Mapping {
    pub entries: Vec<Entry>,
    /// First entry of each text key, for large mappings.
    by_key: Option<HashMap<String, usize>>,
}

impl Mapping {
    /// The first entry whose key is `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        match &self.by_key {
            Some(by_key) => by_key.get(key).map(|&index| &self.entries[index]),
            None => self.entries.iter().find(|entry| entry.key.as_deref() == Some(key)),
        }
    }
}

/// One key and its value.
#[derive(Debug)]
pub struct Entry {
    /// The key as text (a plain scalar's text; numbers and booleans as the
    /// parser read them); `None` for a key that is a mapping or sequence.
    pub key: Option<String>,
    pub key_position: Option<Position>,
    pub value: Node,
}

impl Index {
    /// Walks the nodes of `source` that `shape` names, in one parse,
    /// recording their positions. Fails with the parser's message when it
    /// rejects a node on the way.
    pub fn build(source: &str, shape: Shape<'_>) -> Result<Index, String> {
        let scalar = RefCell::new(None);
        let budget = Cell::new(MAX_NODES);
        let walker = Walker { scalar: &scalar, budget: &budget, depth: 0, shape, key: false };
        let deserializer = yaml_serde::Deserializer::from_str(source);
        let root = match caught(walker.deserialize(deserializer), &scalar).map_err(|error| error.to_string())? {
            Walked::Done(node) => node,
            Walked::Scalar { position, .. } => Node { position, kind: NodeKind::Scalar },
        };
        Ok(Index { root: Some(root) })
    }

    /// The node at `path`, when it exists.
    pub fn node(&self, path: &[Segment<'_>]) -> Option<&Node> {
        let mut node = self.root.as_ref()?;
        for segment in path {
            node = match (segment, &node.kind) {
                (Segment::Key(key), NodeKind::Mapping(mapping)) => &mapping.get(key)?.value,
                (Segment::Index(index), NodeKind::Sequence(items)) => items.get(*index)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The mapping at `path`, when there is one.
    pub fn mapping(&self, path: &[Segment<'_>]) -> Option<&Mapping> {
        match &self.node(path)?.kind {
            NodeKind::Mapping(mapping) => Some(mapping),
            _ => None,
        }
    }

    /// Line and column of key `entry` of the mapping at `path`, or of the
    /// mapping when there is no such entry.
    pub fn locate_key(&self, path: &[Segment<'_>], entry: usize) -> Option<Position> {
        let key =
            self.mapping(path).and_then(|mapping| mapping.entries.get(entry)).and_then(|entry| entry.key_position);
        key.or_else(|| self.locate(path))
    }

    /// Line and column of the node at `path`, or of its nearest existing
    /// ancestor. A value with no position of its own (an empty collection)
    /// is placed at its key.
    pub fn locate(&self, path: &[Segment<'_>]) -> Option<Position> {
        let mut node = self.root.as_ref()?;
        let mut found = node.position;
        for segment in path {
            let (next, key_position) = match (segment, &node.kind) {
                (Segment::Key(key), NodeKind::Mapping(mapping)) => match mapping.get(key) {
                    Some(entry) => (&entry.value, entry.key_position),
                    None => break,
                },
                (Segment::Index(index), NodeKind::Sequence(items)) => match items.get(*index) {
                    Some(item) => (item, None),
                    None => break,
                },
                _ => break,
            };
            node = next;
            found = node.position.or(key_position).or(found);
        }
        found
    }
}

/// The message of the error each scalar fails with on purpose.
const SCALAR_MARK: &str = "\u{1}deployer-index-scalar";

/// What walking one node gave: a collection's node, or the position and
/// text of a scalar (reported through its on-purpose failure).
enum Walked<T> {
    Done(T),
    Scalar { position: Option<Position>, text: String },
}

/// Turns the walk's own scalar failure into [`Walked::Scalar`] at the
/// position the parser stamped on it; any other error is a real one.
fn caught<T, E: fmt::Display>(result: Result<T, E>, scalar: &RefCell<Option<String>>) -> Result<Walked<T>, E> {
    let error = match result {
        Ok(done) => return Ok(Walked::Done(done)),
        Err(error) => error,
    };
    let Some(text) = scalar.borrow_mut().take() else {
        return Err(error);
    };
    let message = error.to_string();
    match message.rfind(SCALAR_MARK) {
        Some(at) => Ok(Walked::Scalar { position: parse_position(&message[at + SCALAR_MARK.len()..]), text }),
        None => Err(error),
    }
}

/// Reads ` at line L column C`, what the parser appends to a message; it
/// appends nothing for line 1 column 1.
fn parse_position(suffix: &str) -> Option<Position> {
    if suffix.is_empty() {
        return Some((1, 1));
    }
    let rest = suffix.strip_prefix(" at line ")?;
    let (line, column) = rest.split_once(" column ")?;
    Some((line.parse().ok()?, column.parse().ok()?))
}

/// Walks one node into a [`Node`]. A scalar leaves its text (for a key;
/// empty for a value) in `scalar` and fails with [`SCALAR_MARK`], for the
/// caller to catch.
#[derive(Clone, Copy)]
struct Walker<'c, 's> {
    scalar: &'c RefCell<Option<String>>,
    budget: &'c Cell<usize>,
    depth: usize,
    shape: Shape<'s>,
    /// Walking a mapping key, whose text is kept.
    key: bool,
}

impl<'s> Walker<'_, 's> {
    fn child(self, shape: Shape<'s>) -> Self {
        Walker { depth: self.depth + 1, shape, key: false, ..self }
    }

    fn key(self) -> Self {
        Walker { key: true, ..self.child(Shape::Shallow) }
    }

    fn scalar<E: de::Error>(self, text: impl FnOnce() -> String) -> Result<Node, E> {
        *self.scalar.borrow_mut() = Some(if self.key { text() } else { String::new() });
        Err(E::custom(SCALAR_MARK))
    }
}

impl<'de> DeserializeSeed<'de> for Walker<'_, '_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        let left = self.budget.get();
        if self.depth > MAX_DEPTH || left == 0 || matches!(self.shape, Shape::Skip) {
            deserializer.deserialize_ignored_any(IgnoredAny)?;
            return Ok(Node { position: None, kind: NodeKind::Skipped });
        }
        self.budget.set(left - 1);
        deserializer.deserialize_any(self)
    }
}

impl<'de> de::Visitor<'de> for Walker<'_, '_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Node, E> {
        self.scalar(|| value.to_string())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Node, E> {
        self.scalar(|| value.to_string())
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<Node, E> {
        self.scalar(|| value.to_string())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Node, E> {
        self.scalar(|| value.to_string())
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<Node, E> {
        self.scalar(|| value.to_string())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Node, E> {
        self.scalar(|| value.to_string())
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Node, E> {
        self.scalar(|| value.to_owned())
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Node, E> {
        self.scalar(|| value)
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<Node, E> {
        self.scalar(|| String::from_utf8_lossy(value).into_owned())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        self.scalar(String::new)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        self.scalar(String::new)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        loop {
            let item = match caught(seq.next_element_seed(self.child(self.shape.item(items.len()))), self.scalar)? {
                Walked::Done(None) => break,
                Walked::Done(Some(node)) => node,
                Walked::Scalar { position, .. } => Node { position, kind: NodeKind::Scalar },
            };
            items.push(item);
        }
        let position = items.first().and_then(|item| item.position);
        Ok(Node { position, kind: NodeKind::Sequence(items) })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        loop {
            let (key, key_position) = match caught(map.next_key_seed(self.key()), self.scalar)? {
                Walked::Done(None) => break,
                // A key that is a mapping or sequence.
                Walked::Done(Some(node)) => (None, node.position),
                Walked::Scalar { position, text } => (Some(text), position),
            };
            let value = match caught(map.next_value_seed(self.child(self.shape.value(key.as_deref()))), self.scalar)? {
                Walked::Done(node) => node,
                Walked::Scalar { position, .. } => Node { position, kind: NodeKind::Scalar },
            };
            entries.push(Entry { key, key_position, value });
        }
        let position = entries.first().and_then(|entry| entry.key_position);
        let by_key = (entries.len() > HASHED_MAPPING_LEN).then(|| {
            let mut by_key = HashMap::with_capacity(entries.len());
            for (index, entry) in entries.iter().enumerate() {
                if let Some(key) = &entry.key {
                    by_key.entry(key.clone()).or_insert(index);
                }
            }
            by_key
        });
        Ok(Node { position, kind: NodeKind::Mapping(Mapping { entries, by_key }) })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Node, A::Error> {
        // A node with a custom tag (`!tag value`): the value is the node.
        let (IgnoredAny, variant) = data.variant()?;
        variant.newtype_variant_seed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::Segment::{Index as At, Key};
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
  - {name: flow, helm_chart: basehub}
empty: []
'quoted key': \"quoted value\"
";

    type Case<'a> = (&'a [Segment<'a>], Option<Position>);

    fn check(index: &Index, cases: &[Case<'_>]) {
        for (path, expected) in cases {
            assert_eq!(index.locate(path), *expected, "path {}", display_path(path));
        }
    }

    #[test]
    fn finds_nodes_and_falls_back_to_ancestors() {
        let cases: &[Case] = &[
            (&[], Some((1, 1))),
            (&[Key("name")], Some((1, 7))),
            (&[Key("provider")], Some((2, 11))),
            // A sequence is placed at its first item, a mapping at its first key.
            (&[Key("hubs")], Some((4, 5))),
            (&[Key("hubs"), At(0)], Some((4, 5))),
            (&[Key("hubs"), At(1), Key("name")], Some((8, 11))),
            (&[Key("hubs"), At(0), Key("helm_chart_values_files"), At(1)], Some((7, 9))),
            (&[Key("hubs"), At(1), Key("other"), Key("x")], Some((9, 16))),
            (&[Key("hubs"), At(2)], Some((10, 6))),
            (&[Key("hubs"), At(2), Key("helm_chart")], Some((10, 30))),
            // An empty collection is placed at its key.
            (&[Key("empty")], Some((11, 1))),
            (&[Key("quoted key")], Some((12, 15))),
            // Missing nodes resolve to the nearest ancestor that exists.
            (&[Key("hubs"), At(7), Key("name")], Some((4, 5))),
            (&[Key("hubs"), At(0), Key("nope")], Some((4, 5))),
            (&[Key("nope")], Some((1, 1))),
            (&[Key("name"), Key("deeper")], Some((1, 7))),
        ];
        check(&Index::build(DOC, Shape::All).unwrap(), cases);
        for (path, expected) in cases {
            assert_eq!(locate(DOC, path), *expected, "locate {}", display_path(path));
        }
    }

    #[test]
    fn records_keys_in_order_with_positions() {
        let index = Index::build(DOC, Shape::All).unwrap();
        let keys: Vec<(Option<&str>, Option<Position>)> = index
            .mapping(&[Key("hubs"), At(1)])
            .unwrap()
            .entries
            .iter()
            .map(|entry| (entry.key.as_deref(), entry.key_position))
            .collect();
        assert_eq!(keys, [(Some("name"), Some((8, 5))), (Some("other"), Some((9, 5)))]);
        let top: Vec<Option<&str>> =
            index.mapping(&[]).unwrap().entries.iter().map(|entry| entry.key.as_deref()).collect();
        assert_eq!(top, [Some("name"), Some("provider"), Some("hubs"), Some("empty"), Some("quoted key")]);
        assert!(index.mapping(&[Key("name")]).is_none());
    }

    #[test]
    fn keys_are_located_by_their_place() {
        let index = Index::build(DOC, Shape::All).unwrap();
        assert_eq!(index.locate_key(&[Key("hubs"), At(1)], 1), Some((9, 5)));
        assert_eq!(index.locate_key(&[Key("hubs"), At(1)], 7), Some((8, 5)), "no such entry: the mapping");
        assert_eq!(index.locate_key(&[Key("nope")], 0), Some((1, 1)), "no such mapping: its nearest ancestor");
    }

    #[test]
    fn shapes_skip_what_they_do_not_name() {
        // An invalid tagged scalar where nothing is walked does not fail the index.
        let doc = "name: c1\nmetadata:\n  bad: !!int abc\nhubs:\n  - name: a\n    extra: !!int abc\n";
        const HUB: Shape<'static> = Shape::Fields(&[("name", Shape::All)]);
        const DOC_SHAPE: Shape<'static> = Shape::Fields(&[("name", Shape::All), ("hubs", Shape::Items(&HUB))]);
        let index = Index::build(doc, DOC_SHAPE).unwrap();
        check(
            &index,
            &[
                (&[Key("hubs"), At(0), Key("name")], Some((5, 11))),
                // Skipped values are placed at their keys.
                (&[Key("metadata")], Some((2, 1))),
                (&[Key("metadata"), Key("bad")], Some((2, 1))),
                (&[Key("hubs"), At(0), Key("extra")], Some((6, 5))),
            ],
        );
        assert!(Index::build(doc, Shape::All).is_err(), "walking everything meets the bad scalar");
        assert_eq!(locate(doc, &[Key("hubs"), At(0), Key("name")]), Some((5, 11)));
    }

    #[test]
    fn aliases_tags_and_scalars_of_every_kind() {
        let doc = "a: &x {k: 1}\nb: *x\nc: !custom {k: 2}\nd: !custom text\ne: [1, 2.5, true, ~, '']\n7: seven\n? [complex]\n: value\n";
        let index = Index::build(doc, Shape::All).unwrap();
        check(
            &index,
            &[
                (&[Key("a"), Key("k")], Some((1, 11))),
                (&[Key("b"), Key("k")], Some((1, 11))),
                (&[Key("c"), Key("k")], Some((3, 16))),
                (&[Key("d")], Some((4, 4))),
                (&[Key("e"), At(3)], Some((5, 19))),
                (&[Key("e"), At(4)], Some((5, 22))),
                (&[Key("7")], Some((6, 4))),
            ],
        );
        let keys: Vec<Option<&str>> =
            index.mapping(&[]).unwrap().entries.iter().map(|entry| entry.key.as_deref()).collect();
        assert_eq!(keys, [Some("a"), Some("b"), Some("c"), Some("d"), Some("e"), Some("7"), None]);
    }

    #[test]
    fn large_mappings_and_documents() {
        let doc: String = (0..20_000).map(|i| format!("key{i}: {i}\n")).collect();
        let index = Index::build(&doc, Shape::All).unwrap();
        assert_eq!(index.locate(&[Key("key19999")]), Some((20_000, 11)));
        // Past the node budget, nodes are skipped rather than recorded.
        let items: String = (0..(MAX_NODES + 10)).map(|_| "- 1\n").collect();
        let index = Index::build(&format!("list:\n{items}"), Shape::All).unwrap();
        let Some(Node { kind: NodeKind::Sequence(items), .. }) = index.node(&[Key("list")]) else { panic!() };
        assert!(matches!(items.last().unwrap().kind, NodeKind::Skipped));
        // Deep nesting is cut short, not a failure.
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(Index::build(&deep, Shape::All).is_ok());
    }

    #[test]
    fn broken_documents_have_no_index() {
        for broken in ["x: ]\na: 1\n", "x: \"\na: 1\n", "a: *nope\n"] {
            assert!(Index::build(broken, Shape::All).is_err(), "{broken:?}");
            assert_eq!(locate(broken, &[Key("a")]), None, "{broken:?}");
        }
    }

    #[test]
    fn positions_are_read_from_the_parser_suffix() {
        let cases = [
            ("", Some((1, 1))),
            (" at line 3 column 5", Some((3, 5))),
            (" at line x column 5", None),
            ("garbage", None),
        ];
        for (suffix, expected) in cases {
            assert_eq!(parse_position(suffix), expected, "{suffix:?}");
        }
    }

    #[test]
    fn renders_paths() {
        assert_eq!(display_path(&[Key("hubs"), At(2), Key("name")]), "hubs[2].name");
        assert_eq!(display_path(&[]), "");
    }
}

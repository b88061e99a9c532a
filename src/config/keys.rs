//! The keys of a `cluster.yaml` at each place the deployer reads: the keys
//! it reads, and the keys real repositories carry there that it ignores.
//! A key that is neither but is close to one it reads is a misspelling
//! (an error: the deployer would otherwise ignore it without a word);
//! any other key is only listed, by `deployer validate --strict`.

use super::locate::{display_path, OwnedSegment, Shape};
use super::suggest::{did_you_mean, shown};
use super::unread::UnreadKey;

/// The keys of one mapping.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    /// Keys the deployer reads.
    pub known: &'static [&'static str],
    /// Keys it ignores that real repositories carry (with any content).
    pub ignored: &'static [&'static str],
}

/// The top level of a cluster file.
pub const CLUSTER: Block = Block {
    known: &["name", "provider", "support", "hubs", "gcp", "aws", "azure", "kubeconfig", "provider_url"],
    ignored: &["metadata", "account", "tenancy"],
};
/// The `support` block.
pub const SUPPORT: Block = Block { known: &["helm_chart_values_files"], ignored: &[] };
/// One hub.
pub const HUB: Block = Block {
    known: &["name", "helm_chart", "helm_chart_values_files", "chart_override", "domain_override_file", "domain"],
    ignored: &["display_name"],
};
/// The `gcp` block.
pub const GCP: Block = Block { known: &["project", "cluster", "zone", "key"], ignored: &["billing"] };
/// The `aws` block.
pub const AWS: Block =
    Block { known: &["account", "clusterName", "region", "key"], ignored: &["clusterType", "billing"] };
/// The `azure` block.
pub const AZURE: Block = Block { known: &["resource_group", "cluster"], ignored: &["billing"] };
/// The `kubeconfig` block.
pub const KUBECONFIG: Block = Block { known: &["file"], ignored: &["billing"] };

/// The provider blocks, by key.
const PROVIDER_BLOCKS: [(&str, Block); 4] = [("gcp", GCP), ("aws", AWS), ("azure", AZURE), ("kubeconfig", KUBECONFIG)];

const VALUES_FILES: Shape<'static> = Shape::Items(&Shape::All);
const HUB_SHAPE: Shape<'static> = Shape::Fields(&[
    ("name", Shape::All),
    ("helm_chart", Shape::All),
    ("helm_chart_values_files", VALUES_FILES),
    ("chart_override", Shape::All),
    ("domain_override_file", Shape::All),
    ("domain", Shape::All),
]);
/// What of a cluster file its position [`Index`] walks: the nodes the
/// deployer reads, and the keys of the blocks above. Everything else
/// (`metadata`, provider settings) is skipped unread.
pub const CLUSTER_SHAPE: Shape<'static> = Shape::Fields(&[
    ("name", Shape::All),
    ("provider", Shape::All),
    ("support", Shape::Fields(&[("helm_chart_values_files", VALUES_FILES)])),
    ("hubs", Shape::Items(&HUB_SHAPE)),
    ("gcp", Shape::Shallow),
    ("aws", Shape::Shallow),
    ("azure", Shape::Shallow),
    ("kubeconfig", Shape::Shallow),
    ("provider_url", Shape::All),
]);

/// A key the deployer does not read, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFinding {
    /// Field path of the key, such as `hubs[0].helm_chart_value_files`
    /// (an unusual key is shown as `?`).
    pub field: String,
    /// The key as messages may show it: in backticks, or `this key`.
    pub shown: String,
    /// Where it is: entry `entry` of the mapping at `mapping` (see [`Index::locate_key`]).
    pub mapping: Vec<OwnedSegment>,
    pub entry: usize,
    /// The known key it most likely misspells.
    pub suggestion: Option<&'static str>,
    /// The keys the deployer reads there.
    pub known: &'static [&'static str],
}

/// The block of the mapping at `path`, when it is one of the blocks above.
fn block_at(path: &[OwnedSegment]) -> Option<Block> {
    fn key(segment: &OwnedSegment) -> Option<&str> {
        match segment {
            OwnedSegment::Key(key) => Some(key),
            OwnedSegment::Index(_) => None,
        }
    }
    match path {
        [] => Some(CLUSTER),
        [first] => match key(first)? {
            "support" => Some(SUPPORT),
            name => PROVIDER_BLOCKS.iter().find(|(block, _)| *block == name).map(|(_, block)| *block),
        },
        [first, OwnedSegment::Index(_)] if key(first) == Some("hubs") => Some(HUB),
        _ => None,
    }
}

/// Classifies the keys the parse did not read (see [`super::unread`]): a key
/// close to one the deployer reads at its place is a misspelling (it has a
/// `suggestion`); any other is only not read.
pub fn classify(unread: Vec<UnreadKey>) -> Vec<KeyFinding> {
    unread
        .into_iter()
        .map(|unread| {
            let block = block_at(&unread.mapping);
            let key = unread.key.as_str();
            let ignored = block.is_some_and(|block| block.ignored.contains(&key));
            let suggestion = match block {
                Some(block) if !ignored => did_you_mean(key, block.known.iter().copied()),
                _ => None,
            };
            let shown_key = shown(key, "this key");
            let plain = if shown_key.starts_with('`') { key } else { "?" };
            let parent = display_path(&OwnedSegment::borrow(&unread.mapping));
            let field = if parent.is_empty() { plain.to_owned() } else { format!("{parent}.{plain}") };
            KeyFinding {
                field,
                shown: shown_key,
                mapping: unread.mapping,
                entry: unread.entry,
                suggestion,
                known: block.map_or(&[], |block| block.known),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::locate::{Index, Position};
    use crate::config::raw::RawCluster;

    fn unread(text: &str) -> Vec<(String, Option<Position>, Option<&'static str>)> {
        let (_, unread): (RawCluster, _) =
            crate::config::unread::deserialize(yaml_serde::Deserializer::from_str(text)).unwrap();
        let index = Index::build(text, CLUSTER_SHAPE).unwrap();
        let mut found: Vec<_> = classify(unread)
            .into_iter()
            .map(|key| (key.field, index.locate_key(&OwnedSegment::borrow(&key.mapping), key.entry), key.suggestion))
            .collect();
        found.sort_by_key(|(_, position, _)| *position);
        found
    }

    #[test]
    fn misspelt_and_unread_keys() {
        type Case<'a> = (&'a str, &'a [(&'a str, Option<Position>, Option<&'a str>)]);
        // Each document follows `name: c` and `provider: gcp` (lines 1 and 2).
        let cases: &[Case] = &[
            ("", &[]),
            (
                "hubs:\n  - name: a\n    helm_chart_value_files: [a.yaml]\n",
                &[("hubs[0].helm_chart_value_files", Some((5, 5)), Some("helm_chart_values_files"))],
            ),
            (
                "hubs:\n  - name: a\n    helmchart: daskhub\n  - name: b\n    Helm-Chart: x\n",
                &[("hubs[0].helmchart", Some((5, 5)), Some("helm_chart")), ("hubs[1].Helm-Chart", Some((7, 5)), Some("helm_chart"))],
            ),
            ("nmae: c\nhub: []\n", &[("nmae", Some((3, 1)), Some("name")), ("hub", Some((4, 1)), Some("hubs"))]),
            ("support:\n  helm_chart_values_file: []\n", &[("support.helm_chart_values_file", Some((4, 3)), Some("helm_chart_values_files"))]),
            ("gcp:\n  zones: x\naws:\n  clustername: x\n  regoin: x\n", &[
                ("gcp.zones", Some((4, 3)), Some("zone")),
                ("aws.clustername", Some((6, 3)), Some("clusterName")),
                ("aws.regoin", Some((7, 3)), Some("region")),
            ]),
            ("kubeconfig:\n  files: x\nazure:\n  resource-group: x\n", &[
                ("kubeconfig.files", Some((4, 3)), Some("file")),
                ("azure.resource-group", Some((6, 3)), Some("resource_group")),
            ]),
            // Keys real repositories carry: never misspellings, listed only.
            (
                "provider_url: x\nmetadata: {a: !!int x, b: [1]}\naccount: 1\ntenancy: t\nhubs:\n  - name: a\n    display_name: A\n    domain: a.org\n",
                &[
                    ("metadata", Some((4, 1)), None),
                    ("account", Some((5, 1)), None),
                    ("tenancy", Some((6, 1)), None),
                    ("hubs[0].display_name", Some((9, 5)), None),
                ],
            ),
            (
                "gcp:\n  key: k\n  billing: {x: 1}\naws:\n  key: k\n  clusterType: eks\n  billing: [1]\nkubeconfig:\n  billing: x\n",
                &[
                    ("gcp.billing", Some((5, 3)), None),
                    ("aws.clusterType", Some((8, 3)), None),
                    ("aws.billing", Some((9, 3)), None),
                    ("kubeconfig.billing", Some((11, 3)), None),
                ],
            ),
            // Unusual keys are not shown in the field path.
            ("\"::error::x\": 1\n1: 2\n", &[("?", Some((3, 1)), None), ("1", Some((4, 1)), None)]),
            // An unknown key whose value is not walked still has its key's position.
            ("extra:\n  deep: [1, 2]\n", &[("extra", Some((3, 1)), None)]),
        ];
        for (body, expected) in cases {
            let text = format!("name: c\nprovider: gcp\n{body}");
            let expected: Vec<(String, Option<Position>, Option<&str>)> = expected
                .iter()
                .map(|(field, position, suggestion)| ((*field).to_owned(), *position, *suggestion))
                .collect();
            assert_eq!(unread(&text), expected, "{text:?}");
        }
    }

    #[test]
    fn known_keys_are_the_schema_properties() {
        let schema = serde_json::to_value(schemars::schema_for!(crate::config::raw::RawCluster)).unwrap();
        let properties = |value: &serde_json::Value| -> Vec<String> {
            let mut keys: Vec<String> = value["properties"].as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        let sorted = |block: Block| -> Vec<String> {
            let mut keys: Vec<String> = block.known.iter().map(|key| (*key).to_owned()).collect();
            keys.sort();
            keys
        };
        assert_eq!(properties(&schema), sorted(CLUSTER));
        for (name, block) in [
            ("RawSupport", SUPPORT),
            ("RawHub", HUB),
            ("RawGcp", GCP),
            ("RawAws", AWS),
            ("RawAzure", AZURE),
            ("RawKubeconfig", KUBECONFIG),
        ] {
            assert_eq!(properties(&schema["$defs"][name]), sorted(block), "{name}");
        }
    }
}

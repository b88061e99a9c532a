//! What one `cluster.yaml` edit touched. The previous and current texts are
//! compared as YAML values: hubs matched by `name` (an entry added or changed
//! in any field is that hub; an entry gone is a removed hub), the `support`
//! block as a whole, and everything else in the top-level mapping (name,
//! provider, access blocks, unknown keys) as one part that, when it changed,
//! touches the whole cluster. Key order, comments, formatting and the order
//! of the hubs do not count. Keys that no release reads (`metadata`,
//! `tenancy`, a hub's `display_name`, a provider block's `billing`, `aws.clusterType`)
//! are compared apart: an edit of them alone touches nothing, and is named so
//! the plan can say why nothing was planned. Keys that reach a release stay
//! compared with the rest: a hub's `domain`, `chart_override` and
//! `domain_override_file` (values and jsonnet), and a provider block's
//! `project`, `cluster`, `clusterName` and `account` (jsonnet's variables).
//! Pure: texts in, a [`ClusterEdit`] out.

use yaml_serde::{Mapping, Value};

/// Reason for everything on a cluster whose `cluster.yaml` changed.
pub const CLUSTER_FILE_REASON: &str = "cluster.yaml file was modified";

/// Reason for a support chart upgraded because its `support` block changed.
pub const SUPPORT_BLOCK_REASON: &str = "cluster.yaml: support block was modified";

/// The previous version of a changed cluster file, as far as it could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviousVersion {
    /// Its text at the base commit.
    Text(String),
    /// Why it could not be had (a new file, an API failure, a new branch...).
    Unavailable(String),
}

/// How a hub's entry changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubChange {
    Added,
    Modified,
}

/// The parts of a cluster file that changed, when both versions could be compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileDiff {
    /// Something outside `hubs` and `support` changed, or the hub lists could
    /// not be matched by name: the whole cluster is touched.
    pub whole_cluster: bool,
    /// The `support` block changed (added, removed or edited).
    pub support: bool,
    /// Hubs whose entry was added or changed, in the current file's order.
    pub hubs: Vec<(String, HubChange)>,
    /// Hubs of the previous version that the current one no longer has, in their previous order.
    pub removed_hubs: Vec<String>,
    /// Keys no release reads whose value changed (`aws.billing`, `hubs[prod].display_name`), in file order.
    pub unread: Vec<String>,
}

/// What an edit of one cluster file touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEdit {
    /// The previous version is unknown or unreadable (why): the whole cluster.
    Unknown(String),
    /// Both versions were compared.
    Known(FileDiff),
}

/// Which part of a cluster a reason is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    Support,
    Hub(&'a str),
}

/// The reason of a hub whose entry changed.
pub fn hub_reason(name: &str, change: HubChange) -> String {
    let what = match change {
        HubChange::Added => "added",
        HubChange::Modified => "modified",
    };
    format!("cluster.yaml: hub entry {name} was {what}")
}

/// The reason of everything on a cluster whose file's previous version is unknown.
pub fn unavailable_reason(why: &str) -> String {
    format!("{CLUSTER_FILE_REASON} (previous version unavailable: {why})")
}

impl ClusterEdit {
    /// Why `part` upgrades because of this edit; `None` when the edit did not touch it.
    pub fn reason(&self, part: Part<'_>) -> Option<String> {
        let diff = match self {
            ClusterEdit::Unknown(why) => return Some(unavailable_reason(why)),
            ClusterEdit::Known(diff) if diff.whole_cluster => return Some(CLUSTER_FILE_REASON.to_owned()),
            ClusterEdit::Known(diff) => diff,
        };
        match part {
            Part::Support => diff.support.then(|| SUPPORT_BLOCK_REASON.to_owned()),
            Part::Hub(name) => {
                diff.hubs.iter().find(|(hub, _)| hub == name).map(|(_, change)| hub_reason(name, *change))
            }
        }
    }

    /// The keys no release reads that the edit changed, when they are all it changed.
    pub fn only_unread_keys(&self) -> Option<&[String]> {
        match self {
            ClusterEdit::Known(diff)
                if !diff.whole_cluster
                    && !diff.support
                    && diff.hubs.is_empty()
                    && diff.removed_hubs.is_empty()
                    && !diff.unread.is_empty() =>
            {
                Some(&diff.unread)
            }
            _ => None,
        }
    }

    /// The hubs the edit removed.
    pub fn removed_hubs(&self) -> &[String] {
        match self {
            ClusterEdit::Unknown(_) => &[],
            ClusterEdit::Known(diff) => &diff.removed_hubs,
        }
    }
}

/// What changed from `previous` to the `current` text of one cluster file.
pub fn edit(previous: &PreviousVersion, current: &str) -> ClusterEdit {
    match previous {
        PreviousVersion::Unavailable(why) => ClusterEdit::Unknown(why.clone()),
        PreviousVersion::Text(previous) => diff(previous, current),
    }
}

/// Compares two texts of one cluster file.
pub fn diff(previous: &str, current: &str) -> ClusterEdit {
    let previous = match top_level(previous) {
        Ok(mapping) => mapping,
        Err(what) => return ClusterEdit::Unknown(format!("the previous version {what}")),
    };
    let current = match top_level(current) {
        Ok(mapping) => mapping,
        Err(what) => return ClusterEdit::Unknown(format!("the current version {what}")),
    };
    let mut diff = FileDiff {
        whole_cluster: other_fields(&previous) != other_fields(&current),
        support: field(&previous, SUPPORT) != field(&current, SUPPORT),
        ..FileDiff::default()
    };
    for key in UNREAD_TOP {
        if field(&previous, key) != field(&current, key) {
            diff.unread.push((*key).to_owned());
        }
    }
    for (block, keys) in UNREAD_PROVIDER {
        for key in *keys {
            if provider_key(&previous, block, key) != provider_key(&current, block, key) {
                diff.unread.push(format!("{block}.{key}"));
            }
        }
    }
    match (hub_entries(&previous), hub_entries(&current)) {
        (Some(before), Some(after)) => {
            for (name, entry) in &after {
                match before.iter().find(|(old, _)| old == name) {
                    None => diff.hubs.push((name.clone(), HubChange::Added)),
                    Some((_, old)) if read_part(old) != read_part(entry) => {
                        diff.hubs.push((name.clone(), HubChange::Modified))
                    }
                    Some((_, old)) => {
                        for key in UNREAD_HUB {
                            if old.get(key) != entry.get(key) {
                                diff.unread.push(format!("hubs[{name}].{key}"));
                            }
                        }
                    }
                }
            }
            diff.removed_hubs = before
                .iter()
                .filter(|(old, _)| !after.iter().any(|(name, _)| name == old))
                .map(|(n, _)| n.clone())
                .collect();
        }
        // Entries that cannot be told apart by name: the hub lists cannot be compared entry by entry.
        _ => diff.whole_cluster = true,
    }
    ClusterEdit::Known(diff)
}

const HUBS: &str = "hubs";
const SUPPORT: &str = "support";

/// Top-level keys no release reads.
const UNREAD_TOP: &[&str] = &["metadata", "tenancy"];
/// Keys of a hub entry no release reads.
const UNREAD_HUB: &[&str] = &["display_name"];
/// Keys of each provider block no release reads (the block's other keys reach jsonnet or the credentials).
const UNREAD_PROVIDER: &[(&str, &[&str])] = &[
    ("gcp", &["billing"]),
    ("aws", &["billing", "clusterType"]),
    ("azure", &["billing"]),
    ("kubeconfig", &["billing"]),
];

/// A key of a provider block (absent when the block is not a mapping).
fn provider_key<'a>(mapping: &'a Mapping, block: &str, key: &str) -> Option<&'a Value> {
    field(mapping, block)?.as_mapping()?.get(key).filter(|value| !value.is_null())
}

/// A value with the keys no release reads taken out of its mapping.
fn without(value: &Value, keys: &[&str]) -> Value {
    match value {
        Value::Mapping(mapping) => Value::Mapping(
            mapping
                .iter()
                .filter(|(key, _)| key.as_str().is_none_or(|key| !keys.contains(&key)))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A hub entry as far as releases read it.
fn read_part(entry: &Value) -> Value {
    without(entry, UNREAD_HUB)
}

/// The top-level mapping of a cluster file, or what is wrong with it.
fn top_level(text: &str) -> Result<Mapping, &'static str> {
    // Aliases would expand in a `Value`: such a text is not compared (the whole cluster is planned).
    if !crate::config::yaml_guard::is_bounded(text) {
        return Err("has YAML anchors, aliases or nesting deeper than 64");
    }
    match yaml_serde::from_str::<Value>(text) {
        Ok(Value::Mapping(mapping)) => Ok(mapping),
        Ok(_) => Err("is not a YAML mapping"),
        Err(_) => Err("is not valid YAML"),
    }
}

/// A top-level field; a null value counts as absent (`support:` and no `support` mean the same).
fn field<'a>(mapping: &'a Mapping, key: &str) -> Option<&'a Value> {
    mapping.get(key).filter(|value| !value.is_null())
}

/// Every top-level field but `hubs`, `support` and the keys no release reads (also those of the
/// provider blocks), nulls left out; compared without regard to order.
fn other_fields(mapping: &Mapping) -> Mapping {
    mapping
        .iter()
        .filter(|(key, value)| {
            !value.is_null()
                && key.as_str().is_none_or(|key| key != HUBS && key != SUPPORT && !UNREAD_TOP.contains(&key))
        })
        .map(|(key, value)| {
            let unread = UNREAD_PROVIDER.iter().find(|(block, _)| key.as_str() == Some(*block)).map(|(_, keys)| *keys);
            let value = match unread {
                Some(keys) => {
                    // A provider block: its unread keys out, and a block that held only those counts as absent.
                    let read = without(value, keys);
                    let emptied = read.as_mapping().is_some_and(Mapping::is_empty)
                        && value.as_mapping().is_some_and(|m| !m.is_empty());
                    if emptied {
                        Value::Null
                    } else {
                        read
                    }
                }
                None => value.clone(),
            };
            (key.clone(), value)
        })
        .filter(|(_, value)| !value.is_null())
        .collect()
}

/// The hub entries by name, in order; `None` when they cannot be matched by
/// name (not a list, an entry that is not a mapping with a text `name`, or a name used twice).
fn hub_entries(mapping: &Mapping) -> Option<Vec<(String, &Value)>> {
    let entries = match field(mapping, HUBS) {
        None => return Some(Vec::new()),
        Some(Value::Sequence(entries)) => entries,
        Some(_) => return None,
    };
    let mut named: Vec<(String, &Value)> = Vec::with_capacity(entries.len());
    for entry in entries {
        let name = entry.as_mapping()?.get("name")?.as_str()?;
        if named.iter().any(|(seen, _)| seen == name) {
            return None;
        }
        named.push((name.to_owned(), entry));
    }
    Some(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "\
name: c1
provider: gcp
gcp:
  project: p
  cluster: c
  zone: z
support:
  helm_chart_values_files:
    - support.values.yaml
hubs:
  - name: staging
    helm_chart_values_files: [common.yaml, staging.yaml]
  - name: prod
    helm_chart_values_files: [common.yaml, prod.yaml]
";

    fn changed(from: &str, to: &str) -> String {
        assert!(BASE.contains(from), "{from:?} is in the base text");
        BASE.replacen(from, to, 1)
    }

    fn known(whole: bool, support: bool, hubs: &[(&str, HubChange)], removed: &[&str]) -> ClusterEdit {
        ClusterEdit::Known(FileDiff {
            whole_cluster: whole,
            support,
            hubs: hubs.iter().map(|(name, change)| ((*name).to_owned(), *change)).collect(),
            removed_hubs: removed.iter().map(|name| (*name).to_owned()).collect(),
            unread: Vec::new(),
        })
    }

    #[test]
    fn keys_no_release_reads_touch_nothing_and_are_named() {
        let unread = |current: String| match diff(BASE, &current) {
            ClusterEdit::Known(diff) => diff,
            other => panic!("{other:?}"),
        };
        let edit = unread(changed("  zone: z\n", "  zone: z\n  billing: {paid_by: x}\n"));
        assert_eq!(edit.unread, ["gcp.billing"]);
        assert!(!edit.whole_cluster && !edit.support && edit.hubs.is_empty());
        let edit = diff(
            BASE,
            &format!(
                "metadata: {{owner: a}}\ntenancy: shared\n{}",
                changed("  - name: prod\n", "  - name: prod\n    display_name: Prod\n")
            ),
        );
        assert_eq!(
            edit.only_unread_keys().map(<[String]>::to_vec),
            Some(vec!["metadata".to_owned(), "tenancy".to_owned(), "hubs[prod].display_name".to_owned()])
        );
        // Keys that reach a release keep planning: a hub's domain, chart_override,
        // domain_override_file, and the provider block's names that jsonnet receives.
        for (from, to) in [
            ("  - name: prod\n", "  - name: prod\n    domain: prod.example.org\n"),
            ("  - name: prod\n", "  - name: prod\n    chart_override: chart.yaml\n"),
            ("  - name: prod\n", "  - name: prod\n    domain_override_file: domain.yaml\n"),
            ("  - name: prod\n", "  - name: prod\n    display_name: Prod\n    domain: prod.example.org\n"),
        ] {
            let edit = diff(BASE, &changed(from, to));
            assert_eq!(edit.only_unread_keys(), None, "{to}");
            assert_eq!(
                edit.reason(Part::Hub("prod")).as_deref(),
                Some("cluster.yaml: hub entry prod was modified"),
                "{to}"
            );
        }
        for (from, to) in [
            ("project: p", "project: q"),
            ("cluster: c", "cluster: d"),
            ("  zone: z\n", "  zone: z\n  billing: 1\n  account: a\n"),
            // `clusterType` goes unread in an `aws` block only.
            ("  zone: z\n", "  zone: z\n  clusterType: x\n"),
        ] {
            let edit = diff(BASE, &changed(from, to));
            assert_eq!(edit.only_unread_keys(), None, "{to}");
            assert_eq!(edit.reason(Part::Support).as_deref(), Some("cluster.yaml file was modified"), "{to}");
        }
        // A provider block holding only unread keys, added: still nothing read changed.
        let edit = diff(BASE, &format!("{BASE}aws:\n  billing: x\n"));
        assert_eq!(edit.only_unread_keys().map(<[String]>::to_vec), Some(vec!["aws.billing".to_owned()]));
        let edit = diff(BASE, &format!("{BASE}aws:\n  clusterType: eks\n"));
        assert_eq!(edit.only_unread_keys().map(<[String]>::to_vec), Some(vec!["aws.clusterType".to_owned()]));
        // An unread key and a read one: the read one plans, and the edit is not unread-only.
        let edit = diff(BASE, &format!("metadata: 1\n{}", changed("zone: z", "zone: y")));
        assert_eq!(edit.only_unread_keys(), None);
    }

    #[test]
    fn diff_table() {
        use HubChange::{Added, Modified};
        let nothing = known(false, false, &[], &[]);
        let cases: Vec<(&str, String, ClusterEdit)> = vec![
            ("identical", BASE.to_owned(), nothing.clone()),
            ("comments and formatting", format!("# a comment\n{}", BASE.replace("[common.yaml, prod.yaml]", "\n      - common.yaml\n      - prod.yaml")), nothing.clone()),
            ("hubs reordered", BASE.replace(
                "  - name: staging\n    helm_chart_values_files: [common.yaml, staging.yaml]\n  - name: prod\n    helm_chart_values_files: [common.yaml, prod.yaml]\n",
                "  - name: prod\n    helm_chart_values_files: [common.yaml, prod.yaml]\n  - name: staging\n    helm_chart_values_files: [common.yaml, staging.yaml]\n"), nothing.clone()),
            ("top-level keys reordered", format!("provider: gcp\n{}", BASE.replace("provider: gcp\n", "")), nothing.clone()),
            ("keys inside an entry reordered", changed("  - name: prod\n    helm_chart_values_files: [common.yaml, prod.yaml]\n", "  - helm_chart_values_files: [common.yaml, prod.yaml]\n    name: prod\n"), nothing.clone()),
            ("hub added", format!("{BASE}  - name: new\n"), known(false, false, &[("new", Added)], &[])),
            ("hub values file added", changed("[common.yaml, prod.yaml]", "[common.yaml, prod.yaml, extra.yaml]"), known(false, false, &[("prod", Modified)], &[])),
            ("values files reordered", changed("[common.yaml, prod.yaml]", "[prod.yaml, common.yaml]"), known(false, false, &[("prod", Modified)], &[])),
            ("hub chart set", changed("  - name: prod\n", "  - name: prod\n    helm_chart: daskhub\n"), known(false, false, &[("prod", Modified)], &[])),
            ("unknown key in a hub", changed("  - name: staging\n", "  - name: staging\n    owner: team-a\n"), known(false, false, &[("staging", Modified)], &[])),
            ("hub removed", changed("  - name: prod\n    helm_chart_values_files: [common.yaml, prod.yaml]\n", ""), known(false, false, &[], &["prod"])),
            ("hub renamed", changed("name: prod", "name: prod2"), known(false, false, &[("prod2", Added)], &["prod"])),
            ("support edited", changed("    - support.values.yaml\n", "    - support.values.yaml\n    - more.yaml\n"), known(false, true, &[], &[])),
            ("support removed", changed("support:\n  helm_chart_values_files:\n    - support.values.yaml\n", ""), known(false, true, &[], &[])),
            ("support null is no support", changed("support:\n  helm_chart_values_files:\n    - support.values.yaml\n", "support:\n"), known(false, true, &[], &[])),
            ("support and a hub", changed("support.values.yaml", "s.yaml").replace("prod.yaml]", "p.yaml]"), known(false, true, &[("prod", Modified)], &[])),
            ("provider", changed("provider: gcp", "provider: aws"), known(true, false, &[], &[])),
            ("name", changed("name: c1", "name: c2"), known(true, false, &[], &[])),
            ("access block", changed("zone: z", "zone: y"), known(true, false, &[], &[])),
            ("access block added", format!("{BASE}kubeconfig:\n  file: k.yaml\n"), known(true, false, &[], &[])),
            ("unknown top-level key", format!("owner: team-a\n{BASE}"), known(true, false, &[], &[])),
            ("null top-level key is absent", format!("owner:\n{BASE}"), nothing.clone()),
            ("provider and a hub removed", changed("provider: gcp", "provider: aws").replace("  - name: prod\n    helm_chart_values_files: [common.yaml, prod.yaml]\n", ""), known(true, false, &[], &["prod"])),
            ("hub list no longer matchable", changed("  - name: prod\n", "  - name: staging\n"), known(true, false, &[], &[])),
            ("hubs emptied", BASE.split("hubs:").next().unwrap_or_default().to_owned(), known(false, false, &[], &["staging", "prod"])),
        ];
        for (name, current, expected) in cases {
            assert_eq!(diff(BASE, &current), expected, "{name}:\n{current}");
        }
        // From a file with no hubs to one with hubs: every hub is added.
        let no_hubs = format!("{}hubs:\n", BASE.split("hubs:").next().unwrap_or_default());
        assert_eq!(diff(&no_hubs, BASE), known(false, false, &[("staging", Added), ("prod", Added)], &[]));
    }

    #[test]
    fn unreadable_versions_are_unknown() {
        let cases = [
            ("name: [\n", BASE, "the previous version is not valid YAML"),
            ("- a\n- b\n", BASE, "the previous version is not a YAML mapping"),
            ("", BASE, "the previous version is not a YAML mapping"),
            ("just text", BASE, "the previous version is not a YAML mapping"),
            (BASE, "name: [\n", "the current version is not valid YAML"),
        ];
        for (previous, current, why) in cases {
            assert_eq!(diff(previous, current), ClusterEdit::Unknown(why.into()), "{previous:?}");
        }
        // Malformed hub lists in the previous version cannot be matched: the whole cluster.
        for hubs in [
            "hubs: {a: 1}\n",
            "hubs:\n  - just-a-name\n",
            "hubs:\n  - name: a\n  - name: a\n",
            "hubs:\n  - name: [x]\n",
        ] {
            let previous = format!("name: c1\nprovider: gcp\n{hubs}");
            assert_eq!(
                diff(&previous, "name: c1\nprovider: gcp\nhubs:\n  - name: a\n"),
                known(true, false, &[], &[]),
                "{hubs}"
            );
        }
    }

    #[test]
    fn reasons() {
        let unknown = edit(&PreviousVersion::Unavailable("not in the base commit".into()), BASE);
        let expected = "cluster.yaml file was modified (previous version unavailable: not in the base commit)";
        assert_eq!(unknown.reason(Part::Support).as_deref(), Some(expected));
        assert_eq!(unknown.reason(Part::Hub("prod")).as_deref(), Some(expected));
        assert!(unknown.removed_hubs().is_empty());

        let whole = known(true, false, &[], &["gone"]);
        assert_eq!(whole.reason(Part::Hub("any")).as_deref(), Some("cluster.yaml file was modified"));
        assert_eq!(whole.reason(Part::Support).as_deref(), Some("cluster.yaml file was modified"));
        assert_eq!(whole.removed_hubs(), ["gone"]);

        let parts = known(false, true, &[("new", HubChange::Added), ("prod", HubChange::Modified)], &[]);
        assert_eq!(parts.reason(Part::Support).as_deref(), Some("cluster.yaml: support block was modified"));
        assert_eq!(parts.reason(Part::Hub("new")).as_deref(), Some("cluster.yaml: hub entry new was added"));
        assert_eq!(parts.reason(Part::Hub("prod")).as_deref(), Some("cluster.yaml: hub entry prod was modified"));
        assert_eq!(parts.reason(Part::Hub("staging")), None);
        assert_eq!(known(false, false, &[], &[]).reason(Part::Support), None);

        let text = edit(&PreviousVersion::Text(BASE.into()), &format!("{BASE}  - name: new\n"));
        assert_eq!(text, known(false, false, &[("new", HubChange::Added)], &[]));
    }
}

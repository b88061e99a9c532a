//! Properties of planning (issue 27): planning never plans less when more changes. Over real repository
//! fixtures (several clusters, staging and prod hubs, support charts, chart-level values, jsonnet, `before`
//! steps, health-check rules, rollout waves with pins, `impact: chart-dependencies`, renamed labels):
//!
//! - More changes, never less: adding changed paths, or labels that are not skip labels, never removes a
//!   job: no support chart, staging hub, prod hub, health check, `before` note or removed-hub note goes away
//!   (the cluster edits, rollout pin edits and a forced plan held fixed). The skip labels (`skip-deploy`,
//!   `skip-deploy-hubs`, by the names the settings give them) are the documented exception and are never
//!   added; in the base change they may appear, and then the property says that what a skip label leaves
//!   planned stays planned whatever else is added (a skipped plan stays a subset of what is added to it).
//! - Deterministic, and blind to order: the same change planned twice gives the same plan, and shuffling
//!   the changed paths and the labels gives the same jobs with the same reasons (warnings as a multiset).
//! - Never less when unsure, for `cluster.yaml` edits (`planning::cluster_edits`): a changed cluster file
//!   with no previous version looked up, or an unknown one (`ClusterEdit::Unknown`), or one whose edit
//!   touched the whole cluster, plans the whole cluster: the same jobs, and at least those of any compared
//!   edit (from a real diff of a mutated `cluster.yaml`, or any edit); an edit touching more parts plans at
//!   least as much as one touching fewer.
//! - Never less when unsure, for the rollout state file (`planning::pin_edits`): an edit that could not be
//!   compared (`PinEdits::Unknown`) plans at least what any moved pins plan, more moved pins plan at least
//!   what fewer do, and an unchanged file plans least.
//! - A forced plan (`deploy-all`, or an incomplete change list) plans at least what any change plans under
//!   the same labels.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use deployer::config::charts::ChartInputs;
use deployer::config::labels::{Label, Labels, LABELS, LABEL_COUNT};
use deployer::config::load::{load, load_chart_inputs, load_settings, LoadOptions};
use deployer::config::rollout::Pins;
use deployer::config::{Estate, Settings};
use deployer::planning::changes::ChangeSet;
use deployer::planning::cluster_edits::{edit, ClusterEdit, FileDiff, HubChange, PreviousVersion};
use deployer::planning::pin_edits::PinEdits;
use deployer::planning::plan::{plan_with_pins, ClusterEdits, Plan};
use proptest::prelude::*;
use proptest::sample::Index;

/// Cases per property: every fixture, many path and label mixes; the binary runs in about 10 s debug.
const CASES: u32 = 1000;
/// A failing case is shrunk for at most this long (milliseconds), then reported as shrunk so far.
const MAX_SHRINK_MS: u32 = 30_000;

/// The fixtures, repository-relative to this crate, and whether their labels are renamed.
const FIXTURES: &[(&str, bool)] = &[
    ("tests/fixtures/conformance/repo", false),
    ("tests/fixtures/conformance/repo", true),
    ("tests/fixtures/reference/repo", false),
    ("tests/fixtures/rollout/repo", false),
    ("tests/fixtures/health-checks/repo", false),
    ("tests/fixtures/chart-dependencies/repo", false),
    ("tests/fixtures/dropin-jsonnet", false),
];

/// One repository, loaded as `deployer generate` loads it, with the paths worth changing in it.
struct Fixture {
    name: String,
    estate: Estate,
    charts: ChartInputs,
    settings: Settings,
    pins: Option<Pins>,
    /// Each cluster's `cluster.yaml` text, in estate order.
    cluster_texts: Vec<String>,
    /// Every file of the repository, and the paths a plan reads (values files, cluster files, chart
    /// folders, health-check paths, the rollout state file), repository-relative.
    paths: Vec<String>,
    /// The labels the settings name, and lookalikes.
    labels: Vec<String>,
    /// The names of the skip labels.
    skip_labels: [String; 2],
    /// Every (chart, wave) pair a pin edit could move, and a few that are none.
    pin_pairs: Vec<(String, String)>,
}

fn files_under(root: &Path, dir: &Path, found: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files_under(root, &path, found);
        } else if let Ok(relative) = path.strip_prefix(root) {
            found.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Labels renamed away from their defaults (skip labels among them).
fn renamed_labels() -> Labels {
    let mut names: [Option<String>; LABEL_COUNT] = Default::default();
    for (index, rule) in LABELS.iter().enumerate() {
        names[index] = Some(format!("ship/{}", rule.key.replace('_', " ")));
    }
    Labels::with_names(names)
}

fn load_fixture(relative: &str, renamed: bool) -> Fixture {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    let mut settings = load_settings(&repo, None).expect("settings");
    if renamed {
        settings.labels = renamed_labels();
    }
    let loaded = load(&repo, &settings, LoadOptions::default()).expect("estate");
    assert!(loaded.blocked.is_empty(), "{relative}: blocked clusters");
    let estate = loaded.estate;
    let charts = load_chart_inputs(&repo, &estate).expect("chart inputs");
    let cluster_texts =
        estate.clusters.iter().map(|c| std::fs::read_to_string(repo.join(&c.file)).expect("cluster file")).collect();

    let mut paths = Vec::new();
    files_under(&repo, &repo, &mut paths);
    for cluster in &estate.clusters {
        paths.push(cluster.file.clone());
        paths.push(format!("{}/enc-new.secret.values.yaml", cluster.dir));
        paths.push(format!("terraform/{}/projects/{}.tfvars", cluster.infrastructure_provider, cluster.name));
        paths.push(format!("terraform/{}/modules/main.tf", cluster.infrastructure_provider));
        paths.push(format!("eksctl/{}.jsonnet", cluster.name));
        for file in cluster.support.iter().flat_map(|s| &s.values_files) {
            paths.push(file.path.clone());
        }
        for hub in &cluster.hubs {
            paths.extend(hub.values_files.iter().map(|f| f.path.clone()));
            paths.extend(hub.chart_override.iter().map(|o| o.file.clone()));
            paths.extend(hub.domain_override_file.iter().cloned());
            paths.push(format!("helm-charts/{}/templates/new.yaml", hub.helm_chart));
        }
    }
    paths.push("helm-charts/support/templates/new.yaml".into());
    let mut pin_pairs = vec![("basehub".to_owned(), "no-such-wave".to_owned())];
    if let Some(rollout) = &settings.rollout {
        paths.push(rollout.state_file.clone());
        for chart in &rollout.charts {
            pin_pairs.extend(rollout.waves.iter().map(|wave| (chart.clone(), wave.name.clone())));
        }
    }
    paths.sort();
    paths.dedup();

    let mut labels: Vec<String> = settings.labels.all().map(|(_, name)| name.to_owned()).collect();
    for rule in LABELS {
        labels.push(rule.default_name.to_owned());
        labels.push(rule.default_name.to_uppercase());
        labels.push(format!("{} ", rule.default_name));
    }
    labels.extend(["bug", "deployer:", "deployer:deploy-hub", "documentation"].map(str::to_owned));
    labels.sort();
    labels.dedup();
    let skip_labels =
        [settings.labels.name(Label::SkipDeploy).to_owned(), settings.labels.name(Label::SkipDeployHubs).to_owned()];
    let name = if renamed { format!("{relative} (renamed labels)") } else { relative.to_owned() };
    Fixture {
        name,
        estate,
        charts,
        settings,
        pins: loaded.rollout_pins,
        cluster_texts,
        paths,
        labels,
        skip_labels,
        pin_pairs,
    }
}

fn fixtures() -> &'static [Fixture] {
    static FIXTURES_LOADED: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES_LOADED.get_or_init(|| FIXTURES.iter().map(|(dir, renamed)| load_fixture(dir, *renamed)).collect())
}

/// What a plan plans, as sets, to compare plans by inclusion.
#[derive(Debug, Default, PartialEq, Eq)]
struct Jobs {
    support: BTreeSet<String>,
    staging_clusters: BTreeSet<String>,
    staging: BTreeSet<(String, String)>,
    prod: BTreeSet<(String, String)>,
    staging_checks: BTreeSet<(String, String)>,
    prod_checks: BTreeSet<(String, String)>,
    before_steps: BTreeSet<(String, String)>,
    removed_hubs: BTreeSet<(String, String)>,
}

impl Jobs {
    fn of(plan: &Plan) -> Jobs {
        let pair = |cluster: &str, hub: &str| (cluster.to_owned(), hub.to_owned());
        let mut jobs = Jobs::default();
        for job in &plan.support_and_staging {
            if job.upgrade_support {
                jobs.support.insert(job.cluster_name.clone());
            }
            if job.upgrade_staging {
                jobs.staging_clusters.insert(job.cluster_name.clone());
            }
            jobs.staging.extend(job.staging_hubs.iter().map(|hub| pair(&job.cluster_name, hub)));
        }
        jobs.prod.extend(plan.prod_hubs.iter().map(|j| pair(&j.cluster_name, &j.hub_name)));
        jobs.staging_checks.extend(plan.staging_checks.iter().map(|j| pair(&j.cluster_name, &j.hub_name)));
        jobs.prod_checks.extend(plan.prod_checks.iter().map(|j| pair(&j.cluster_name, &j.hub_name)));
        for note in &plan.before_steps {
            jobs.before_steps.extend(note.charts.iter().map(|chart| pair(&note.cluster_name, chart)));
        }
        jobs.removed_hubs.extend(plan.removed_hubs.iter().map(|r| pair(&r.cluster_name, &r.hub_name)));
        jobs
    }

    /// What `self` plans that `more` does not, named; empty when `more` plans at least as much.
    fn lost_in(&self, more: &Jobs) -> Vec<String> {
        fn lost<T: Ord + std::fmt::Debug>(what: &str, less: &BTreeSet<T>, more: &BTreeSet<T>) -> Vec<String> {
            less.difference(more).map(|item| format!("{what} {item:?}")).collect()
        }
        [
            lost("support chart", &self.support, &more.support),
            lost("staging of cluster", &self.staging_clusters, &more.staging_clusters),
            lost("staging hub", &self.staging, &more.staging),
            lost("prod hub", &self.prod, &more.prod),
            lost("staging health check", &self.staging_checks, &more.staging_checks),
            lost("prod health check", &self.prod_checks, &more.prod_checks),
            lost("before steps of", &self.before_steps, &more.before_steps),
            lost("removed-hub note", &self.removed_hubs, &more.removed_hubs),
        ]
        .concat()
    }

    /// The same, leaving out the removed-hub notes (which only an edit's comparison finds).
    fn without_notes(mut self) -> Jobs {
        self.removed_hubs.clear();
        self
    }
}

/// Everything a plan is made from besides the changed paths and labels.
#[derive(Debug, Clone)]
struct Context {
    fixture: usize,
    edits: ClusterEdits,
    pin_edits: PinEdits,
    force_all: Option<String>,
}

fn plan_of(context: &Context, paths: &[String], labels: &[String]) -> Plan {
    plan_edited(context, &context.edits, &context.pin_edits, paths, labels)
}

fn plan_edited(
    context: &Context,
    edits: &ClusterEdits,
    pin_edits: &PinEdits,
    paths: &[String],
    labels: &[String],
) -> Plan {
    let fixture = &fixtures()[context.fixture];
    let changes = ChangeSet::new(paths, labels.iter().cloned()).with_force_all(context.force_all.clone());
    plan_with_pins(
        &fixture.estate,
        &fixture.charts,
        &fixture.settings,
        &changes,
        edits,
        fixture.pins.as_ref(),
        pin_edits,
    )
}

// The strategies draw indices and texts, not values of one fixture: `Draw::resolve` turns them into
// paths, labels and edits of the drawn fixture. (Strategies built from the fixture with `prop_flat_map`
// shrink very slowly: every step recomputes the nested values, YAML comparisons among them.)

/// A changed path, resolved against a fixture.
#[derive(Debug, Clone)]
enum PathDraw {
    /// A file of the repository or a path a plan reads.
    Known(Index),
    /// The same, spelled oddly: a prefix and a suffix around it.
    Decorated(Index, Index, Index),
    /// Any name in a cluster's folder.
    InCluster(Index, String),
    /// Any path in a chart's folder.
    InChart(Index, String),
    /// Any path.
    Any(String),
}

const PREFIXES: &[&str] = &["./", " ", "/", "a/../", "././", "x/"];
const SUFFIXES: &[&str] = &["", "/", " ", "\n", "~", ".bak"];
const CHARTS: &[&str] = &["basehub", "daskhub", "support", "images", "plainhub"];

fn path() -> impl Strategy<Value = PathDraw> {
    prop_oneof![
        6 => any::<Index>().prop_map(PathDraw::Known),
        2 => (any::<Index>(), any::<Index>(), any::<Index>()).prop_map(|(p, b, a)| PathDraw::Decorated(p, b, a)),
        2 => (any::<Index>(), "[a-z.-]{1,12}").prop_map(|(c, name)| PathDraw::InCluster(c, name)),
        2 => (any::<Index>(), "[a-zA-Z0-9_./-]{0,20}").prop_map(|(c, rest)| PathDraw::InChart(c, rest)),
        1 => "[a-zA-Z0-9_./ -]{0,30}".prop_map(PathDraw::Any),
        1 => "\\PC{0,16}".prop_map(PathDraw::Any),
    ]
}

/// A label: the deployer's (by the fixture's names), their default names and lookalikes, or any text.
#[derive(Debug, Clone)]
enum LabelDraw {
    Known(Index),
    Any(String),
}

fn label() -> impl Strategy<Value = LabelDraw> {
    prop_oneof![
        4 => any::<Index>().prop_map(LabelDraw::Known),
        1 => "deployer:[a-z-]{0,16}".prop_map(LabelDraw::Any),
        1 => "\\PC{0,12}".prop_map(LabelDraw::Any),
    ]
}

/// Changed paths and labels.
type Change = (Vec<String>, Vec<String>);

fn change() -> impl Strategy<Value = (Vec<PathDraw>, Vec<LabelDraw>)> {
    (proptest::collection::vec(path(), 0..10), proptest::collection::vec(label(), 0..4))
}

/// An edit of one cluster file: unknown, any comparison, or the real comparison with a mutated text.
#[derive(Debug, Clone)]
enum EditDraw {
    Unknown(String),
    /// Whole cluster, support, (hub, added), removed hubs; `gone` among the hubs.
    Diff(bool, bool, Vec<(Index, bool)>, Vec<Index>),
    /// A previous version: a line of the current text dropped, changed, doubled, or a line added, or none.
    Mutated(Index, usize, String),
}

fn cluster_edit() -> impl Strategy<Value = (Index, EditDraw)> {
    let edit = prop_oneof![
        1 => "[a-z ]{0,12}".prop_map(EditDraw::Unknown),
        2 => (
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec((any::<Index>(), any::<bool>()), 0..3),
            proptest::collection::vec(any::<Index>(), 0..2),
        )
            .prop_map(|(whole, support, hubs, removed)| EditDraw::Diff(whole, support, hubs, removed)),
        2 => (any::<Index>(), 0usize..5, "[a-z0-9: -]{0,12}").prop_map(|(l, how, text)| EditDraw::Mutated(l, how, text)),
    ];
    (any::<Index>(), edit)
}

/// A previous version of `current`: one line dropped, changed, doubled or added, or none at all.
fn mutated(current: &str, line: usize, how: usize, text: &str) -> PreviousVersion {
    let mut lines: Vec<String> = current.lines().map(str::to_owned).collect();
    let line = line.min(lines.len().saturating_sub(1));
    match how {
        0 if !lines.is_empty() => {
            lines.remove(line);
        }
        1 if !lines.is_empty() => {
            let indent: String = lines[line].chars().take_while(|c| *c == ' ' || *c == '-').collect();
            lines[line] = format!("{indent}{text}");
        }
        2 if !lines.is_empty() => {
            let copy = lines[line].clone();
            lines.insert(line, copy);
        }
        3 => lines.push(format!("{text}: 1")),
        _ => return PreviousVersion::Unavailable(text.to_owned()),
    }
    PreviousVersion::Text(lines.join("\n"))
}

/// An edit of the rollout state file.
#[derive(Debug, Clone)]
enum PinDraw {
    Unchanged,
    Moved(Vec<Index>),
    Unknown(String),
}

fn pin_edit() -> impl Strategy<Value = PinDraw> {
    prop_oneof![
        3 => Just(PinDraw::Unchanged),
        2 => proptest::collection::vec(any::<Index>(), 0..4).prop_map(PinDraw::Moved),
        1 => "[a-z ]{0,12}".prop_map(PinDraw::Unknown),
    ]
}

/// A fixture, its cluster edits, its pin edit, a forced plan's reason, a base change and more.
#[derive(Debug, Clone)]
struct Draw {
    fixture: usize,
    edits: Vec<(Index, EditDraw)>,
    pin_edit: PinDraw,
    force_all: Option<String>,
    base: (Vec<PathDraw>, Vec<LabelDraw>),
    more: (Vec<PathDraw>, Vec<LabelDraw>),
}

fn draw() -> impl Strategy<Value = Draw> {
    (
        0..FIXTURES.len(),
        proptest::collection::vec(cluster_edit(), 0..3),
        pin_edit(),
        proptest::option::weighted(0.15, "[a-z ]{1,10}"),
        change(),
        change(),
    )
        .prop_map(|(fixture, edits, pin_edit, force_all, base, more)| Draw {
            fixture,
            edits,
            pin_edit,
            force_all,
            base,
            more,
        })
}

impl Draw {
    /// The context, the base change and the change to add, of the drawn fixture.
    fn resolve(&self) -> (Context, Change, Change) {
        let fixture = &fixtures()[self.fixture];
        let clusters = &fixture.estate.clusters;
        let mut edits = ClusterEdits::new();
        for (cluster, drawn) in &self.edits {
            let index = cluster.index(clusters.len());
            let cluster = &clusters[index];
            let hubs: Vec<String> = cluster.hubs.iter().map(|h| h.name.clone()).chain(["gone".to_owned()]).collect();
            let hub = |i: &Index| hubs[i.index(hubs.len())].clone();
            let resolved = match drawn {
                EditDraw::Unknown(why) => ClusterEdit::Unknown(why.clone()),
                EditDraw::Diff(whole_cluster, support, changed, removed) => ClusterEdit::Known(FileDiff {
                    whole_cluster: *whole_cluster,
                    support: *support,
                    hubs: changed
                        .iter()
                        .map(|(h, added)| (hub(h), if *added { HubChange::Added } else { HubChange::Modified }))
                        .collect(),
                    removed_hubs: removed.iter().map(hub).collect(),
                    unread: Vec::new(),
                }),
                EditDraw::Mutated(line, how, text) => {
                    let current = &fixture.cluster_texts[index];
                    let line = line.index(current.lines().count().max(1));
                    edit(&mutated(current, line, *how, text), current)
                }
            };
            edits.insert(cluster.file.clone(), resolved);
        }
        let pin_edits = match &self.pin_edit {
            PinDraw::Unchanged => PinEdits::Unchanged,
            PinDraw::Moved(pairs) => PinEdits::Moved(
                pairs.iter().map(|i| fixture.pin_pairs[i.index(fixture.pin_pairs.len())].clone()).collect(),
            ),
            PinDraw::Unknown(why) => PinEdits::Unknown(why.clone()),
        };
        let context = Context { fixture: self.fixture, edits, pin_edits, force_all: self.force_all.clone() };
        (context, resolve_change(fixture, &self.base), resolve_change(fixture, &self.more))
    }
}

fn resolve_change(fixture: &Fixture, (paths, labels): &(Vec<PathDraw>, Vec<LabelDraw>)) -> Change {
    let pick = |list: &[String], i: &Index| list[i.index(list.len())].clone();
    let dirs: Vec<String> = fixture.estate.clusters.iter().map(|c| c.dir.clone()).collect();
    let paths = paths
        .iter()
        .map(|draw| match draw {
            PathDraw::Known(i) => pick(&fixture.paths, i),
            PathDraw::Decorated(p, before, after) => format!(
                "{}{}{}",
                PREFIXES[before.index(PREFIXES.len())],
                pick(&fixture.paths, p),
                SUFFIXES[after.index(SUFFIXES.len())]
            ),
            PathDraw::InCluster(c, name) => format!("{}/{name}", pick(&dirs, c)),
            PathDraw::InChart(c, rest) => format!("helm-charts/{}/{rest}", CHARTS[c.index(CHARTS.len())]),
            PathDraw::Any(path) => path.clone(),
        })
        .collect();
    let labels = labels
        .iter()
        .map(|draw| match draw {
            LabelDraw::Known(i) => pick(&fixture.labels, i),
            LabelDraw::Any(label) => label.clone(),
        })
        .collect();
    (paths, labels)
}

/// The plan with its warnings in a fixed order (they are notes, not jobs), and the health checks' reasons
/// without the changed paths they name: those are named in the order the change lists them.
fn canonical(mut plan: Plan) -> Plan {
    plan.warnings.sort_by_key(|warning| format!("{warning:?}"));
    for check in plan.staging_checks.iter_mut().chain(plan.prod_checks.iter_mut()) {
        if check.reason_for_health_check.starts_with("Infrastructure of ") {
            let more = check.reason_for_health_check.strip_suffix(" more").and_then(|named| named.rsplit(' ').next());
            let kind = check.reason_for_health_check.split_once(": ").map(|(kind, _)| kind.to_owned());
            check.reason_for_health_check = format!("{kind:?}, named paths elided, and {more:?} more");
        }
    }
    plan
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, max_shrink_time: MAX_SHRINK_MS, ..ProptestConfig::default() })]

    #[test]
    fn more_changes_never_plan_less(
        draw in draw(),
    ) {
        let (context, (paths, labels), (more_paths, more_labels)) = draw.resolve();
        let fixture = &fixtures()[context.fixture];
        let more_labels: Vec<String> =
            more_labels.into_iter().filter(|label| !fixture.skip_labels.contains(label)).collect();
        let base = plan_of(&context, &paths, &labels);
        let all_paths = [paths.clone(), more_paths].concat();
        let all_labels = [labels.clone(), more_labels].concat();
        let more = plan_of(&context, &all_paths, &all_labels);
        let lost = Jobs::of(&base).lost_in(&Jobs::of(&more));
        prop_assert!(
            lost.is_empty(),
            "{}: adding paths {:?} and labels {:?} to {:?} {:?} lost {:?}",
            fixture.name, &all_paths[paths.len()..], &all_labels[labels.len()..], paths, labels, lost
        );
    }

    #[test]
    fn planning_is_deterministic_and_blind_to_order(
        draw in draw(),
        shuffle in any::<Index>(),
    ) {
        let (context, (paths, labels), _) = draw.resolve();
        let fixture = &fixtures()[context.fixture];
        let first = plan_of(&context, &paths, &labels);
        prop_assert_eq!(&plan_of(&context, &paths, &labels), &first, "{}: planned twice", &fixture.name);
        // A rotation and a reversal: enough to move every element.
        let turn = |items: &[String]| {
            let mut items = items.to_vec();
            if !items.is_empty() {
                let by = shuffle.index(items.len());
                items.rotate_left(by);
                items.reverse();
            }
            items
        };
        let reordered = plan_of(&context, &turn(&paths), &turn(&labels));
        prop_assert_eq!(
            canonical(reordered),
            canonical(first),
            "{}: {:?} {:?} reordered",
            &fixture.name, paths, labels
        );
    }

    #[test]
    fn an_unsure_cluster_edit_never_plans_less(
        draw in draw(),
        widen in proptest::collection::vec((any::<bool>(), any::<bool>(), any::<Index>()), 0..3),
    ) {
        let (context, (paths, labels), _) = draw.resolve();
        let fixture = &fixtures()[context.fixture];
        // Every edited cluster file is among the changed paths, so that each edit counts.
        let paths: Vec<String> = paths.into_iter().chain(context.edits.keys().cloned()).collect();
        let pins = &context.pin_edits;
        let edited = Jobs::of(&plan_of(&context, &paths, &labels)).without_notes();
        let uncompared = Jobs::of(&plan_edited(&context, &ClusterEdits::new(), pins, &paths, &labels));
        let unknown: ClusterEdits =
            context.edits.keys().map(|file| (file.clone(), ClusterEdit::Unknown("unsure".into()))).collect();
        let unknown = Jobs::of(&plan_edited(&context, &unknown, pins, &paths, &labels));
        let whole: ClusterEdits = context
            .edits
            .keys()
            .map(|file| (file.clone(), ClusterEdit::Known(FileDiff { whole_cluster: true, ..FileDiff::default() })))
            .collect();
        let whole = Jobs::of(&plan_edited(&context, &whole, pins, &paths, &labels));
        // Not compared, unknown, whole cluster: the same jobs.
        prop_assert_eq!(&unknown, &uncompared, "{}: unknown edits {:?}", &fixture.name, context.edits.keys());
        prop_assert_eq!(&whole, &uncompared, "{}: whole-cluster edits", &fixture.name);
        let lost = edited.lost_in(&uncompared);
        prop_assert!(lost.is_empty(), "{}: edits {:?} of {:?} plan {:?} that no comparison does", &fixture.name, context.edits, paths, lost);
        // An edit touching more parts plans at least as much.
        let mut wider = context.edits.clone();
        for ((whole, support, hub), (file, edit)) in widen.iter().zip(wider.iter_mut()) {
            if let ClusterEdit::Known(diff) = edit {
                diff.whole_cluster |= *whole;
                diff.support |= *support;
                let cluster = fixture.estate.clusters.iter().find(|c| &c.file == file).expect("edited cluster");
                if !cluster.hubs.is_empty() {
                    diff.hubs.push((cluster.hubs[hub.index(cluster.hubs.len())].name.clone(), HubChange::Modified));
                }
            }
        }
        let wider = Jobs::of(&plan_edited(&context, &wider, pins, &paths, &labels)).without_notes();
        let lost = edited.lost_in(&wider);
        prop_assert!(lost.is_empty(), "{}: widening {:?} lost {:?}", &fixture.name, context.edits, lost);
    }

    #[test]
    fn an_unsure_pin_edit_never_plans_less(
        draw in draw(),
        more_moved in proptest::collection::vec(any::<Index>(), 0..3),
    ) {
        let (context, (paths, labels), _) = draw.resolve();
        let fixture = &fixtures()[context.fixture];
        let edits = &context.edits;
        let jobs = |pin_edits: &PinEdits| Jobs::of(&plan_edited(&context, edits, pin_edits, &paths, &labels));
        let unchanged = jobs(&PinEdits::Unchanged);
        let given = jobs(&context.pin_edits);
        let unknown = jobs(&PinEdits::Unknown("unsure".into()));
        let lost = unchanged.lost_in(&given);
        prop_assert!(lost.is_empty(), "{}: {:?} lost {:?}", &fixture.name, context.pin_edits, lost);
        let lost = given.lost_in(&unknown);
        prop_assert!(lost.is_empty(), "{}: unknown pin edit lost {:?} of {:?}", &fixture.name, lost, context.pin_edits);
        if let PinEdits::Moved(moved) = &context.pin_edits {
            let mut more = moved.clone();
            more.extend(more_moved.iter().map(|i| fixture.pin_pairs[i.index(fixture.pin_pairs.len())].clone()));
            let lost = given.lost_in(&jobs(&PinEdits::Moved(more.clone())));
            prop_assert!(lost.is_empty(), "{}: moving {:?} besides {:?} lost {:?}", &fixture.name, more, moved, lost);
        }
    }

    #[test]
    fn a_forced_plan_never_plans_less(
        draw in draw(),
        reason in "[a-z ]{1,10}",
    ) {
        let (context, (paths, labels), _) = draw.resolve();
        let fixture = &fixtures()[context.fixture];
        let given = Jobs::of(&plan_of(&context, &paths, &labels));
        let forced = Context { force_all: Some(reason), ..context.clone() };
        let lost = given.lost_in(&Jobs::of(&plan_of(&forced, &paths, &labels)));
        prop_assert!(lost.is_empty(), "{}: forcing {:?} {:?} lost {:?}", &fixture.name, paths, labels, lost);
        // Forced and without a skip label, every support chart and every hub.
        if !labels.iter().any(|label| fixture.skip_labels.contains(label)) {
            let all = Jobs::of(&plan_of(&forced, &[], &[]));
            let hubs: usize = fixture.estate.clusters.iter().map(|c| c.hubs.len()).sum();
            let supports = fixture.estate.clusters.iter().filter(|c| c.support.is_some()).count();
            prop_assert_eq!(all.staging.len() + all.prod.len(), hubs, "{}", &fixture.name);
            prop_assert_eq!(all.support.len(), supports, "{}", &fixture.name);
        }
    }
}

/// The fixtures are what the properties say they are: several clusters, staging and prod hubs, support
/// charts, health-check rules, rollout pins, renamed labels.
#[test]
fn the_fixtures_cover_what_the_properties_claim() {
    let fixtures = fixtures();
    assert!(fixtures
        .iter()
        .all(|f| f.estate.clusters.len() >= 2 || f.name.contains("chart-dependencies") || f.name.contains("jsonnet")));
    let any = |what: &dyn Fn(&Fixture) -> bool| fixtures.iter().any(what);
    assert!(any(&|f| !f.settings.health_checks.is_empty()), "health checks");
    assert!(any(&|f| f.pins.is_some()), "rollout pins");
    assert!(any(&|f| f.settings.labels.name(Label::SkipDeploy) != "deployer:skip-deploy"), "renamed labels");
    assert!(
        any(&|f| {
            f.estate.clusters.iter().any(|c| {
                c.support.is_some()
                    && c.hubs.iter().filter(|h| f.settings.is_staging_hub(&h.name)).count() >= 1
                    && c.hubs.iter().filter(|h| !f.settings.is_staging_hub(&h.name)).count() >= 2
            })
        }),
        "a cluster with support, staging and several prod hubs"
    );
    let by_name: BTreeMap<&str, usize> = fixtures.iter().map(|f| (f.name.as_str(), f.paths.len())).collect();
    assert!(by_name.values().all(|paths| *paths > 5), "{by_name:?}");
}

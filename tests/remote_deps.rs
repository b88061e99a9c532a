//! Remote chart dependencies, fetched as helm does, by the real binaries with
//! real helm (4 and 3): `https://`-style chart repositories (served on
//! loopback over HTTP: `index.yaml` and packaged charts) and an `oci://`
//! registry (loopback, TLS, trusted through `SSL_CERT_FILE`). The fixture
//! `tests/fixtures/dropin-e/repo` has the reference repository's shape:
//! basehub with remote dependencies, daskhub on basehub through `file://`,
//! support with a remote dependency. Its `Chart.lock` files are made by real
//! `helm dependency update` before a newer version is published.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::chart_servers::{package, ChartRepo, OciRegistry};
use support::{bin, copy_tree, fixture, tool, ActionResult, ActionRun};

struct World {
    temp: tempfile::TempDir,
    /// The workspace: the head checkout, with the base checkout in `base/`.
    head: PathBuf,
    base: PathBuf,
    home: PathBuf,
    path: String,
    repo: ChartRepo,
    oci: OciRegistry,
}

impl World {
    /// Both checkouts with locks for `hubcore` 1.0.0 and `homes` 2.0.0; then `hubcore` 1.0.1 is published.
    fn new(helm: &str) -> World {
        let temp = tempfile::tempdir().expect("temp");
        let repo = ChartRepo::start(vec![package("hubcore", "1.0.0")]);
        let oci = OciRegistry::start(vec![package("homes", "2.0.0")]);
        let head = temp.path().join("workspace");
        let base = head.join("base");
        let home = temp.path().join("home");
        fs::create_dir_all(&home).expect("home");
        // helm as `helm` on PATH: helm 4, or helm 3 under that name.
        let bin_dir = temp.path().join("bin");
        fs::create_dir_all(&bin_dir).expect("bin");
        #[cfg(unix)]
        std::os::unix::fs::symlink(tool(helm), bin_dir.join("helm")).expect("helm link");
        let path = format!("{}:/usr/bin:/bin", bin_dir.display());
        let world = World { temp, head, base, home, path, repo, oci };
        world.checkout(&world.head);
        world.lock(&world.head, &["helm-charts/basehub", "helm-charts/support"]);
        let staged = world.temp.path().join("base");
        copy_tree(&world.head, &staged);
        fs::rename(&staged, &world.base).expect("base checkout");
        // A newer version the locks do not name: a resolve would take it.
        world.repo.add(package("hubcore", "1.0.1"));
        world
    }

    /// The fixture with the servers' addresses.
    fn checkout(&self, to: &Path) {
        copy_tree(&fixture("dropin-e/repo"), to);
        for chart in ["basehub", "daskhub", "support"] {
            let file = to.join(format!("helm-charts/{chart}/Chart.yaml"));
            let text = fs::read_to_string(&file).expect("Chart.yaml");
            let text = text.replace("__CHART_REPO__", &self.repo.url).replace("__OCI_REPO__", &self.oci.url);
            fs::write(&file, text).expect("Chart.yaml");
        }
    }

    /// `Chart.lock` of each chart folder, as a user makes it: `helm dependency update`, then `charts/` not committed.
    fn lock(&self, checkout: &Path, charts: &[&str]) {
        let helm_home = self.temp.path().join("lock-home");
        for chart in charts {
            let out = Command::new(tool("helm"))
                .env_clear()
                .env("HOME", &helm_home)
                .env("SSL_CERT_FILE", &self.oci.ca_file)
                .args(["dependency", "update"])
                .arg(checkout.join(chart))
                .output()
                .expect("helm dependency update");
            assert!(out.status.success(), "{chart}: {}", String::from_utf8_lossy(&out.stderr));
            fs::remove_dir_all(checkout.join(chart).join("charts")).expect("charts/");
        }
    }

    fn action(&self, binary: &str) -> ActionRun {
        ActionRun::new(binary, &self.head)
            .input("plan-dir", "deployment-plan")
            .env("PATH", self.path.clone())
            .env("HOME", self.home.display().to_string())
            .env("SSL_CERT_FILE", self.oci.ca_file.display().to_string())
    }

    /// generate (for `changed`), then action-diff against `base/`.
    fn diff(&self, changed: &str) -> ActionResult {
        let generate = self.action("action-generate").input("changed-files", changed).run();
        assert!(generate.success(), "generate\n{}\n{}", generate.stdout, generate.stderr);
        let run = self.action("action-diff").input("base-dir", "base").run();
        assert!(run.success(), "action-diff\n{}\n{}", run.stdout, run.stderr);
        run
    }

    fn validate(&self) -> (bool, String) {
        let out = Command::new(bin("deployer"))
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", &self.home)
            .env("SSL_CERT_FILE", &self.oci.ca_file)
            .args(["validate", "--render", "--repo"])
            .arg(&self.head)
            .output()
            .expect("deployer validate");
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    }

    /// Each release of the diff: (`cluster/hub`, status, message).
    fn releases(&self) -> Vec<(String, String, String)> {
        support::diff_releases(&self.head.join("deployment-plan/plan.json"))
    }

    fn manifests_diff(&self) -> String {
        fs::read_to_string(self.head.join("deployment-plan/manifests.diff")).unwrap_or_default()
    }

    /// Requests to both servers since `from` (counts taken with [`World::marks`]).
    fn marks(&self) -> (usize, usize) {
        (self.repo.requests.all().len(), self.oci.requests.all().len())
    }

    fn since(&self, from: (usize, usize)) -> (Vec<String>, Vec<String>) {
        (self.repo.requests.all()[from.0..].to_vec(), self.oci.requests.all()[from.1..].to_vec())
    }
}

/// A cluster `c2` of twenty hubs on basehub, in the head checkout.
fn write_twenty_hubs(world: &World) {
    let mut cluster =
        String::from("name: c2\nprovider: gcp\ngcp:\n  project: p\n  cluster: c\n  zone: us-central1\nhubs:\n");
    for index in 0..20 {
        cluster.push_str(&format!(
            "  - name: hub{index}\n    display_name: hub {index}\n    domain: hub{index}.example.org\n    \
             helm_chart: basehub\n    helm_chart_values_files: [hub.values.yaml]\n"
        ));
    }
    fs::create_dir_all(world.head.join("config/clusters/c2")).expect("c2");
    write(&world.head.join("config/clusters/c2/cluster.yaml"), &cluster);
    write(&world.head.join("config/clusters/c2/hub.values.yaml"), "greeting: hub\n");
}

fn count(requests: &[String], part: &str) -> usize {
    requests.iter().filter(|r| r.contains(part)).count()
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).expect("write");
}

#[test]
fn validate_render_fetches_the_locked_versions_from_both_servers() {
    for helm in ["helm", "helm3"] {
        let world = World::new(helm);
        let mark = world.marks();
        let (ok, text) = world.validate();
        assert!(ok, "{helm}: {text}");
        assert!(text.contains("validate: helm dependency build helm-charts/basehub (head)"), "{text}");
        assert!(text.contains("validate: helm dependency build helm-charts/support (head)"), "{text}");
        // daskhub reaches basehub through file://: its dependencies are fetched once, before daskhub's build.
        assert!(text.contains("validate: helm dependency build helm-charts/daskhub (head)"), "{text}");
        assert_eq!(text.matches("dependency build helm-charts/basehub").count(), 1, "{text}");
        assert!(!text.contains("not reproducible"), "{text}");
        let (repo, oci) = world.since(mark);
        // The locked 1.0.0, once per chart folder that names it (basehub, support), never the newer 1.0.1.
        assert_eq!(count(&repo, "GET /charts/hubcore-1.0.0.tgz"), 2, "{helm}: {repo:?}");
        assert_eq!(count(&repo, "hubcore-1.0.1"), 0, "{helm}: {repo:?}");
        assert!(count(&oci, "/v2/charts/homes/manifests/") >= 1, "{helm}: {oci:?}");
        assert!(count(&oci, "/v2/charts/homes/blobs/sha256:") >= 1, "{helm}: {oci:?}");
        // Nothing of the user's helm home was written.
        assert!(!world.home.join(".cache/helm").exists() && !world.home.join(".config/helm").exists(), "{helm}");
    }
}

#[test]
fn the_diff_renders_the_lock_and_says_when_it_resolves_without_one() {
    for helm in ["helm", "helm3"] {
        let world = World::new(helm);
        fs::remove_file(world.head.join("helm-charts/basehub/Chart.lock")).expect("remove the lock");
        let run = world.diff("helm-charts/basehub/Chart.lock");
        let releases = world.releases();
        let statuses: Vec<String> = releases.iter().map(|(l, s, _)| format!("{l} {s}")).collect();
        assert_eq!(statuses, ["c1/staging changed", "c1/dask changed"], "{helm}: {releases:?}\n{}", run.stdout);
        let diff = world.manifests_diff();
        // Base: the lock's 1.0.0 though the index has 1.0.1; head: resolved to 1.0.1.
        assert!(diff.contains("-  version: 1.0.0") && diff.contains("+  version: 1.0.1"), "{helm}:\n{diff}");
        assert!(run.stdout.contains("helm dependency build helm-charts/basehub (base)"), "{}", run.stdout);
        assert!(
            run.stdout.contains(
                "helm dependency update helm-charts/basehub (head): no Chart.lock matching Chart.yaml, so the \
                 dependency versions were resolved now (not reproducible: commit the Chart.lock)"
            ),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn a_lock_out_of_sync_is_resolved_and_said() {
    let world = World::new("helm");
    // Chart.yaml now wants 1.0.1 exactly; the lock still says 1.0.0.
    let file = world.head.join("helm-charts/basehub/Chart.yaml");
    let text = fs::read_to_string(&file).expect("Chart.yaml").replace("\"~1.0.0\"", "1.0.1");
    write(&file, &text);
    let run = world.diff("helm-charts/basehub/Chart.yaml");
    assert!(
        run.stdout.contains("helm dependency update helm-charts/basehub (head): no Chart.lock matching"),
        "{}",
        run.stdout
    );
    assert!(world.manifests_diff().contains("+  version: 1.0.1"), "{}", world.manifests_diff());
}

#[test]
fn both_sides_of_an_unchanged_chart_fetch_once() {
    let world = World::new("helm");
    write(&world.head.join("config/clusters/c1/staging.values.yaml"), "greeting: hello again\n");
    let mark = world.marks();
    let run = world.diff("config/clusters/c1/staging.values.yaml");
    let releases = world.releases();
    assert_eq!(releases.iter().map(|(l, s, _)| format!("{l} {s}")).collect::<Vec<_>>(), ["c1/staging changed"]);
    assert!(
        run.stdout.contains(
            "dependencies of helm-charts/basehub (head): the same chart tree as the other side, fetched once"
        ),
        "{}",
        run.stdout
    );
    let (repo, oci) = world.since(mark);
    assert_eq!(count(&repo, "GET /charts/hubcore-1.0.0.tgz"), 1, "{repo:?}");
    assert_eq!(count(&oci, "GET /v2/charts/homes/blobs/"), count(&oci, "/blobs/").min(2), "{oci:?}");
}

#[test]
fn twenty_hubs_on_one_chart_fetch_once() {
    let world = World::new("helm");
    write_twenty_hubs(&world);
    let mark = world.marks();
    let run = world.diff("config/clusters/c2/cluster.yaml");
    let releases = world.releases();
    assert_eq!(releases.len(), 20, "{releases:?}\n{}", run.stdout);
    assert!(releases.iter().all(|(_, s, _)| s == "added"), "{releases:?}");
    let (repo, oci) = world.since(mark);
    assert_eq!(count(&repo, "GET /charts/index.yaml"), 1, "{repo:?}");
    assert_eq!(count(&repo, "GET /charts/hubcore-"), 1, "{repo:?}");
    let layers = count(&oci, "GET /v2/charts/homes/blobs/");
    assert!((1..=2).contains(&layers), "one chart layer (and its config) for 20 hubs: {oci:?}");
    assert_eq!(run.stdout.matches("helm dependency build helm-charts/basehub").count(), 1, "{}", run.stdout);
}

#[test]
fn a_failed_fetch_names_the_chart_the_dependency_and_the_repository() {
    for helm in ["helm", "helm3"] {
        let world = World::new(helm);
        // `homes` 3.0.0 is not in the registry; without a lock it is resolved (and not found).
        let file = world.head.join("helm-charts/basehub/Chart.yaml");
        let text = fs::read_to_string(&file).expect("Chart.yaml").replace("version: 2.0.0", "version: 3.0.0");
        write(&file, &text);
        fs::remove_file(world.head.join("helm-charts/basehub/Chart.lock")).expect("remove the lock");
        world.diff("helm-charts/basehub/Chart.yaml");
        let releases = world.releases();
        assert_eq!(releases.len(), 2, "{releases:?}");
        for (label, status, message) in &releases {
            assert_eq!(status, "render-failed", "{label}: {message}");
            assert!(
                message.contains(
                    "head: chart helm-charts/basehub: fetching the dependency `homes` 3.0.0 from `oci://127.0.0.1:"
                ),
                "{helm} {label}: {message}"
            );
        }
        // validate says the same at the releases' entries.
        let (ok, text) = world.validate();
        assert!(!ok, "{text}");
        assert!(
            text.contains("chart helm-charts/basehub: fetching the dependency `homes` 3.0.0 from `oci://"),
            "{text}"
        );
        // A chart repository that does not answer for a locked chart: its name and repository.
        let world = World::new(helm);
        let lock = world.head.join("helm-charts/support/Chart.lock");
        let text = fs::read_to_string(&lock).expect("Chart.lock");
        let gone = text.replace(&world.repo.url, &format!("{}/gone", world.repo.url));
        let file = world.head.join("helm-charts/support/Chart.yaml");
        let chart = fs::read_to_string(&file)
            .expect("Chart.yaml")
            .replace(&world.repo.url, &format!("{}/gone", world.repo.url));
        write(&file, &chart);
        write(&lock, &gone);
        let (ok, text) = world.validate();
        assert!(!ok, "{text}");
        assert!(
            text.contains(&format!(
                "chart helm-charts/support: fetching the dependency `hubcore` 1.0.0 from `{}/gone`",
                world.repo.url
            )),
            "{helm}: {text}"
        );
    }
}

/// `deployer deploy` with helm whose `upgrade` only records (no cluster): the
/// dependency steps run real helm against the servers, in the checkout.
fn deploy(world: &World, args: &[&str]) -> (bool, String, Vec<String>) {
    let wrapper_dir = world.temp.path().join("deploy-bin");
    let log = world.temp.path().join("upgrades.log");
    fs::create_dir_all(&wrapper_dir).expect("bin");
    let script = wrapper_dir.join("helm");
    write(
        &script,
        &format!(
            "#!/bin/sh\nif [ \"$1\" = upgrade ]; then echo \"$*\" >> '{}'; exit 0; fi\nexec '{}' \"$@\"\n",
            log.display(),
            tool("helm").display()
        ),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let _ = fs::remove_file(&log);
    let out = Command::new(bin("deployer"))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", wrapper_dir.display()))
        .env("HOME", &world.home)
        .env("SSL_CERT_FILE", &world.oci.ca_file)
        .args(["deploy", "--use-current-context", "--wait", "none", "--repo"])
        .arg(&world.head)
        .args(args)
        .output()
        .expect("deployer deploy");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let upgrades = fs::read_to_string(&log).unwrap_or_default().lines().map(str::to_owned).collect();
    (out.status.success(), text, upgrades)
}

#[test]
fn deploy_fetches_the_locked_dependencies_before_the_upgrades() {
    let world = World::new("helm");
    let mark = world.marks();
    let (ok, text, upgrades) = deploy(&world, &["--cluster", "c1", "--support", "--hub", "staging", "--hub", "dask"]);
    assert!(ok, "{text}");
    assert_eq!(upgrades.len(), 3, "{upgrades:?}\n{text}");
    // support, basehub (also daskhub's file:// dependency, so before daskhub), daskhub: each once.
    let order: Vec<&str> = text.lines().filter(|l| l.starts_with("$ helm dependency")).collect();
    assert_eq!(
        order,
        [
            "$ helm dependency build helm-charts/support",
            "$ helm dependency build helm-charts/basehub",
            "$ helm dependency build helm-charts/daskhub"
        ],
        "{text}"
    );
    let (repo, oci) = world.since(mark);
    assert_eq!(count(&repo, "GET /charts/hubcore-1.0.0.tgz"), 2, "{repo:?}");
    assert_eq!(count(&repo, "hubcore-1.0.1"), 0, "{repo:?}");
    assert!(count(&oci, "/v2/charts/homes/blobs/") >= 1, "{oci:?}");
    assert!(world.head.join("helm-charts/basehub/charts/hubcore-1.0.0.tgz").is_file());
    assert!(world.head.join("helm-charts/basehub/charts/homes-2.0.0.tgz").is_file());
    assert!(world.head.join("helm-charts/daskhub/charts/basehub-0.1.0.tgz").is_file());
    assert!(!world.home.join(".cache/helm").exists() && !world.home.join(".config/helm").exists());

    // Twenty hubs of one chart in one job: one fetch.
    write_twenty_hubs(&world);
    let mark = world.marks();
    let hubs: Vec<String> = (0..20).map(|index| format!("hub{index}")).collect();
    let list = hubs.join(",");
    let (ok, text, upgrades) = deploy(&world, &["--cluster", "c2", "--hubs", &list]);
    assert!(ok, "{text}");
    assert_eq!(upgrades.len(), 20, "{upgrades:?}");
    let (repo, _) = world.since(mark);
    assert_eq!(count(&repo, "GET /charts/hubcore-"), 1, "{repo:?}");
    assert_eq!(text.matches("$ helm dependency build helm-charts/basehub").count(), 1, "{text}");

    // Without a lock: resolved, and said.
    fs::remove_file(world.head.join("helm-charts/basehub/Chart.lock")).expect("remove the lock");
    let (ok, text, _) = deploy(&world, &["--cluster", "c1", "--hub", "staging"]);
    assert!(ok, "{text}");
    assert!(text.contains("helm dependency update helm-charts/basehub: no Chart.lock matching Chart.yaml"), "{text}");
    assert!(world.head.join("helm-charts/basehub/charts/hubcore-1.0.1.tgz").is_file());
}

#[test]
fn a_failed_fetch_in_a_deploy_names_the_chart_the_dependency_and_the_repository() {
    let world = World::new("helm");
    let file = world.head.join("helm-charts/basehub/Chart.yaml");
    let text = fs::read_to_string(&file).expect("Chart.yaml").replace("version: 2.0.0", "version: 3.0.0");
    write(&file, &text);
    fs::remove_file(world.head.join("helm-charts/basehub/Chart.lock")).expect("remove the lock");
    let (ok, text, upgrades) = deploy(&world, &["--cluster", "c1", "--hub", "staging"]);
    assert!(!ok, "{text}");
    assert!(upgrades.is_empty(), "{upgrades:?}");
    assert!(
        text.contains("chart helm-charts/basehub: fetching the dependency `homes` 3.0.0 from `oci://127.0.0.1:"),
        "{text}"
    );
}

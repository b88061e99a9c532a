//! Every fixture repository's charts through REAL helm 4 and helm 3
//! (`target/tools/bin`, installed by `scripts/install-tools.sh`):
//! `helm lint --strict` of every chart folder, `helm dependency build` of the
//! charts with `file://` dependencies, and `helm template` of each hub and
//! support chart with exactly the chart and values files `deploy` passes
//! (the library's own `resolve_targets`, `chart_path`, `values_files`,
//! `has_file_dependencies`), in a temporary copy: nothing is written into
//! `tests/fixtures`.
//!
//! The fixtures' `enc-*` files are placeholders, not sops files (no key
//! could decrypt them). For each one the test writes a plaintext of its own,
//! encrypts it into the copy with real sops and a real age key made by
//! `age-keygen`, decrypts it back with `sops --decrypt` (as `deploy` does)
//! and passes the decrypted copy in the file's place; the rendered release
//! must show the plaintext's marker.

mod support;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use deployer::cluster::deploy::{
    chart_path, has_file_dependencies, resolve_targets, values_files, DeployOptions, Target,
};
use deployer::config::load::{load_estate, load_settings};
use support::{fixture, tool};

/// Helm processes at once (the machine has two cores).
const PARALLEL: usize = 2;

/// A real age key, made by `age-keygen`.
struct AgeKey {
    file: PathBuf,
    recipient: String,
}

impl AgeKey {
    fn create(dir: &Path) -> AgeKey {
        let file = dir.join("age-key.txt");
        let made = Command::new(tool("age-keygen")).arg("-o").arg(&file).env_clear().output().expect("age-keygen");
        assert!(made.status.success(), "age-keygen: {}", String::from_utf8_lossy(&made.stderr));
        let public = Command::new(tool("age-keygen")).arg("-y").arg(&file).env_clear().output().expect("age-keygen -y");
        assert!(public.status.success(), "age-keygen -y: {}", String::from_utf8_lossy(&public.stderr));
        let recipient = String::from_utf8(public.stdout).expect("recipient").trim().to_owned();
        assert!(recipient.starts_with("age1"), "an age recipient: {recipient}");
        AgeKey { file, recipient }
    }
}

/// One helm binary under test.
struct Helm {
    name: &'static str,
    path: PathBuf,
}

fn helms() -> Vec<Helm> {
    vec![Helm { name: "helm", path: tool("helm") }, Helm { name: "helm3", path: tool("helm3") }]
}

/// One helm call to make.
struct Job {
    /// `conformance/repo [helm3] helm template cluster1/hub1 (...)`: what a failure names.
    label: String,
    lint: bool,
    dir: PathBuf,
    home: PathBuf,
    program: PathBuf,
    args: Vec<OsString>,
    /// Text the output must contain (the markers of decrypted files).
    expect: Vec<String>,
}

/// A fixture repository prepared for one helm: its copy, its calls, and what
/// already failed or was skipped on the way.
#[derive(Default)]
struct Prepared {
    jobs: Vec<Job>,
    failures: Vec<String>,
    skipped: Vec<String>,
    dependency_builds: usize,
    decrypted: usize,
    /// `.jsonnet` files rendered with the deployer's renderer.
    jsonnet_rendered: usize,
}

/// What checking some repositories found.
#[derive(Default)]
struct Report {
    linted: usize,
    rendered: usize,
    dependency_builds: usize,
    decrypted: usize,
    skipped: Vec<String>,
    failures: Vec<String>,
}

/// Fixture repositories that are not rendered here: the 256-hub fleet's charts
/// are a bare `Chart.yaml` (rendering it twice would add minutes and test
/// nothing about charts); `dropin-before`'s charts name the public chart
/// repositories of the reference shape, which cannot be reached here (its tests
/// run the deploy's argv with stub tools); `dropin-e`'s charts fetch their
/// dependencies from the loopback servers `tests/remote_deps.rs` starts, and
/// are rendered there with both helms. Each must exist, so the list cannot go
/// stale.
const PLANNING_ONLY: &[&str] = &["legs/fleet-256", "dropin-before", "dropin-e/repo", "reference/repo"];

/// Fixture folders holding `config/clusters/*/cluster.yaml` and `helm-charts/`, found by walking.
fn fixture_repositories() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![fixture("")];
    for planning in PLANNING_ONLY {
        assert!(is_repository(&fixture(planning)), "{planning} is a fixture repository");
    }
    while let Some(dir) = dirs.pop() {
        if PLANNING_ONLY.iter().any(|planning| dir == fixture(planning)) {
            continue;
        }
        if is_repository(&dir) {
            found.push(dir);
            continue;
        }
        for entry in fs::read_dir(&dir).expect("fixture folder").flatten() {
            if entry.file_type().expect("file type").is_dir() {
                dirs.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

fn is_repository(dir: &Path) -> bool {
    let clusters = dir.join("config/clusters");
    dir.join(DeployOptions::default().charts_dir).is_dir()
        && fs::read_dir(&clusters)
            .is_ok_and(|entries| entries.flatten().any(|e| e.path().join("cluster.yaml").is_file()))
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create folder");
    for entry in fs::read_dir(from).expect("read folder").flatten() {
        let kind = entry.file_type().expect("file type");
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            fs::copy(entry.path(), &target).expect("copy file");
        } else if kind.is_symlink() {
            // As committed: a relative link inside the fixture (`daskhub/values.jsonnet`).
            let link = fs::read_link(entry.path()).expect("read link");
            assert!(link.is_relative(), "{}: fixture links are relative", entry.path().display());
            std::os::unix::fs::symlink(&link, &target).expect("copy link");
        } else {
            panic!("{}: fixtures hold only files, folders and relative links", entry.path().display());
        }
    }
}

/// A command with a clean environment and helm's folders inside `home`.
fn command(program: &Path, dir: &Path, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(dir)
        .env_clear()
        .env("HOME", home)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    command
}

fn helm_says(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // `helm lint` reports its findings on stdout.
    if !stdout.trim().is_empty() {
        text = format!("{}\n{text}", stdout.trim());
    }
    text
}

/// The name a report gives a repository: its path under `tests/fixtures/`.
fn short_name(repo: &Path) -> String {
    repo.strip_prefix(fixture("")).unwrap_or(repo).display().to_string()
}

/// Copies `repo` into `work`, builds `file://` dependencies, round-trips the
/// `enc-*` files through real sops, and lists the lint and template calls.
fn prepare(helm: &Helm, repo: &Path, name: &str, key: &AgeKey, work: &Path) -> Prepared {
    let mut prepared = Prepared::default();
    let copy = work.join("repo");
    let home = work.join("home");
    let decrypted_dir = work.join("decrypted");
    copy_tree(repo, &copy);
    fs::create_dir_all(&decrypted_dir).expect("decrypted folder");
    let at = |what: &str| format!("{name} [{}] {what}", helm.name);
    let options = DeployOptions::default();

    // Every chart folder: dependency build first where deploy would run it, then lint.
    let mut charts: Vec<String> = fs::read_dir(copy.join(&options.charts_dir))
        .expect("charts folder")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| format!("{}/{}", options.charts_dir, e.file_name().to_string_lossy()))
        .collect();
    charts.sort();
    for chart in &charts {
        let Ok(chart_yaml) = fs::read_to_string(copy.join(chart).join("Chart.yaml")) else {
            prepared.skipped.push(format!("{name}: {chart} (no Chart.yaml: not a chart)"));
            continue;
        };
        if has_file_dependencies(&chart_yaml) {
            let built = command(&helm.path, &copy, &home)
                .args(["dependency", "build", chart])
                .output()
                .expect("helm dependency build");
            if built.status.success() {
                prepared.dependency_builds += 1;
            } else {
                prepared.failures.push(format!(
                    "{}: {}",
                    at(&format!("helm dependency build {chart}")),
                    helm_says(&built)
                ));
            }
        }
        prepared.jobs.push(Job {
            label: at(&format!("helm lint --strict {chart}")),
            lint: true,
            dir: copy.clone(),
            home: home.clone(),
            program: helm.path.clone(),
            args: ["lint", "--strict", chart].map(OsString::from).to_vec(),
            expect: Vec::new(),
        });
    }

    // Each cluster's support chart and hubs, as deploy resolves them.
    let loaded = load_settings(&copy, None).and_then(|settings| Ok((load_estate(&copy, &settings)?, settings)));
    let (estate, settings) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            prepared.failures.push(format!("{}: {error}", at("loading the cluster files")));
            return prepared;
        }
    };
    for cluster in &estate.clusters {
        let hubs: Vec<String> = cluster.hubs.iter().map(|h| h.name.clone()).collect();
        let targets = resolve_targets(cluster, cluster.support.is_some(), &hubs).expect("every hub of the cluster");
        for target in &targets {
            let chart = chart_path(cluster, target, &options);
            let release = target.release();
            let mut args: Vec<OsString> =
                ["template", release, &chart, "--namespace", release].map(OsString::from).to_vec();
            let mut shown = Vec::new();
            let mut expect = Vec::new();
            // The values list holds the chart's `values.jsonnet`; jsonnet rendered as deploy renders it.
            let hub = cluster.hubs.iter().find(|hub| hub.name == release);
            let hub = hub.filter(|_| matches!(target, Target::Hub(_)));
            let ext_vars = settings.jsonnet_ext_vars.values(&deployer::config::jsonnet::Placeholders::of(cluster, hub));
            let root = deployer::base::repo_fs::RepoRoot::new(&copy).expect("checkout root");
            for file in values_files(cluster, target) {
                args.push("-f".into());
                shown.push(file.path.clone());
                if deployer::config::jsonnet::is_jsonnet(&file.path) {
                    args.push(rendered_jsonnet(&root, &file.path, &ext_vars, &decrypted_dir, &mut prepared).into());
                } else if deployer::tools::sops::is_encrypted(&file.path) {
                    let marker = format!("decrypted-{}-{release}-{}", cluster.name, file.basename());
                    let index = prepared.decrypted;
                    match round_trip(
                        &copy,
                        &file.path,
                        &marker,
                        key,
                        &decrypted_dir.join(format!("{index}-{}", file.basename())),
                    ) {
                        Ok(path) => {
                            prepared.decrypted += 1;
                            args.push(path.into());
                            expect.push(marker);
                        }
                        Err(message) => {
                            prepared.failures.push(format!("{}: {message}", at(&format!("sops {}", file.path))));
                            args.push(file.path.clone().into());
                        }
                    }
                } else {
                    args.push(file.path.clone().into());
                }
            }
            let what = match target {
                Target::Support => format!("{}/support", cluster.name),
                Target::Hub(hub) => format!("{}/{hub}", cluster.name),
            };
            let files =
                if shown.is_empty() { "no values files".to_owned() } else { format!("-f {}", shown.join(" -f ")) };
            prepared.jobs.push(Job {
                label: at(&format!("helm template {what} ({chart}, {files})")),
                lint: false,
                dir: copy.clone(),
                home: home.clone(),
                program: helm.path.clone(),
                args,
                expect,
            });
        }
    }
    prepared
}

/// Renders a `.jsonnet` values file with the deployer's renderer into a JSON file for helm; a render
/// failure is a failure of the fixture.
fn rendered_jsonnet(
    root: &deployer::base::repo_fs::RepoRoot,
    file: &str,
    ext_vars: &[(String, String)],
    folder: &Path,
    prepared: &mut Prepared,
) -> PathBuf {
    let to = folder.join(format!("jsonnet-{}-{}.json", prepared.jsonnet_rendered, file.replace('/', "_")));
    prepared.jsonnet_rendered += 1;
    match deployer::config::jsonnet::render(root, file, ext_vars) {
        Ok(rendered) => fs::write(&to, rendered.json).expect("write rendered jsonnet"),
        Err(error) => prepared.failures.push(format!("jsonnet {file}: {error}")),
    }
    to
}

/// Writes a plaintext holding `marker` over `relative` in the copy as a real
/// sops file (age), then decrypts it with `sops --decrypt` into `to`.
fn round_trip(copy: &Path, relative: &str, marker: &str, key: &AgeKey, to: &Path) -> Result<PathBuf, String> {
    let sops = tool("sops");
    let in_copy = copy.join(relative);
    let plain = to.with_extension("plain.yaml");
    fs::write(&plain, format!("fixtureSecret: {marker}\n")).map_err(|e| e.to_string())?;
    let encrypted = command(&sops, copy, copy)
        .args(["--encrypt", "--age", &key.recipient, "--input-type", "yaml", "--output-type", "yaml"])
        .arg(&plain)
        .output()
        .map_err(|e| e.to_string())?;
    fs::remove_file(&plain).map_err(|e| e.to_string())?;
    if !encrypted.status.success() {
        return Err(format!("sops --encrypt: {}", helm_says(&encrypted)));
    }
    let text = String::from_utf8_lossy(&encrypted.stdout);
    if !text.contains("sops:") || !text.contains("age1") || text.contains(marker) {
        return Err("sops --encrypt did not write an age-encrypted sops file".into());
    }
    fs::write(&in_copy, &encrypted.stdout).map_err(|e| e.to_string())?;
    let decrypted = command(&sops, copy, copy)
        .env("SOPS_AGE_KEY_FILE", &key.file)
        .arg("--decrypt")
        .arg(&in_copy)
        .output()
        .map_err(|e| e.to_string())?;
    if !decrypted.status.success() {
        return Err(format!("sops --decrypt: {}", helm_says(&decrypted)));
    }
    fs::write(to, &decrypted.stdout).map_err(|e| e.to_string())?;
    Ok(to.to_path_buf())
}

/// Runs the jobs, at most [`PARALLEL`] at once; a failure carries helm's message.
fn run(jobs: &[Job], report: &mut Report) {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let mut command = command(&job.program, &job.dir, &job.home);
                    let output = command.args(&job.args).output().expect("run helm");
                    let stdout = String::from_utf8_lossy(&output.stdout);
                    let problem = if !output.status.success() {
                        Some(format!("{} ({})", helm_says(&output), output.status))
                    } else if !job.lint && stdout.trim().is_empty() {
                        Some("rendered nothing".to_owned())
                    } else {
                        job.expect.iter().find(|marker| !stdout.contains(marker.as_str())).map(|marker| {
                            format!("the decrypted values ({marker}) do not show in the rendered release")
                        })
                    };
                    if let Some(problem) = problem {
                        failures.lock().expect("failures").push(format!("{}: {problem}", job.label));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("failures");
    failures.sort();
    report.failures.extend(failures);
    report.linted += jobs.iter().filter(|j| j.lint).count();
    report.rendered += jobs.iter().filter(|j| !j.lint).count();
}

/// Checks `repos` with every helm; `work` holds the copies.
fn check(repos: &[PathBuf], helms: &[Helm], work: &Path) -> Report {
    let key = AgeKey::create(work);
    let mut report = Report::default();
    let mut jobs = Vec::new();
    for helm in helms {
        for (index, repo) in repos.iter().enumerate() {
            let name = short_name(repo);
            let prepared = prepare(helm, repo, &name, &key, &work.join(format!("{}-{index}", helm.name)));
            jobs.extend(prepared.jobs);
            report.failures.extend(prepared.failures);
            report.dependency_builds += prepared.dependency_builds;
            report.decrypted += prepared.decrypted;
            for skipped in prepared.skipped {
                if !report.skipped.contains(&skipped) {
                    report.skipped.push(skipped);
                }
            }
        }
    }
    run(&jobs, &mut report);
    report
}

/// Every file under `dir` with its length.
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("read folder").flatten() {
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                dirs.push(entry.path());
            } else {
                files.push((entry.path(), meta.len()));
            }
        }
    }
    files.sort();
    files
}

fn version(helm: &Helm) -> String {
    let output = Command::new(&helm.path).args(["version", "--short"]).env_clear().output().expect("helm version");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn every_fixture_chart_lints_and_every_release_renders_with_helm_4_and_3() {
    let started = std::time::Instant::now();
    let repos = fixture_repositories();
    assert!(
        repos.contains(&support::example_repo()),
        "the bundled example is among the fixture repositories: {repos:?}"
    );
    assert!(!repos.is_empty());
    let helms = helms();
    let versions: Vec<String> = helms.iter().map(|h| format!("{} {}", h.name, version(h))).collect();
    assert!(versions[0].contains("v4.") && versions[1].contains("v3."), "helm 4 and helm 3: {versions:?}");
    let before = listing(&fixture(""));
    let work = tempfile::tempdir().expect("temp dir");
    let report = check(&repos, &helms, work.path());

    eprintln!(
        "real helm ({}): {} fixture repositories ({}); {} charts linted, {} releases rendered, \
         {} dependency builds, {} enc-* files encrypted and decrypted with real sops (age), in {:.1?}",
        versions.join(", "),
        repos.len(),
        repos.iter().map(|r| short_name(r)).collect::<Vec<_>>().join(", "),
        report.linted,
        report.rendered,
        report.dependency_builds,
        report.decrypted,
        started.elapsed()
    );
    for skipped in &report.skipped {
        eprintln!("skipped: {skipped}");
    }
    assert!(report.failures.is_empty(), "{} failures:\n\n{}", report.failures.len(), report.failures.join("\n\n"));
    // Both helms did work on every repository: lint, render, dependencies, sops.
    assert!(
        report.linted >= 2 * 3 && report.rendered >= 2 * 17,
        "linted {}, rendered {}",
        report.linted,
        report.rendered
    );
    assert!(report.dependency_builds >= 2, "a file:// dependency was built by each helm");
    assert!(report.decrypted >= 2 * 2, "enc-* files went through sops for each helm");
    assert_eq!(listing(&fixture("")), before, "nothing was written into tests/fixtures");
}

#[test]
fn a_broken_template_or_values_file_fails_with_helms_message_naming_the_hub() {
    let source = tempfile::tempdir().expect("temp dir");
    let repo = source.path().join("broken");
    copy_tree(&support::example_repo(), &repo);
    fs::write(repo.join("helm-charts/basehub/templates/broken.yaml"), "x: {{ .Values.hub.image | nosuchfunction }}\n")
        .expect("broken template");
    fs::write(repo.join("config/clusters/cluster1/hub3.values.yaml"), "dask: [unclosed\n").expect("broken values");
    let work = tempfile::tempdir().expect("temp dir");
    let helm4: Vec<Helm> = helms().into_iter().filter(|h| h.name == "helm").collect();
    let report = check(&[repo], &helm4, work.path());
    let failed = |what: &str| report.failures.iter().find(|f| f.contains(what));

    let lint = failed("helm lint --strict helm-charts/basehub").expect("basehub's lint fails");
    assert!(lint.contains("function \"nosuchfunction\" not defined"), "helm's message: {lint}");
    for hub in ["cluster1/staging ", "cluster1/hub1 ", "cluster2/hub3 ", "cluster3/prod ", "cluster4/nofiles "] {
        let failure =
            failed(&format!("helm template {hub}")).unwrap_or_else(|| panic!("{hub} fails: {:#?}", report.failures));
        assert!(failure.contains("nosuchfunction"), "helm's message for {hub}: {failure}");
    }
    let values = failed("helm template cluster1/hub3 ").expect("the hub with the broken values file fails");
    assert!(values.contains("config/clusters/cluster1/hub3.values.yaml"), "helm names the values file: {values}");
    for fine in ["cluster4/dask-staging ", "cluster1/support ", "helm lint --strict helm-charts/daskhub"] {
        assert!(failed(fine).is_none(), "{fine} still passes: {:#?}", report.failures);
    }
    // The 12 basehub releases, the daskhub hub with the broken values file, basehub's lint.
    assert_eq!(report.failures.len(), 14, "{:#?}", report.failures);
}

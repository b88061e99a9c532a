//! A pull request cannot make the tool read outside its checkout, hang on a
//! special file, read a huge file, expand a small one, or print a file's
//! content in an error. Each case runs through the real binaries:
//! `action-generate`, `deployer validate`, `deployer generate` and
//! `deployer explain` (and `action-setup-cluster` for `kubeconfig.file`),
//! each with a deadline and an address-space limit, so a regression fails the
//! test instead of hanging CI or filling the machine's memory.

mod support;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{bin, parse_github_output};

/// How long one run may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(30);
/// Address space of one run: far more than the tool needs, far less than a runaway read.
const ADDRESS_SPACE: u64 = 2 << 30;

/// A fake private key outside the checkout: it must appear in no output.
const KEY_MARKER: &str = "FAKEKEYMATERIALdoNotPrint0123456789";
fn fake_key() -> String {
    format!("-----BEGIN PRIVATE KEY-----\n{KEY_MARKER}\n-----END PRIVATE KEY-----\n")
}

const C1: &str = "config/clusters/c1/cluster.yaml";
const C1_TEXT: &str =
    "name: c1\nprovider: gcp\nhubs:\n  - name: staging\n    helm_chart: basehub\n    helm_chart_values_files:\n      - staging.values.yaml\n";

/// A checkout at `<temp>/repo`, with `<temp>/outside` next to it holding the fake key.
struct World {
    temp: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let world = World { temp: tempfile::tempdir().expect("temp") };
        world.write(C1, C1_TEXT);
        world.write("config/clusters/c1/staging.values.yaml", "x: 1\n");
        world.write("helm-charts/basehub/Chart.yaml", "apiVersion: v2\nname: basehub\nversion: 0.1.0\n");
        fs::create_dir_all(world.outside()).expect("outside");
        fs::write(world.outside().join("secret.pem"), fake_key()).expect("key");
        fs::write(world.outside().join("cluster.yaml"), fake_key()).expect("key");
        world
    }

    fn repo(&self) -> PathBuf {
        self.temp.path().join("repo")
    }

    fn outside(&self) -> PathBuf {
        self.temp.path().join("outside")
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.repo().join(relative);
        fs::create_dir_all(path.parent().expect("parent")).expect("folders");
        fs::write(path, text).expect("write");
    }

    fn link(&self, relative: &str, target: impl AsRef<Path>) {
        let path = self.repo().join(relative);
        fs::create_dir_all(path.parent().expect("parent")).expect("folders");
        let _ = fs::remove_file(&path);
        std::os::unix::fs::symlink(target, path).expect("symlink");
    }

    fn fifo(&self, relative: &str) {
        let path = self.repo().join(relative);
        let _ = fs::remove_file(&path);
        let c_path = std::ffi::CString::new(path.to_string_lossy().as_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0, "mkfifo");
    }

    /// Inside the workspace, as `plan-dir` must be.
    fn plan_dir(&self) -> PathBuf {
        self.repo().join("deployment-plan")
    }

    /// `action-generate`, then the CLI's `validate`, `generate` and `explain`, on the checkout.
    fn every_entry(&self) -> Vec<Outcome> {
        let repo = self.repo();
        let repo_arg = repo.to_string_lossy().into_owned();
        let cli = |name: &'static str, args: &[&str]| {
            let mut command = Command::new(bin("deployer"));
            command.env_clear().arg(name).args(["--repo", &repo_arg]).args(args);
            Outcome::of(name, command, None)
        };
        vec![
            self.action_generate(),
            cli("validate", &[]),
            cli("generate", &["--changed-files", C1]),
            cli("explain", &[C1]),
        ]
    }

    fn action_generate(&self) -> Outcome {
        self.action_generate_with("INPUT_LABELS", "[]")
    }

    /// `action-generate` with one more environment variable.
    fn action_generate_with(&self, name: &str, value: &str) -> Outcome {
        let output = self.temp.path().join("github_output");
        fs::write(&output, "").expect("output file");
        let summary = self.temp.path().join("step_summary");
        fs::write(&summary, "").expect("summary file");
        let mut command = Command::new(bin("action-generate"));
        command
            .env_clear()
            .current_dir(self.repo())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", self.repo())
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("INPUT_CHANGED-FILES", C1)
            .env("INPUT_PLAN-DIR", self.plan_dir())
            .env(name, value);
        let mut outcome = Outcome::of("action-generate", command, Some(&output));
        outcome.written.push_str(&fs::read_to_string(&summary).unwrap_or_default());
        outcome
    }
}

/// How one run ended.
struct Outcome {
    name: &'static str,
    success: bool,
    stdout: String,
    stderr: String,
    /// `$GITHUB_OUTPUT` (and the step summary) of an action run.
    written: String,
}

impl Outcome {
    /// Runs `command` with a deadline and an address-space limit.
    fn of(name: &'static str, mut command: Command, github_output: Option<&Path>) -> Outcome {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe and touches only the child.
            unsafe {
                command.pre_exec(|| {
                    let limit = libc::rlimit { rlim_cur: ADDRESS_SPACE, rlim_max: ADDRESS_SPACE };
                    libc::setrlimit(libc::RLIMIT_AS, &limit);
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().expect("start the binary");
        let reader = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut text);
                }
                String::from_utf8_lossy(&text).into_owned()
            })
        };
        let stdout = reader(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let stderr = reader(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} did not finish within {DEADLINE:?}: it hangs");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Outcome {
            name,
            success: status.success(),
            stdout: stdout.join().expect("stdout"),
            stderr: stderr.join().expect("stderr"),
            written: github_output.map(|p| fs::read_to_string(p).unwrap_or_default()).unwrap_or_default(),
        }
    }

    fn logs(&self) -> String {
        format!("{} stdout:\n{}\n{} stderr:\n{}", self.name, self.stdout, self.name, self.stderr)
    }
}

/// Every run failed with the problem `headline` at `position` (`file:line:col`
/// or just `file`), wrote nothing, and printed none of the fake key.
fn assert_refused(world: &World, outcomes: &[Outcome], position: &str, headline: &str) {
    for outcome in outcomes {
        let logs = outcome.logs();
        assert!(!outcome.success, "{logs}");
        if outcome.name.starts_with("action-") {
            let mut parts = position.splitn(3, ':');
            let file = parts.next().unwrap_or_default();
            let annotation = match (parts.next(), parts.next()) {
                (Some(line), Some(col)) => format!("::error file={file},line={line},col={col}::{headline}"),
                _ => format!("::error file={file}::{headline}"),
            };
            assert!(outcome.stdout.contains(&annotation), "expected {annotation:?}\n{logs}");
            assert!(outcome.written.is_empty(), "nothing written to GITHUB_OUTPUT: {:?}", outcome.written);
        }
        let readable = format!("{position}: {headline}");
        assert!(outcome.stderr.contains(&readable), "expected {readable:?}\n{logs}");
        for text in [&outcome.stdout, &outcome.stderr, &outcome.written] {
            assert!(!text.contains(KEY_MARKER) && !text.contains("PRIVATE KEY"), "the key was printed\n{logs}");
        }
    }
    assert!(!world.plan_dir().exists(), "no plan folder is written on an error");
}

#[test]
fn the_sample_checkout_works() {
    // The fixture itself is fine: every refusal below comes from the one thing each test breaks.
    let world = World::new();
    for outcome in world.every_entry() {
        assert!(outcome.success, "{}", outcome.logs());
    }
}

#[test]
fn cluster_globs_that_leave_the_checkout_are_errors_at_their_line() {
    type SettingsText = fn(&World) -> String;
    let cases: [(SettingsText, &str, &str); 5] = [
        // The fake key's folder, by its absolute path: today's code would read it.
        (
            |world| format!("clusters:\n  glob: '{}/*.yaml'\n", world.outside().display()),
            "deployer.yaml:2:9",
            "clusters.glob: the pattern is an absolute path",
        ),
        (
            |_| "clusters:\n  glob: /outside/*\n".to_owned(),
            "deployer.yaml:2:9",
            "clusters.glob: the pattern is an absolute path",
        ),
        (
            |_| "clusters:\n  glob: '../outside/*.yaml'\n".to_owned(),
            "deployer.yaml:2:9",
            "clusters.glob: the pattern has a `..` segment",
        ),
        (
            |_| "clusters:\n  glob: '../../x/*'\n".to_owned(),
            "deployer.yaml:2:9",
            "clusters.glob: the pattern has a `..` segment",
        ),
        (
            |_| "clusters:\n  exclude:\n    - config/clusters/templates/**\n    - '../outside/**'\n".to_owned(),
            "deployer.yaml:4:7",
            "clusters.exclude[1]: the pattern has a `..` segment",
        ),
    ];
    for (settings, position, headline) in cases {
        let world = World::new();
        world.write("deployer.yaml", &settings(&world));
        assert_refused(&world, &world.every_entry(), position, headline);
    }
}

#[test]
fn a_deployer_yaml_linked_outside_is_refused_without_printing_its_content() {
    let world = World::new();
    world.link("deployer.yaml", world.outside().join("secret.pem"));
    let headline = "refusing to read this file: it is a symlink to a path outside the repository";
    assert_refused(&world, &world.every_entry(), "deployer.yaml", headline);
    // A relative link that climbs out is the same.
    world.link("deployer.yaml", "../outside/secret.pem");
    assert_refused(&world, &world.every_entry(), "deployer.yaml", headline);
}

#[test]
fn a_config_input_outside_the_checkout_is_refused() {
    for (config, message) in [
        (
            "../outside/secret.pem",
            "refusing to read this file: it is outside the repository (its `..` climb above the root)",
        ),
        ("/etc/passwd", "refusing to read this file: it is an absolute path"),
    ] {
        let world = World::new();
        let repo_arg = world.repo().to_string_lossy().into_owned();
        let mut command = Command::new(bin("deployer"));
        command.env_clear().args(["validate", "--repo", &repo_arg, "--config", config]);
        let mut outcomes = vec![Outcome::of("validate", command, None)];
        outcomes.push(world.action_generate_with("INPUT_CONFIG", config));
        assert_refused(&world, &outcomes, config, message);
    }
}

#[test]
fn a_deployer_yaml_that_is_a_fifo_is_an_error_not_a_hang() {
    let world = World::new();
    world.fifo("deployer.yaml");
    assert_refused(
        &world,
        &world.every_entry(),
        "deployer.yaml",
        "refusing to read this file: it is not a regular file (a FIFO)",
    );
}

#[test]
fn a_deployer_yaml_linked_to_dev_zero_is_an_error() {
    let world = World::new();
    world.link("deployer.yaml", "/dev/zero");
    assert_refused(
        &world,
        &world.every_entry(),
        "deployer.yaml",
        "refusing to read this file: it is a symlink to a path outside the repository",
    );
}

#[test]
fn a_cluster_file_over_one_mib_is_an_error() {
    let world = World::new();
    let padding = "# padding\n".repeat(2 * 1024 * 1024 / 10);
    world.write(C1, &format!("{C1_TEXT}{padding}"));
    assert_refused(&world, &world.every_entry(), C1, "refusing to read this file: it is larger than 1 MiB");
}

#[test]
fn cluster_files_linked_outside_or_special_are_refused() {
    let world = World::new();
    world.link(C1, world.outside().join("cluster.yaml"));
    let headline = "refusing to read this file: it is a symlink to a path outside the repository";
    assert_refused(&world, &world.every_entry(), C1, headline);
    world.link(C1, "/dev/zero");
    assert_refused(&world, &world.every_entry(), C1, headline);
    fs::remove_file(world.repo().join(C1)).expect("remove");
    world.fifo(C1);
    assert_refused(&world, &world.every_entry(), C1, "refusing to read this file: it is not a regular file (a FIFO)");
}

#[test]
fn a_cluster_folder_linked_outside_is_not_searched() {
    let world = World::new();
    fs::remove_dir_all(world.repo().join("config/clusters")).expect("remove");
    fs::create_dir_all(world.outside().join("clusters/c1")).expect("folders");
    fs::write(world.outside().join("clusters/c1/cluster.yaml"), fake_key()).expect("write");
    world.link("config/clusters", world.outside().join("clusters"));
    assert_refused(
        &world,
        &world.every_entry(),
        "config/clusters",
        "refusing to search this folder for cluster files: it is a symlink to a path outside the repository",
    );
}

#[test]
fn a_cluster_file_linked_to_a_file_inside_the_checkout_works() {
    let world = World::new();
    world.write("shared/c1-cluster.yaml", C1_TEXT);
    world.link(C1, "../../../shared/c1-cluster.yaml");
    for outcome in world.every_entry() {
        assert!(outcome.success, "{}", outcome.logs());
    }
    let validate = world.every_entry().into_iter().find(|o| o.name == "validate").expect("validate");
    assert_eq!(validate.stdout.trim(), "ok: 1 clusters, 1 hubs");
}

#[test]
fn values_files_outside_or_special_are_errors_at_their_line() {
    let at = "config/clusters/c1/cluster.yaml:7:9";
    let field = "hubs[0].helm_chart_values_files[0]";
    {
        let world = World::new();
        world.link("config/clusters/c1/staging.values.yaml", world.outside().join("secret.pem"));
        assert_refused(
            &world,
            &world.every_entry(),
            at,
            &format!("{field}: values file `staging.values.yaml` is a symlink to a path outside the repository"),
        );
    }
    {
        let world = World::new();
        fs::remove_file(world.repo().join("config/clusters/c1/staging.values.yaml")).expect("remove");
        world.fifo("config/clusters/c1/staging.values.yaml");
        assert_refused(
            &world,
            &world.every_entry(),
            at,
            &format!("{field}: values file `staging.values.yaml` is not a regular file (a FIFO)"),
        );
    }
    {
        let world = World::new();
        world.write(C1, &C1_TEXT.replace("staging.values.yaml", "/etc/passwd"));
        assert_refused(
            &world,
            &world.every_entry(),
            at,
            &format!("{field}: values file `/etc/passwd` is an absolute path"),
        );
    }
    {
        let world = World::new();
        world.write(C1, &C1_TEXT.replace("staging.values.yaml", "../../../../outside/secret.pem"));
        assert_refused(
            &world,
            &world.every_entry(),
            at,
            &format!("{field}: values file `../../../../outside/secret.pem` is outside the repository"),
        );
    }
}

#[test]
fn type_errors_name_the_kind_of_value_not_the_value() {
    let world = World::new();
    world.write(C1, "name: c1\nprovider: gcp\nhubs: \"SECRET-abc123\"\n");
    let outcomes = world.every_entry();
    assert_refused(
        &world,
        &outcomes,
        "config/clusters/c1/cluster.yaml:3:7",
        "hubs: invalid type: string, expected a sequence",
    );
    for outcome in &outcomes {
        assert!(!format!("{}{}", outcome.stdout, outcome.stderr).contains("SECRET-abc123"), "{}", outcome.logs());
    }
    // A key pasted as a hub name is described by its length, not printed.
    let world = World::new();
    let key = fake_key().lines().map(|line| format!("      {line}\n")).collect::<String>();
    world.write(C1, &format!("name: c1\nprovider: gcp\nhubs:\n  - name: |\n{key}"));
    assert_refused(
        &world,
        &world.every_entry(),
        "config/clusters/c1/cluster.yaml:4:11",
        &format!("hubs[0].name: a {}-character value is not a valid hub name", fake_key().chars().count()),
    );
    let world = World::new();
    world.write(C1, "name: c1\nprovider: openstack-SECRET\n");
    let outcomes = world.every_entry();
    assert_refused(
        &world,
        &outcomes,
        "config/clusters/c1/cluster.yaml:2:11",
        "provider: unknown variant, expected one of `gcp`, `aws`, `azure`, `kubeconfig`",
    );
    for outcome in &outcomes {
        assert!(!format!("{}{}", outcome.stdout, outcome.stderr).contains("SECRET"), "{}", outcome.logs());
    }
}

#[test]
fn anchors_aliases_and_deep_nesting_are_refused() {
    let laughs: String = std::iter::once("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_owned())
        .chain(
            (1..40)
                .map(|i| format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n", p = i - 1)),
        )
        .collect();
    let cases = [
        (
            format!("name: c1\nprovider: gcp\n{laughs}"),
            "config/clusters/c1/cluster.yaml:3:5",
            "YAML anchors (`&name`) are not allowed in this file",
        ),
        (
            "name: c1\nprovider: gcp\nhubs:\n  - name: staging\n    extra: *nothing\n".to_owned(),
            "config/clusters/c1/cluster.yaml:5:12",
            "YAML aliases (`*name`) are not allowed in this file",
        ),
        (
            format!("name: c1\nprovider: gcp\nx: {}\n", "[".repeat(100_000)),
            "config/clusters/c1/cluster.yaml:3:67",
            "the YAML is nested more than 64 levels deep",
        ),
        (
            format!("name: c1\nprovider: gcp\nx: {}\n", "{a: ".repeat(100_000)),
            "config/clusters/c1/cluster.yaml:3:256",
            "the YAML is nested more than 64 levels deep",
        ),
    ];
    for (text, position, headline) in cases {
        let world = World::new();
        world.write(C1, &text);
        assert_refused(&world, &world.every_entry(), position, headline);
    }
    // The same in deployer.yaml.
    let world = World::new();
    world.write("deployer.yaml", "labels: &l {deploy_hubs: x}\n");
    assert_refused(
        &world,
        &world.every_entry(),
        "deployer.yaml:1:9",
        "YAML anchors (`&name`) are not allowed in this file",
    );
    // `&` and `*` inside values are characters, not anchors.
    let world = World::new();
    world.write(C1, &format!("{C1_TEXT}notes: 'a &b *c'\nmore: a*b&c\n"));
    for outcome in world.every_entry() {
        assert!(outcome.success, "{}", outcome.logs());
    }
}

/// `action-setup-cluster` for a kubeconfig cluster whose `kubeconfig.file` is `file`.
fn setup_cluster(world: &World, file: &str) -> Outcome {
    world.write(
        "config/clusters/k1/cluster.yaml",
        &format!("name: k1\nprovider: kubeconfig\nkubeconfig:\n  file: {file}\n"),
    );
    let home = world.temp.path().join("home");
    fs::create_dir_all(&home).expect("home");
    let env_file = world.temp.path().join("github_env");
    let output = world.temp.path().join("github_output");
    for path in [&env_file, &output] {
        fs::write(path, "").expect("file");
    }
    let mut command = Command::new(bin("action-setup-cluster"));
    command
        .env_clear()
        .current_dir(world.repo())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", world.repo())
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_ENV", &env_file)
        .env("HOME", &home)
        .env("INPUT_CLUSTER", "k1");
    let mut outcome = Outcome::of("action-setup-cluster", command, Some(&output));
    outcome.written.push_str(&fs::read_to_string(&env_file).unwrap_or_default());
    assert!(!home.join(".kube/deployer-k1.yaml").exists(), "no kubeconfig written\n{}", outcome.logs());
    outcome
}

#[test]
fn kubeconfig_files_outside_the_checkout_are_refused_at_their_line() {
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://k8s.example\n\
         users:\n- name: u\n  user:\n    token: {KEY_MARKER}\n"
    );
    let cases = [
        (
            "../../../../outside/kubeconfig.yaml",
            "kubeconfig file `../../../../outside/kubeconfig.yaml` is outside the repository",
        ),
        ("/etc/passwd", "kubeconfig file `/etc/passwd` is an absolute path"),
        (
            "kubeconfig.yaml",
            "kubeconfig file `config/clusters/k1/kubeconfig.yaml` is a symlink to a path outside the repository",
        ),
        ("fifo.yaml", "kubeconfig file `config/clusters/k1/fifo.yaml` is not a regular file (a FIFO)"),
    ];
    for (file, message) in cases {
        let world = World::new();
        fs::write(world.outside().join("kubeconfig.yaml"), &kubeconfig).expect("kubeconfig");
        world.link("config/clusters/k1/kubeconfig.yaml", world.outside().join("kubeconfig.yaml"));
        world.fifo("config/clusters/k1/fifo.yaml");
        let outcome = setup_cluster(&world, file);
        let logs = outcome.logs();
        assert!(!outcome.success, "{logs}");
        let annotation =
            format!("::error file=config/clusters/k1/cluster.yaml,line=4,col=9::kubeconfig.file: {message}");
        assert!(outcome.stdout.contains(&annotation), "expected {annotation:?}\n{logs}");
        assert!(outcome.written.is_empty(), "nothing written to GITHUB_OUTPUT or GITHUB_ENV: {:?}", outcome.written);
        assert!(!logs.contains(KEY_MARKER), "{logs}");
    }
    // A kubeconfig inside the checkout still works, through a symlink too.
    let world = World::new();
    world.write("secrets/kubeconfig.yaml", &kubeconfig);
    world.link("config/clusters/k1/kubeconfig.yaml", "../../../secrets/kubeconfig.yaml");
    let outcome = setup_cluster_ok(&world);
    assert!(outcome.success, "{}", outcome.logs());
}

/// [`setup_cluster`] for a file expected to work (the kubeconfig is then written).
fn setup_cluster_ok(world: &World) -> Outcome {
    world.write(
        "config/clusters/k1/cluster.yaml",
        "name: k1\nprovider: kubeconfig\nkubeconfig:\n  file: kubeconfig.yaml\n",
    );
    let home = world.temp.path().join("home-ok");
    fs::create_dir_all(&home).expect("home");
    let env_file = world.temp.path().join("github_env_ok");
    let output = world.temp.path().join("github_output_ok");
    for path in [&env_file, &output] {
        fs::write(path, "").expect("file");
    }
    let mut command = Command::new(bin("action-setup-cluster"));
    command
        .env_clear()
        .current_dir(world.repo())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", world.repo())
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_ENV", &env_file)
        .env("HOME", &home)
        .env("INPUT_CLUSTER", "k1");
    let outcome = Outcome::of("action-setup-cluster", command, Some(&output));
    if outcome.success {
        let outputs = parse_github_output(&outcome.written);
        assert_eq!(outputs.get("provider").map(String::as_str), Some("kubeconfig"));
        assert!(home.join(".kube/deployer-k1.yaml").exists());
    }
    outcome
}

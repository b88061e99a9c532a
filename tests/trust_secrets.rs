//! Secrets stay secret, and files stay where they belong (issue 9, section 6),
//! through the real binaries: decrypted values masked before helm runs;
//! SIGTERM/SIGINT during a deploy stops helm and removes the decrypted folder;
//! the kubeconfig written privately, never through a planted link, with
//! every credential masked; endpoint overrides https only and announced;
//! `plan-dir` kept inside the workspace and off folders that are not plans.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::stubs::Stubs;
use support::{bin, copy_tree, example_repo, ActionResult, ActionRun};

fn logs(result: &ActionResult) -> String {
    format!("stdout:\n{}\nstderr:\n{}", result.stdout, result.stderr)
}

// ---------------------------------------------------------------------------
// Deploy: a repository copy, stubs, and a temporary folder of its own.

struct World {
    temp: tempfile::TempDir,
    repo: PathBuf,
    tmpdir: PathBuf,
    stubs: Stubs,
}

/// Inserted into the helm stub before it answers: with `STUB_HELM_SLEEP`, an
/// upgrade starts a `sleep` in the background, writes both process ids, and
/// waits (with `STUB_HELM_IGNORE_TERM`, deaf to SIGTERM, like a stuck helm).
const SLEEPING_HELM: &str = r#"if [ "$1" = upgrade ] && [ -n "$STUB_HELM_SLEEP" ]; then
    if [ -n "$STUB_HELM_IGNORE_TERM" ]; then trap '' TERM; fi
    sleep "$STUB_HELM_SLEEP" &
    echo $! >"$STUB_STATE/sleep.pid"
    echo $$ >"$STUB_STATE/helm.pid.tmp" && mv "$STUB_STATE/helm.pid.tmp" "$STUB_STATE/helm.pid"
    wait
fi
"#;

impl World {
    fn new() -> World {
        let temp = tempfile::tempdir().expect("temp");
        let repo = temp.path().join("repo");
        copy_tree(&example_repo(), &repo);
        let tmpdir = temp.path().join("tmp");
        fs::create_dir(&tmpdir).expect("tmp");
        let stubs = Stubs::new(&temp.path().join("stubs"));
        let world = World { temp, repo, tmpdir, stubs };
        world.patch_helm("case \"$1\" in", SLEEPING_HELM);
        world
    }

    /// Inserts `code` into the helm stub before the first `before`.
    fn patch_helm(&self, before: &str, code: &str) {
        let path = self.stubs.bin.join("helm");
        let script = fs::read_to_string(&path).expect("helm stub");
        assert!(script.contains(before), "{script}");
        fs::write(&path, script.replacen(before, &format!("{code}{before}"), 1)).expect("patch helm stub");
    }

    fn action(&self) -> ActionRun {
        let mut run = ActionRun::new("action-deploy", &self.repo).env("TMPDIR", self.tmpdir.display().to_string());
        for (name, value) in self.stubs.env() {
            run = run.env(&name, value);
        }
        run
    }

    /// Starts `action-deploy` for cluster1's support chart (which has an
    /// encrypted values file) as the runner would, without waiting for it.
    fn spawn_action(&self, env: &[(&str, &str)]) -> Child {
        let output = self.temp.path().join("github_output");
        fs::write(&output, "").expect("output file");
        let mut command = Command::new(bin("action-deploy"));
        command
            .env_clear()
            .current_dir(&self.repo)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", &self.repo)
            .env("GITHUB_OUTPUT", &output)
            .env("TMPDIR", &self.tmpdir)
            .env("INPUT_CLUSTER", "cluster1")
            .env("INPUT_SUPPORT", "true")
            .envs(self.stubs.env())
            .envs(env.iter().copied());
        self.spawn(command)
    }

    /// Starts `deployer deploy` for cluster1's support chart, without waiting for it.
    fn spawn_cli(&self, env: &[(&str, &str)]) -> Child {
        let mut command = Command::new(bin("deployer"));
        command
            .env_clear()
            .env("TMPDIR", &self.tmpdir)
            .envs(self.stubs.env())
            .envs(env.iter().copied())
            .env(
                "KUBECONFIG",
                support::kubeconfig_with_context(
                    &self.temp.path().join("kube"),
                    "gke_cluster1-project_us-central1_cluster1-cluster",
                ),
            )
            .args(["deploy", "--repo"])
            .arg(&self.repo)
            .args(["--cluster", "cluster1", "--support"]);
        self.spawn(command)
    }

    fn spawn(&self, mut command: Command) -> Child {
        let stdout = fs::File::create(self.temp.path().join("stdout")).expect("stdout file");
        let stderr = fs::File::create(self.temp.path().join("stderr")).expect("stderr file");
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr).spawn().expect("start the binary")
    }

    fn stdout(&self) -> String {
        fs::read_to_string(self.temp.path().join("stdout")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.temp.path().join("stderr")).unwrap_or_default()
    }

    fn state_pid(&self, name: &str) -> i32 {
        fs::read_to_string(self.stubs.state.join(name)).expect("pid file").trim().parse().expect("a pid")
    }

    /// Waits until the helm stub is running its upgrade.
    fn wait_for_helm(&self, child: &mut Child) {
        let started = Instant::now();
        while !self.stubs.state.join("helm.pid").exists() {
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!("ended before helm started: {status}\n{}\n{}", self.stdout(), self.stderr());
            }
            assert!(started.elapsed() < Duration::from_secs(30), "helm never started\n{}", self.stdout());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn leftovers(&self) -> Vec<PathBuf> {
        fs::read_dir(&self.tmpdir).expect("tmp").map(|e| e.expect("entry").path()).collect()
    }
}

fn send(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill only sends a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill");
}

/// Waits for `child` to exit, at most `limit`; its exit code and how long that took.
fn wait_at_most(child: &mut Child, limit: Duration) -> (Option<i32>, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), None, "the process handled the signal instead of dying of it");
            return (status.code(), started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True while `pid` runs (a zombie waiting to be reaped does not run).
fn running(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

fn assert_gone_soon(pid: i32, what: &str) {
    let started = Instant::now();
    while running(pid) {
        assert!(started.elapsed() < Duration::from_secs(5), "{what} (pid {pid}) is still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The decrypted file helm was given, from the stub's record.
fn decrypted_file(world: &World) -> PathBuf {
    let seen = world.stubs.values_seen();
    let (path, content) = seen.iter().find(|(path, _)| path.contains("/0-enc-")).expect("a decrypted file");
    assert!(content.contains("plaintext-"), "helm was given the plaintext: {content}");
    PathBuf::from(path)
}

#[test]
fn sigterm_during_deploy_stops_helm_and_removes_the_decrypted_folder() {
    let world = World::new();
    let mut child = world.spawn_action(&[("STUB_HELM_SLEEP", "60")]);
    world.wait_for_helm(&mut child);
    let (helm, sleep) = (world.state_pid("helm.pid"), world.state_pid("sleep.pid"));
    let decrypted = decrypted_file(&world);
    let folder = decrypted.parent().expect("folder").to_path_buf();
    assert!(folder.starts_with(&world.tmpdir) && folder.is_dir(), "{folder:?}");

    send(&child, libc::SIGTERM);
    let (code, took) = wait_at_most(&mut child, Duration::from_secs(15));
    let (stdout, stderr) = (world.stdout(), world.stderr());
    assert_eq!(code, Some(143), "128 + SIGTERM\n{stdout}\n{stderr}");
    assert!(took < Duration::from_secs(4), "exits promptly, took {took:?}");
    // helm and what it started are gone, and so is the plaintext.
    assert_gone_soon(helm, "the helm stub");
    assert_gone_soon(sleep, "the process helm started");
    assert!(!folder.exists(), "the decrypted folder {folder:?} is removed");
    assert_eq!(world.leftovers(), Vec::<PathBuf>::new());
    assert!(stdout.contains("Received SIGTERM: stopping helm (SIGTERM, then SIGKILL after 5 s)"), "{stdout}");
    assert!(
        stdout.contains(
            "::error::stopped by SIGTERM: the deploy on cluster cluster1 was stopped (`helm upgrade support` was \
             stopped); the decrypted values are removed; not upgraded: support"
        ),
        "{stdout}"
    );
    assert!(stderr.starts_with("error: stopped by SIGTERM: "), "{stderr}");
    let outputs = fs::read_to_string(world.temp.path().join("github_output")).expect("outputs");
    assert_eq!(outputs, "", "no outputs from a stopped deploy");
}

#[test]
fn sigint_to_the_cli_kills_a_helm_deaf_to_sigterm_after_the_grace_period() {
    let world = World::new();
    let mut child = world.spawn_cli(&[("STUB_HELM_SLEEP", "60"), ("STUB_HELM_IGNORE_TERM", "1")]);
    world.wait_for_helm(&mut child);
    let (helm, sleep) = (world.state_pid("helm.pid"), world.state_pid("sleep.pid"));
    let folder = decrypted_file(&world).parent().expect("folder").to_path_buf();

    send(&child, libc::SIGINT);
    let (code, took) = wait_at_most(&mut child, Duration::from_secs(20));
    let (stdout, stderr) = (world.stdout(), world.stderr());
    assert_eq!(code, Some(130), "128 + SIGINT\n{stdout}\n{stderr}");
    // SIGTERM was ignored: SIGKILL after the 5 s grace period.
    assert!(took >= Duration::from_millis(4500) && took < Duration::from_secs(12), "took {took:?}\n{stdout}");
    assert_gone_soon(helm, "the helm stub");
    assert_gone_soon(sleep, "the process helm started");
    assert!(!folder.exists(), "the decrypted folder {folder:?} is removed");
    assert_eq!(world.leftovers(), Vec::<PathBuf>::new());
    assert!(stderr.starts_with("error: stopped by SIGINT: the deploy on cluster cluster1 was stopped"), "{stderr}");
}

#[test]
fn a_second_signal_kills_helm_at_once() {
    let world = World::new();
    let mut child = world.spawn_action(&[("STUB_HELM_SLEEP", "60"), ("STUB_HELM_IGNORE_TERM", "1")]);
    world.wait_for_helm(&mut child);
    let helm = world.state_pid("helm.pid");
    let folder = decrypted_file(&world).parent().expect("folder").to_path_buf();
    send(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    send(&child, libc::SIGTERM);
    let (code, took) = wait_at_most(&mut child, Duration::from_secs(15));
    assert_eq!(code, Some(130), "the first signal counts\n{}", world.stdout());
    assert!(took < Duration::from_secs(3), "no grace period after a second signal: {took:?}");
    assert_gone_soon(helm, "the helm stub");
    assert!(!folder.exists());
}

#[test]
fn decrypted_values_are_masked_before_helm_runs() {
    let world = World::new();
    fs::write(
        world.stubs.bin.join("sops"),
        "#!/bin/sh\ncat <<'EOF'\ndatabase:\n  password: \"hunter2-db-password\"\n  port: 5432\n  enabled: true\n  \
         replicas: 1\ntls:\n  key: |\n    -----BEGIN PRIVATE KEY-----\n    TUlJRXZRSUJBREFOQmdrcWhraUc5dzBC\n    \
         -----END PRIVATE KEY-----\napi_tokens: [first-api-token, second-api-token]\nEOF\n",
    )
    .expect("sops stub");
    // A helm that prints the values it was given, as helm's errors can.
    world.patch_helm(
        "case \"$1\" in",
        "if [ \"$1\" = upgrade ]; then for a in \"$@\"; do case \"$a\" in */0-enc-*) cat \"$a\";; esac; done; fi\n",
    );
    let result = world.action().input("cluster", "cluster1").input("support", "true").run();
    assert!(result.success(), "{}", logs(&result));
    let lines: Vec<&str> = result.stdout.lines().collect();
    let helm_starts =
        lines.iter().position(|l| l.starts_with("::group::helm upgrade support")).expect("helm upgrade group");
    let secrets = [
        "hunter2-db-password",
        "5432",
        "-----BEGIN PRIVATE KEY-----",
        "TUlJRXZRSUJBREFOQmdrcWhraUc5dzBC",
        "-----END PRIVATE KEY-----",
        "first-api-token",
        "second-api-token",
    ];
    for secret in secrets {
        let mask = format!("::add-mask::{secret}");
        let at = lines
            .iter()
            .position(|l| *l == mask)
            .unwrap_or_else(|| panic!("{secret} is not masked\n{}", logs(&result)));
        assert!(at < helm_starts, "{secret} is masked only after helm started\n{}", result.stdout);
        let first_use = lines.iter().position(|l| l.contains(secret) && !l.starts_with("::add-mask::"));
        assert!(first_use.is_some_and(|use_at| use_at > at), "helm echoed {secret}, after its mask");
    }
    // Booleans and one-character values are not masked: that would hide every `true` and `1` in the log.
    for short in ["true", "1"] {
        assert!(!lines.contains(&format!("::add-mask::{short}").as_str()), "{short} masked\n{}", result.stdout);
    }
    assert!(!result.stderr.contains("hunter2"), "{}", result.stderr);
}

// ---------------------------------------------------------------------------
// The kubeconfig setup-cluster writes.

const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: cluster4\n  cluster:\n    server: https://k8s.cluster4.example\ncontexts:\n- name: cluster4\n  context: {cluster: cluster4, user: admin}\ncurrent-context: cluster4\nusers:\n- name: admin\n  user:\n    token: s3cr3t-cluster4-token\n";

struct Leg {
    workspace: tempfile::TempDir,
    home: tempfile::TempDir,
    env_file: PathBuf,
}

fn leg() -> Leg {
    let workspace = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), workspace.path());
    let home = tempfile::tempdir().expect("temp");
    let env_file = home.path().join("github_env");
    fs::write(&env_file, "").expect("env file");
    Leg { workspace, home, env_file }
}

impl Leg {
    fn run(&self, cluster: &str) -> ActionRun {
        ActionRun::new("action-setup-cluster", self.workspace.path())
            .env("HOME", self.home.path().to_string_lossy())
            .env("GITHUB_ENV", self.env_file.to_string_lossy())
            .input("cluster", cluster)
    }

    fn kube(&self) -> PathBuf {
        self.home.path().join(".kube")
    }

    fn kubeconfig_path(&self) -> PathBuf {
        self.kube().join("deployer-cluster4.yaml")
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::symlink_metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn private_dir(path: &Path) {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().mode(0o700).create(path).expect("dir");
}

#[test]
fn a_planted_symlink_at_the_kubeconfig_path_is_replaced_never_written_through() {
    let leg = leg();
    private_dir(&leg.kube());
    let elsewhere = leg.home.path().join("elsewhere.txt");
    fs::write(&elsewhere, "precious").expect("file");
    std::os::unix::fs::symlink(&elsewhere, leg.kubeconfig_path()).expect("symlink");
    let result = leg.run("cluster4").input("kubeconfig", KUBECONFIG).run();
    assert!(result.success(), "{}", logs(&result));
    assert_eq!(fs::read_to_string(&elsewhere).expect("file"), "precious", "the link's target is untouched");
    let path = leg.kubeconfig_path();
    assert!(fs::symlink_metadata(&path).expect("kubeconfig").is_file(), "a regular file now");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(fs::read_to_string(&path).expect("kubeconfig").trim_end(), KUBECONFIG.trim_end());
    assert_eq!(fs::read_dir(leg.kube()).expect("dir").count(), 1, "no temporary file left behind");
}

#[test]
fn a_planted_open_file_is_replaced_by_a_private_one() {
    use std::os::unix::fs::PermissionsExt;
    let leg = leg();
    private_dir(&leg.kube());
    let path = leg.kubeconfig_path();
    fs::write(&path, "old").expect("file");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let result = leg.run("cluster4").input("kubeconfig", KUBECONFIG).run();
    assert!(result.success(), "{}", logs(&result));
    assert_eq!(mode(&path), 0o600);
    assert_eq!(fs::read_to_string(&path).expect("kubeconfig").trim_end(), KUBECONFIG.trim_end());
}

#[test]
fn a_kube_folder_that_is_a_symlink_or_open_to_everyone_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    // ~/.kube linked to a folder elsewhere: nothing is written there.
    let leg1 = leg();
    let target = leg1.home.path().join("elsewhere");
    private_dir(&target);
    std::os::unix::fs::symlink(&target, leg1.kube()).expect("symlink");
    let result = leg1.run("cluster4").input("kubeconfig", KUBECONFIG).run();
    assert!(!result.success(), "{}", logs(&result));
    let expected =
        format!("::error::refusing to write the kubeconfig into {}: it is a symbolic link", leg1.kube().display());
    assert!(result.stdout.contains(&expected), "{}", result.stdout);
    assert_eq!(fs::read_dir(&target).expect("dir").count(), 0, "nothing written through the link");
    assert!(result.outputs.is_empty());
    assert_eq!(fs::read_to_string(&leg1.env_file).expect("env"), "", "no KUBECONFIG exported");

    // ~/.kube writable by everyone: another user could swap the file.
    let leg2 = leg();
    fs::create_dir(leg2.kube()).expect("dir");
    fs::set_permissions(leg2.kube(), fs::Permissions::from_mode(0o777)).expect("chmod");
    let result = leg2.run("cluster4").input("kubeconfig", KUBECONFIG).run();
    assert!(!result.success(), "{}", logs(&result));
    assert!(result.stdout.contains(": everyone may write to it"), "{}", result.stdout);
    assert_eq!(fs::read_dir(leg2.kube()).expect("dir").count(), 0);
}

#[test]
fn every_credential_field_of_a_kubeconfig_is_masked_first() {
    let kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- name: cluster4\n  cluster:\n    server: https://k8s.cluster4.example\ncurrent-context: cluster4\nusers:\n- name: a\n  user: {token: flow-style-token-1}\n- name: b\n  user:\n    username: admin\n    password: basic-password-2\n- name: c\n  user:\n    client-certificate-data: Y2VydGlmaWNhdGU=\n    client-key-data: a2V5LWRhdGEtMw==\n- name: d\n  user:\n    auth-provider:\n      name: oidc\n      config:\n        client-id: public-client\n        client-secret: oidc-client-secret-4\n        id-token: oidc-id-token-5\n        refresh-token: oidc-refresh-token-6\n        access-token: oidc-access-token-7\n- name: e\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: get-token\n      env:\n      - name: API_KEY\n        value: exec-env-secret-8\n";
    let leg = leg();
    let result = leg.run("cluster4").input("kubeconfig", kubeconfig).run();
    assert!(result.success(), "{}", logs(&result));
    let lines: Vec<&str> = result.stdout.lines().collect();
    let first_other = lines.iter().position(|l| !l.starts_with("::add-mask::")).unwrap_or(lines.len());
    for secret in [
        "flow-style-token-1",
        "basic-password-2",
        "a2V5LWRhdGEtMw==",
        "oidc-client-secret-4",
        "oidc-id-token-5",
        "oidc-refresh-token-6",
        "oidc-access-token-7",
        "exec-env-secret-8",
    ] {
        let mask = format!("::add-mask::{secret}");
        let at =
            lines.iter().position(|l| *l == mask).unwrap_or_else(|| panic!("{secret} not masked\n{}", result.stdout));
        assert!(at < first_other, "{secret} is masked before anything else is printed\n{}", result.stdout);
    }
    assert!(!lines.contains(&"::add-mask::public-client"), "{}", result.stdout);
}

// ---------------------------------------------------------------------------
// Endpoint overrides.

fn gcp_leg(leg: &Leg) -> ActionRun {
    leg.run("cluster1")
}

#[test]
fn endpoint_overrides_must_be_https() {
    let cases = [
        ("http://gke.example", "only https:// endpoints are accepted"),
        ("http://127.0.0.1:1", "plain http is accepted only with DEPLOYER_ALLOW_INSECURE_ENDPOINTS=1 (for tests)"),
        ("gke.example", "only https:// endpoints are accepted"),
        ("https://", "it is not a URL"),
    ];
    for (url, why) in cases {
        let leg = leg();
        let result = gcp_leg(&leg).env("DEPLOYER_GKE_URL", url).run();
        assert!(!result.success(), "{url}: {}", logs(&result));
        let expected = format!("::error::DEPLOYER_GKE_URL `{url}` is refused: {why}");
        assert!(result.stdout.contains(&expected), "{url}: {}", result.stdout);
        assert!(!leg.kube().exists(), "no kubeconfig written");
    }
    // The opt-in does not open plain http to anything but loopback.
    let leg = leg();
    let result =
        gcp_leg(&leg).env("DEPLOYER_GKE_URL", "http://10.1.2.3").env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1").run();
    assert!(result.stdout.contains("::error::DEPLOYER_GKE_URL `http://10.1.2.3` is refused"), "{}", result.stdout);
}

#[test]
fn each_override_in_use_is_announced_without_its_credentials() {
    let leg = leg();
    let result = gcp_leg(&leg)
        .env("DEPLOYER_GKE_URL", "https://user:s3cretpw@127.0.0.1:1/gke?sig=s3cretsig")
        .env("DEPLOYER_GOOGLE_STS_URL", "http://127.0.0.1:1/sts")
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        // Another provider's override is not in use for a GCP cluster: no warning, not even checked.
        .env("DEPLOYER_AWS_EKS_URL", "http://eks.example")
        .run();
    let warnings: Vec<&str> = result.stdout.lines().filter(|l| l.starts_with("::warning::")).collect();
    assert_eq!(
        warnings,
        [
            "::warning::DEPLOYER_GOOGLE_STS_URL is set: requests meant for the public endpoint go to http://127.0.0.1:1/sts",
            "::warning::DEPLOYER_GKE_URL is set: requests meant for the public endpoint go to https://…@127.0.0.1:1/gke?…",
        ],
        "{}",
        logs(&result)
    );
    let all = logs(&result);
    assert!(!all.contains("s3cretpw") && !all.contains("s3cretsig"), "{all}");
    // Past the checks: the run fails later, for want of credentials.
    assert!(result.stdout.contains("::error::gcp: "), "{}", result.stdout);
}

#[test]
fn the_runners_own_endpoints_are_https_too_but_not_announced() {
    let event =
        r#"{"pull_request": {"number": 7, "head": {"sha": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, "labels": []}}"#;
    let generate = |api: &str| {
        ActionRun::new("action-generate", example_repo())
            .env("GITHUB_API_URL", api)
            .env("GITHUB_REPOSITORY", "octo-org/infra")
            .env("GITHUB_EVENT_NAME", "pull_request")
            .event(event)
            .temp_input("plan-dir", "plan")
    };
    let result = generate("http://127.0.0.1:1").run();
    assert!(!result.success());
    assert!(
        result.stdout.contains(
            "::error::GITHUB_API_URL `http://127.0.0.1:1` is refused: plain http is accepted only with \
             DEPLOYER_ALLOW_INSECURE_ENDPOINTS=1"
        ),
        "{}",
        logs(&result)
    );
    let result = generate("http://ghes.example/api/v3").run();
    assert!(
        result.stdout.contains("::error::GITHUB_API_URL `http://ghes.example/api/v3` is refused"),
        "{}",
        logs(&result)
    );
    // With the opt-in, a loopback fake is accepted, silently (the runner's variable, not an override).
    let result = generate("http://127.0.0.1:1").env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1").run();
    assert!(!result.stdout.contains("is refused"), "{}", logs(&result));
    assert!(!result.stdout.contains("::warning::GITHUB_API_URL"), "{}", logs(&result));

    // The OIDC request URL gets the job's bearer token: https only.
    let leg = leg();
    let result = gcp_leg(&leg)
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", "http://token.example/oidc")
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
        .input("workload-identity-provider", "projects/1/locations/global/workloadIdentityPools/p/providers/github")
        .input("service-account", "deployer@project.iam.gserviceaccount.com")
        .run();
    assert!(
        result.stdout.contains("::error::ACTIONS_ID_TOKEN_REQUEST_URL `http://token.example/oidc` is refused"),
        "{}",
        logs(&result)
    );
}

// ---------------------------------------------------------------------------
// plan-dir.

fn generate_in(workspace: &Path, plan_dir: &str) -> ActionResult {
    ActionRun::new("action-generate", workspace)
        .input("changed-files", "config/clusters/cluster1/hub1.values.yaml")
        .input("plan-dir", plan_dir)
        .run()
}

/// Every path under `root`, with file contents, to compare before and after.
fn snapshot(root: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut all = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let metadata = fs::symlink_metadata(&path).expect("metadata");
            if metadata.is_dir() {
                dirs.push(path.clone());
                all.push((path, None));
            } else {
                all.push((path.clone(), fs::read(&path).ok()));
            }
        }
    }
    all.sort();
    all
}

#[test]
fn plan_dir_outside_the_workspace_or_over_other_files_is_refused_and_nothing_is_written() {
    let temp = tempfile::tempdir().expect("temp");
    let workspace = temp.path().join("workspace");
    copy_tree(&example_repo(), &workspace);
    fs::create_dir(workspace.join("notes")).expect("dir");
    fs::write(workspace.join("notes/todo.txt"), "keep me").expect("file");
    fs::create_dir(temp.path().join("outside")).expect("dir");
    std::os::unix::fs::symlink(temp.path().join("outside"), workspace.join("escape")).expect("symlink");
    let outside = temp.path().join("outside/plan");
    let cases = [
        (".".to_owned(), "is the workspace itself"),
        ("..".to_owned(), "is outside the workspace"),
        ("../outside/plan".to_owned(), "is outside the workspace"),
        (outside.to_string_lossy().into_owned(), "is outside the workspace"),
        ("config".to_owned(), "holds `clusters`, which is not a plan file"),
        ("helm-charts".to_owned(), "which is not a plan file"),
        ("notes".to_owned(), "holds `todo.txt`, which is not a plan file"),
        ("requirements.txt".to_owned(), "exists and is not a folder"),
        (".git".to_owned(), "is inside `.git`"),
        ("escape/plan".to_owned(), "leads outside the workspace through a symbolic link"),
    ];
    let before = snapshot(temp.path());
    for (plan_dir, why) in &cases {
        let result = generate_in(&workspace, plan_dir);
        assert!(!result.success(), "{plan_dir}: {}", logs(&result));
        let line = result.stdout.lines().find(|l| l.starts_with("::error::")).unwrap_or_default();
        assert!(line.starts_with("::error::invalid input `plan-dir`: "), "{plan_dir}: {}", logs(&result));
        assert!(line.contains(why), "{plan_dir}: {line}");
        assert!(result.outputs.is_empty() && result.summary.is_empty(), "{plan_dir}: nothing written");
        assert_eq!(snapshot(temp.path()), before, "{plan_dir}: no file changed, none added");
    }
}

#[test]
fn plan_dir_may_be_new_empty_or_a_previous_plan() {
    let temp = tempfile::tempdir().expect("temp");
    let workspace = temp.path().join("workspace");
    copy_tree(&example_repo(), &workspace);
    fs::create_dir(workspace.join("empty")).expect("dir");
    let absolute = workspace.join("out/abs-plan").to_string_lossy().into_owned();
    for plan_dir in ["deployment-plan", "out/nested/plan", "empty", &absolute] {
        let result = generate_in(&workspace, plan_dir);
        assert!(result.success(), "{plan_dir}: {}", logs(&result));
        assert_eq!(result.output("plan-dir"), plan_dir);
        let dir = workspace.join(plan_dir);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .expect("plan folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["comment.md", "plan.json"], "{plan_dir}");
    }
    // The previous plan is replaced by the next one.
    fs::write(workspace.join("deployment-plan/plan.json"), "{}").expect("stale plan");
    let result = generate_in(&workspace, "deployment-plan");
    assert!(result.success(), "{}", logs(&result));
    let plan = fs::read_to_string(workspace.join("deployment-plan/plan.json")).expect("plan.json");
    assert!(plan.contains("\"prod-hub-matrix-jobs\""), "{plan}");
    let hidden: Vec<_> = fs::read_dir(&workspace)
        .expect("workspace")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert_eq!(hidden, Vec::<String>::new(), "no temporary folder left behind");
}

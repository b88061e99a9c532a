//! `action-deploy` (the runner's contract) and `deployer deploy`, on a copy of
//! the example repository, with stub `helm`, `sops` and `kubectl` on the
//! PATH: the exact helm command lines, the values files helm was given (order
//! and content), the decrypted files' lifetime, the log, and failures.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;
use support::stubs::{Stubs, PLAINTEXT_MARKER};
use support::{bin, copy_tree, example_repo, ActionResult, ActionRun};

/// A test's world: a repository copy with a `file://` chart dependency, the
/// stubs, and a temporary folder of its own for the decrypted files.
struct World {
    _temp: tempfile::TempDir,
    repo: PathBuf,
    tmpdir: PathBuf,
    stubs: Stubs,
}

impl World {
    fn new() -> World {
        let temp = tempfile::tempdir().expect("temp");
        let repo = temp.path().join("repo");
        copy_tree(&example_repo(), &repo);
        // daskhub depends on basehub from the same repository: helm must build its dependencies first.
        fs::write(
            repo.join("helm-charts/daskhub/Chart.yaml"),
            "apiVersion: v2\nname: daskhub\nversion: 0.1.0\ndependencies:\n  \
             - name: basehub\n    version: 0.1.0\n    repository: file://../basehub\n",
        )
        .expect("Chart.yaml");
        let tmpdir = temp.path().join("tmp");
        fs::create_dir(&tmpdir).expect("tmp");
        let stubs = Stubs::new(&temp.path().join("stubs"));
        World { _temp: temp, repo, tmpdir, stubs }
    }

    /// `action-deploy` on the repository, with the stubs and `TMPDIR`.
    fn action(&self) -> ActionRun {
        let mut run = ActionRun::new("action-deploy", &self.repo).env("TMPDIR", self.tmpdir.display().to_string());
        for (name, value) in self.stubs.env() {
            run = run.env(&name, value);
        }
        run
    }

    /// `deployer deploy --repo <repo> ARGS`, in a clean environment with the stubs.
    /// The cluster's kubectl context is current (as `gcloud container clusters get-credentials` or
    /// `aws eks update-kubeconfig` leave it) unless `env` sets KUBECONFIG.
    fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let cluster = args.iter().position(|a| *a == "--cluster").and_then(|i| args.get(i + 1)).copied();
        let context = match cluster {
            Some("cluster1") => "gke_cluster1-project_us-central1_cluster1-cluster",
            Some("cluster2") => "arn:aws:eks:us-west-2:123456789012:cluster/cluster2",
            Some("cluster3") => "gke_cluster3-project_europe-west1_cluster3-cluster",
            _ => "none",
        };
        let kubeconfig = support::kubeconfig_with_context(&self.repo.with_file_name("kube"), context);
        let mut command = Command::new(bin("deployer"));
        command
            .env_clear()
            .envs(self.stubs.env())
            .env("TMPDIR", &self.tmpdir)
            .env("KUBECONFIG", &kubeconfig)
            .arg("deploy")
            .arg("--repo")
            .arg(&self.repo);
        command.args(args).envs(env.iter().copied());
        command.output().expect("run deployer")
    }

    /// Files left in the temporary folder (none, once a run has ended).
    fn leftovers(&self) -> Vec<PathBuf> {
        fs::read_dir(&self.tmpdir).expect("tmp").map(|e| e.expect("entry").path()).collect()
    }

    fn helm_calls(&self) -> Vec<String> {
        self.stubs.calls_of("helm").iter().map(|args| format!("helm {}", args.join(" "))).collect()
    }
}

/// The plaintext appears in the log only where it is registered as a secret
/// (`::add-mask::`, which the runner consumes), never on stderr.
fn assert_plaintext_only_masked(result: &ActionResult) {
    assert!(
        result.stdout.lines().filter(|l| l.contains(PLAINTEXT_MARKER)).all(|l| l.starts_with("::add-mask::"))
            && !result.stderr.contains(PLAINTEXT_MARKER),
        "{}",
        logs(result)
    );
}

fn line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn logs(result: &ActionResult) -> String {
    format!("stdout:\n{}\nstderr:\n{}", result.stdout, result.stderr)
}

/// The text between the opening of group `title` and the next `::endgroup::`.
fn group<'a>(stdout: &'a str, title: &str) -> &'a str {
    let start = stdout.find(&format!("::group::{title}\n")).unwrap_or_else(|| panic!("no group {title}:\n{stdout}"));
    let rest = &stdout[start..];
    &rest[..rest.find("::endgroup::\n").unwrap_or_else(|| panic!("group {title} is not closed:\n{stdout}"))]
}

/// `foreign` (a workflow command printed by a program we ran) appears between
/// `::stop-commands::TOKEN` and `::TOKEN::`, neutralised there as well, and no
/// line outside those fences starts with it (where the runner would read it
/// as a command).
fn assert_fenced(stdout: &str, foreign: &str) {
    let neutralised = deployer::base::runner::log_text(foreign);
    assert_ne!(neutralised, foreign);
    let mut fence: Option<String> = None;
    let mut seen = false;
    for text in stdout.lines() {
        match &fence {
            None => {
                if let Some(token) = text.strip_prefix("::stop-commands::") {
                    fence = Some(format!("::{token}::"));
                } else {
                    assert!(!text.trim_start().starts_with(foreign), "unfenced: {text}\n{stdout}");
                }
            }
            Some(end) => {
                if text == end {
                    fence = None;
                } else if text.contains(&neutralised) {
                    seen = true;
                }
            }
        }
    }
    assert!(fence.is_none(), "a fence is left open:\n{stdout}");
    assert!(seen, "no fenced {foreign}:\n{stdout}");
}

#[test]
fn support_on_cluster1_decrypts_into_a_private_folder_that_is_then_removed() {
    let world = World::new();
    let result = world.action().input("cluster", "cluster1").input("support", "true").run();
    assert!(result.success(), "{}", logs(&result));

    let calls = world.stubs.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].program, "sops");
    let encrypted = world.repo.join("config/clusters/cluster1/enc-support.secret.values.yaml");
    assert_eq!(calls[0].args, ["--decrypt".to_owned(), encrypted.display().to_string()]);

    let helm = world.stubs.calls_of("helm");
    assert_eq!(helm.len(), 1);
    let decrypted = PathBuf::from(&helm[0][10]);
    assert!(decrypted.starts_with(&world.tmpdir), "{decrypted:?} in the temporary folder");
    assert!(decrypted.to_string_lossy().ends_with("/0-enc-support.secret.values.yaml"), "{decrypted:?}");
    assert_eq!(
        world.helm_calls(),
        [line(&format!(
            "helm upgrade --install support helm-charts/support --namespace support --create-namespace \
             -f config/clusters/cluster1/support.values.yaml -f {} --timeout 10m --cleanup-on-fail",
            decrypted.display()
        ))]
    );
    assert_eq!(
        world.stubs.values_seen(),
        [
            ("config/clusters/cluster1/support.values.yaml".to_owned(), "# fixture\n".to_owned()),
            (
                decrypted.display().to_string(),
                "decrypted: enc-support.secret.values.yaml\nsecret: plaintext-enc-support.secret.values.yaml\n"
                    .to_owned()
            ),
        ]
    );

    // Gone after the run, with its private folder; never printed.
    assert!(!decrypted.exists());
    assert_eq!(world.leftovers(), Vec::<PathBuf>::new());
    assert_plaintext_only_masked(&result);

    assert_eq!(result.json_output("deployed"), json!(["support"]));
    let names: Vec<&str> = result.outputs.keys().map(String::as_str).collect();
    assert_eq!(names, ["deployed"]);
    let upgrade = group(&result.stdout, "helm upgrade support");
    assert!(upgrade.contains("Release \"support\" has been upgraded. Happy Helming!"), "{upgrade}");
    assert_fenced(&result.stdout, "::warning::helm stub output");
    assert!(result.summary.contains("Upgraded on `cluster1`: `support`."), "{}", result.summary);
}

#[test]
fn private_folder_and_file_modes() {
    // The decrypted file is 0600 in a 0700 folder while helm reads it.
    let world = World::new();
    let probe = world.stubs.bin.join("helm");
    let script = fs::read_to_string(&probe).expect("helm stub");
    let check = "for a in \"$@\"; do case \"$a\" in */0-enc-*) stat -c '%a' \"$a\" \"$(dirname \"$a\")\" >>\"$STUB_STATE/modes\";; esac; done\n";
    fs::write(&probe, script.replacen('\n', &format!("\n{check}"), 1)).expect("patch stub");
    let result = world.action().input("cluster", "cluster1").input("support", "true").run();
    assert!(result.success(), "{}", logs(&result));
    assert_eq!(fs::read_to_string(world.stubs.state.join("modes")).expect("modes"), "600\n700\n");
}

#[test]
fn one_hub_through_the_cli() {
    let world = World::new();
    let output = world.cli(&["--cluster", "cluster1", "--hub", "hub1", "--timeout", "5m"], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        world.helm_calls(),
        [line(
            "helm upgrade --install hub1 helm-charts/basehub --namespace hub1 --create-namespace \
             -f config/clusters/cluster1/hub1.values.yaml --timeout 5m --cleanup-on-fail"
        )]
    );
    assert!(world.stubs.calls_of("sops").is_empty());
    // Outside Actions: plain headings, no workflow commands.
    assert!(stdout.contains("==> helm upgrade hub1\n"), "{stdout}");
    assert!(!stdout.contains("::group::") && !stdout.contains("::stop-commands::"), "{stdout}");
    assert!(stdout.ends_with("Upgraded on cluster cluster1: hub1\n"), "{stdout}");
}

#[test]
fn several_staging_hubs_in_order_with_their_values_files_in_order() {
    let world = World::new();
    let result = world.action().input("cluster", "cluster4").input("hubs", r#"["staging", "dask-staging"]"#).run();
    assert!(result.success(), "{}", logs(&result));
    assert_eq!(
        world.helm_calls(),
        [
            line(
                "helm upgrade --install staging helm-charts/basehub --namespace staging --create-namespace \
                 -f config/clusters/cluster4/common.values.yaml -f config/clusters/cluster4/staging.values.yaml \
                 --timeout 10m --cleanup-on-fail"
            ),
            line("helm dependency build helm-charts/daskhub"),
            line(
                "helm upgrade --install dask-staging helm-charts/daskhub --namespace dask-staging --create-namespace \
                 -f config/clusters/cluster4/common.values.yaml -f config/clusters/cluster4/dask-staging.values.yaml \
                 --timeout 10m --cleanup-on-fail"
            ),
        ]
    );
    let seen: Vec<(String, String)> = world.stubs.values_seen();
    let expected: Vec<(String, String)> = [
        "config/clusters/cluster4/common.values.yaml",
        "config/clusters/cluster4/staging.values.yaml",
        "config/clusters/cluster4/common.values.yaml",
        "config/clusters/cluster4/dask-staging.values.yaml",
    ]
    .iter()
    .map(|p| ((*p).to_owned(), fs::read_to_string(world.repo.join(p)).expect("values file")))
    .collect();
    assert_eq!(seen, expected);
    assert!(world.stubs.calls_of("sops").is_empty(), "nothing to decrypt");
    assert_eq!(result.json_output("deployed"), json!(["staging", "dask-staging"]));
    let order: Vec<usize> =
        ["::group::helm upgrade staging", "::group::helm dependency build", "::group::helm upgrade dask-staging"]
            .iter()
            .map(|g| result.stdout.find(g).unwrap_or_else(|| panic!("{g}:\n{}", result.stdout)))
            .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", result.stdout);
}

#[test]
fn hubs_as_a_comma_list_and_prod_secrets() {
    let world = World::new();
    let result = world.action().input("cluster", "cluster4").input("hubs", "prod").input("timeout", "15m").run();
    assert!(result.success(), "{}", logs(&result));
    let helm = world.stubs.calls_of("helm");
    let decrypted = helm[0][12].clone();
    assert_eq!(
        world.helm_calls(),
        [line(&format!(
            "helm upgrade --install prod helm-charts/basehub --namespace prod --create-namespace \
             -f config/clusters/cluster4/common.values.yaml -f config/clusters/cluster4/prod.values.yaml \
             -f {decrypted} --timeout 15m --cleanup-on-fail"
        ))]
    );
    assert_eq!(
        world.stubs.values_seen()[2].1,
        "decrypted: enc-prod.secret.values.yaml\nsecret: plaintext-enc-prod.secret.values.yaml\n"
    );
    assert!(!Path::new(&decrypted).exists());
    assert_eq!(world.leftovers(), Vec::<PathBuf>::new());
}

#[test]
fn a_helm_failure_on_the_first_staging_hub_stops_the_second() {
    let world = World::new();
    let result = world
        .action()
        .input("cluster", "cluster4")
        .input("hubs", "staging,dask-staging")
        .env("STUB_HELM_FAIL_ON", "upgrade")
        .env("STUB_HELM_FAIL_OUTPUT", "::error::forged by helm\nError: UPGRADE FAILED: context deadline exceeded")
        .run();
    assert!(!result.success(), "{}", logs(&result));
    // Only the first upgrade ran: no dependency build and no upgrade of dask-staging.
    assert_eq!(world.stubs.calls_of("helm").len(), 1, "{:?}", world.helm_calls());
    assert!(world.helm_calls()[0].starts_with("helm upgrade --install staging "));
    // helm's output is in its group, and in the error.
    let upgrade = group(&result.stdout, "helm upgrade staging");
    assert!(upgrade.contains("Error: UPGRADE FAILED: context deadline exceeded"), "{upgrade}");
    assert!(upgrade.contains("helm stub: upgrade staging in progress"), "{upgrade}");
    assert!(!result.stdout.contains("::group::helm upgrade dask-staging"), "{}", result.stdout);
    assert!(
        result.stderr.contains(
            "error: helm failed: `helm upgrade staging` on cluster cluster4 failed with exit code 1; \
             not upgraded: dask-staging; the last lines of its output:\n"
        ),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("\n> Error: UPGRADE FAILED: context deadline exceeded"), "{}", result.stderr);
    // helm's output cannot issue workflow commands: fenced on stdout, quoted in the error on stderr.
    assert_fenced(&result.stdout, "::error::forged by helm");
    assert!(result.stderr.lines().all(|l| !l.trim_start().starts_with("::")), "{}", result.stderr);
    // The error annotation is on the hub's entry in cluster.yaml.
    let cluster_yaml = std::fs::read_to_string(world.repo.join("config/clusters/cluster4/cluster.yaml")).expect("read");
    let line = cluster_yaml.lines().position(|l| l.trim() == "- name: staging").expect("staging entry") + 1;
    assert!(
        result.stdout.contains(&format!(
            "::error file=config/clusters/cluster4/cluster.yaml,line={line},col=1::helm failed: `helm upgrade staging` on cluster cluster4"
        )),
        "{}",
        result.stdout
    );
    // One line before and one after each release, and a table of releases in the step summary.
    assert!(
        result.stdout.contains("helm upgrade staging helm-charts/basehub (2 values files, 0 decrypted)\n"),
        "{}",
        result.stdout
    );
    assert!(result.stdout.contains("helm upgrade staging: failed with exit code 1, after "), "{}", result.stdout);
    assert!(result.summary.contains("| `staging` | failed | "), "{}", result.summary);
    assert!(result.summary.contains("| `dask-staging` | not run | – |"), "{}", result.summary);
    assert!(result.outputs.is_empty(), "no outputs on failure: {:?}", result.outputs);
}

#[test]
fn decrypted_files_are_removed_after_a_helm_failure_too() {
    let world = World::new();
    let result = world
        .action()
        .input("cluster", "cluster1")
        .input("support", "true")
        .input("hubs", "staging")
        .env("STUB_HELM_FAIL_ON", "upgrade")
        .env("STUB_HELM_FAIL_CODE", "3")
        .run();
    assert!(!result.success(), "{}", logs(&result));
    let seen = world.stubs.values_seen();
    assert!(seen[1].1.contains("plaintext-enc-support.secret.values.yaml"), "helm was given the decrypted file");
    assert!(!Path::new(&seen[1].0).exists(), "decrypted file left behind: {}", seen[1].0);
    assert_eq!(world.leftovers(), Vec::<PathBuf>::new());
    assert_plaintext_only_masked(&result);
    assert!(result.stderr.contains("failed with exit code 3; not upgraded: staging"), "{}", result.stderr);
}

#[test]
fn a_sops_failure_runs_no_helm() {
    let world = World::new();
    let result = world.action().input("cluster", "cluster1").input("support", "true").env("STUB_SOPS_FAIL", "1").run();
    assert!(!result.success());
    assert!(world.stubs.calls_of("helm").is_empty());
    assert!(result.stderr.contains("error: sops failed: decrypting "), "{}", result.stderr);
    assert!(result.stderr.contains("Failed to get the data key"), "{}", result.stderr);
    assert_eq!(world.leftovers(), Vec::<PathBuf>::new());
}

#[test]
fn dry_run_prints_the_commands_and_runs_nothing() {
    let world = World::new();
    let result = world
        .action()
        .input("cluster", "cluster1")
        .input("support", "true")
        .input("hubs", "hub3")
        .input("health-check", "kubectl rollout status deployment/hub -n \"$HUB_NAME\"")
        .input("dry-run", "true")
        .run();
    assert!(result.success(), "{}", logs(&result));
    assert_eq!(world.stubs.calls(), [], "nothing is decrypted or run");
    assert_eq!(world.leftovers(), Vec::<PathBuf>::new());
    let expected = [
        "sops --decrypt config/clusters/cluster1/enc-support.secret.values.yaml > '<decrypted>/0-enc-support.secret.values.yaml'",
        "helm upgrade --install support helm-charts/support --namespace support --create-namespace \
         -f config/clusters/cluster1/support.values.yaml -f '<decrypted>/0-enc-support.secret.values.yaml' \
         --timeout 10m --cleanup-on-fail",
        "helm dependency build helm-charts/daskhub",
        "helm upgrade --install hub3 helm-charts/daskhub --namespace hub3 --create-namespace \
         -f config/clusters/cluster1/hub3.values.yaml --timeout 10m --cleanup-on-fail",
        "sh -c 'kubectl rollout status deployment/hub -n \"$HUB_NAME\"'  # health check: up to 4 attempts, 60 s each, 10 s apart",
    ];
    let printed: Vec<&str> =
        result.stdout.lines().filter(|l| !l.starts_with('#') && !l.starts_with("Dry run")).collect();
    let expected: Vec<String> =
        expected.iter().map(|l| if l.starts_with("sh -c") { (*l).to_owned() } else { line(l) }).collect();
    assert_eq!(printed, expected, "{}", result.stdout);
    assert_eq!(result.json_output("deployed"), json!([]));
}

#[test]
fn health_check_retries_until_it_passes() {
    let world = World::new();
    let result = world
        .action()
        .input("cluster", "cluster3")
        .input("hubs", "staging1\nstaging2")
        .input(
            "health-check",
            "exec kubectl rollout status deployment/hub --namespace \"$HUB_NAME\" --context \"$CLUSTER_NAME\"",
        )
        .input("health-check-retries", "3")
        .input("health-check-delay", "0")
        .env("STUB_KUBECTL_FAIL_TIMES", "2")
        .run();
    assert!(result.success(), "{}", logs(&result));
    let calls: Vec<String> =
        world.stubs.calls().iter().map(|c| format!("{} {}", c.program, c.args.join(" "))).collect();
    let check = |hub: &str| format!("kubectl rollout status deployment/hub --namespace {hub} --context cluster3");
    let upgrade = |hub: &str| {
        line(&format!(
            "helm upgrade --install {hub} helm-charts/basehub --namespace {hub} --create-namespace \
             -f config/clusters/cluster3/{hub}.values.yaml --timeout 10m --cleanup-on-fail"
        ))
    };
    assert_eq!(
        calls,
        [
            upgrade("staging1"),
            check("staging1"),
            check("staging1"),
            check("staging1"),
            upgrade("staging2"),
            check("staging2")
        ]
    );
    assert!(result.stdout.contains("::group::health check staging1 (attempt 3 of 4)"), "{}", result.stdout);
    assert!(
        result.stdout.contains("Health check of staging1 failed with exit code 1 (attempt 2 of 4)"),
        "{}",
        result.stdout
    );
    assert!(result.stdout.contains("Health check of staging1 passed (attempt 3 of 4)"), "{}", result.stdout);
    assert!(result.stdout.contains("Health check of staging2 passed (attempt 1 of 4)"), "{}", result.stdout);
    assert_eq!(result.json_output("deployed"), json!(["staging1", "staging2"]));
}

#[test]
fn health_check_that_times_out_fails_the_leg() {
    let world = World::new();
    let started = std::time::Instant::now();
    let output = world.cli(
        &[
            "--cluster",
            "cluster3",
            "--hubs",
            "staging1,staging2",
            "--health-check",
            "exec kubectl rollout status deployment/hub",
            "--health-check-retries",
            "1",
            "--health-check-timeout",
            "1",
            "--health-check-delay",
            "0",
        ],
        &[("STUB_KUBECTL_SLEEP", "30")],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "attempts were stopped");
    assert_eq!(world.stubs.calls_of("kubectl").len(), 2, "two attempts");
    assert_eq!(world.stubs.calls_of("helm").len(), 1, "staging2 is not upgraded: {:?}", world.helm_calls());
    assert!(
        stdout.contains("Health check of staging1 timed out after 1 s and was stopped (attempt 1 of 2)"),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "error: health check failed: `exec kubectl rollout status deployment/hub` for hub staging1 on cluster \
             cluster3 timed out after 1 s and was stopped (attempt 2 of 2); not upgraded: staging2; \
             the last lines of its output:\n> kubectl stub: call 2 waits"
        ),
        "{stderr}"
    );
}

#[test]
fn unknown_targets_are_clear_errors() {
    let world = World::new();
    let output = world.cli(&["--cluster", "cluster1", "--hub", "staging", "--hub", "nope"], &[]);
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: invalid input `hubs`: no hub named `nope` on cluster `cluster1` (config/clusters/cluster1/cluster.yaml); \
         its hubs: staging, hub1, hub2, hub3\n"
    );
    let output = world.cli(&["--cluster", "cluster4", "--support"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: invalid input `support`: cluster `cluster4` has no support chart (no `support` block in \
         config/clusters/cluster4/cluster.yaml)\n"
    );
    let output = world.cli(&["--cluster", "cluster9", "--support"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: invalid input `cluster`: no cluster named `cluster9` in config/clusters/**/cluster.yaml\n"
    );
    let output = world.cli(&["--cluster", "cluster1"], &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--support"), "a target is required");
    assert_eq!(world.stubs.calls(), [], "nothing ran");

    let result = world.action().input("cluster", "cluster1").input("hubs", "[\"hub1\", \"nope\"]").run();
    assert!(!result.success());
    assert!(result.stdout.contains("::error::invalid input `hubs`: no hub named `nope`"), "{}", result.stdout);
    assert_eq!(world.stubs.calls(), [], "nothing ran");
}

#[test]
fn nothing_to_deploy_is_a_success() {
    let world = World::new();
    let result = world.action().input("cluster", "cluster2").input("support", "false").input("hubs", "[]").run();
    assert!(result.success(), "{}", logs(&result));
    assert_eq!(world.stubs.calls(), []);
    assert_eq!(result.json_output("deployed"), json!([]));
    assert!(result.stdout.contains("Nothing to deploy on cluster cluster2"), "{}", result.stdout);
}

/// A check that records `<cluster> <hub>` in `$CHECK_LOG` and fails for the hub named `$FAIL_HUB` only.
const RECORDING_CHECK: &str =
    r#"echo "$CLUSTER_NAME $HUB_NAME" >>"$CHECK_LOG"; echo "checking $HUB_NAME"; test "$HUB_NAME" != "$FAIL_HUB""#;

impl World {
    fn check_log(&self) -> PathBuf {
        self.tmpdir.parent().expect("temp").join("checks.log")
    }

    fn checks_run(&self) -> Vec<String> {
        fs::read_to_string(self.check_log()).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    /// `deployer health-check --repo <repo> ARGS`, in a clean environment with the stubs.
    fn health_check_cli(&self, args: &[&str], fail_hub: &str) -> Output {
        let mut command = Command::new(bin("deployer"));
        command
            .env_clear()
            .envs(self.stubs.env())
            .env("TMPDIR", &self.tmpdir)
            .env("CHECK_LOG", self.check_log())
            .env("FAIL_HUB", fail_hub)
            .arg("health-check")
            .arg("--repo")
            .arg(&self.repo);
        command.args(args).output().expect("run deployer")
    }
}

#[test]
fn health_check_mode_checks_every_hub_and_runs_no_helm() {
    let world = World::new();
    let result = world
        .action()
        .env("CHECK_LOG", world.check_log().display().to_string())
        .env("FAIL_HUB", "none")
        .input("mode", "health-check")
        .input("cluster", "cluster1")
        .input("hubs", "staging,hub1")
        .input("health-check", RECORDING_CHECK)
        .input("health-check-delay", "0")
        .run();
    assert!(result.success(), "{}", logs(&result));
    assert_eq!(world.stubs.calls(), [], "no helm, no sops");
    assert_eq!(world.checks_run(), ["cluster1 staging", "cluster1 hub1"]);
    assert!(result.stdout.contains("::group::health check staging (attempt 1 of 4)"), "{}", result.stdout);
    assert!(result.stdout.contains("Healthy on cluster cluster1: staging, hub1\n"), "{}", result.stdout);
    assert_eq!(result.json_output("deployed"), json!([]));
    assert!(result.summary.contains("Health checks on `cluster1`: `staging`, `hub1` healthy."), "{}", result.summary);
    assert!(result.summary.contains("| `hub1` | healthy | "), "{}", result.summary);
    assert_eq!(world.leftovers(), Vec::<PathBuf>::new());
}

#[test]
fn a_failing_health_check_does_not_stop_the_other_hubs() {
    let world = World::new();
    let result = world
        .action()
        .env("CHECK_LOG", world.check_log().display().to_string())
        .env("FAIL_HUB", "hub1")
        .input("mode", "health-check")
        .input("cluster", "cluster1")
        .input("hubs", r#"["hub1", "hub2"]"#)
        .input("health-check", RECORDING_CHECK)
        .input("health-check-retries", "1")
        .input("health-check-delay", "0")
        .run();
    assert!(!result.success(), "{}", logs(&result));
    assert_eq!(world.stubs.calls(), [], "no helm, no sops");
    // hub1 twice (two attempts), then hub2 all the same.
    assert_eq!(world.checks_run(), ["cluster1 hub1", "cluster1 hub1", "cluster1 hub2"]);
    assert!(
        result.stderr.contains(&format!(
            "error: health check failed: `{RECORDING_CHECK}` for hub hub1 on cluster cluster1 failed with exit code 1 \
             (attempt 2 of 2); the last lines of its output:\n> checking hub1"
        )),
        "{}",
        result.stderr
    );
    // Annotated on hub1's entry in cluster.yaml.
    let cluster_yaml = fs::read_to_string(world.repo.join("config/clusters/cluster1/cluster.yaml")).expect("read");
    let line = cluster_yaml.lines().position(|l| l.trim() == "- name: hub1").expect("hub1 entry") + 1;
    assert!(
        result.stdout.contains(&format!(
            "::error file=config/clusters/cluster1/cluster.yaml,line={line},col=1::health check failed: "
        )),
        "{}",
        result.stdout
    );
    assert!(result.summary.contains("Health checks on `cluster1` failed."), "{}", result.summary);
    assert!(result.summary.contains("| `hub1` | health check failed | "), "{}", result.summary);
    assert!(result.summary.contains("| `hub2` | healthy | "), "{}", result.summary);
}

#[test]
fn health_check_mode_input_errors() {
    let world = World::new();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("mode", "health-check"), ("cluster", "cluster1"), ("hubs", "hub1")],
            "::error::invalid input `health-check`: is required with `mode: health-check`",
        ),
        (
            &[("mode", "health-check"), ("cluster", "cluster1"), ("support", "true"), ("health-check", "true")],
            "::error::invalid input `support`: must be `false` with `mode: health-check`",
        ),
        (
            &[("mode", "health-check"), ("cluster", "cluster1"), ("hubs", "nope"), ("health-check", "true")],
            "::error::invalid input `hubs`: no hub named `nope` on cluster `cluster1`",
        ),
        (
            &[("mode", "rollback"), ("cluster", "cluster1")],
            "::error::invalid input `mode`: expected `upgrade` or `health-check`",
        ),
    ];
    for (inputs, want) in cases {
        let mut run = world.action();
        for (name, value) in inputs.iter() {
            run = run.input(name, *value);
        }
        let result = run.run();
        assert!(!result.success(), "{inputs:?}");
        assert!(result.stdout.contains(want), "{inputs:?}: {}", logs(&result));
    }
    assert_eq!(world.stubs.calls(), [], "nothing ran");
}

#[test]
fn health_check_mode_dry_run_prints_the_checks() {
    let world = World::new();
    let result = world
        .action()
        .input("mode", "health-check")
        .input("cluster", "cluster1")
        .input("hubs", "hub1,hub2")
        .input("health-check", "curl -f \"https://$HUB_NAME.example\"")
        .input("dry-run", "true")
        .run();
    assert!(result.success(), "{}", logs(&result));
    assert_eq!(world.stubs.calls(), []);
    let printed: Vec<&str> = result.stdout.lines().filter(|l| l.contains("sh -c")).collect();
    assert_eq!(
        printed,
        [
            "CLUSTER_NAME=cluster1 HUB_NAME=hub1 sh -c 'curl -f \"https://$HUB_NAME.example\"'  # health check: up to 4 attempts, 60 s each, 10 s apart",
            "CLUSTER_NAME=cluster1 HUB_NAME=hub2 sh -c 'curl -f \"https://$HUB_NAME.example\"'  # health check: up to 4 attempts, 60 s each, 10 s apart",
        ],
        "{}",
        result.stdout
    );
    assert!(world.checks_run().is_empty());
}

#[test]
fn health_check_through_the_cli() {
    let world = World::new();
    let args = |hubs: &[&'static str]| {
        let mut args = vec!["--cluster", "cluster1", "--command", RECORDING_CHECK, "--retries", "0"];
        for hub in hubs {
            args.extend(["--hub", hub]);
        }
        args
    };
    let output = world.health_check_cli(&args(&["hub1", "hub2"]), "none");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("==> health check hub1 (attempt 1 of 1)\n"), "{stdout}");
    assert!(stdout.ends_with("Healthy on cluster cluster1: hub1, hub2\n"), "{stdout}");

    let output = world.health_check_cli(&args(&["hub1", "hub2", "hub3"]), "hub2");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("for hub hub2 on cluster cluster1 failed with exit code 1 (attempt 1 of 1)"), "{stderr}");
    assert_eq!(
        world.checks_run(),
        ["cluster1 hub1", "cluster1 hub2", "cluster1 hub1", "cluster1 hub2", "cluster1 hub3"],
        "hub3 checked after hub2 failed"
    );

    let output = world.health_check_cli(&args(&["hub1", "hubb2"]), "none");
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: invalid input `hubs`: no hub named `hubb2` on cluster `cluster1` (config/clusters/cluster1/cluster.yaml); \
         its hubs: staging, hub1, hub2, hub3\n"
    );
    assert_eq!(world.checks_run().len(), 5, "nothing checked for an unknown hub");
    assert_eq!(world.stubs.calls(), [], "never helm");
}

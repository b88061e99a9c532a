//! `deployment-records: true` of `actions/deploy`, through the real `action-deploy` binary (the runner's
//! contract, helm stubbed) against the fake GitHub API: one Deployment per upgraded release
//! (environment `<cluster>/<release>`, `ref` the commit deployed, the payload's chart, chart commit,
//! digest and wave from the leg item or the state file), statuses `in_progress` then `success` or
//! `failure` with the hub's URL and the run attempt's page. A record that cannot be written is a
//! warning and changes nothing; records off (the default) make no request; `true` without a token is
//! an input error before helm runs. And the read side (`github::deployments::latest`) on seeded records.

mod support;

use std::fs;
use std::path::PathBuf;

use serde_json::{json, Value};
use support::fake_github::{FakeDeployment, FakeGitHub, FakeStatus};
use support::stubs::Stubs;
use support::{copy_tree, deployer, fixture, git, ActionRun};

/// The commit the runner checked out (`GITHUB_SHA`).
const HEAD: &str = "abcdefabcdefabcdefabcdefabcdefabcdefabcd";
const EARLY_PIN: &str = "1111111111111111111111111111111111111111";
const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: beta\n  cluster:\n    server: https://beta.example\nusers:\n- name: u\n  user:\n    token: beta-static-token\ncontexts:\n- name: beta\n  context: {cluster: beta, user: u}\ncurrent-context: beta\n";

/// The rollout fixture with the cluster `beta` reached through a kubeconfig file (no cloud to fake),
/// the wave `early` selecting its prod hubs by name instead of by provider, and a domain on `prod1`.
struct World {
    _temp: tempfile::TempDir,
    repo: PathBuf,
    /// The wave `early`'s pin: a real commit of the repository (deploy reads the chart at it).
    pin: String,
    stubs: Stubs,
    home: PathBuf,
}

impl World {
    fn new() -> World {
        let temp = tempfile::tempdir().expect("temp");
        let repo = temp.path().join("repo");
        copy_tree(&fixture("rollout/repo"), &repo);
        let settings = fs::read_to_string(repo.join("deployer.yaml")).expect("deployer.yaml");
        let settings = settings.replace("      providers: [aws]\n", "      clusters: [beta]\n");
        assert!(settings.contains("clusters: [beta]"), "{settings}");
        fs::write(repo.join("deployer.yaml"), settings).expect("deployer.yaml");
        let beta = repo.join("config/clusters/beta");
        fs::write(
            beta.join("cluster.yaml"),
            "name: beta\nprovider: kubeconfig\nkubeconfig:\n  file: kubeconfig.yaml\nsupport:\n  \
             helm_chart_values_files: [support.values.yaml]\nhubs:\n  - name: staging\n    helm_chart: basehub\n    \
             helm_chart_values_files: [staging.values.yaml]\n  - name: prod1\n    helm_chart: basehub\n    \
             domain: prod1.beta.example.org\n    helm_chart_values_files: [prod1.values.yaml]\n  - name: prod2\n    \
             helm_chart: basehub\n    helm_chart_values_files: [prod2.values.yaml]\n",
        )
        .expect("cluster.yaml");
        fs::write(beta.join("kubeconfig.yaml"), KUBECONFIG).expect("kubeconfig");
        let stubs = Stubs::new(&temp.path().join("stubs"));
        let home = temp.path().join("home");
        fs::create_dir_all(&home).expect("home");
        // A git repository whose first commit is the pin of the waves after the first.
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "the chart the later waves run"]);
        let pin = git(&repo, &["rev-parse", "HEAD"]);
        let state = fs::read_to_string(repo.join("config/rollout.yaml")).expect("state file");
        let state = state.replace(EARLY_PIN, &pin).replace(&"2".repeat(40), &pin);
        fs::write(repo.join("config/rollout.yaml"), state).expect("state file");
        git(&repo, &["commit", "-q", "-am", "pin the later waves"]);
        World { _temp: temp, repo, pin, stubs, home }
    }

    /// generate's matrices for every file of `beta` changed: (the support-and-staging item, the prod items).
    fn items(&self) -> (Value, Vec<Value>) {
        let repo = self.repo.to_str().expect("utf-8 path");
        let changed = "config/clusters/beta/support.values.yaml,config/clusters/beta/staging.values.yaml,\
                       config/clusters/beta/prod1.values.yaml,config/clusters/beta/prod2.values.yaml";
        let output = deployer(&["generate", "--repo", repo, "--changed-files", changed, "--output", "json"]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        let plan: Value = serde_json::from_str(&stdout).expect("JSON plan");
        let canary = plan["support-and-staging-matrix-jobs"].as_array().expect("canaries")[0].clone();
        let prod = plan["prod-hub-matrix-jobs"].as_array().expect("prod").clone();
        (canary, prod)
    }

    /// `action-deploy` with the stubs and the runner's run variables; the fake API when given.
    fn deploy(&self, fake: Option<&FakeGitHub>) -> ActionRun {
        let mut run = ActionRun::new("action-deploy", &self.repo)
            .env("HOME", self.home.to_string_lossy())
            .env("GITHUB_SHA", HEAD)
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_RUN_ATTEMPT", "2");
        for (name, value) in self.stubs.env() {
            run = run.env(&name, value);
        }
        match fake {
            Some(fake) => run.github(&fake.api.uri()),
            None => run,
        }
    }

    fn upgrades(&self) -> Vec<String> {
        self.stubs
            .calls_of("helm")
            .into_iter()
            .filter(|args| args.first().map(String::as_str) == Some("upgrade"))
            .map(|args| args[2].clone())
            .collect()
    }
}

fn by_environment(fake: &FakeGitHub, environment: &str) -> FakeDeployment {
    let found: Vec<FakeDeployment> = fake.deployments().into_iter().filter(|d| d.environment == environment).collect();
    assert_eq!(found.len(), 1, "one deployment of {environment}: {found:?}");
    found.into_iter().next().expect("one")
}

fn states(deployment: &FakeDeployment) -> Vec<&str> {
    deployment.statuses.iter().map(|s| s.state.as_str()).collect()
}

const LOG_URL: &str = "https://github.com/octo-org/infra/actions/runs/4242/attempts/2";

fn assert_digest(payload: &Value) {
    let digest = payload["chart_digest"].as_str().expect("digest");
    assert!(
        digest.len() == 71 && digest.starts_with("sha256:") && digest[7..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{digest}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leg_records_each_release_with_its_wave_and_chart_commit() {
    let world = World::new();
    let fake = FakeGitHub::start().await;
    let (canary, prod) = world.items();
    assert_eq!(prod.len(), 2, "{prod:?}");
    assert_eq!(prod[0]["rollout"], json!({"wave": "early", "chart_commit": world.pin}), "{prod:?}");

    let result = world
        .deploy(Some(&fake))
        .input("deployment-records", "true")
        .input("leg", canary.to_string())
        .run_async()
        .await;
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    for item in &prod {
        let result = world
            .deploy(Some(&fake))
            .input("deployment-records", "true")
            .input("leg", item.to_string())
            .run_async()
            .await;
        assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
        assert!(!result.stdout.contains("::warning::"), "{}", result.stdout);
    }
    assert_eq!(world.upgrades(), ["support", "staging", "prod1", "prod2"]);
    assert_eq!(fake.deployments().len(), 4, "{:?}", fake.deployments());

    let support = by_environment(&fake, "beta/support");
    assert_eq!(support.sha, HEAD);
    assert_eq!(support.payload["deployer"], 1);
    assert_eq!(
        (&support.payload["chart"], &support.payload["chart_commit"], &support.payload["wave"]),
        (&json!("support"), &json!(HEAD), &Value::Null)
    );
    let staging = by_environment(&fake, "beta/staging");
    assert_eq!(
        (&staging.payload["chart"], &staging.payload["chart_commit"], &staging.payload["wave"]),
        (&json!("basehub"), &json!(HEAD), &json!("canary")),
        "the first wave runs the head"
    );
    let prod1 = by_environment(&fake, "beta/prod1");
    assert_eq!(prod1.sha, HEAD, "the ref is the commit deployed");
    assert_eq!(
        prod1.payload,
        json!({
            "deployer": 1, "cluster": "beta", "release": "prod1", "chart": "basehub",
            "chart_commit": world.pin, "chart_digest": prod1.payload["chart_digest"].clone(), "wave": "early"
        })
    );
    assert_digest(&prod1.payload);
    assert_eq!(staging.payload["chart_digest"], prod1.payload["chart_digest"], "one chart folder deployed, one digest");
    assert_ne!(support.payload["chart_digest"], prod1.payload["chart_digest"]);
    for deployment in [&support, &staging, &prod1, &by_environment(&fake, "beta/prod2")] {
        assert_eq!(states(deployment), ["in_progress", "success"], "{deployment:?}");
        for status in &deployment.statuses {
            assert_eq!(status.log_url.as_deref(), Some(LOG_URL), "{deployment:?}");
        }
    }
    for status in &prod1.statuses {
        assert_eq!(status.environment_url.as_deref(), Some("https://prod1.beta.example.org"));
    }
    assert_eq!(support.statuses[0].environment_url, None, "no domain, no URL");
    // The requests as GitHub reads them: production only for prod hubs, never transient, no merge, no
    // required checks; statuses make the environment's earlier deployments inactive.
    let bodies: Vec<(String, Value)> = fake
        .api
        .received_requests()
        .await
        .expect("recorded requests")
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| (r.url.path().to_owned(), serde_json::from_slice(&r.body).expect("JSON body")))
        .collect();
    assert_eq!(bodies.len(), 12, "a deployment and two statuses per release");
    for (path, body) in &bodies {
        if path.ends_with("/statuses") {
            assert_eq!(body["auto_inactive"], true, "{body}");
            continue;
        }
        let environment = body["environment"].as_str().expect("environment");
        let production = environment.starts_with("beta/prod");
        assert_eq!(
            (&body["ref"], &body["task"], &body["auto_merge"], &body["required_contexts"]),
            (&json!(HEAD), &json!("deploy"), &json!(false), &json!([])),
            "{body}"
        );
        assert_eq!(
            (&body["production_environment"], &body["transient_environment"]),
            (&json!(production), &json!(false)),
            "{body}"
        );
        assert!(body["description"].as_str().is_some_and(|d| d.starts_with("deployer: ")), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_release_is_recorded_as_a_failure_and_the_others_are_unaffected() {
    let world = World::new();
    let fake = FakeGitHub::start().await;
    let (canary, _) = world.items();
    let result = world
        .deploy(Some(&fake))
        .env("STUB_HELM_FAIL_RELEASE", "staging")
        .input("deployment-records", "true")
        .input("leg", canary.to_string())
        .run_async()
        .await;
    assert!(!result.success(), "{}", result.stdout);
    assert_eq!(result.json_output("failed-clusters"), json!(["beta"]));
    let support = by_environment(&fake, "beta/support");
    assert_eq!(states(&support), ["in_progress", "success"]);
    let staging = by_environment(&fake, "beta/staging");
    assert_eq!(states(&staging), ["in_progress", "failure"]);
    assert_eq!(staging.statuses[1].description.as_deref(), Some("helm upgrade failed"));
    assert_eq!(staging.statuses[1].log_url.as_deref(), Some(LOG_URL));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_that_cannot_be_written_is_a_warning_and_the_deploy_result_is_the_same() {
    let world = World::new();
    let (canary, _) = world.items();
    let without = world.deploy(None).input("leg", canary.to_string()).run_async().await;
    assert!(without.success(), "{}", without.stdout);

    let fake = FakeGitHub::start().await;
    // The support chart's deployment is refused; every later write of this run too (a 403, not retried).
    fake.state().write_failures.extend([(500, None), (403, None), (403, None), (403, None), (403, None)]);
    let with = world
        .deploy(Some(&fake))
        .input("deployment-records", "true")
        .input("leg", canary.to_string())
        .run_async()
        .await;
    assert!(with.success(), "{}\n{}", with.stdout, with.stderr);
    assert_eq!(with.outputs.get("deployed"), without.outputs.get("deployed"));
    assert_eq!(with.outputs.get("failed-clusters"), without.outputs.get("failed-clusters"));
    assert!(
        with.stdout.contains("::warning::deployment record of beta/support: creating the deployment failed"),
        "{}",
        with.stdout
    );
    assert!(with.stdout.contains("scripted failure"), "the API's message is said: {}", with.stdout);
    let token_lines: Vec<&str> = with.stdout.lines().filter(|line| line.contains("test-token")).collect();
    assert_eq!(token_lines, ["::add-mask::test-token"], "the token is only ever masked");
    assert!(fake.deployments().is_empty(), "{:?}", fake.deployments());
    assert_eq!(world.upgrades(), ["support", "staging", "support", "staging"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn records_off_by_default_make_no_request() {
    let world = World::new();
    let fake = FakeGitHub::start().await;
    let (canary, _) = world.items();
    let result = world.deploy(Some(&fake)).input("leg", canary.to_string()).run_async().await;
    assert!(result.success(), "{}", result.stdout);
    assert_eq!(world.upgrades(), ["support", "staging"]);
    assert_eq!(fake.requests(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn records_without_a_token_are_an_input_error_before_helm_runs() {
    let world = World::new();
    let fake = FakeGitHub::start().await;
    let (canary, _) = world.items();
    // The runner's variables without `github-token` (as when a workflow passes it empty).
    let result = world
        .deploy(None)
        .env("GITHUB_API_URL", fake.api.uri())
        .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
        .env("GITHUB_REPOSITORY", "octo-org/infra")
        .input("deployment-records", "true")
        .input("leg", canary.to_string())
        .run_async()
        .await;
    assert!(!result.success());
    assert!(
        result.stdout.contains("invalid input `deployment-records`: is `true` but `github-token` is empty"),
        "{}\n{}",
        result.stdout,
        result.stderr
    );
    assert_eq!(world.stubs.calls(), Vec::new(), "nothing ran");
    assert_eq!(fake.requests(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_item_the_state_file_gives_the_wave_and_a_dry_run_says_what_it_would_record() {
    let world = World::new();
    let fake = FakeGitHub::start().await;
    let dry = world
        .deploy(Some(&fake))
        .input("deployment-records", "true")
        .input("cluster", "beta")
        .input("hubs", "prod1")
        .input("dry-run", "true")
        .run_async()
        .await;
    assert!(dry.success(), "{}\n{}", dry.stdout, dry.stderr);
    assert!(
        dry.stdout.contains(&format!(
            "# deployment record: environment beta/prod1 (production), chart basehub at {} (wave early), sha256:",
            world.pin
        )),
        "{}",
        dry.stdout
    );
    assert_eq!(fake.requests(), Vec::<String>::new(), "a dry run writes no record");
    assert_eq!(world.upgrades(), Vec::<String>::new());

    let run = world
        .deploy(Some(&fake))
        .input("deployment-records", "true")
        .input("cluster", "beta")
        .input("hubs", "prod1")
        .run_async()
        .await;
    assert!(run.success(), "{}\n{}", run.stdout, run.stderr);
    let prod1 = by_environment(&fake, "beta/prod1");
    assert_eq!((&prod1.payload["wave"], &prod1.payload["chart_commit"]), (&json!("early"), &json!(world.pin)));
    assert_eq!(states(&prod1), ["in_progress", "success"]);
}

/// The read side on seeded records: the newest deployment of the environment that is a well-formed
/// deployer record wins (newer ones from elsewhere or malformed are skipped), with its latest status.
#[tokio::test(flavor = "multi_thread")]
async fn the_latest_record_of_an_environment_is_read_back_checked() {
    use deployer::github::deployments::{self, State};
    use deployer::github::{ClientConfig, GitHub, RetryPolicy};
    let fake = FakeGitHub::start().await;
    let payload = |commit: &str, wave: Value| {
        json!({"deployer": 1, "cluster": "beta", "release": "prod1", "chart": "basehub", "chart_commit": commit,
               "chart_digest": format!("sha256:{}", "b".repeat(64)), "wave": wave})
    };
    let status = |state: &str, at: &str| FakeStatus {
        state: state.into(),
        environment_url: Some("https://prod1.beta.example.org".into()),
        log_url: Some(LOG_URL.into()),
        description: Some(state.into()),
        created_at: at.into(),
    };
    let older = fake.deployment(
        "beta/prod1",
        HEAD,
        payload(EARLY_PIN, json!("early")),
        "2026-12-01T10:00:00Z",
        vec![status("in_progress", "2026-12-01T10:00:01Z"), status("success", "2026-12-01T10:01:00Z")],
    );
    fake.deployment("beta/prod2", HEAD, payload(HEAD, json!("early")), "2026-12-03T10:00:00Z", Vec::new());
    // Newer, but not ours, or not well formed: skipped.
    fake.deployment("beta/prod1", HEAD, json!({"something": "else"}), "2026-12-02T10:00:00Z", Vec::new());
    fake.deployment("beta/prod1", HEAD, payload("main", json!("early")), "2026-12-02T11:00:00Z", Vec::new());
    fake.deployment("beta/prod1", HEAD, payload(EARLY_PIN, json!("Early Wave!")), "2026-12-02T12:00:00Z", Vec::new());

    let config = ClientConfig {
        api_url: fake.api.uri(),
        token: Some("t".into()),
        timeout: std::time::Duration::from_secs(10),
        retry: RetryPolicy::default(),
    };
    let gh = GitHub::new(config).expect("client");
    let record = deployments::latest(&gh, "/repos/octo-org/infra", "beta/prod1").await.expect("read").expect("found");
    assert_eq!(record.id, older);
    assert_eq!((record.wave.as_deref(), record.chart_commit.as_str()), (Some("early"), EARLY_PIN));
    assert_eq!((record.cluster.as_str(), record.release.as_str(), record.sha.as_str()), ("beta", "prod1", HEAD));
    let latest = record.status.expect("a status");
    assert_eq!((latest.state, latest.created_at.as_str()), (State::Success, "2026-12-01T10:01:00Z"));
    assert_eq!(deployments::latest(&gh, "/repos/octo-org/infra", "beta/nothing").await.expect("read"), None);
    let listed = fake.requests();
    assert!(
        listed.iter().any(|r| r.starts_with("GET /repos/octo-org/infra/deployments?environment=beta%2Fprod1")),
        "{listed:?}"
    );
}

/// The fake's listing: filters, newest first, pages.
#[tokio::test(flavor = "multi_thread")]
async fn the_fake_lists_deployments_newest_first_with_filters_and_pages() {
    use deployer::github::{ClientConfig, GitHub, RetryPolicy};
    let fake = FakeGitHub::start().await;
    for day in 1..=5 {
        let sha = if day % 2 == 0 { EARLY_PIN } else { HEAD };
        fake.deployment("c/h", sha, json!({"day": day}), &format!("2026-12-0{day}T00:00:00Z"), Vec::new());
    }
    fake.deployment("c/other", HEAD, json!({"day": 9}), "2026-12-09T00:00:00Z", Vec::new());
    let gh = GitHub::new(ClientConfig {
        api_url: fake.api.uri(),
        token: None,
        timeout: std::time::Duration::from_secs(10),
        retry: RetryPolicy::default(),
    })
    .expect("client");
    let days = |items: Vec<Value>| items.iter().map(|d| d["payload"]["day"].as_u64().expect("day")).collect::<Vec<_>>();
    let all: Vec<Value> = gh.get("/repos/octo-org/infra/deployments?environment=c%2Fh&per_page=2").await.expect("page");
    assert_eq!(days(all), [5, 4]);
    let page: Vec<Value> =
        gh.get("/repos/octo-org/infra/deployments?environment=c%2Fh&per_page=2&page=3").await.expect("page");
    assert_eq!(days(page), [1]);
    let every: Vec<Value> =
        gh.get_all("/repos/octo-org/infra/deployments?environment=c%2Fh", None, None).await.expect("all");
    assert_eq!(days(every), [5, 4, 3, 2, 1]);
    let by_sha: Vec<Value> =
        gh.get(&format!("/repos/octo-org/infra/deployments?sha={EARLY_PIN}")).await.expect("by sha");
    assert_eq!(days(by_sha), [4, 2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_health_check_is_a_failure_and_a_health_check_run_records_nothing() {
    let world = World::new();
    let fake = FakeGitHub::start().await;
    let run = world
        .deploy(Some(&fake))
        .input("deployment-records", "true")
        .input("cluster", "beta")
        .input("hubs", "prod2")
        .input("health-check", "exit 3")
        .input("health-check-retries", "0")
        .input("health-check-delay", "0")
        .run_async()
        .await;
    assert!(!run.success(), "{}", run.stdout);
    let prod2 = by_environment(&fake, "beta/prod2");
    assert_eq!(states(&prod2), ["in_progress", "failure"]);
    assert_eq!(prod2.statuses[1].description.as_deref(), Some("health check failed"));

    let checks = world
        .deploy(Some(&fake))
        .input("deployment-records", "true")
        .input("mode", "health-check")
        .input("cluster", "beta")
        .input("hubs", "prod1")
        .input("health-check", "true")
        .run_async()
        .await;
    assert!(checks.success(), "{}", checks.stdout);
    assert_eq!(fake.deployments().len(), 1, "health checks write no record: {:?}", fake.deployments());
}

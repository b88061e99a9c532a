//! A typo can never silently under-deploy: misspelt keys, missing or unknown
//! charts, hubs with no values files, unknown `deployer:` labels and values
//! files listed twice, through `action-generate` and the `deployer` CLI
//! (`validate`, `validate --strict`, `generate`, `deploy --dry-run`). And
//! every problem of a large file is reported from one parse.

mod support;

use std::fs;
use std::path::Path;
use std::process::Output;

use support::{deployer, ActionRun};

const C1: &str = "config/clusters/c1/cluster.yaml";

/// A repository with the `basehub` and `daskhub` charts and these files.
fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp");
    let charts =
        [("helm-charts/basehub/Chart.yaml", "name: basehub\n"), ("helm-charts/daskhub/Chart.yaml", "name: daskhub\n")];
    for (path, text) in charts.iter().chain(files) {
        let path = temp.path().join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        fs::write(path, text).expect("write");
    }
    temp
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path_arg(repo: &Path) -> &str {
    repo.to_str().expect("utf-8 path")
}

fn validate(repo: &Path, strict: bool) -> Output {
    let mut args = vec!["validate", "--repo", path_arg(repo)];
    if strict {
        args.push("--strict");
    }
    deployer(&args)
}

fn generate(repo: &Path, changed: &str, labels: &str) -> Output {
    deployer(&[
        "generate",
        "--repo",
        path_arg(repo),
        "--changed-files",
        changed,
        "--labels",
        labels,
        "--output",
        "json",
    ])
}

fn generate_action(repo: &Path, changed: &str) -> support::ActionResult {
    ActionRun::new("action-generate", repo).input("changed-files", changed).run()
}

/// Asserts that the action, `validate` and `generate` all fail on the
/// repository with `headline` at `position`, and write nothing.
fn assert_rejected_everywhere(repo: &Path, position: (usize, usize), headline: &str) {
    let (line, col) = position;
    let result = generate_action(repo, C1);
    assert_eq!(result.output.status.code(), Some(1), "{}\n{}", result.stdout, result.stderr);
    let annotation = format!("::error file={C1},line={line},col={col}::{headline}");
    assert!(result.stdout.lines().any(|l| l.starts_with(&annotation)), "want {annotation:?} in:\n{}", result.stdout);
    assert_eq!(result.raw_outputs, "", "no outputs on failure");
    assert!(!repo.join("deployment-plan").exists(), "no plan folder on failure");

    let readable = format!("{C1}:{line}:{col}: {headline}");
    for output in [validate(repo, false), generate(repo, C1, "[]")] {
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
        assert!(text(&output.stderr).contains(&readable), "want {readable:?} in:\n{}", text(&output.stderr));
        assert_eq!(text(&output.stdout), "", "nothing on stdout on failure");
    }
}

/// The hint of the first readable diagnostic in `stderr` that contains `headline`.
fn hint_after(stderr: &str, headline: &str) -> String {
    let mut lines = stderr.lines().skip_while(|l| !l.contains(headline));
    lines.next();
    lines.next().unwrap_or_default().trim().to_owned()
}

#[test]
fn a_misspelt_values_files_key_is_an_error_with_did_you_mean_at_its_line() {
    let cluster = "name: c1\nprovider: gcp\nhubs:\n  - name: prod\n    helm_chart: basehub\n    helm_chart_value_files:\n      - prod.values.yaml\n";
    let repo = repo(&[(C1, cluster), ("config/clusters/c1/prod.values.yaml", "x: 1\n")]);
    assert_rejected_everywhere(
        repo.path(),
        (6, 5),
        "hubs[0].helm_chart_value_files: unknown key `helm_chart_value_files`; did you mean 'helm_chart_values_files'?",
    );
    // Nor does deploy run helm without the values files.
    let output =
        deployer(&["deploy", "--repo", path_arg(repo.path()), "--cluster", "c1", "--hub", "prod", "--dry-run"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("did you mean 'helm_chart_values_files'?"), "{}", text(&output.stderr));
    assert!(!text(&output.stdout).contains("helm upgrade"), "{}", text(&output.stdout));
}

#[test]
fn a_misspelt_support_key_and_provider_keys_are_errors_too() {
    let cluster = "name: c1\nprovider: gcp\ngcp:\n  projcet: p\nsupport:\n  helm_chart_values_file: [s.yaml]\n";
    let repo = repo(&[(C1, cluster)]);
    let output = validate(repo.path(), false);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("{C1}:4:3: gcp.projcet: unknown key `projcet`; did you mean 'project'?")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{C1}:6:3: support.helm_chart_values_file: unknown key `helm_chart_values_file`; did you mean 'helm_chart_values_files'?"
        )),
        "{stderr}"
    );
}

#[test]
fn helmchart_without_underscore_is_an_error_not_a_silent_basehub() {
    let cluster = "name: c1\nprovider: gcp\nhubs:\n  - name: prod\n    helmchart: daskhub\n    helm_chart_values_files: [p.yaml]\n";
    let repo = repo(&[(C1, cluster), ("config/clusters/c1/p.yaml", "x: 1\n")]);
    assert_rejected_everywhere(
        repo.path(),
        (5, 5),
        "hubs[0].helmchart: unknown key `helmchart`; did you mean 'helm_chart'?",
    );
    assert_rejected_everywhere(repo.path(), (4, 5), "hubs[0]: missing field `helm_chart`");
}

#[test]
fn a_chart_that_does_not_exist_names_the_hub_and_the_nearest_chart() {
    let cluster = "name: c1\nprovider: gcp\nhubs:\n  - name: prod\n    helm_chart: dashub\n    helm_chart_values_files: [p.yaml]\n";
    let repo = repo(&[(C1, cluster), ("config/clusters/c1/p.yaml", "x: 1\n")]);
    let headline =
        "hubs[0].helm_chart: hub `prod` uses chart `dashub`, but helm-charts/dashub/Chart.yaml does not exist";
    assert_rejected_everywhere(repo.path(), (5, 17), headline);
    let stderr = text(&validate(repo.path(), false).stderr);
    assert_eq!(
        hint_after(&stderr, headline),
        "hint: did you mean `daskhub`? name one of the folders of helm-charts/: `basehub`, `daskhub`"
    );
    // A folder without a Chart.yaml is not a chart.
    fs::create_dir_all(repo.path().join("helm-charts/dashub")).expect("dir");
    assert_eq!(validate(repo.path(), false).status.code(), Some(1));
    fs::write(repo.path().join("helm-charts/dashub/Chart.yaml"), "name: dashub\n").expect("chart");
    assert!(validate(repo.path(), false).status.success());
}

#[test]
fn a_hub_without_helm_chart_is_an_error_naming_the_charts() {
    let cluster = "name: c1\nprovider: gcp\nhubs:\n  - name: prod\n    helm_chart_values_files: [p.yaml]\n";
    let repo = repo(&[(C1, cluster), ("config/clusters/c1/p.yaml", "x: 1\n")]);
    assert_rejected_everywhere(repo.path(), (4, 5), "hubs[0]: missing field `helm_chart`");
    let stderr = text(&validate(repo.path(), false).stderr);
    assert_eq!(
        hint_after(&stderr, "missing field `helm_chart`"),
        "hint: hub `prod` must name its chart: add `helm_chart:` with one of the folders of helm-charts/: `basehub`, `daskhub`"
    );
}

/// Cluster files carrying every key real repositories in this layout carry.
fn real_world_repo() -> tempfile::TempDir {
    let gcp = "name: c1\nprovider: gcp\nprovider_url: https://console.cloud.google.com/x\n\
               metadata:\n  owner: {team: a, tags: [x, y]}\n  note: !!str text\naccount: acct\ntenancy: shared\n\
               gcp:\n  key: enc-deployer-credentials.secret.json\n  project: p\n  cluster: k\n  zone: us-central1\n  billing:\n    paid_by_us: true\n    bigquery: {project: b, dataset: d}\n\
               support:\n  helm_chart_values_files: [support.values.yaml]\n\
               hubs:\n  - name: staging\n    display_name: Staging\n    domain: staging.example.org\n    helm_chart: basehub\n    chart_override: x.yaml\n    helm_chart_values_files: [staging.values.yaml]\n";
    let aws = "name: c2\nprovider: aws\n\
               aws:\n  key: enc-deployer-credentials.secret.json\n  account: 123456789012\n  clusterType: eks\n  clusterName: c2\n  region: us-west-2\n  billing:\n    paid_by_us: false\n\
               hubs:\n  - name: staging\n    helm_chart: daskhub\n    helm_chart_values_files: [staging.values.yaml]\n";
    let kubeconfig = "name: c3\nprovider: kubeconfig\nkubeconfig:\n  file: enc-deployer-credentials.secret.yaml\n  billing: {}\n\
                      hubs:\n  - name: staging\n    helm_chart: basehub\n    helm_chart_values_files: [staging.values.yaml]\n";
    repo(&[
        (C1, gcp),
        ("config/clusters/c1/support.values.yaml", "x: 1\n"),
        ("config/clusters/c1/staging.values.yaml", "x: 1\n"),
        ("config/clusters/c1/x.yaml", "name: basehub\n"),
        ("config/clusters/c2/cluster.yaml", aws),
        ("config/clusters/c2/staging.values.yaml", "x: 1\n"),
        ("config/clusters/c3/cluster.yaml", kubeconfig),
        ("config/clusters/c3/staging.values.yaml", "x: 1\n"),
    ])
}

#[test]
fn real_world_keys_raise_nothing_and_strict_lists_them_as_notices() {
    let repo = real_world_repo();
    let output = validate(repo.path(), false);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "ok: 3 clusters, 3 hubs\n");
    assert_eq!(text(&output.stderr), "", "nothing to say without --strict");

    let result = generate_action(repo.path(), "config/clusters/c1/staging.values.yaml");
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    let annotations: Vec<&str> = result
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error") || l.starts_with("::warning") || l.starts_with("::notice"))
        .collect();
    assert_eq!(annotations, Vec::<&str>::new());
    assert_eq!(result.stderr, "");

    let output = validate(repo.path(), true);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "ok: 3 clusters, 3 hubs\n");
    let notices: Vec<String> = text(&output.stderr).lines().map(str::to_owned).collect();
    let expected = [
        "notice: config/clusters/c1/cluster.yaml:4:1: metadata: key not read by the deployer",
        "notice: config/clusters/c1/cluster.yaml:7:1: account: key not read by the deployer",
        "notice: config/clusters/c1/cluster.yaml:8:1: tenancy: key not read by the deployer",
        "notice: config/clusters/c1/cluster.yaml:14:3: gcp.billing: key not read by the deployer",
        "notice: config/clusters/c1/cluster.yaml:21:5: hubs[0].display_name: key not read by the deployer",
        "notice: config/clusters/c2/cluster.yaml:6:3: aws.clusterType: key not read by the deployer",
        "notice: config/clusters/c2/cluster.yaml:9:3: aws.billing: key not read by the deployer",
        "notice: config/clusters/c3/cluster.yaml:5:3: kubeconfig.billing: key not read by the deployer",
    ];
    assert_eq!(notices, expected);
}

#[test]
fn a_hub_or_support_block_with_no_values_files_is_a_warning_at_its_line() {
    let cluster = "name: c1\nprovider: gcp\nsupport:\n  helm_chart_values_files: []\nhubs:\n  - name: staging\n    helm_chart: basehub\n    helm_chart_values_files: [s.yaml]\n  - name: prod\n    helm_chart: basehub\n";
    let repo = repo(&[(C1, cluster), ("config/clusters/c1/s.yaml", "x: 1\n")]);
    let result = generate_action(repo.path(), "config/clusters/c1/s.yaml");
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    let warnings: Vec<&str> = result.stdout.lines().filter(|l| l.starts_with("::warning")).collect();
    assert_eq!(
        warnings,
        [
            "::warning file=config/clusters/c1/cluster.yaml,line=4,col=3::support: the support chart lists no values files: it would deploy with the chart's defaults only%0Ahint: list them under `helm_chart_values_files:` (check that key's spelling)",
            "::warning file=config/clusters/c1/cluster.yaml,line=9,col=5::hubs[1]: hub `prod` lists no values files: it would deploy with the chart's defaults only%0Ahint: list them under `helm_chart_values_files:` (check that key's spelling)",
        ]
    );
    assert_eq!(result.output("has-jobs"), "true", "a warning does not stop the plan");

    for output in [validate(repo.path(), false), generate(repo.path(), "config/clusters/c1/s.yaml", "[]")] {
        assert!(output.status.success(), "{}", text(&output.stderr));
        let stderr = text(&output.stderr);
        assert!(stderr.contains(&format!("warning: {C1}:9:5: hubs[1]: hub `prod` lists no values files")), "{stderr}");
        assert!(
            stderr.contains(&format!("warning: {C1}:4:3: support: the support chart lists no values files")),
            "{stderr}"
        );
    }
}

#[test]
fn an_unknown_deployer_label_is_a_warning_naming_the_nearest_label() {
    let cluster = "name: c1\nprovider: gcp\nhubs:\n  - name: staging\n    helm_chart: basehub\n    helm_chart_values_files: [s.yaml]\n";
    let repo = repo(&[(C1, cluster), ("config/clusters/c1/s.yaml", "x: 1\n")]);
    let result = ActionRun::new("action-generate", repo.path())
        .input("changed-files", "docs/x.md")
        .input("labels", r#"["deployer:deploy-hub", "bug", "deployer:skip-deploy-hubs"]"#)
        .run();
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    let warnings: Vec<&str> = result.stdout.lines().filter(|l| l.starts_with("::warning")).collect();
    assert_eq!(warnings, ["::warning::unknown label `deployer:deploy-hub`; did you mean `deployer:deploy-hubs`?"]);

    let output = generate(repo.path(), "docs/x.md", r#"["deployer:Deploy-Support"]"#);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr)
            .contains("warning: unknown label `deployer:Deploy-Support`; did you mean `deployer:deploy-support`?"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_values_file_listed_twice_is_named_once_and_validate_warns() {
    let cluster = "name: c1\nprovider: gcp\nhubs:\n  - name: prod\n    helm_chart: basehub\n    helm_chart_values_files:\n      - prod.values.yaml\n      - common.yaml\n      - prod.values.yaml\n";
    let repo = repo(&[
        (C1, cluster),
        ("config/clusters/c1/prod.values.yaml", "x: 1\n"),
        ("config/clusters/c1/common.yaml", "x: 1\n"),
    ]);
    let result = generate_action(repo.path(), "config/clusters/c1/prod.values.yaml\nconfig/clusters/c1/common.yaml");
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    let prod = result.json_output("prod-hub-matrix-jobs");
    assert_eq!(
        prod[0]["reason_for_redeploy"],
        "Following helm chart values files were modified: prod.values.yaml, common.yaml"
    );

    let output = validate(repo.path(), false);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).starts_with(&format!(
            "warning: {C1}:9:9: hubs[0].helm_chart_values_files[2]: hub `prod` lists values file config/clusters/c1/prod.values.yaml twice (also at hubs[0].helm_chart_values_files[0])"
        )),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn eight_thousand_bad_hub_names_are_all_reported() {
    const HUBS: usize = 8000;
    let mut cluster = String::from("name: c1\nprovider: gcp\nhubs:\n");
    for i in 0..HUBS {
        cluster.push_str(&format!(
            "  - name: Bad_Hub_{i}\n    helm_chart: basehub\n    helm_chart_values_files: [v.yaml]\n"
        ));
    }
    let repo = repo(&[(C1, &cluster), ("config/clusters/c1/v.yaml", "x: 1\n")]);
    let started = std::time::Instant::now();
    let output = validate(repo.path(), false);
    eprintln!("validate of {HUBS} bad hub names: {:.2?}", started.elapsed());
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with(&format!("error: invalid configuration ({HUBS} problems):\n")), "{}", &stderr[..200]);
    let located: Vec<&str> = stderr.lines().filter(|l| l.contains("is not a valid hub name")).collect();
    assert_eq!(located.len(), HUBS);
    // Every one at its own line.
    let last = HUBS - 1;
    assert!(
        stderr.contains(&format!(
            "{C1}:{}:11: hubs[{last}].name: `Bad_Hub_{last}` is not a valid hub name",
            4 + 3 * last
        )),
        "last hub located"
    );

    let result = generate_action(repo.path(), C1);
    assert_eq!(result.output.status.code(), Some(1));
    assert_eq!(result.stdout.lines().filter(|l| l.starts_with("::error file=")).count(), HUBS);
}

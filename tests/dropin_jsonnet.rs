//! `.jsonnet` values, through the built binaries, on `tests/fixtures/dropin-jsonnet`: a basehub-like
//! chart whose `values.jsonnet` imports `jsonnet/common.libsonnet` and nests its output under
//! `basehub:` when `std.thisFile` names daskhub; a daskhub-like chart (a `file://` dependency on
//! basehub) whose `values.jsonnet` is a symlink to basehub's; a hub with a `.jsonnet` in its values
//! list that imports a `.libsonnet` beside it; ext-vars from `deployer.yaml` placeholders.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::stubs::Stubs;
use support::{bin, project_root, tools_dir, ActionRun};

/// A copy of the fixture (symlinks kept as symlinks) at `to`.
fn copy_fixture(to: &Path) {
    copy_tree(&project_root().join("tests/fixtures/dropin-jsonnet"), to);
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).expect("link"), &target).expect("symlink");
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn deploy_hands_helm_the_rendered_json_chart_values_first_and_removes_it() {
    let temp = tempfile::tempdir().expect("temp");
    let repo = temp.path().join("repo");
    copy_fixture(&repo);
    let tmpdir = temp.path().join("tmp");
    fs::create_dir_all(&tmpdir).expect("tmp");
    let stubs = Stubs::new(&temp.path().join("stubs"));
    let output = Command::new(bin("deployer"))
        .env_clear()
        .envs(stubs.env())
        .env("TMPDIR", &tmpdir)
        .args(["deploy", "--use-current-context", "--cluster", "demo", "--hub", "staging", "--hub", "prod", "--repo"])
        .arg(&repo)
        .output()
        .expect("deployer deploy");
    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{log}");

    let seen = stubs.values_seen();
    let names: Vec<String> = seen
        .iter()
        .map(|(path, _)| Path::new(path).file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "jsonnet-0-values.json",
            "staging.values.yaml",
            "jsonnet-1-hub.json",
            "jsonnet-2-values.json",
            "prod.values.yaml"
        ],
        "{log}"
    );
    // The rendered files were private and are gone; the plain values files are the checkout's.
    for (path, _) in &seen {
        if path.ends_with(".json") {
            assert!(path.starts_with(&tmpdir.display().to_string()), "{path}");
            assert!(!Path::new(path).exists(), "{path} was left behind");
        }
    }

    // staging (basehub): flat, ext-vars from the placeholders, the import's helpers applied.
    let basehub = json(&seen[0].1);
    assert_eq!(basehub["jupyterhub"]["ingress"]["hosts"][0], "staging.example.org");
    assert_eq!(basehub["jupyterhub"]["staging"], true);
    assert_eq!(
        basehub["userServiceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/demo-eks-staging"
    );
    assert_eq!(basehub["renderedFrom"], "/helm-charts/basehub/values.jsonnet");
    assert!(basehub.get("basehub").is_none());
    // The hub's own .jsonnet, with its import found beside it.
    assert_eq!(json(&seen[2].1)["jupyterhub"]["singleuser"]["image"]["name"], "quay.io/example/staging");

    // prod (daskhub through the symlink): nested under `basehub:`, its own path and hub.
    let daskhub = json(&seen[3].1);
    assert!(daskhub.get("jupyterhub").is_none(), "{daskhub:#}");
    assert_eq!(daskhub["basehub"]["renderedFrom"], "/helm-charts/daskhub/values.jsonnet");
    assert_eq!(daskhub["basehub"]["jupyterhub"]["ingress"]["hosts"][0], "prod.example.org");
    assert_eq!(daskhub["basehub"]["jupyterhub"]["staging"], false);

    // The chart's values.jsonnet comes before the hub's values files in each upgrade.
    let upgrades = stubs.calls_of("helm").into_iter().filter(|args| args[0] == "upgrade").count();
    assert_eq!(upgrades, 2);
}

#[test]
fn deploy_dry_run_shows_where_rendered_values_go_and_a_jsonnet_error_stops_at_its_line() {
    let temp = tempfile::tempdir().expect("temp");
    let repo = temp.path().join("repo");
    copy_fixture(&repo);
    let run = |repo: &Path| {
        let output = Command::new(bin("deployer"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .args(["deploy", "--dry-run", "--cluster", "demo", "--hub", "staging", "--repo"])
            .arg(repo)
            .output()
            .expect("deployer deploy");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    };
    let (ok, text) = run(&repo);
    assert!(ok, "{text}");
    assert!(
        text.contains("-f '<rendered>/jsonnet-0-values.json' -f config/clusters/demo/staging.values.yaml -f '<rendered>/jsonnet-1-hub.json'")
            || text.contains("-f <rendered>/jsonnet-0-values.json -f config/clusters/demo/staging.values.yaml -f <rendered>/jsonnet-1-hub.json"),
        "{text}"
    );
    assert!(text.contains("staging: helm-charts/basehub/values.jsonnet rendered (jsonnet)"), "{text}");

    fs::write(repo.join("config/clusters/demo/hub.jsonnet"), "{\n  a: 1,\n  b: std.extVar('NOT_SET'),\n}\n")
        .expect("write");
    let (ok, text) = run(&repo);
    assert!(!ok, "{text}");
    assert!(text.contains("config/clusters/demo/hub.jsonnet:3:"), "{text}");
    assert!(text.contains("NOT_SET"), "{text}");
}

#[test]
fn an_unknown_placeholder_is_refused_at_its_line_with_a_suggestion() {
    let temp = tempfile::tempdir().expect("temp");
    let repo = temp.path().join("repo");
    copy_fixture(&repo);
    let settings = fs::read_to_string(repo.join("deployer.yaml")).expect("read");
    fs::write(repo.join("deployer.yaml"), settings.replace("\"{domain}\"", "\"{domian}\"")).expect("write");
    let output = Command::new(bin("deployer")).args(["validate", "--repo"]).arg(&repo).output().expect("validate");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("deployer.yaml:7:"), "{text}");
    assert!(text.contains("jsonnet.ext_vars.DOMAIN"), "{text}");
    assert!(text.contains("did you mean `{domain}`?"), "{text}");
}

fn generate(repo: &Path, changed: &str) -> (Vec<String>, Vec<(String, String)>) {
    let run = ActionRun::new("action-generate", repo)
        .input("changed-files", changed)
        .input("plan-dir", "deployment-plan")
        .run();
    assert!(run.success(), "generate\n{}\n{}", run.stdout, run.stderr);
    let staging = run.json_output("support-and-staging-matrix-jobs");
    let staging: Vec<String> = staging
        .as_array()
        .expect("array")
        .iter()
        .flat_map(|leg| leg["staging_hubs"].as_array().cloned().unwrap_or_default())
        .map(|hub| hub.as_str().expect("name").to_owned())
        .collect();
    let prod = run.json_output("prod-hub-matrix-jobs");
    let prod = prod
        .as_array()
        .expect("array")
        .iter()
        .map(|job| {
            (
                job["hub_name"].as_str().expect("name").to_owned(),
                job["reason_for_redeploy"].as_str().expect("reason").to_owned(),
            )
        })
        .collect();
    (staging, prod)
}

#[test]
fn editing_an_import_plans_exactly_the_releases_that_render_it() {
    let temp = tempfile::tempdir().expect("temp");
    let repo = temp.path().join("repo");
    copy_fixture(&repo);

    // Imported by basehub's values.jsonnet, which daskhub renders through its symlink.
    let (staging, prod) = generate(&repo, "jsonnet/common.libsonnet");
    assert_eq!(staging, ["staging"]);
    assert_eq!(prod.len(), 1, "{prod:?}");
    assert_eq!(prod[0].0, "prod");
    assert!(prod[0].1.contains("jsonnet/common.libsonnet"), "{prod:?}");

    // The symlink's target: daskhub's values.jsonnet reads it too (and daskhub depends on basehub).
    let (_, prod) = generate(&repo, "helm-charts/basehub/values.jsonnet");
    assert_eq!(prod.iter().map(|(hub, _)| hub.as_str()).collect::<Vec<_>>(), ["prod"]);

    // Imported only by the staging hub's own hub.jsonnet: that hub alone.
    let (staging, prod) = generate(&repo, "config/clusters/demo/lib.libsonnet");
    assert_eq!(staging, ["staging"]);
    assert!(prod.is_empty(), "{prod:?}");

    // Read by nothing.
    let (staging, prod) = generate(&repo, "config/clusters/demo/broken.jsonnet");
    assert!(staging.is_empty() && prod.is_empty(), "{staging:?} {prod:?}");
}

#[test]
fn the_rendered_diff_shows_the_jsonnet_values_reaching_the_templates_with_real_helm() {
    let temp = tempfile::tempdir().expect("temp");
    let head = temp.path().join("workspace");
    copy_fixture(&head);
    copy_fixture(&head.join("base"));
    let home = temp.path().join("home");
    fs::create_dir_all(&home).expect("home");
    let common = head.join("jsonnet/common.libsonnet");
    let text = fs::read_to_string(&common).expect("read");
    fs::write(&common, text.replace("https-auto-tls", "https-renewed-tls")).expect("write");

    let generate = ActionRun::new("action-generate", &head)
        .input("changed-files", "jsonnet/common.libsonnet")
        .input("plan-dir", "deployment-plan")
        .run();
    assert!(generate.success(), "generate\n{}\n{}", generate.stdout, generate.stderr);
    let run = ActionRun::new("action-diff", &head)
        .input("plan-dir", "deployment-plan")
        .input("base-dir", "base")
        .env("PATH", tools_dir().display().to_string())
        .env("HOME", home.display().to_string())
        .run();
    assert!(run.success(), "diff\n{}\n{}", run.stdout, run.stderr);
    let full = fs::read_to_string(head.join("deployment-plan/manifests.diff")).expect("manifests.diff");
    let added: Vec<&str> = full.lines().filter(|line| line.starts_with('+') && line.contains("values.json")).collect();
    assert_eq!(added.len(), 2, "{full}");
    let staging = added.iter().find(|line| line.contains("staging.example.org")).expect("staging's values");
    let prod = added.iter().find(|line| line.contains("prod.example.org")).expect("prod's values");
    // staging: the chart's jsonnet, the values file and the hub's jsonnet all reached the template.
    for part in ["https-renewed-tls", "quay.io/example/staging", "greeting", "/helm-charts/basehub/values.jsonnet"] {
        assert!(staging.contains(part), "{part}: {staging}");
    }
    // prod: the basehub subchart got the jsonnet's values, so they were nested under `basehub:`.
    for part in ["https-renewed-tls", "/helm-charts/daskhub/values.jsonnet", "role/demo-eks-prod"] {
        assert!(prod.contains(part), "{part}: {prod}");
    }
    assert!(!full.contains("other"), "{full}");
}

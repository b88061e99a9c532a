//! The normaliser on real `helm template` output: a chart that, like the
//! JupyterHub chart, generates a secret with `randAlphaNum` and a checksum
//! annotation from it renders twice to no change; a real change shows.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use deployer::manifest_diff::normalise::{compare, normalise, NormaliseRules};
use support::tool;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    fs::write(path, text).expect("write");
}

fn template(chart: &Path, home: &Path, replicas: u32) -> String {
    let output = Command::new(tool("helm"))
        .args(["template", "hub1"])
        .arg(chart)
        .args(["--namespace", "hub1", "--set", &format!("replicas={replicas}")])
        .env_clear()
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .output()
        .expect("helm template");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn a_random_secret_chart_renders_twice_to_no_change() {
    let temp = tempfile::tempdir().expect("temp");
    let chart = temp.path().join("random-secret");
    write(&chart.join("Chart.yaml"), "apiVersion: v2\nname: random-secret\nversion: 0.1.0\n");
    write(&chart.join("values.yaml"), "replicas: 1\n");
    write(
        &chart.join("templates/secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: hub\ndata:\n  token: {{ randAlphaNum 32 | b64enc }}\n",
    );
    write(
        &chart.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hub\n  annotations:\n    checksum/secret: {{ include (print $.Template.BasePath \"/secret.yaml\") . | sha256sum }}\nspec:\n  replicas: {{ .Values.replicas }}\n",
    );
    let first = template(&chart, temp.path(), 1);
    let second = template(&chart, temp.path(), 1);
    assert_ne!(first, second, "the chart really renders a new secret each time");
    let rules = NormaliseRules::default();
    let base = normalise(&first, &rules).expect("normalise");
    assert_eq!(base.objects.len(), 2);
    let changes = compare(&base, &normalise(&second, &rules).expect("normalise"));
    assert!(changes.is_empty(), "{changes:?}");

    let scaled = normalise(&template(&chart, temp.path(), 3), &rules).expect("normalise");
    let changes = compare(&base, &scaled);
    let changed: Vec<String> = changes.changed.iter().map(ToString::to_string).collect();
    assert_eq!(changed, ["apps/v1 Deployment hub"]);
    assert!(changes.added.is_empty() && changes.removed.is_empty());
}

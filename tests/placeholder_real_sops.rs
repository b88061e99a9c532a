//! `placeholder_tree` on files the REAL sops encrypted (fresh age key, YAML
//! and JSON, with an `_unencrypted` key), and the result fed to the REAL
//! `helm template` of a chart that branches on a secret's presence and does
//! arithmetic on an encrypted number: it renders, without any key.

mod support;

use std::fs;
use std::process::Command;

use deployer::manifest_diff::placeholder::{placeholder_tree, PLACEHOLDER};
use support::age::{sops_encrypt, AgeKey};
use support::tool;

const TOKEN: &str = "token-from-a-real-sops-file-93";
const PASSWORD: &str = "db-password-real-sops-51";

const PLAINTEXT_YAML: &str = "secret:\n  token: token-from-a-real-sops-file-93\n  port: 5432\n  ratio: 0.25\n  enabled: true\n  users:\n    - alice-secret-user\n    - name: bob-secret-user\n      password: db-password-real-sops-51\nhost_unencrypted: db.example.org\n";
const PLAINTEXT_JSON: &str = "{\"secret\": {\"token\": \"token-from-a-real-sops-file-93\", \"port\": 5432, \"enabled\": true}, \"host_unencrypted\": \"db.example.org\"}\n";

/// The keys of a YAML mapping tree, as dotted paths, in order.
fn paths(value: &yaml_serde::Value, prefix: &str, found: &mut Vec<String>) {
    match value {
        yaml_serde::Value::Mapping(mapping) => {
            for (key, child) in mapping {
                let path = format!("{prefix}.{}", key.as_str().expect("string key"));
                found.push(path.clone());
                paths(child, &path, found);
            }
        }
        yaml_serde::Value::Sequence(items) => {
            for (index, child) in items.iter().enumerate() {
                paths(child, &format!("{prefix}[{index}]"), found);
            }
        }
        _ => {}
    }
}

fn key_paths(text: &str) -> Vec<String> {
    let value: yaml_serde::Value = yaml_serde::from_str(text).expect("YAML");
    let mut found = Vec::new();
    paths(&value, "", &mut found);
    found
}

#[test]
fn real_sops_files_become_placeholder_trees_that_helm_renders() {
    let temp = tempfile::tempdir().expect("temp");
    let key = AgeKey::generate();
    for (name, plaintext) in
        [("enc-hub.secret.values.yaml", PLAINTEXT_YAML), ("enc-hub.secret.values.json", PLAINTEXT_JSON)]
    {
        let encrypted_file = temp.path().join(name);
        sops_encrypt(plaintext, &key.recipient, &encrypted_file);
        let encrypted = fs::read_to_string(&encrypted_file).expect("encrypted");
        assert!(!encrypted.contains(TOKEN), "{name}: sops encrypted the token");

        let out = placeholder_tree(name, &encrypted).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!out.contains("ENC["), "{name}: {out}");
        for secret in [TOKEN, PASSWORD, "alice-secret-user", "bob-secret-user", "5432", "0.25", &key.recipient] {
            assert!(!out.contains(secret), "{name}: {secret} in {out}");
        }
        assert!(!out.contains("sops:") && !out.contains("mac"), "{name}: the metadata is dropped: {out}");
        assert!(out.contains("host_unencrypted: db.example.org"), "{name}: clear values stay: {out}");
        assert!(out.contains(&format!("token: {PLACEHOLDER}")), "{name}: {out}");
        assert!(out.contains("enabled: false"), "{name}: {out}");
        if name.ends_with(".yaml") {
            assert!(out.contains("port: 0\n") && out.contains("ratio: 0.0\n"), "{name}: {out}");
        } else {
            // sops types every JSON number `float`.
            assert!(out.contains("port: 0.0\n"), "{name}: {out}");
        }
        assert_eq!(key_paths(&out), key_paths(plaintext), "{name}: the same keys");

        // The chart branches on the token's presence and adds to the port.
        let chart = temp.path().join(format!("chart-{name}"));
        fs::create_dir_all(chart.join("templates")).expect("chart");
        fs::write(chart.join("Chart.yaml"), "apiVersion: v2\nname: hub\nversion: 0.1.0\n").expect("Chart.yaml");
        fs::write(chart.join("values.yaml"), "secret: {}\n").expect("values");
        fs::write(
            chart.join("templates/configmap.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hub\ndata:\n  host: {{ .Values.host_unencrypted | quote }}\n\
             {{- if .Values.secret.token }}\n  has-token: \"yes\"\n{{- end }}\n  next-port: {{ add .Values.secret.port 1 | quote }}\n",
        )
        .expect("template");
        let values = temp.path().join(format!("placeholder-{name}.yaml"));
        fs::write(&values, &out).expect("placeholder values");
        let output = Command::new(tool("helm"))
            .env_clear()
            .env("HOME", temp.path())
            .args(["template", "hub"])
            .arg(&chart)
            .arg("--values")
            .arg(&values)
            .output()
            .expect("run helm");
        let rendered = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{name}: helm template: {}", String::from_utf8_lossy(&output.stderr));
        assert!(rendered.contains("has-token: \"yes\""), "{name}: {rendered}");
        assert!(
            rendered.contains("next-port: \"1\"") && rendered.contains("host: \"db.example.org\""),
            "{name}: {rendered}"
        );
    }
}

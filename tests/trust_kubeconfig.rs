//! A kubeconfig whose fields have the wrong type, through `action-setup-cluster`:
//! the error names the field, what it expected and the kind of value found
//! (string, number, map, list), never the value. The kubeconfig is a REAL
//! age-encrypted sops file decrypted by real `sops` (the cluster's
//! `kubeconfig.file`), or the `kubeconfig` input; every value carries a
//! sentinel that must appear in no output, and the runner-style parser finds
//! no command but the one error annotation (and the input's mask).

mod support;

use std::fs;
use std::path::Path;

use support::age::{sops_encrypt, AgeKey};
use support::runner_log::commands;
use support::{tools_dir, ActionResult, ActionRun};

const SENTINEL: &str = "KUBE-SERVER-SENTINEL";

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("folder");
    fs::write(path, text).expect("write");
}

/// A checkout with one `kubeconfig` cluster `c1` whose file is `plaintext`, sops-encrypted for a fresh age key.
struct Checkout {
    temp: tempfile::TempDir,
    key: AgeKey,
}

impl Checkout {
    fn new(plaintext: Option<&str>) -> Checkout {
        let temp = tempfile::tempdir().expect("temp");
        let repo = temp.path().join("repo");
        let key = AgeKey::generate();
        let file = if plaintext.is_some() { "kubeconfig:\n  file: enc-deployer-credentials.secret.yaml\n" } else { "" };
        write(
            &repo.join("config/clusters/c1/cluster.yaml"),
            &format!("name: c1\nprovider: kubeconfig\n{file}hubs: []\n"),
        );
        if let Some(plaintext) = plaintext {
            sops_encrypt(
                plaintext,
                &key.recipient,
                &repo.join("config/clusters/c1/enc-deployer-credentials.secret.yaml"),
            );
            write(
                &repo.join(".sops.yaml"),
                &format!("creation_rules:\n- path_regex: .*secret.*\n  age: {}\n", key.recipient),
            );
        }
        fs::create_dir_all(temp.path().join("home")).expect("home");
        write(&temp.path().join("github_env"), "");
        Checkout { temp, key }
    }

    fn setup(&self, kubeconfig_input: Option<&str>) -> ActionResult {
        let mut run = ActionRun::new("action-setup-cluster", self.temp.path().join("repo"))
            .input("cluster", "c1")
            .input("sops-age-key", self.key.file_text.clone())
            .env("HOME", self.temp.path().join("home").display().to_string())
            .env("PATH", tools_dir().display().to_string())
            .env("GITHUB_ENV", self.temp.path().join("github_env").display().to_string());
        if let Some(value) = kubeconfig_input {
            run = run.input("kubeconfig", value);
        }
        run.run()
    }
}

/// Refused with `expected` in the one error annotation; the sentinel nowhere but in `::add-mask::` lines.
fn assert_refused_without_the_value(result: &ActionResult, expected: &str, what: &str) {
    let logs = format!("{what}\nstdout:\n{}\nstderr:\n{}", result.stdout, result.stderr);
    assert_eq!(result.output.status.code(), Some(1), "{logs}");
    for stream in [&result.stdout, &result.stderr] {
        let found = commands(stream);
        let errors: Vec<_> = found.iter().filter(|c| c.name == "error").collect();
        if stream == &result.stdout {
            assert_eq!(errors.len(), 1, "{logs}");
            // The position is the decrypted text's (sops writes it out anew), so only its shape is checked.
            let data = &errors[0].data;
            let (head, tail) = data.split_once("): ").unwrap_or_else(|| panic!("{data}\n{logs}"));
            assert!(
                head.starts_with("kubeconfig: reading the kubeconfig failed: the kubeconfig is not valid (line "),
                "{logs}"
            );
            assert_eq!(tail, expected, "{logs}");
        }
        for command in &found {
            assert!(["error", "add-mask"].contains(&command.name.as_str()), "unexpected command {command:?}\n{logs}");
            assert!(command.name == "add-mask" || !command.data.contains(SENTINEL), "{command:?}\n{logs}");
        }
        for line in stream.lines().filter(|line| line.contains(SENTINEL) || line.contains("4242424242")) {
            assert!(line.starts_with("::add-mask::"), "the value is printed: {line}\n{logs}");
        }
    }
    assert_eq!(fs::read_to_string(result.workspace.join("../github_env")).expect("GITHUB_ENV"), "", "{logs}");
}

const CASES: &[(&str, &str)] = &[
    (
        "clusters: \"KUBE-SERVER-SENTINEL\\r::error::injected ##[warning]injected\"\n",
        "clusters: invalid type: string, expected a sequence",
    ),
    (
        "clusters:\n- name: c1\n  cluster:\n    server: {KUBE-SERVER-SENTINEL: x}\n",
        "clusters[0].cluster.server: invalid type: map, expected a string",
    ),
    (
        "clusters:\n- name: c1\n  cluster:\n    server: [KUBE-SERVER-SENTINEL]\n",
        "clusters[0].cluster.server: invalid type: sequence, expected a string",
    ),
    (
        "clusters: 4242424242424242\n",
        "clusters: invalid type: integer, expected a sequence",
    ),
    (
        "clusters:\n- name: c1\n  cluster: {server: 'https://k8s.example'}\ncurrent-context: {KUBE-SERVER-SENTINEL: 1}\n",
        "current-context: invalid type: map, expected a string",
    ),
];

#[test]
fn a_sops_encrypted_kubeconfig_of_the_wrong_shape_is_refused_without_its_values() {
    for (plaintext, expected) in CASES {
        let checkout = Checkout::new(Some(plaintext));
        let result = checkout.setup(None);
        assert_refused_without_the_value(&result, expected, plaintext);
    }
}

#[test]
fn a_kubeconfig_input_of_the_wrong_shape_is_refused_without_its_values() {
    for (plaintext, expected) in CASES {
        let checkout = Checkout::new(None);
        // The input is masked as a whole first (`::add-mask::` + the value, which must stay exact to
        // mask), so here it holds no workflow command of its own.
        let plaintext = plaintext.replace(" ##[warning]injected", "");
        let result = checkout.setup(Some(&plaintext));
        assert_refused_without_the_value(&result, expected, &plaintext);
    }
}

//! Issue 11's "done when": `action-setup-cluster` then `action-deploy`,
//! through the binaries and the runner's contract, on a repository whose
//! kubeconfig and hub secrets are REAL age-encrypted sops files made here
//! (real `age-keygen`, real `sops --encrypt`). setup-cluster gets the age key
//! as `sops-age-key`, decrypts the kubeconfig with real sops and exports
//! `SOPS_AGE_KEY` (masked) to `$GITHUB_ENV`; the runner's way of carrying
//! `$GITHUB_ENV` into the next step is reproduced; deploy decrypts the values
//! file with real sops, and a `helm` wrapper turns `helm upgrade` into a real
//! `helm template` of the same release, chart, namespace and values files, so
//! the chart is proven to render with the decrypted value.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::age::{sops_encrypt, AgeKey};
use support::{parse_github_output, tool, tools_dir, ActionResult, ActionRun};

const SECRET_GREETING: &str = "hello-from-a-real-sops-file-42";
const KUBECONFIG_TOKEN: &str = "kubeconfig-token-from-age-file-7";

/// The fixture repository, the age key, and the files a leg shares between steps.
struct Leg {
    _temp: tempfile::TempDir,
    repo: PathBuf,
    home: PathBuf,
    tmpdir: PathBuf,
    github_env: PathBuf,
    wrapper_dir: PathBuf,
    helm_calls: PathBuf,
    rendered: PathBuf,
    key: AgeKey,
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("folder");
    fs::write(path, text).expect("write");
}

impl Leg {
    fn new() -> Leg {
        let temp = tempfile::tempdir().expect("temp");
        let repo = temp.path().join("repo");
        let key = AgeKey::generate();
        let cluster = repo.join("config/clusters/c1");
        write(
            &cluster.join("cluster.yaml"),
            "name: c1\nprovider: kubeconfig\nkubeconfig:\n  file: enc-deployer-credentials.secret.yaml\nhubs:\n  \
             - name: staging\n    helm_chart: basehub\n    helm_chart_values_files:\n      - staging.values.yaml\n      \
             - enc-staging.secret.values.yaml\n",
        );
        write(&cluster.join("staging.values.yaml"), "name: staging-hub\n");
        sops_encrypt(
            &format!("secret:\n  greeting: {SECRET_GREETING}\n"),
            &key.recipient,
            &cluster.join("enc-staging.secret.values.yaml"),
        );
        sops_encrypt(
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c1\n  cluster:\n    server: https://k8s.example\n\
                 users:\n- name: u\n  user:\n    token: {KUBECONFIG_TOKEN}\ncontexts:\n- name: c1\n  context: \
                 {{cluster: c1, user: u}}\ncurrent-context: c1\n"
            ),
            &key.recipient,
            &cluster.join("enc-deployer-credentials.secret.yaml"),
        );
        // The repository's sops rules: age (the leg has the key) and GCP KMS (it has no GCP credentials).
        write(
            &repo.join(".sops.yaml"),
            &format!(
                "creation_rules:\n- path_regex: .*/c1/.*secret.*\n  age: {}\n- path_regex: .*/other/.*\n  \
                 gcp_kms: projects/p/locations/global/keyRings/r/cryptoKeys/k\n",
                key.recipient
            ),
        );
        write(&repo.join("helm-charts/basehub/Chart.yaml"), "apiVersion: v2\nname: basehub\nversion: 0.1.0\n");
        write(&repo.join("helm-charts/basehub/values.yaml"), "name: default\nsecret:\n  greeting: none\n");
        write(
            &repo.join("helm-charts/basehub/templates/configmap.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\n  namespace: \
             {{ .Release.Namespace }}\ndata:\n  hub: {{ .Values.name | quote }}\n  greeting-b64: \
             {{ .Values.secret.greeting | b64enc | quote }}\n",
        );

        let home = temp.path().join("home");
        let tmpdir = temp.path().join("tmp");
        fs::create_dir_all(&home).expect("home");
        fs::create_dir_all(&tmpdir).expect("tmp");
        let github_env = temp.path().join("github_env");
        fs::write(&github_env, "").expect("GITHUB_ENV");
        let wrapper_dir = temp.path().join("wrapper");
        let helm_calls = temp.path().join("helm-calls");
        let rendered = temp.path().join("rendered.yaml");
        write_helm_wrapper(&wrapper_dir);
        Leg { _temp: temp, repo, home, tmpdir, github_env, wrapper_dir, helm_calls, rendered, key }
    }

    /// `PATH`: the helm wrapper first, then the real tools (sops, helm).
    fn path(&self) -> String {
        format!("{}:{}", self.wrapper_dir.display(), tools_dir().display())
    }

    fn setup(&self, age_key: &str) -> ActionResult {
        ActionRun::new("action-setup-cluster", &self.repo)
            .input("cluster", "c1")
            .input("sops-age-key", age_key)
            .env("HOME", self.home.display().to_string())
            .env("PATH", self.path())
            .env("GITHUB_ENV", self.github_env.display().to_string())
            .run()
    }

    /// `action-deploy` with what the runner carries from `$GITHUB_ENV` into the next step.
    fn deploy(&self) -> ActionResult {
        let exported = parse_github_output(&fs::read_to_string(&self.github_env).expect("GITHUB_ENV"));
        // The helm wrapper renders instead of installing: there is no cluster to watch a rollout on.
        let mut run = ActionRun::new("action-deploy", &self.repo)
            .input("cluster", "c1")
            .input("hubs", "[\"staging\"]")
            .input("wait", "none")
            .env("HOME", self.home.display().to_string())
            .env("TMPDIR", self.tmpdir.display().to_string())
            .env("PATH", self.path());
        for (name, value) in exported {
            run = run.env(&name, value);
        }
        run.env("DEPLOYER_TEST_HELM_CALLS", self.helm_calls.display().to_string())
            .env("DEPLOYER_TEST_HELM_RENDERED", self.rendered.display().to_string())
            .env("DEPLOYER_TEST_REAL_HELM", tool("helm").display().to_string())
            .run()
    }
}

/// A `helm` that records its argv and, for `upgrade`, runs the real `helm
/// template` with the same release, chart, namespace and values files
/// (writing the rendered manifests to a file, not the log); anything else
/// runs the real helm as it is.
fn write_helm_wrapper(dir: &Path) {
    let script = r#"#!/bin/bash
set -euo pipefail
printf '%s\n' "$*" >> "$DEPLOYER_TEST_HELM_CALLS"
if [[ "${1:-}" == upgrade ]]; then
    shift
    positional=()
    kept=()
    while (($#)); do
        case "$1" in
            -f|--values|-n|--namespace) kept+=("$1" "$2"); shift 2 ;;
            --timeout|--history-max|--wait-for) shift 2 ;;
            -*) shift ;;
            *) positional+=("$1"); shift ;;
        esac
    done
    "$DEPLOYER_TEST_REAL_HELM" template "${positional[@]}" "${kept[@]}" > "$DEPLOYER_TEST_HELM_RENDERED"
    exit 0
fi
exec "$DEPLOYER_TEST_REAL_HELM" "$@"
"#;
    let path = dir.join("helm");
    write(&path, script);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

fn logs(result: &ActionResult) -> String {
    format!("stdout:\n{}\nstderr:\n{}", result.stdout, result.stderr)
}

/// `secret` is registered with `::add-mask::` before any other line, and
/// appears nowhere else in the log (stdout and stderr).
fn assert_masked_first(result: &ActionResult, secret: &str) {
    let mask = format!("::add-mask::{secret}");
    let lines: Vec<&str> = result.stdout.lines().collect();
    let first_mask = lines.iter().position(|l| *l == mask);
    assert!(first_mask.is_some(), "{secret} is not masked\n{}", logs(result));
    for line in lines.iter().filter(|l| l.contains(secret)) {
        assert_eq!(*line, mask, "{secret} printed unmasked\n{}", logs(result));
    }
    assert!(!result.stderr.contains(secret), "{secret} on stderr\n{}", logs(result));
}

#[test]
fn setup_cluster_exports_the_age_key_and_deploy_decrypts_with_real_sops() {
    let leg = Leg::new();
    let setup = leg.setup(&leg.key.file_text);
    assert!(setup.success(), "{}", logs(&setup));

    // The age identity: masked before anything else is printed, and only its secret line
    // (age-keygen's comments are not secret); the kubeconfig's token, decrypted by real sops, too.
    let first = setup.stdout.lines().next().unwrap_or_default();
    assert_eq!(first, format!("::add-mask::{}", leg.key.secret), "{}", logs(&setup));
    assert_masked_first(&setup, &leg.key.secret);
    assert_masked_first(&setup, KUBECONFIG_TOKEN);
    assert!(setup.stdout.contains("For sops: SOPS_AGE_KEY\n"), "{}", logs(&setup));

    // $GITHUB_ENV: KUBECONFIG and SOPS_AGE_KEY, in the heredoc form.
    let env_text = fs::read_to_string(&leg.github_env).expect("GITHUB_ENV");
    let exported = parse_github_output(&env_text);
    assert_eq!(exported.keys().collect::<Vec<_>>(), ["KUBECONFIG", "SOPS_AGE_KEY"]);
    assert_eq!(exported["SOPS_AGE_KEY"], leg.key.file_text.trim());
    let kubeconfig = fs::read_to_string(&exported["KUBECONFIG"]).expect("kubeconfig written");
    assert!(kubeconfig.contains(KUBECONFIG_TOKEN));
    // Nothing was written into the checkout, in clear or not.
    let mut checkout = Vec::new();
    collect_files(&leg.repo, &mut checkout);
    for file in &checkout {
        let text = fs::read_to_string(file).unwrap_or_default();
        assert!(
            !text.contains(&leg.key.secret) && !text.contains(KUBECONFIG_TOKEN),
            "{} holds a secret",
            file.display()
        );
    }

    // The repository also encrypts with GCP KMS, for which this leg has no credentials: a warning at that rule.
    let warning = setup
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning file=.sops.yaml,line=5"))
        .unwrap_or_else(|| panic!("no .sops.yaml warning\n{}", logs(&setup)));
    assert!(warning.contains("`gcp_kms` keys"), "{warning}");
    assert!(!setup.stdout.contains("`age` keys"), "age is covered\n{}", logs(&setup));

    let deploy = leg.deploy();
    assert!(deploy.success(), "{}", logs(&deploy));
    // deploy registers the decrypted values as secrets before helm runs, and prints them nowhere else.
    assert_masked_first(&deploy, SECRET_GREETING);
    assert!(!deploy.stdout.contains(&leg.key.secret) && !deploy.stderr.contains(&leg.key.secret));

    let calls = fs::read_to_string(&leg.helm_calls).expect("helm ran");
    let upgrade = calls.lines().find(|l| l.starts_with("upgrade ")).expect("an upgrade");
    assert!(upgrade.starts_with("upgrade --install staging helm-charts/basehub --namespace staging"), "{upgrade}");
    assert!(upgrade.contains("-f config/clusters/c1/staging.values.yaml -f "), "{upgrade}");
    // helm gets the decrypted copy in deploy's private temporary folder, not the encrypted file.
    assert!(!upgrade.contains("config/clusters/c1/enc-staging"), "{upgrade}");
    assert!(upgrade.contains(&format!("-f {}/", leg.tmpdir.display())), "{upgrade}");

    // Real helm rendered the chart with the value real sops decrypted.
    let rendered = fs::read_to_string(&leg.rendered).expect("helm template output");
    let manifest: yaml_serde::Value =
        yaml_serde::from_str(rendered.split("---").find(|doc| doc.contains("kind: ConfigMap")).expect("the ConfigMap"))
            .expect("YAML");
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD.encode(SECRET_GREETING);
    assert_eq!(manifest["metadata"]["name"].as_str(), Some("staging-greeting"));
    assert_eq!(manifest["metadata"]["namespace"].as_str(), Some("staging"));
    assert_eq!(manifest["data"]["hub"].as_str(), Some("staging-hub"));
    assert_eq!(manifest["data"]["greeting-b64"].as_str(), Some(expected.as_str()));
    // The decrypted copy is gone once deploy has ended.
    assert_eq!(fs::read_dir(&leg.tmpdir).expect("tmp").count(), 0, "decrypted files left behind");
}

#[test]
fn a_wrong_age_key_is_a_clear_error_that_prints_no_key() {
    let leg = Leg::new();
    let wrong = AgeKey::generate();
    let setup = leg.setup(&wrong.file_text);
    assert_eq!(setup.output.status.code(), Some(1), "{}", logs(&setup));
    let error = setup.stdout.lines().find(|l| l.starts_with("::error")).expect("an error annotation").to_owned();
    assert!(error.contains("sops") && error.contains("enc-deployer-credentials.secret.yaml"), "{error}");
    assert!(setup.stderr.contains("decrypting"), "{}", logs(&setup));
    // Neither key's secret, nor anything decrypted, is printed; nothing is exported.
    assert_masked_first(&setup, &wrong.secret);
    assert!(!setup.stdout.contains(&leg.key.secret) && !setup.stderr.contains(&leg.key.secret));
    assert!(!setup.stdout.contains(KUBECONFIG_TOKEN) && !setup.stderr.contains(KUBECONFIG_TOKEN));
    assert_eq!(fs::read_to_string(&leg.github_env).expect("GITHUB_ENV"), "", "nothing exported on failure");
}

#[test]
fn sops_credentials_none_exports_only_the_kubeconfig() {
    let leg = Leg::new();
    let setup = ActionRun::new("action-setup-cluster", &leg.repo)
        .input("cluster", "c1")
        .input("sops-age-key", leg.key.file_text.clone())
        .input("sops-credentials", "none")
        .env("HOME", leg.home.display().to_string())
        .env("PATH", leg.path())
        .env("GITHUB_ENV", leg.github_env.display().to_string())
        .run();
    assert!(setup.success(), "{}", logs(&setup));
    let exported = parse_github_output(&fs::read_to_string(&leg.github_env).expect("GITHUB_ENV"));
    assert_eq!(exported.keys().collect::<Vec<_>>(), ["KUBECONFIG"]);
    assert!(setup.stdout.contains("For sops: nothing (sops-credentials: none)"), "{}", logs(&setup));
    assert!(!setup.stdout.contains("::warning"), "{}", logs(&setup));

    let bad = ActionRun::new("action-setup-cluster", &leg.repo)
        .input("cluster", "c1")
        .input("sops-credentials", "sometimes")
        .env("HOME", leg.home.display().to_string())
        .env("GITHUB_ENV", leg.github_env.display().to_string())
        .run();
    assert_eq!(bad.output.status.code(), Some(1), "{}", logs(&bad));
    assert!(
        bad.stderr.contains("sops-credentials") && bad.stderr.contains("`sometimes` is not `auto`"),
        "{}",
        logs(&bad)
    );
}

fn collect_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect_files(&path, found);
        } else {
            found.push(path);
        }
    }
}

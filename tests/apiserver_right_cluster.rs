//! `deployer deploy --cluster X` reaches cluster X, whatever the caller's `KUBECONFIG` says,
//! against two real API servers (see `tests/support/apiserver.rs`):
//!
//! - a `kubeconfig` cluster with `kubeconfig.file` (plain, and `enc-` encrypted with a real
//!   age key) is deployed with that file while `KUBECONFIG` points at the other server; the
//!   private copy is removed afterwards, after a failed release too;
//! - a `gcp` cluster is refused, before any helm call, while the current context is another
//!   server's, and deployed once the current context is its `gke_<project>_<location>_<cluster>`
//!   (or anywhere with `--use-current-context`, which says so).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::age::{sops_encrypt, AgeKey};
use support::apiserver::{self, ApiServer};
use support::{bin, tool, tools_dir};

fn write(repo: &Path, path: &str, text: &str) {
    let path = repo.join(path);
    fs::create_dir_all(path.parent().expect("parent")).expect("folder");
    fs::write(path, text).expect("write");
}

/// A repository with one cluster (`cluster_yaml`, hubs of the chart `basehub`, which puts its
/// values in a ConfigMap, or of `broken`, which fails to render) and its hubs' values files.
fn write_repo(repo: &Path, cluster: &str, cluster_yaml: &str, hubs: &[&str]) {
    write(repo, "helm-charts/basehub/Chart.yaml", "apiVersion: v2\nname: basehub\nversion: 0.1.0\n");
    write(
        repo,
        "helm-charts/basehub/templates/values.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-values\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
    );
    write(repo, "helm-charts/broken/Chart.yaml", "apiVersion: v2\nname: broken\nversion: 0.1.0\n");
    write(repo, "helm-charts/broken/templates/fail.yaml", "{{ fail \"this chart never renders\" }}\n");
    let mut text = format!("{cluster_yaml}hubs:\n");
    for hub in hubs {
        let chart = if hub.starts_with("broken") { "broken" } else { "basehub" };
        text.push_str(&format!(
            "  - name: {hub}\n    helm_chart: {chart}\n    helm_chart_values_files: [{hub}.values.yaml]\n"
        ));
        write(repo, &format!("config/clusters/{cluster}/{hub}.values.yaml"), &format!("greeting: hello from {hub}\n"));
    }
    write(repo, &format!("config/clusters/{cluster}/cluster.yaml"), &text);
}

/// A kubeconfig for `server` whose only (and current) context is `context`.
fn kubeconfig_named(server: &ApiServer, context: &str, path: &Path) -> PathBuf {
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: {context}\nclusters:\n- name: {context}\n  cluster:\n    \
         server: {}\n    certificate-authority: {}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    \
         user: admin\nusers:\n- name: admin\n  user:\n    token: {}\n",
        server.server,
        server.ca.display(),
        server.token
    );
    fs::write(path, text).expect("kubeconfig");
    path.to_path_buf()
}

/// The test's world: a folder with the repository, a `bin/` whose `helm` records each call
/// (with the KUBECONFIG it got) before running the real helm 4, and a TMPDIR of its own.
struct World {
    temp: tempfile::TempDir,
    repo: PathBuf,
    bin: PathBuf,
    tmp: PathBuf,
    calls: PathBuf,
}

impl World {
    fn new() -> World {
        let temp = tempfile::tempdir().expect("temp");
        let repo = temp.path().join("repo");
        let bin = temp.path().join("bin");
        let tmp = temp.path().join("tmp");
        fs::create_dir_all(&bin).expect("bin");
        fs::create_dir_all(&tmp).expect("tmp");
        let calls = temp.path().join("helm-calls");
        let wrapper = format!(
            "#!/bin/sh\nprintf '%s %s\\n' \"KUBECONFIG=$KUBECONFIG\" \"$*\" >>'{}'\nexec '{}' \"$@\"\n",
            calls.display(),
            tool("helm").display()
        );
        fs::write(bin.join("helm"), wrapper).expect("helm wrapper");
        fs::set_permissions(bin.join("helm"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("mode");
        std::os::unix::fs::symlink(tool("kubectl"), bin.join("kubectl")).expect("kubectl link");
        World { temp, repo, bin, tmp, calls }
    }

    /// `deployer deploy --repo <repo> ARGS` in a clean environment with `env` added.
    fn deploy(&self, args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
        let out = Command::new(bin("deployer"))
            .env_clear()
            .env("PATH", format!("{}:{}:/usr/bin:/bin", self.bin.display(), tools_dir().display()))
            .env("HOME", self.temp.path())
            .env("TMPDIR", &self.tmp)
            .envs(env.iter().copied())
            .args(["deploy", "--repo"])
            .arg(&self.repo)
            .args(args)
            .output()
            .expect("deployer deploy");
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out, said)
    }

    fn helm_calls(&self) -> Vec<String> {
        fs::read_to_string(&self.calls).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    fn leftovers(&self) -> Vec<PathBuf> {
        fs::read_dir(&self.tmp).expect("tmp").map(|e| e.expect("entry").path()).collect()
    }
}

fn has_release(server: &ApiServer, name: &str) -> bool {
    server.releases().iter().any(|r| r.name == name && r.status == "deployed")
}

#[test]
fn a_kubeconfig_cluster_is_deployed_with_its_own_file_whatever_kubeconfig_says() {
    let Some(lease) =
        apiserver::lease("a_kubeconfig_cluster_is_deployed_with_its_own_file_whatever_kubeconfig_says", 2)
    else {
        return;
    };
    let (one, two) = (&lease[0], &lease[1]);
    let key = AgeKey::generate();
    for (file, hub) in [("kubeconfig.yaml", "rc-plain"), ("enc-kubeconfig.yaml", "rc-encrypted")] {
        let world = World::new();
        let broken = format!("broken-{hub}");
        write_repo(
            &world.repo,
            "c1",
            &format!("name: c1\nprovider: kubeconfig\nkubeconfig:\n  file: {file}\n"),
            &[hub, &broken],
        );
        let target = world.repo.join("config/clusters/c1").join(file);
        if file.starts_with("enc-") {
            sops_encrypt(&one.kubeconfig_text(), &key.recipient, &target);
        } else {
            fs::write(&target, one.kubeconfig_text()).expect("kubeconfig.file");
        }
        let elsewhere = two.kubeconfig.to_string_lossy().into_owned();
        let env = [("KUBECONFIG", elsewhere.as_str()), ("SOPS_AGE_KEY", key.secret.as_str())];

        let (out, said) = world.deploy(&["--cluster", "c1", "--hub", hub], &env);
        assert!(out.status.success(), "{file}: {said}");
        assert!(has_release(one, hub), "{file}: {hub} is on server 1: {:?}\n{said}", one.releases());
        assert!(!two.releases().iter().any(|r| r.name == hub), "{file}: nothing on server 2: {:?}", two.releases());
        let decrypted = if file.starts_with("enc-") { " (decrypted with sops)" } else { "" };
        assert!(
            said.contains(&format!(
                "Cluster c1: helm and kubectl use its kubeconfig.file config/clusters/c1/{file}{decrypted} from a \
                 private temporary file, removed afterwards; the KUBECONFIG of the environment is ignored\n"
            )),
            "{said}"
        );
        // Every helm call that talks to a cluster got the private copy, under this run's TMPDIR, never
        // the caller's KUBECONFIG (`helm version` talks to none, and runs in the caller's environment).
        let calls: Vec<String> = world.helm_calls().into_iter().filter(|c| !c.contains(" version ")).collect();
        assert!(calls.iter().any(|c| c.contains(" upgrade --install ")), "{calls:?}");
        for call in &calls {
            assert!(call.starts_with(&format!("KUBECONFIG={}/deployer-kubeconfig-", world.tmp.display())), "{call}");
            assert!(!call.contains(&elsewhere), "{call}");
        }
        assert_eq!(world.leftovers(), Vec::<PathBuf>::new(), "{file}: the private kubeconfig is removed");

        // A failing release: the private copy is removed all the same.
        let (out, said) = world.deploy(&["--cluster", "c1", "--hub", &broken], &env);
        assert!(!out.status.success(), "{file}: {said}");
        assert!(said.contains("this chart never renders"), "{said}");
        assert_eq!(world.leftovers(), Vec::<PathBuf>::new(), "{file}: removed after a failure too");
    }
}

#[test]
fn a_gcp_cluster_is_refused_unless_its_gke_context_is_current() {
    let Some(lease) = apiserver::lease("a_gcp_cluster_is_refused_unless_its_gke_context_is_current", 2) else {
        return;
    };
    let (one, two) = (&lease[0], &lease[1]);
    let world = World::new();
    let hub = "rc-gke";
    write_repo(
        &world.repo,
        "g1",
        "name: g1\nprovider: gcp\ngcp:\n  project: proj\n  cluster: gk\n  zone: us-central1\n",
        &[hub],
    );
    let other = kubeconfig_named(two, "other", &world.temp.path().join("other.yaml"));
    let other = other.to_string_lossy().into_owned();

    // Server 2's context is current: refused before any helm call.
    let (out, said) = world.deploy(&["--cluster", "g1", "--hub", hub], &[("KUBECONFIG", &other)]);
    assert!(!out.status.success(), "{said}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for part in [
        format!("the current kubectl context is other (server {}, from KUBECONFIG={other})", two.server),
        "gke_proj_us-central1_gk".to_owned(),
        "gcloud container clusters get-credentials gk --region us-central1 --project proj".to_owned(),
        "--use-current-context".to_owned(),
    ] {
        assert!(stderr.contains(&part), "{part}:\n{stderr}");
    }
    assert_eq!(world.helm_calls(), Vec::<String>::new(), "no helm call");
    assert!(!two.releases().iter().any(|r| r.name == hub), "{:?}", two.releases());

    // The cluster's GKE context (on server 1) is current: deployed there.
    let gke = kubeconfig_named(one, "gke_proj_us-central1_gk", &world.temp.path().join("gke.yaml"));
    let (out, said) = world.deploy(&["--cluster", "g1", "--hub", hub], &[("KUBECONFIG", &gke.to_string_lossy())]);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "Cluster g1: the current kubectl context gke_proj_us-central1_gk (server {}, from KUBECONFIG={}) is the \
             cluster's (named gke_proj_us-central1_gk)\n",
            one.server,
            gke.display()
        )),
        "{said}"
    );
    assert!(has_release(one, hub), "{:?}", one.releases());
    assert!(!two.releases().iter().any(|r| r.name == hub), "{:?}", two.releases());

    // The escape hatch: the current context as it is, with a warning line.
    let (out, said) =
        world.deploy(&["--cluster", "g1", "--hub", hub, "--use-current-context"], &[("KUBECONFIG", &other)]);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("warning: --use-current-context: not checking that helm and kubectl reach cluster g1"));
    assert!(has_release(two, hub), "{:?}", two.releases());
}

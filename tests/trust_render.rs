//! helm renders only what the deployer validated. Each attack of a pull
//! request's checkout, through the built binaries (`action-generate`,
//! `action-diff`, `deployer validate --render`, `deployer deploy --dry-run`)
//! with the real helm 4 (and helm 3 where cheap): `requirements.yaml` and
//! lock files naming folders outside the checkout, a schema `$ref` to a file
//! or a URL, a symlink into `.git`, a chart repository the base does not
//! name, a template that eats memory, and the action's secrets in the
//! environment. Every run is checked for the sentinels (in `plan.json`,
//! `comment.md`, `manifests.diff`, `$GITHUB_OUTPUT`, the step summary, stdout
//! and stderr, and in the environment helm itself got), for injected workflow
//! commands, and a loopback server counts the connections a render makes.

mod support;

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::runner_log::commands;
use support::{bin, tool, ActionResult, ActionRun};

/// Secrets of the action's environment, and of files outside the checkout: none may appear anywhere.
const SENTINELS: &[(&str, &str)] = &[
    ("ACTIONS_RUNTIME_TOKEN", "sentinel-actions-runtime-7c1e"),
    ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "sentinel-oidc-request-42aa"),
    ("GITHUB_TOKEN", "sentinel-github-token-93bd"),
    ("INPUT_SECRET-THING", "sentinel-input-value-5f0c"),
    ("AWS_SECRET_ACCESS_KEY", "sentinel-aws-secret-d81f"),
    ("AWS_SESSION_TOKEN", "sentinel-aws-session-0b6e"),
    ("GOOGLE_APPLICATION_CREDENTIALS", "/sentinel-google-credentials-77e2.json"),
    ("GOOGLE_OAUTH_ACCESS_TOKEN", "sentinel-google-token-1a9d"),
];
const OUTSIDE_SECRET: &str = "sentinel-outside-file-c4d2";
const GIT_SECRET: &str = "sentinel-git-extraheader-6e5b";

const CLUSTER: &str = "name: c1
provider: kubeconfig
kubeconfig:
  file: kubeconfig.yaml
hubs:
  - name: staging
    helm_chart: app
    helm_chart_values_files:
      - staging.values.yaml
  - name: prod
    helm_chart: app
    helm_chart_values_files:
      - prod.values.yaml
";
const APP_CHART: &str = "apiVersion: v2
name: app
version: 0.1.0
dependencies:
  - name: lib
    version: 0.1.0
    repository: file://../lib
";
const TEMPLATE: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels:
    {{- include \"lib.labels\" . | nindent 4 }}
data:
  greeting: {{ .Values.greeting | quote }}
";

/// One helm under test: the real binary, called `helm` through a wrapper that records its environment.
struct World {
    temp: tempfile::TempDir,
    /// The workspace: the pull request's head, with the base checked out at `base/`.
    head: PathBuf,
    home: PathBuf,
    /// A folder holding only the `helm` wrapper (first on PATH) and the real tools.
    path: String,
    /// Where the wrapper appends every helm process's environment.
    capture: PathBuf,
    /// A 0600 file outside the checkout.
    outside: PathBuf,
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("folder");
    fs::write(path, text).expect("write");
}

#[cfg(unix)]
fn symlink(target: impl AsRef<Path>, link: &Path) {
    fs::create_dir_all(link.parent().expect("parent")).expect("folder");
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

fn repo(root: &Path) {
    write(&root.join("config/clusters/c1/cluster.yaml"), CLUSTER);
    write(&root.join("config/clusters/c1/kubeconfig.yaml"), "apiVersion: v1\nkind: Config\nclusters: []\n");
    write(&root.join("config/clusters/c1/staging.values.yaml"), "greeting: hello staging\n");
    write(&root.join("config/clusters/c1/prod.values.yaml"), "greeting: hello prod\n");
    write(&root.join("helm-charts/app/Chart.yaml"), APP_CHART);
    write(&root.join("helm-charts/app/values.yaml"), "greeting: hi\n");
    write(&root.join("helm-charts/app/templates/config.yaml"), TEMPLATE);
    write(&root.join("helm-charts/lib/Chart.yaml"), "apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n");
    write(
        &root.join("helm-charts/lib/templates/_labels.tpl"),
        "{{- define \"lib.labels\" -}}\napp: demo\n{{- end }}\n",
    );
}

impl World {
    fn new(helm: &str) -> World {
        let temp = tempfile::tempdir().expect("temp");
        let head = temp.path().join("workspace");
        let base = head.join("base");
        repo(&head);
        repo(&base);
        // `actions/checkout` with its default `persist-credentials`: a credentials header in .git/config.
        write(&head.join(".git/config"), &format!("[http]\n\textraheader = AUTHORIZATION: basic {GIT_SECRET}\n"));
        let home = temp.path().join("home");
        fs::create_dir_all(&home).expect("home");
        let outside = temp.path().join("outside-secret.txt");
        write(&outside, &format!("{OUTSIDE_SECRET}\n"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&outside, fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let wrapper_dir = temp.path().join("bin");
        let capture = temp.path().join("helm-env.txt");
        write(
            &wrapper_dir.join("helm"),
            &format!(
                "#!/bin/sh\n{{ echo \"--- helm $(pwd) $*\"; export -p; }} >> '{}'\nexec '{}' \"$@\"\n",
                capture.display(),
                tool(helm).display()
            ),
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(wrapper_dir.join("helm"), fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let path = format!("{}:{}", wrapper_dir.display(), support::tools_dir().display());
        World { temp, head, home, path, capture, outside }
    }

    /// `action-generate` planning every release of `app` (staging and prod).
    fn generate(&self) -> ActionResult {
        let run = self.action("action-generate").input("changed-files", "helm-charts/app/Chart.yaml").run();
        self.assert_clean(&run, &[]);
        run
    }

    /// An action with the runner's contract, the sentinels in its environment, the wrapper first on PATH.
    fn action(&self, binary: &str) -> ActionRun {
        let mut run = ActionRun::new(binary, &self.head)
            .input("plan-dir", "deployment-plan")
            .env("PATH", self.path.clone())
            .env("HOME", self.home.display().to_string());
        for (name, value) in SENTINELS {
            run = run.env(name, *value);
        }
        run
    }

    /// `action-diff` over the plan `generate` wrote.
    fn diff(&self) -> ActionResult {
        let run = self.action("action-diff").input("base-dir", "base").run();
        assert!(run.success(), "action-diff\n{}\n{}", run.stdout, run.stderr);
        let files = self.plan_files();
        self.assert_clean(&run, &files);
        run
    }

    fn plan_files(&self) -> Vec<PathBuf> {
        ["plan.json", "comment.md", "manifests.diff"]
            .iter()
            .map(|f| self.head.join("deployment-plan").join(f))
            .collect()
    }

    /// No sentinel in the run's streams, outputs, summary, plan files or helm's environment; no injected command.
    fn assert_clean(&self, run: &ActionResult, files: &[PathBuf]) {
        let mut places: Vec<(String, String)> = vec![
            ("stdout".into(), run.stdout.clone()),
            ("stderr".into(), run.stderr.clone()),
            ("$GITHUB_OUTPUT".into(), run.raw_outputs.clone()),
            ("step summary".into(), run.summary.clone()),
            ("helm's environment".into(), fs::read_to_string(&self.capture).unwrap_or_default()),
        ];
        for file in files {
            places.push((file.display().to_string(), fs::read_to_string(file).unwrap_or_default()));
        }
        for (place, text) in &places {
            for (_, secret) in SENTINELS {
                assert!(!text.contains(secret), "{secret} in {place}:\n{text}");
            }
            for secret in [OUTSIDE_SECRET, GIT_SECRET] {
                assert!(!text.contains(secret), "{secret} in {place}:\n{text}");
            }
        }
        for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            // The deployer's own annotations are fine; nothing from the checkout becomes a command.
            let found: Vec<String> = commands(text)
                .into_iter()
                .filter(|c| {
                    !matches!(
                        c.name.as_str(),
                        "group" | "endgroup" | "stop-commands" | "resume-commands" | "error" | "warning" | "notice"
                    ) || c.data.contains("injected")
                        || c.properties.contains("injected")
                })
                .map(|c| format!("{} {}", c.name, c.data))
                .collect();
            assert!(found.is_empty(), "commands in {name}: {found:?}");
        }
    }

    /// Each release of the diff: (`cluster/hub`, status, message).
    fn releases(&self) -> Vec<(String, String, String)> {
        support::diff_releases(&self.head.join("deployment-plan/plan.json"))
    }

    /// Every release render-failed, each message saying `says`; the comment shows the reason.
    fn assert_all_failed(&self, says: &str) {
        let releases = self.releases();
        assert_eq!(releases.len(), 2, "{releases:?}");
        for (label, status, message) in &releases {
            assert_eq!(status, "render-failed", "{label}: {message}");
            assert!(message.contains(says), "{label}: {message:?} should say {says:?}");
        }
        let comment = fs::read_to_string(self.head.join("deployment-plan/comment.md")).expect("comment.md");
        assert!(comment.contains("render failed") && comment.contains(says), "{comment}");
    }

    /// How many helm processes the wrapper saw.
    fn helm_runs(&self) -> usize {
        fs::read_to_string(&self.capture).unwrap_or_default().matches("--- helm").count()
    }
}

/// A loopback HTTP server that answers 404 and counts connections.
struct Listener {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Listener {
    fn start() -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let _ = std::io::Write::write_all(
                    &mut stream,
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Listener { port, connections }
    }

    fn count(&self) -> usize {
        // Let a late connection land before counting.
        std::thread::sleep(Duration::from_millis(200));
        self.connections.load(Ordering::SeqCst)
    }
}

/// A chart elsewhere in the checkout whose `loot/` links to a 0600 file outside and to helm's environment.
#[cfg(unix)]
fn plant_evil_chart(world: &World) -> PathBuf {
    let evil = world.head.join("evil");
    write(&evil.join("Chart.yaml"), "apiVersion: v2\nname: evil\nversion: 0.1.0\n");
    write(
        &evil.join("templates/loot.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: loot\ndata:\n  file: {{ .Files.Get \"loot/secret\" | quote }}\n  env: {{ .Files.Get \"loot/environ\" | quote }}\n",
    );
    symlink(&world.outside, &evil.join("loot/secret"));
    symlink("/proc/self/environ", &evil.join("loot/environ"));
    evil
}

fn deps(entries: &[&str]) -> String {
    let mut text = String::from("dependencies:\n");
    for (index, repository) in entries.iter().enumerate() {
        text.push_str(&format!("  - name: d{index}\n    version: 0.1.0\n    repository: {repository}\n"));
    }
    text
}

#[cfg(unix)]
#[test]
fn requirements_and_lock_files_naming_folders_outside_are_refused_at_their_line() {
    // (file written, its dependency's repository, where the refusal points)
    type Case = (&'static str, fn(&World) -> String, &'static str);
    let cases: &[Case] = &[
        // requirements.yaml with an absolute file:// path to the evil chart.
        (
            "helm-charts/app/requirements.yaml",
            |w| format!("file://{}", w.head.join("evil").display()),
            "requirements.yaml:4:17",
        ),
        // Relative: the temporary copy sits at a fixed depth, so enough `..` reach the real checkout.
        (
            "helm-charts/app/requirements.yaml",
            |w| format!("file://../../../../../../../../../..{}", w.head.join("evil").display()),
            "requirements.yaml:4:17",
        ),
        // Nested: the file:// dependency `lib` brings its own requirements.yaml.
        (
            "helm-charts/lib/requirements.yaml",
            |w| format!("file://{}", w.head.join("evil").display()),
            "lib/requirements.yaml:4:17",
        ),
        // A lock file naming another dependency than Chart.yaml (helm dependency build follows the lock).
        ("helm-charts/app/Chart.lock", |w| format!("file://{}", w.head.join("evil").display()), "app/Chart.lock:4:17"),
    ];
    for (file, repository, at) in cases {
        let world = World::new("helm");
        plant_evil_chart(&world);
        // The plan is made first (as if generate had not looked), so the diff meets the attack itself.
        world.generate();
        let repository = repository(&world);
        write(&world.head.join(file), &deps(&[&repository]));
        world.diff();
        world.assert_all_failed(at);
        world.assert_all_failed("leaves the repository");

        // generate and validate refuse it too, at the file.
        let generate = world.action("action-generate").input("changed-files", *file).run();
        assert!(!generate.success(), "{file}");
        assert!(
            generate.stdout.contains(&format!("::error file={file},line=4,col=17")),
            "{file}:\n{}",
            generate.stdout
        );
        world.assert_clean(&generate, &[]);
        let validate = std::process::Command::new(bin("deployer"))
            .env_clear()
            .env("PATH", &world.path)
            .env("HOME", &world.home)
            .args(["validate", "--render", "--repo"])
            .arg(&world.head)
            .output()
            .expect("deployer validate");
        let text =
            format!("{}{}", String::from_utf8_lossy(&validate.stdout), String::from_utf8_lossy(&validate.stderr));
        assert!(!validate.status.success(), "{text}");
        assert!(text.contains(at) && text.contains("leaves the repository"), "{text}");
        assert!(!text.contains(OUTSIDE_SECRET), "{text}");
        // Nothing was rendered or built from the head's copy.
        let runs = fs::read_to_string(&world.capture).unwrap_or_default();
        assert!(runs.contains("/base dependency build"), "the base still renders:\n{runs}");
        assert!(!runs.contains("/head "), "{file}: helm ran on the head:\n{runs}");
    }
}

#[cfg(unix)]
#[test]
fn without_the_deployer_helm_would_have_read_the_outside_file() {
    // The attack is real: helm 4 itself, on a copy of the chart with requirements.yaml, reads the loot.
    let world = World::new("helm");
    let evil = plant_evil_chart(&world);
    let chart = world.temp.path().join("direct/app");
    support::copy_tree(&world.head.join("helm-charts/app"), &chart);
    support::copy_tree(&world.head.join("helm-charts/lib"), &world.temp.path().join("direct/lib"));
    let requirements = format!(
        "dependencies:\n  - name: lib\n    version: 0.1.0\n    repository: file://../lib\n  - name: evil\n    version: 0.1.0\n    repository: file://{}\n",
        evil.display()
    );
    write(&chart.join("requirements.yaml"), &requirements);
    let build = std::process::Command::new(tool("helm"))
        .env_clear()
        .env("HOME", &world.home)
        .args(["dependency", "build"])
        .arg(&chart)
        .output()
        .expect("helm");
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    let rendered = std::process::Command::new(tool("helm"))
        .env_clear()
        .env("HOME", &world.home)
        .args(["template", "x"])
        .arg(&chart)
        .output()
        .expect("helm");
    assert!(String::from_utf8_lossy(&rendered.stdout).contains(OUTSIDE_SECRET), "the attack reproduces");
}

#[cfg(unix)]
#[test]
fn schema_refs_to_files_and_urls_are_refused_at_their_line_and_nothing_is_fetched() {
    for helm in ["helm", "helm3"] {
        let server = Listener::start();
        let world = World::new(helm);
        world.generate();
        let fetching = format!(
            "{{\"properties\": {{\"greeting\": {{\"$ref\": \"http://127.0.0.1:{}/schema.json\"}}}}}}\n",
            server.port
        );
        // Without the deployer, helm fetches it: the listener is live and the test could fail.
        let direct = world.temp.path().join("direct");
        support::copy_tree(&world.head.join("helm-charts/app"), &direct.join("app"));
        support::copy_tree(&world.head.join("helm-charts/lib"), &direct.join("lib"));
        write(&direct.join("app/values.schema.json"), &fetching);
        let _ = std::process::Command::new(tool(helm))
            .env_clear()
            .env("HOME", &world.home)
            .args(["dependency", "build"])
            .arg(direct.join("app"))
            .output()
            .expect("helm");
        let rendered = std::process::Command::new(tool(helm))
            .env_clear()
            .env("HOME", &world.home)
            .args(["template", "x"])
            .arg(direct.join("app"))
            .output()
            .expect("helm");
        assert!(!rendered.status.success());
        let fetched = server.count();
        assert!(fetched >= 1, "{helm} fetches a $ref URL by itself");

        let schema = format!(
            "{{\n  \"$schema\": \"http://json-schema.org/draft-07/schema#\",\n  \"properties\": {{\n    \"greeting\": {{\"$ref\": \"http://127.0.0.1:{}/schema.json\\n::error::injected\\r##[warning]injected\"}},\n    \"other\": {{\"$ref\": \"file://{}\"}}\n  }}\n}}\n",
            server.port,
            world.outside.display()
        );
        write(&world.head.join("helm-charts/app/values.schema.json"), &schema);
        world.diff();
        world.assert_all_failed("head: helm-charts/app/values.schema.json:4:26: properties.greeting.$ref");
        world.assert_all_failed("/schema.json\\u{a}::error::injected\\u{d}##[warning]injected`");
        assert_eq!(server.count(), fetched, "{helm}: the render contacted the schema's host");

        // The same schema on main: the deploy refuses the chart before helm runs.
        let deploy = std::process::Command::new(bin("deployer"))
            .env_clear()
            .env("PATH", &world.path)
            .env("HOME", &world.home)
            .args(["deploy", "--cluster", "c1", "--hub", "staging", "--dry-run", "--repo"])
            .arg(&world.head)
            .output()
            .expect("deployer deploy");
        let text = format!("{}{}", String::from_utf8_lossy(&deploy.stdout), String::from_utf8_lossy(&deploy.stderr));
        assert!(!deploy.status.success(), "{text}");
        assert!(text.contains("helm-charts/app/values.schema.json:4:26"), "{text}");
        assert!(text.contains("helm-charts/app/values.schema.json:5:23"), "{text}");
        assert!(!text.contains(OUTSIDE_SECRET), "{text}");
        assert_eq!(server.count(), fetched);
    }
}

#[cfg(unix)]
#[test]
fn a_chart_symlink_into_git_is_refused() {
    let world = World::new("helm");
    world.generate();
    symlink("../../../.git/config", &world.head.join("helm-charts/app/files/gitconfig"));
    write(
        &world.head.join("helm-charts/app/templates/git.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: git\ndata:\n  c: {{ .Files.Get \"files/gitconfig\" | quote }}\n",
    );
    world.diff();
    world.assert_all_failed("`helm-charts/app/files/gitconfig` is in (or leads into) the repository's `.git` folder");
}

#[cfg(unix)]
#[test]
fn a_chart_repository_the_base_does_not_name_is_never_contacted() {
    let server = Listener::start();
    for repository in
        [format!("http://127.0.0.1:{}/charts", server.port), format!("oci://127.0.0.1:{}/charts", server.port)]
    {
        let world = World::new("helm");
        world.generate();
        let chart = format!(
            "{APP_CHART}  - name: extra\n    version: 1.0.0\n    repository: \"{repository}\\n::error::injected\"\n"
        );
        write(&world.head.join("helm-charts/app/Chart.yaml"), &chart);
        world.diff();
        world.assert_all_failed(&format!(
            "head: helm-charts/app/Chart.yaml dependencies[1].repository names the chart repository `{repository}\\u{{a}}::error::injected`, which no chart of the base branch names"
        ));
        assert_eq!(server.count(), 0, "{repository}");
    }
}

#[cfg(unix)]
#[test]
fn a_memory_hungry_template_fails_fast_as_render_failed() {
    for helm in ["helm", "helm3"] {
        let world = World::new(helm);
        world.generate();
        write(
            &world.head.join("helm-charts/app/templates/hungry.yaml"),
            "{{- $d := dict }}\n{{- range $i := until 2000000 }}\n{{- $_ := set $d (toString $i) (repeat 1000 \"a\") }}\n{{- end }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hungry\ndata:\n  n: {{ len $d | quote }}\n",
        );
        world.diff();
        world.assert_all_failed("ran out of memory (a render may reserve at most 2 GiB of address space)");
    }
}

#[cfg(unix)]
#[test]
fn helm_never_gets_the_actions_secrets_and_a_normal_render_still_works() {
    for helm in ["helm", "helm3"] {
        let world = World::new(helm);
        world.generate();
        // A real change renders (with `helm dependency build` of the file:// library), and the
        // chart's attempt at helm's environment through a symlink is refused.
        write(&world.head.join("config/clusters/c1/prod.values.yaml"), "greeting: hello again\n");
        let run = world.diff();
        let releases = world.releases();
        assert_eq!(
            releases.iter().map(|(l, s, _)| format!("{l} {s}")).collect::<Vec<_>>(),
            ["c1/staging unchanged", "c1/prod changed"],
            "{releases:?}\n{}",
            run.stdout
        );
        let captured = fs::read_to_string(&world.capture).expect("the wrapper saw helm");
        // The chart is the same on both sides: its dependencies are built once (at the base) and shared.
        assert!(captured.contains("/base dependency build helm-charts/app"), "{captured}");
        assert!(!captured.contains("/head dependency build"), "{captured}");
        assert!(world.helm_runs() >= 3, "version, dependency build, template:\n{captured}");
        for name in ["ACTIONS_", "INPUT_", "GITHUB_", "AWS_", "GOOGLE_"] {
            assert!(!captured.contains(name), "{name} reached helm:\n{captured}");
        }
        assert!(captured.contains("GOMEMLIMIT"), "{captured}");

        symlink("/proc/self/environ", &world.head.join("helm-charts/app/files/environ"));
        write(
            &world.head.join("helm-charts/app/templates/env.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: env\ndata:\n  e: {{ .Files.Get \"files/environ\" | quote }}\n",
        );
        world.diff();
        world.assert_all_failed("`helm-charts/app/files/environ` is a symlink to a path outside the repository");
    }
}

// ---- Vendored chart archives (`charts/*.tgz`) ----

/// A tar header block (ustar) for `name`: type, size, link target.
fn tar_header(name: &str, typeflag: u8, size: u64, link: &str) -> Vec<u8> {
    let mut block = vec![0u8; 512];
    block[..name.len()].copy_from_slice(name.as_bytes());
    block[100..107].copy_from_slice(b"0000644");
    block[108..115].copy_from_slice(b"0000000");
    block[116..123].copy_from_slice(b"0000000");
    block[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    block[136..147].copy_from_slice(b"00000000000");
    block[156] = typeflag;
    block[157..157 + link.len()].copy_from_slice(link.as_bytes());
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
    block[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    block
}

/// A gzip'd tar built by hand: (name, type, data, link) entries, then the end blocks.
fn tgz(entries: &[(&str, u8, &[u8], &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut tar = Vec::new();
    for (name, typeflag, data, link) in entries {
        tar.extend(tar_header(name, *typeflag, data.len() as u64, link));
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.extend([0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip");
    gz.finish().expect("gzip")
}

/// A chart folder `name/` with a ConfigMap template and `schema`, packed by the system's `tar` and `gzip`.
fn packed_chart(world: &World, name: &str, schema: &str) -> Vec<u8> {
    let dir = world.temp.path().join(format!("pack-{name}"));
    write(&dir.join(name).join("Chart.yaml"), &format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"));
    write(&dir.join(name).join("values.yaml"), "a: vendored\n");
    write(&dir.join(name).join("values.schema.json"), schema);
    write(
        &dir.join(name).join("templates/cm.yaml"),
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-vendored\ndata:\n  a: {{{{ .Values.a | quote }}}}\n"),
    );
    let out = dir.join(format!("{name}.tgz"));
    let status =
        std::process::Command::new("tar").arg("-czf").arg(&out).arg("-C").arg(&dir).arg(name).status().expect("tar");
    assert!(status.success());
    fs::read(&out).expect("archive")
}

fn write_bytes(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().expect("parent")).expect("folder");
    fs::write(path, bytes).expect("write");
}

/// `deployer` with the wrapper on PATH; its exit status and all it printed.
fn deployer(world: &World, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(bin("deployer"))
        .env_clear()
        .env("PATH", &world.path)
        .env("HOME", &world.home)
        .args(args)
        .arg("--repo")
        .arg(&world.head)
        .output()
        .expect("deployer");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    for secret in [OUTSIDE_SECRET, GIT_SECRET] {
        assert!(!text.contains(secret), "{text}");
    }
    (output.status.success(), text)
}

#[cfg(unix)]
#[test]
fn a_vendored_archive_whose_schema_fetches_is_refused_and_nothing_is_fetched() {
    for helm in ["helm", "helm3"] {
        let server = Listener::start();
        let world = World::new(helm);
        world.generate();
        let schema = format!(
            "{{\n  \"properties\": {{\n    \"a\": {{\"$ref\": \"http://127.0.0.1:{}/schema.json\"}}\n  }}\n}}\n",
            server.port
        );
        let evil = packed_chart(&world, "evil", &schema);

        // Without the deployer, helm loads the archive (kept inside the packaged `lib`) and fetches the URL.
        let direct = world.temp.path().join("direct");
        support::copy_tree(&world.head.join("helm-charts/app"), &direct.join("app"));
        support::copy_tree(&world.head.join("helm-charts/lib"), &direct.join("lib"));
        write_bytes(&direct.join("lib/charts/evil-0.1.0.tgz"), &evil);
        let helm_in = |args: &[&str]| {
            std::process::Command::new(tool(helm))
                .env_clear()
                .env("HOME", &world.home)
                .args(args)
                .arg(direct.join("app"))
                .output()
                .expect("helm")
        };
        assert!(helm_in(&["dependency", "build"]).status.success());
        assert!(!helm_in(&["template", "x"]).status.success());
        let fetched = server.count();
        assert!(fetched >= 1, "{helm} fetches the archived schema's $ref by itself");

        // The pull request commits it in a file:// dependency folder, then in the chart's own charts/.
        for (at, other) in [
            ("helm-charts/lib/charts/evil-0.1.0.tgz", "helm-charts/app/charts/evil-0.1.0.tgz"),
            ("helm-charts/app/charts/evil-0.1.0.tgz", "helm-charts/lib/charts/evil-0.1.0.tgz"),
        ] {
            let _ = fs::remove_file(world.head.join(other));
            write_bytes(&world.head.join(at), &evil);
            world.diff();
            world.assert_all_failed(&format!(
                "head: {at}:1:1: evil/values.schema.json:3:19: properties.a.$ref: `$ref` is `http://127.0.0.1:{}/schema.json`, another document",
                server.port
            ));
            assert_eq!(server.count(), fetched, "{helm} {at}: the render contacted the schema's host");
            let runs = fs::read_to_string(&world.capture).unwrap_or_default();
            assert!(!runs.contains("/head "), "{at}: helm ran on the head:\n{runs}");
        }

        // validate --render and the deploy refuse it at the archive, before helm runs.
        let (ok, text) = deployer(&world, &["validate", "--render"]);
        assert!(
            !ok && text.contains("helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/values.schema.json:3:19"),
            "{text}"
        );
        let (ok, text) = deployer(&world, &["deploy", "--cluster", "c1", "--hub", "staging", "--dry-run"]);
        assert!(
            !ok && text.contains("helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/values.schema.json:3:19"),
            "{text}"
        );
        assert_eq!(server.count(), fetched, "{helm}");
    }
}

#[cfg(unix)]
#[test]
fn unsafe_vendored_archives_are_refused_before_helm_runs() {
    let chart: &[u8] = b"apiVersion: v2\nname: evil\nversion: 0.1.0\n";
    // A gzip bomb: a single 200 MiB entry of zeros, about 200 KiB compressed; inflated bytes are counted as produced.
    let bomb = {
        use std::io::Write;
        let size: u64 = 200 << 20;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&tar_header("evil/zeros", b'0', size, "")).expect("gzip");
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..200 {
            gz.write_all(&zeros).expect("gzip");
        }
        gz.write_all(&[0u8; 1024]).expect("gzip");
        gz.finish().expect("gzip")
    };
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let world = World::new("helm");
    let outside = world.outside.display().to_string();
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            tgz(&[("evil/Chart.yaml", b'0', chart, ""), ("evil/files/loot", b'2', b"", &outside)]),
            format!("evil/files/loot: a symbolic link (to `{outside}`): a chart archive may hold only files and folders"),
        ),
        (
            tgz(&[("evil/Chart.yaml", b'0', chart, ""), ("evil/files/hard", b'1', b"", "evil/Chart.yaml")]),
            "evil/files/hard: a hard link (to `evil/Chart.yaml`)".into(),
        ),
        (
            tgz(&[("evil/Chart.yaml", b'0', chart, ""), ("evil/../../../../../../tmp/planted.yaml", b'0', b"x: 1\n", "")]),
            "evil/../../../../../../tmp/planted.yaml: a name with a `..` part: an entry must stay inside the chart".into(),
        ),
        (
            bomb,
            "the archive inflates past 128 MiB (with the chart folder's other archives): refused as a decompression bomb"
                .into(),
        ),
        (b"not an archive\n".to_vec(), "the archive is not a gzip-compressed tar archive".into()),
    ];
    world.generate();
    for (bytes, says) in cases {
        write_bytes(&world.head.join("helm-charts/app/charts/evil-0.1.0.tgz"), &bytes);
        world.diff();
        world.assert_all_failed(&format!("head: helm-charts/app/charts/evil-0.1.0.tgz:1:1: {says}"));
        let runs = fs::read_to_string(&world.capture).unwrap_or_default();
        assert!(!runs.contains("/head "), "{says}: helm ran on the head:\n{runs}");
    }
}

#[cfg(unix)]
#[test]
fn a_benign_vendored_archive_still_renders() {
    for helm in ["helm", "helm3"] {
        let world = World::new(helm);
        world.generate();
        let schema = "{\n  \"$schema\": \"http://json-schema.org/draft-07/schema#\",\n  \"definitions\": {\"s\": {\"type\": \"string\"}},\n  \"properties\": {\"a\": {\"$ref\": \"#/definitions/s\"}}\n}\n";
        let extra = packed_chart(&world, "extra", schema);
        write_bytes(&world.head.join("helm-charts/lib/charts/extra-0.1.0.tgz"), &extra);
        // And one from `helm package` itself, with a path too long for a plain ustar name (Go writes pax or GNU headers).
        let source = world.temp.path().join("pack-helm/packaged");
        write(&source.join("Chart.yaml"), "apiVersion: v2\nname: packaged\nversion: 0.1.0\n");
        write(
            &source.join(format!("templates/{}/cm.yaml", "deep-folder-name-".repeat(8))),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: packaged-vendored\n",
        );
        let out = world.temp.path().join("pack-helm/out");
        let packaged = std::process::Command::new(tool(helm))
            .env_clear()
            .env("HOME", &world.home)
            .arg("package")
            .arg(&source)
            .arg("--destination")
            .arg(&out)
            .output()
            .expect("helm package");
        assert!(packaged.status.success(), "{}", String::from_utf8_lossy(&packaged.stderr));
        let bytes = fs::read(out.join("packaged-0.1.0.tgz")).expect("packaged");
        write_bytes(&world.head.join("helm-charts/lib/charts/packaged-0.1.0.tgz"), &bytes);
        world.diff();
        let releases = world.releases();
        assert_eq!(
            releases.iter().map(|(l, s, _)| format!("{l} {s}")).collect::<Vec<_>>(),
            ["c1/staging changed", "c1/prod changed"],
            "{releases:?}"
        );
        let diff = fs::read_to_string(world.head.join("deployment-plan/manifests.diff")).expect("manifests.diff");
        assert!(diff.contains("extra-vendored") && diff.contains("packaged-vendored"), "{diff}");
        let (ok, text) = deployer(&world, &["validate", "--render"]);
        assert!(ok, "{text}");
    }
}

//! Helpers shared by the integration tests: the real binaries, run with the
//! runner's contract (a clean environment, `INPUT_*` variables, temporary
//! output files), and parsers for what they write.
#![allow(dead_code)]

pub mod age;
pub mod apiserver;
pub mod chart_servers;
pub mod fake_github;
pub mod runner_log;
pub mod stubs;
pub mod workloads;
pub mod zip_builder;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

/// The project root.
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `tests/fixtures/`.
pub fn fixture(path: &str) -> PathBuf {
    project_root().join("tests/fixtures").join(path)
}

/// The bundled example repository (the conformance fixture).
pub fn example_repo() -> PathBuf {
    fixture("conformance/repo")
}

/// A real tool installed by `scripts/install-tools.sh` into `target/tools/bin`
/// (`helm` 4, `helm3`, `kubectl`, `kubectl3`, `sops`, `age`, `age-keygen`).
/// `make test` installs them first; a missing tool fails the test, never skips it.
pub fn tool(name: &str) -> PathBuf {
    let path = project_root().join("target/tools/bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `bash scripts/install-tools.sh` (or the tests with `make test`, which runs it)",
        path.display()
    );
    path
}

/// The folder of the real tools, to put on a child's `PATH`.
pub fn tools_dir() -> PathBuf {
    tool("helm").parent().expect("tools folder").to_path_buf()
}

/// A binary of the workspace, built by `cargo build --workspace --bins`.
/// Refuses a binary older than the sources, so a stale build never passes.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target profile folder");
    let path = dir.join(name);
    let built = fs::metadata(&path).and_then(|m| m.modified()).unwrap_or_else(|_| {
        panic!("{} is missing: run the tests with `make test` (it builds every binary first)", path.display())
    });
    let newest = newest_source(&project_root());
    assert!(
        built >= newest,
        "{} is older than the sources: run the tests with `make test` (it rebuilds every binary first)",
        path.display()
    );
    path
}

fn newest_source(root: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut dirs = vec![root.join("src")];
    for entry in fs::read_dir(root).expect("project root").flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("action-") {
            dirs.push(entry.path().join("src"));
        }
    }
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(modified);
            }
        }
    }
    newest
}

/// The Markdown files the docs checks read: each of `places` that is a file, and every `.md` file
/// under each that is a folder, sorted.
pub fn markdown_files(places: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for place in places {
        if place.is_dir() {
            dirs.push(place.clone());
        } else {
            files.push(place.clone());
        }
    }
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("docs folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// One run of an action binary the way the runner starts a container step.
pub struct ActionRun {
    pub binary: String,
    pub workspace: PathBuf,
    pub inputs: Vec<(String, String)>,
    /// Inputs naming a path inside the run's own copy of the workspace.
    pub temp_inputs: Vec<(String, String)>,
    pub env: Vec<(String, String)>,
    pub event: Option<String>,
}

/// What an action run produced.
pub struct ActionResult {
    pub output: Output,
    pub stdout: String,
    pub stderr: String,
    /// `$GITHUB_OUTPUT`, parsed.
    pub outputs: BTreeMap<String, String>,
    pub raw_outputs: String,
    pub summary: String,
    /// The workspace the action ran in: the given one, or the run's own copy (see [`ActionRun::temp_input`]).
    pub workspace: PathBuf,
    pub temp: tempfile::TempDir,
}

impl ActionRun {
    pub fn new(binary: &str, workspace: impl Into<PathBuf>) -> Self {
        ActionRun {
            binary: binary.into(),
            workspace: workspace.into(),
            inputs: Vec::new(),
            temp_inputs: Vec::new(),
            env: Vec::new(),
            event: None,
        }
    }

    pub fn input(mut self, name: &str, value: impl Into<String>) -> Self {
        self.inputs.push((name.into(), value.into()));
        self
    }

    /// An input set to `relative`, with the run working in its own copy of
    /// the workspace (such as `plan-dir`, which must be inside the workspace:
    /// parallel runs never share a folder, and a fixture is never written to).
    pub fn temp_input(mut self, name: &str, relative: &str) -> Self {
        self.temp_inputs.push((name.into(), relative.into()));
        self
    }

    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn event(mut self, json: impl Into<String>) -> Self {
        self.event = Some(json.into());
        self
    }

    pub fn run(self) -> ActionResult {
        let temp = tempfile::tempdir().expect("temp dir");
        let output_file = temp.path().join("github_output");
        let summary_file = temp.path().join("step_summary");
        // The runner creates both files, empty, before the step starts.
        fs::write(&output_file, "").expect("output file");
        fs::write(&summary_file, "").expect("summary file");
        let workspace = if self.temp_inputs.is_empty() {
            self.workspace.clone()
        } else {
            let copy = temp.path().join("workspace");
            copy_tree(&self.workspace, &copy);
            copy
        };
        let mut command = Command::new(bin(&self.binary));
        command
            .env_clear()
            .current_dir(&workspace)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", &workspace)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_STEP_SUMMARY", &summary_file);
        if let Some(event) = &self.event {
            let event_file = temp.path().join("event.json");
            fs::write(&event_file, event).expect("event file");
            command.env("GITHUB_EVENT_PATH", &event_file);
        }
        // As the runner does: every input of the action's metadata that has a `default:` and that
        // the step leaves out is passed with its default (expressions such as `${{ github.token }}`
        // aside: the runner evaluates those).
        for (name, value) in action_defaults(&self.binary) {
            command.env(format!("INPUT_{}", name.to_ascii_uppercase()), value);
        }
        for (name, value) in &self.inputs {
            command.env(format!("INPUT_{}", name.to_ascii_uppercase()), value);
        }
        for (name, relative) in &self.temp_inputs {
            command.env(format!("INPUT_{}", name.to_ascii_uppercase()), relative);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let output = command.output().expect("run the action binary");
        let raw_outputs = fs::read_to_string(&output_file).unwrap_or_default();
        let outputs = parse_github_output(&raw_outputs);
        ActionResult {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            summary: fs::read_to_string(&summary_file).unwrap_or_default(),
            outputs,
            raw_outputs,
            output,
            workspace,
            temp,
        }
    }
}

impl ActionResult {
    pub fn success(&self) -> bool {
        self.output.status.success()
    }

    /// An output's value; panics with the run's logs when it is missing.
    pub fn output(&self, name: &str) -> &str {
        self.outputs
            .get(name)
            .unwrap_or_else(|| panic!("no output {name}\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    pub fn json_output(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(self.output(name)).expect("output is JSON")
    }
}

/// Parses `$GITHUB_OUTPUT` as the runner does, insisting on the heredoc form
/// with a distinct, unguessable delimiter per value.
pub fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.split('\n');
    let mut delimiters = Vec::new();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let (name, delimiter) = line.split_once("<<").unwrap_or_else(|| panic!("not a heredoc output line: {line:?}"));
        assert!(delimiter.starts_with("ghadelimiter_") && delimiter.len() >= 40, "weak delimiter {delimiter:?}");
        assert!(!delimiters.contains(&delimiter.to_owned()), "delimiter reused");
        delimiters.push(delimiter.to_owned());
        let mut value = Vec::new();
        loop {
            let line = lines.next().unwrap_or_else(|| panic!("unterminated value of {name}"));
            if line == delimiter {
                break;
            }
            value.push(line);
        }
        assert!(outputs.insert(name.to_owned(), value.join("\n")).is_none(), "output {name} written twice");
    }
    outputs
}

/// Runs `deployer` with arguments, in a clean environment.
pub fn deployer(args: &[&str]) -> Output {
    Command::new(bin("deployer")).env_clear().args(args).output().expect("run deployer")
}

/// A kubeconfig at `dir/kubeconfig-<n>` whose current context is `context`, on a server
/// nothing listens on: what `gcloud container clusters get-credentials` or `aws eks
/// update-kubeconfig` leaves, so that `deployer deploy` finds the cluster's context current.
pub fn kubeconfig_with_context(dir: &Path, context: &str) -> PathBuf {
    fs::create_dir_all(dir).expect("kubeconfig folder");
    let path = (0..).map(|n| dir.join(format!("kubeconfig-{n}"))).find(|p| !p.exists()).expect("a free name");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: '{context}'\nclusters:\n- name: '{context}'\n  cluster:\n    \
         server: https://127.0.0.1:9\ncontexts:\n- name: '{context}'\n  context:\n    cluster: '{context}'\n    \
         user: me\nusers:\n- name: me\n  user:\n    token: not-a-real-token\n"
    );
    fs::write(&path, text).expect("kubeconfig");
    path
}

/// Copies a folder tree (for fixtures a test must modify).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create folder");
    for entry in fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_symlink() {
            // Kept a link (`helm-charts/daskhub/values.jsonnet`): what it names, as committed.
            let link = fs::read_link(entry.path()).expect("read link");
            std::os::unix::fs::symlink(&link, &target).expect("copy link");
        } else {
            fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// The `default:` of every input of `actions/<name>/action.yml` for the binary `action-<name>`
/// (none for other binaries), expressions left out.
pub fn action_defaults(binary: &str) -> Vec<(String, String)> {
    let Some(action) = binary.strip_prefix("action-") else { return Vec::new() };
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("actions").join(action).join("action.yml");
    let Ok(text) = fs::read_to_string(&file) else { return Vec::new() };
    let metadata: yaml_serde::Value = yaml_serde::from_str(&text).expect("action.yml parses");
    let Some(inputs) = metadata.get("inputs").and_then(yaml_serde::Value::as_mapping) else { return Vec::new() };
    inputs
        .iter()
        .filter_map(|(name, input)| {
            let default = match input.get("default")? {
                yaml_serde::Value::String(text) => text.clone(),
                yaml_serde::Value::Bool(flag) => flag.to_string(),
                yaml_serde::Value::Number(number) => number.to_string(),
                _ => return None,
            };
            (!default.contains("${{")).then(|| (name.as_str().unwrap_or_default().to_owned(), default))
        })
        .collect()
}

impl ActionRun {
    /// Runs the binary off the async runtime, so a fake server in the same test keeps answering.
    pub async fn run_async(self) -> ActionResult {
        tokio::task::spawn_blocking(move || self.run()).await.expect("action run")
    }

    /// The runner's variables for talking to a fake GitHub API (plain http
    /// on 127.0.0.1, accepted only with `DEPLOYER_ALLOW_INSECURE_ENDPOINTS=1`).
    pub fn github(self, api_url: &str) -> Self {
        self.env("GITHUB_API_URL", api_url)
            .env("DEPLOYER_ALLOW_INSECURE_ENDPOINTS", "1")
            .env("GITHUB_REPOSITORY", "octo-org/infra")
            .input("github-token", "test-token")
    }
}

/// A commit SHA made of one repeated hex digit.
pub fn sha(digit: char) -> String {
    std::iter::repeat_n(digit, 40).collect()
}

/// Each release of a plan's manifest diff (`plan.json` at `plan`): (`cluster/hub`, status, message).
pub fn diff_releases(plan: &Path) -> Vec<(String, String, String)> {
    let plan: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(plan).expect("plan.json")).expect("plan.json is JSON");
    plan["manifest_diff"]["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| {
            (
                format!("{}/{}", r["cluster_name"].as_str().unwrap_or(""), r["hub_name"].as_str().unwrap_or("")),
                r["status"].as_str().unwrap_or("").to_owned(),
                r["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Runs `git` in `repo` with a clean environment and a fixed identity, and returns its trimmed stdout;
/// a failure fails the test.
pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", repo)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", "-C"])
        .arg(repo)
        .args(args)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A YAML double-quoted scalar holding exactly `text` (YAML folds some raw
/// characters, such as U+0085, so everything outside printable ASCII is escaped).
pub fn yaml_quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => out.extend(['\\', c]),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xFFFF => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

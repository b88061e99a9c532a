//! Rendering a checkout's `.jsonnet` values files in-process (jrsonnet), the
//! way go-jsonnet renders them for the Python deployer: imports resolved
//! relative to the importing file's folder as written, then the rendered
//! file's own folder (`--jpath`), ext-strs given by the caller.
//!
//! Every file is read through [`repo_fs`](crate::base::repo_fs) (inside the checkout,
//! never under `.git`, regular files, size caps). Paths are never resolved
//! through symlinks before jsonnet sees them: `std.thisFile` is the
//! repository-relative path as written, anchored at `/` (`/helm-charts/daskhub/values.jsonnet`
//! when that is a symlink to basehub's), so a file that looks at its own
//! folder name (`std.splitLimitR(std.thisFile, '/', 3)[2]`) sees the folder it
//! was rendered from, as with the absolute path go-jsonnet is given.
//!
//! A PR's jsonnet is attacker-written: evaluation runs on a thread of its own
//! with a bounded call depth, a time limit, caps on the bytes imported and on
//! the output.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use jrsonnet_evaluator::manifest::JsonFormat;
use jrsonnet_evaluator::trace::PathResolver;
use jrsonnet_evaluator::{AsPathLike, ImportResolver, SourcePath, State};
use jrsonnet_gcmodule::Acyclic;

use crate::base::diagnostic::Diagnostic;
use crate::base::error::Error;
use crate::base::repo_fs::{self, PathProblem, RepoRoot, RepoRootSeed};

/// The largest `.jsonnet`/`.libsonnet` file read.
pub const MAX_FILE_BYTES: u64 = repo_fs::MAX_CONFIG_FILE_BYTES;
/// The most bytes read over all the imports of one render.
pub const MAX_IMPORTED_BYTES: u64 = 16 * 1024 * 1024;
/// The largest rendered JSON accepted.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;
/// The deepest call stack an evaluation may reach (jsonnet's own default is 500).
pub const MAX_STACK_DEPTH: usize = 500;
/// How long one render may take.
pub const TIME_LIMIT: Duration = Duration::from_secs(60);
/// The evaluation thread's stack (deep but bounded recursion needs room).
const THREAD_STACK_BYTES: usize = 256 * 1024 * 1024;

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The JSON document, for helm as a values file.
    pub json: String,
    /// Every file read, repository-relative as written (not symlink-resolved), the rendered file first.
    pub files: Vec<String>,
}

/// Whether a repository path is a jsonnet file to render (`.jsonnet`).
pub fn is_jsonnet(path: &str) -> bool {
    path.ends_with(".jsonnet")
}

/// Renders the repository-relative `file` of the checkout at `root` with the
/// ext-strs `ext_vars` (name, value). Problems in the jsonnet become a
/// [`Diagnostic`] at the file and line where jsonnet found them.
pub fn render(root: &RepoRoot, file: &str, ext_vars: &[(String, String)]) -> Result<Rendered, Error> {
    let file = repo_fs::join_inside("", file).map_err(|problem| located(file, None, problem.to_string()))?;
    let seed = root.for_thread();
    let ext_vars = ext_vars.to_vec();
    let (send, receive) = mpsc::channel();
    let job = file.clone();
    let spawned = std::thread::Builder::new()
        .name("jsonnet".to_owned())
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || {
            let _ = send.send(evaluate(&seed, &job, &ext_vars));
        })
        .map_err(|e| Error::io(Path::new(&file), e))?;
    match receive.recv_timeout(TIME_LIMIT) {
        Ok(result) => {
            let _ = spawned.join();
            result
        }
        // The thread is left to finish on its own: jrsonnet cannot be interrupted.
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(located(&file, None, format!("rendering took longer than {} s: refusing it", TIME_LIMIT.as_secs())))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(located(&file, None, "rendering stopped without a result (the evaluator failed)".to_owned()))
        }
    }
}

fn located(file: &str, at: Option<(usize, usize)>, message: String) -> Error {
    Error::Config(vec![Diagnostic::new(file, message).at(at)])
}

/// What the resolver of the current evaluation thread reads from.
struct Context {
    root: RepoRoot,
    /// The rendered file's folder: go-jsonnet's `--jpath`.
    jpath: String,
    files: Vec<String>,
    bytes: u64,
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

fn evaluate(seed: &RepoRootSeed, file: &str, ext_vars: &[(String, String)]) -> Result<Rendered, Error> {
    CONTEXT.with_borrow_mut(|context| {
        *context = Some(Context {
            root: seed.root(),
            jpath: crate::base::repo_path::parent(file).to_owned(),
            files: Vec::new(),
            bytes: 0,
        });
    });
    let initializer = jrsonnet_stdlib::ContextInitializer::new(PathResolver::Absolute);
    for (name, value) in ext_vars {
        initializer.add_ext_str(name.as_str().into(), value.as_str().into());
    }
    let mut builder = State::builder();
    builder.import_resolver(RepoResolver).context_initializer(initializer);
    let state = builder.build();
    let _entered = state.enter();
    let _depth = jrsonnet_evaluator::stack::limit_stack_depth(MAX_STACK_DEPTH);
    let json = state
        .import(virtual_path(file).as_path())
        .and_then(|value| value.manifest(JsonFormat::minify()))
        .map_err(|e| diagnose(file, &e));
    let files = CONTEXT.with_borrow_mut(|context| context.take().map(|c| c.files).unwrap_or_default());
    let json = json?;
    if json.len() > MAX_OUTPUT_BYTES {
        return Err(located(
            file,
            None,
            format!("the rendered JSON is over {} MiB: refusing it", MAX_OUTPUT_BYTES >> 20),
        ));
    }
    Ok(Rendered { json, files })
}

/// The path jsonnet sees for a repository path: anchored at `/`, never resolved.
fn virtual_path(relative: &str) -> PathBuf {
    PathBuf::from(format!("/{relative}"))
}

/// The repository path of a path jsonnet saw.
fn repository_path(path: &Path) -> String {
    path.to_string_lossy().trim_start_matches('/').to_owned()
}

/// The error as a diagnostic at the innermost place jsonnet names.
fn diagnose(file: &str, error: &jrsonnet_evaluator::Error) -> Error {
    let span = match error.error() {
        jrsonnet_evaluator::error::ErrorKind::ImportSyntaxError { error, .. } => Some(error.location.clone()),
        _ => error.trace().0.iter().find_map(|frame| frame.location.clone()),
    };
    let message = error.error().to_string();
    match span {
        Some(span) => {
            let at_file = span.0.source_path().path().map_or_else(|| file.to_owned(), repository_path);
            let [location] = span.0.map_source_locations(&[span.1]);
            located(&at_file, Some((location.line, location.column)), format!("jsonnet: {message}"))
        }
        None => located(file, None, format!("jsonnet: {message}")),
    }
}

/// Imports through `repo_fs`, relative to the importing file as written, then the jpath.
#[derive(Acyclic)]
struct RepoResolver;

fn import_error(message: String) -> jrsonnet_evaluator::Error {
    jrsonnet_evaluator::error::ErrorKind::ImportIo(message).into()
}

impl ImportResolver for RepoResolver {
    fn resolve_from(&self, from: &SourcePath, path: &dyn AsPathLike) -> jrsonnet_evaluator::Result<SourcePath> {
        let wanted = path.as_path();
        let wanted: &Path = wanted.as_ref();
        let Some(wanted) = wanted.to_str() else {
            return Err(import_error("an import path that is not UTF-8".to_owned()));
        };
        CONTEXT.with_borrow(|context| {
            let Some(context) = context else {
                return Err(import_error("no checkout to import from".to_owned()));
            };
            let candidates: Vec<String> = match from.path() {
                // The rendered file itself, named by `render`.
                None => vec![repository_path(Path::new(wanted))],
                Some(importer) => {
                    let importer = repository_path(importer);
                    let folder = crate::base::repo_path::parent(&importer);
                    let mut found = Vec::new();
                    for dir in [folder, context.jpath.as_str()] {
                        let joined = repo_fs::join_inside(dir, wanted)
                            .map_err(|problem| import_error(format!("import `{wanted}` {problem}")))?;
                        if !found.contains(&joined) {
                            found.push(joined);
                        }
                    }
                    found
                }
            };
            for candidate in &candidates {
                match context.root.file(candidate) {
                    Ok(_) => return Ok(SourcePath::new(jrsonnet_ir::SourceFile::new(virtual_path(candidate)))),
                    Err(refused) if refused.problem == PathProblem::NotFound => continue,
                    Err(refused) => return Err(import_error(refused.to_string())),
                }
            }
            Err(import_error(format!("import `{wanted}`: no such file (looked for {})", candidates.join(", "))))
        })
    }

    fn load_file_contents(&self, resolved: &SourcePath) -> jrsonnet_evaluator::Result<Vec<u8>> {
        let Some(path) = resolved.path() else {
            return Err(import_error("only repository files can be imported".to_owned()));
        };
        let relative = repository_path(path);
        CONTEXT.with_borrow_mut(|context| {
            let Some(context) = context else {
                return Err(import_error("no checkout to import from".to_owned()));
            };
            let left = MAX_IMPORTED_BYTES.saturating_sub(context.bytes);
            let bytes = context
                .root
                .read_file_capped(&relative, MAX_FILE_BYTES.min(left))
                .map_err(|refused| import_error(refused.to_string()))?;
            context.bytes += bytes.len() as u64;
            if !context.files.contains(&relative) {
                context.files.push(relative);
            }
            Ok(bytes)
        })
    }
}

/// A chart's own jsonnet values, rendered first for every release of the chart.
pub const CHART_VALUES_FILE: &str = "values.jsonnet";

impl Placeholders {
    /// The placeholders of a cluster's support chart (`hub` `None`) or of one of its hubs.
    pub fn of(cluster: &crate::config::Cluster, hub: Option<&crate::config::Hub>) -> Placeholders {
        let aws = cluster.access.aws.as_ref();
        let gcp = cluster.access.gcp.as_ref();
        let account = match cluster.provider {
            crate::config::raw::Provider::Aws => aws.and_then(|a| a.account.clone()),
            crate::config::raw::Provider::Gcp => gcp.and_then(|g| g.project.clone()),
            _ => None,
        };
        let provider_cluster_name = match cluster.provider {
            crate::config::raw::Provider::Aws => aws.and_then(|a| a.cluster_name.clone()),
            _ => None,
        };
        Placeholders {
            cluster: cluster.name.clone(),
            provider: cluster.provider.as_str().to_owned(),
            account: account.unwrap_or_default(),
            provider_cluster_name: provider_cluster_name.unwrap_or_else(|| cluster.name.clone()),
            hub: hub.map(|h| h.name.clone()),
            domain: hub.and_then(|h| h.domain.clone()),
        }
    }
}

/// `<chart folder>/values.jsonnet`.
pub fn chart_values_file(chart_folder: &str) -> String {
    let folder = chart_folder.trim_end_matches('/');
    if folder.is_empty() {
        CHART_VALUES_FILE.to_owned()
    } else {
        format!("{folder}/{CHART_VALUES_FILE}")
    }
}

/// The paths named by `import`, `importstr` and `importbin` in jsonnet source, as written, in order.
/// Jsonnet requires a string literal there, so a scan that skips comments and strings finds them all.
pub fn imports(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    // After an import keyword: the next string literal is its path.
    let mut want_path = false;
    while at < bytes.len() {
        let rest = &text[at..];
        let byte = bytes[at];
        if rest.starts_with("//") || byte == b'#' {
            at += rest.find('\n').unwrap_or(rest.len());
        } else if let Some(comment) = rest.strip_prefix("/*") {
            at += comment.find("*/").map_or(rest.len(), |end| end + 4);
        } else if rest.starts_with("|||") {
            // A text block ends at the next `|||` after its first line.
            let body = rest.find('\n').unwrap_or(rest.len());
            at += rest[body..].find("|||").map_or(rest.len(), |end| body + end + 3);
            want_path = false;
        } else if byte == b'"' || byte == b'\'' || (byte == b'@' && matches!(bytes.get(at + 1), Some(b'"' | b'\''))) {
            let verbatim = byte == b'@';
            let start = if verbatim { at + 2 } else { at + 1 };
            let quote = bytes[start - 1];
            let mut value = Vec::new();
            let mut end = start;
            while end < bytes.len() {
                let c = bytes[end];
                if verbatim && c == quote && bytes.get(end + 1) == Some(&quote) {
                    value.push(quote);
                    end += 2;
                } else if c == quote {
                    break;
                } else if !verbatim && c == b'\\' {
                    if let Some(&next) = bytes.get(end + 1) {
                        value.push(match next {
                            b'n' => b'\n',
                            b't' => b'\t',
                            other => other,
                        });
                    }
                    end += 2;
                } else {
                    value.push(c);
                    end += 1;
                }
            }
            if want_path {
                found.push(String::from_utf8_lossy(&value).into_owned());
            }
            want_path = false;
            at = end + 1;
        } else if byte.is_ascii_alphabetic() || byte == b'_' {
            let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            want_path = matches!(&rest[..len], "import" | "importstr" | "importbin");
            at += len;
        } else {
            if !byte.is_ascii_whitespace() {
                want_path = false;
            }
            at += 1;
        }
    }
    found
}

/// Every file a render of `file` may read: the file, each import (transitively, resolved as a render
/// resolves them), and where a symlink among them leads, all repository-relative. What cannot be read is
/// left out (the render reports it); the walk is capped like a render.
pub fn input_files(root: &RepoRoot, file: &str) -> Vec<String> {
    let Ok(file) = repo_fs::join_inside("", file) else { return Vec::new() };
    let jpath = crate::base::repo_path::parent(&file).to_owned();
    let mut files: Vec<String> = Vec::new();
    let mut queue = vec![file];
    let mut bytes: u64 = 0;
    while let Some(current) = queue.pop() {
        if files.contains(&current) {
            continue;
        }
        let Ok(on_disk) = root.file(&current) else { continue };
        files.push(current.clone());
        if let Ok(inside) = on_disk.strip_prefix(root.path()) {
            let resolved = inside.to_string_lossy().into_owned();
            if !files.contains(&resolved) {
                files.push(resolved);
            }
        }
        let left = MAX_IMPORTED_BYTES.saturating_sub(bytes);
        let Ok(text) = root.read_file_capped(&current, MAX_FILE_BYTES.min(left)) else { continue };
        bytes += text.len() as u64;
        let text = String::from_utf8_lossy(&text);
        let folder = crate::base::repo_path::parent(&current).to_owned();
        for wanted in imports(&text) {
            let candidates = [folder.as_str(), jpath.as_str()].map(|dir| repo_fs::join_inside(dir, &wanted));
            let existing = candidates.iter().flatten().find(|candidate| root.file(candidate).is_ok());
            // Not found: the first candidate, so that adding the file later still plans (never less).
            if let Some(next) = existing.or(candidates.iter().flatten().next()) {
                if !files.contains(next) {
                    queue.push(next.clone());
                }
                if existing.is_none() {
                    files.push(next.clone());
                }
            }
        }
    }
    files
}

/// The placeholders of `jsonnet.ext_vars` templates.
pub const PLACEHOLDERS: [&str; 6] = ["cluster", "provider", "account", "hub", "domain", "provider_cluster_name"];

/// What the placeholders stand for, for one release.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    /// The cluster's name.
    pub cluster: String,
    /// `gcp`, `aws`, `azure` or `kubeconfig`.
    pub provider: String,
    /// The AWS account or the GCP project; empty elsewhere.
    pub account: String,
    /// The AWS `clusterName` on AWS, the cluster's name elsewhere.
    pub provider_cluster_name: String,
    /// The hub's name and domain; `None` for the support chart.
    pub hub: Option<String>,
    pub domain: Option<String>,
}

/// One piece of an ext-var template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Placeholder(&'static str),
}

/// The `jsonnet.ext_vars` of `deployer.yaml`: ext-str name → template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtVarTemplates {
    vars: Vec<(String, Vec<Piece>)>,
}

/// A problem in one ext-var template: the ext-var's name and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    pub name: String,
    pub message: String,
}

impl ExtVarTemplates {
    /// Checks every template: `{word}` must be a known placeholder (did-you-mean otherwise); `{{` and `}}`
    /// stand for a literal brace.
    pub fn parse<'a>(templates: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, TemplateProblem> {
        let mut vars = Vec::new();
        for (name, template) in templates {
            let problem = |message: String| TemplateProblem { name: name.to_owned(), message };
            if name.is_empty() {
                return Err(problem("an ext-var needs a name".to_owned()));
            }
            vars.push((name.to_owned(), pieces(template).map_err(problem)?));
        }
        Ok(ExtVarTemplates { vars })
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// Whether any template uses the placeholder `word` (one of [`PLACEHOLDERS`]).
    pub fn uses(&self, word: &str) -> bool {
        self.vars
            .iter()
            .any(|(_, pieces)| pieces.iter().any(|piece| matches!(piece, Piece::Placeholder(p) if *p == word)))
    }

    /// The ext-strs for one release, by name. An ext-var whose template uses `{hub}` or `{domain}` is left
    /// out for the support chart (as the Python deployer passes no hub there): a file reading it fails
    /// with jsonnet's "undefined external variable".
    pub fn values(&self, placeholders: &Placeholders) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter_map(|(name, pieces)| {
                let mut value = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => value.push_str(text),
                        Piece::Placeholder(word) => value.push_str(match *word {
                            "cluster" => &placeholders.cluster,
                            "provider" => &placeholders.provider,
                            "account" => &placeholders.account,
                            "provider_cluster_name" => &placeholders.provider_cluster_name,
                            "hub" => placeholders.hub.as_deref()?,
                            _ => placeholders.domain.as_deref()?,
                        }),
                    }
                }
                Some((name.clone(), value))
            })
            .collect()
    }
}

fn pieces(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        text.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            text.push_str(&tail[..1]);
            rest = after;
            continue;
        }
        if tail.starts_with('}') {
            return Err("a lone `}`: write `}}` for a literal brace".to_owned());
        }
        let Some(end) = tail.find('}') else {
            return Err("a `{` without its `}`: write `{{` for a literal brace".to_owned());
        };
        let word = &tail[1..end];
        let Some(known) = PLACEHOLDERS.iter().find(|p| **p == word) else {
            let listed = PLACEHOLDERS.iter().map(|p| format!("`{{{p}}}`")).collect::<Vec<_>>().join(", ");
            return Err(match crate::config::suggest::did_you_mean(word, PLACEHOLDERS) {
                Some(near) => format!("unknown placeholder `{{{word}}}`; did you mean `{{{near}}}`?"),
                None => format!("unknown placeholder `{{{word}}}`: the placeholders are {listed}"),
            });
        };
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Placeholder(known));
        rest = &tail[end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> RepoRoot {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dropin-jsonnet");
        RepoRoot::new(&path).expect("fixture")
    }

    fn vars(hub: &str) -> Vec<(String, String)> {
        [("HUB", hub), ("CLUSTER", "demo-eks"), ("PROVIDER", "aws"), ("DOMAIN", "x.example.org"), ("ACCOUNT", "123")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn json(rendered: &Rendered) -> serde_json::Value {
        serde_json::from_str(&rendered.json).expect("json")
    }

    #[test]
    fn basehub_renders_flat_with_its_import_and_ext_vars() {
        let rendered = render(&fixture(), "helm-charts/basehub/values.jsonnet", &vars("staging")).expect("renders");
        let value = json(&rendered);
        assert_eq!(value["jupyterhub"]["ingress"]["hosts"][0], "x.example.org");
        assert_eq!(value["jupyterhub"]["staging"], true);
        assert_eq!(
            value["userServiceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
            "arn:aws:iam::123:role/demo-eks-staging"
        );
        assert_eq!(value["renderedFrom"], "/helm-charts/basehub/values.jsonnet");
        assert!(value.get("basehub").is_none());
        assert_eq!(rendered.files, ["helm-charts/basehub/values.jsonnet", "jsonnet/common.libsonnet"]);
    }

    #[test]
    fn the_daskhub_symlink_keeps_its_own_path_and_nests() {
        let rendered = render(&fixture(), "helm-charts/daskhub/values.jsonnet", &vars("prod")).expect("renders");
        let value = json(&rendered);
        assert_eq!(value["basehub"]["renderedFrom"], "/helm-charts/daskhub/values.jsonnet");
        assert_eq!(value["basehub"]["jupyterhub"]["staging"], false);
        assert!(value.get("jupyterhub").is_none());
        assert_eq!(rendered.files, ["helm-charts/daskhub/values.jsonnet", "jsonnet/common.libsonnet"]);
    }

    #[test]
    fn imports_fall_back_to_the_rendered_files_folder() {
        let rendered = render(&fixture(), "config/clusters/demo/hub.jsonnet", &vars("staging")).expect("renders");
        assert_eq!(json(&rendered)["jupyterhub"]["singleuser"]["image"]["name"], "quay.io/example/staging");
        assert_eq!(rendered.files[1], "config/clusters/demo/lib.libsonnet");
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let Err(Error::Config(problems)) = render(&fixture(), "config/clusters/demo/broken.jsonnet", &[]) else {
            panic!("expected a config error");
        };
        assert_eq!(problems[0].file, "config/clusters/demo/broken.jsonnet");
        assert_eq!(problems[0].line, Some(3), "{problems:?}");
        assert!(problems[0].message.contains("the fixture fails here"), "{problems:?}");
    }

    #[test]
    fn a_missing_ext_var_is_an_error_at_its_use() {
        let Err(Error::Config(problems)) = render(&fixture(), "config/clusters/demo/hub.jsonnet", &[]) else {
            panic!("expected a config error");
        };
        assert_eq!(problems[0].file, "config/clusters/demo/hub.jsonnet");
        assert_eq!(problems[0].line, Some(4), "{problems:?}");
    }

    #[test]
    fn imports_cannot_leave_the_checkout_or_read_git() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("repo/.git")).expect("mkdir");
        std::fs::write(dir.path().join("secret.libsonnet"), "{ s: 1 }").expect("write");
        std::fs::write(dir.path().join("repo/.git/config.libsonnet"), "{ s: 1 }").expect("write");
        std::fs::write(dir.path().join("repo/out.jsonnet"), "import '../secret.libsonnet'").expect("write");
        std::fs::write(dir.path().join("repo/git.jsonnet"), "import '.git/config.libsonnet'").expect("write");
        std::os::unix::fs::symlink(dir.path().join("secret.libsonnet"), dir.path().join("repo/link.libsonnet"))
            .expect("symlink");
        std::fs::write(dir.path().join("repo/link.jsonnet"), "import 'link.libsonnet'").expect("write");
        std::fs::write(dir.path().join("repo/deep.jsonnet"), "local f(n) = f(n + 1) + 1; f(0)").expect("write");
        let root = RepoRoot::new(&dir.path().join("repo")).expect("root");
        for file in ["out.jsonnet", "git.jsonnet", "link.jsonnet", "deep.jsonnet"] {
            let result = render(&root, file, &[]);
            assert!(matches!(result, Err(Error::Config(_))), "{file}: {result:?}");
        }
    }

    #[test]
    fn imports_are_found_outside_comments_and_strings() {
        let text = "// import 'no1'\n# import 'no2'\n/* import 'no3' */ local a = import 'a.libsonnet';\n\
                    local s = 'import \"no4\"'; local b = importstr @'b''s.txt'; local c = import\n  \"c.json\";\n\
                    local t = |||\n  import 'no5'\n|||; importbin 'd.bin'";
        assert_eq!(imports(text), ["a.libsonnet", "b's.txt", "c.json", "d.bin"]);
    }

    #[test]
    fn input_files_follow_imports_and_symlinks() {
        let files = input_files(&fixture(), "helm-charts/daskhub/values.jsonnet");
        assert_eq!(
            files,
            ["helm-charts/daskhub/values.jsonnet", "helm-charts/basehub/values.jsonnet", "jsonnet/common.libsonnet"]
        );
    }

    #[test]
    fn templates_substitute_and_refuse_unknown_placeholders() {
        let templates = ExtVarTemplates::parse([
            ("VARS_2I2C_CLUSTER_NAME", "{provider_cluster_name}"),
            ("VARS_2I2C_HUB_DOMAIN", "{domain}"),
            ("LITERAL", "{{x}}-{cluster}/{provider}/{account}/{hub}"),
        ])
        .expect("valid");
        let mut placeholders = Placeholders {
            cluster: "c".into(),
            provider: "aws".into(),
            account: "1".into(),
            provider_cluster_name: "c-eks".into(),
            hub: None,
            domain: None,
        };
        assert_eq!(templates.values(&placeholders), [("VARS_2I2C_CLUSTER_NAME".to_owned(), "c-eks".to_owned())]);
        placeholders.hub = Some("h".into());
        placeholders.domain = Some("h.org".into());
        let values = templates.values(&placeholders);
        assert_eq!(values[1].1, "h.org");
        assert_eq!(values[2].1, "{x}-c/aws/1/h");
        let problem = ExtVarTemplates::parse([("X", "{clustr}")]).expect_err("unknown");
        assert!(problem.message.contains("did you mean `{cluster}`"), "{problem:?}");
        assert!(ExtVarTemplates::parse([("X", "{cluster")]).is_err());
        assert!(ExtVarTemplates::parse([("X", "a}b")]).is_err());
    }
}

//! A chart's remote dependencies (`https://` chart repositories, `oci://`
//! registries), fetched by helm as `helm dependency build` does, into the
//! chart folder's `charts/`.
//!
//! helm runs with a private home ([`HelmHome`]): its cache, configuration,
//! repository list and registry login file are in a private temporary
//! folder, so nothing of the user's helm configuration is read or written.
//! The repository list of each fetch names exactly the `https://` (or
//! `http://`) repositories of that chart's dependency files
//! ([`repositories_file`]): `helm dependency build` refuses a repository it
//! has no definition for, and a list of one chart's repositories keeps an
//! unrelated repository that is down from failing it.
//!
//! With a `Chart.lock` (or `requirements.lock`) that matches `Chart.yaml`,
//! the locked versions are fetched (`helm dependency build`), so a deploy is
//! reproducible. Without one, or when helm says it is out of sync, the
//! versions are resolved (`helm dependency update`), and the caller says so
//! in the log ([`Fetched::resolved`]). A failure names the chart, the
//! dependency and its repository ([`failure_message`]).

use std::fs;
use std::path::{Path, PathBuf};

use crate::base::error::Error;
use crate::base::private_dir::PrivateDir;
use crate::config::charts::{DependencySource, FoundDependency};

/// A remote dependency of a chart, as its dependency file lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub name: Option<String>,
    pub version: Option<String>,
    pub repository: String,
}

impl Remote {
    /// The remote entries of `dependencies` (`@alias` and repository names included: helm reports those).
    pub fn of<'a>(dependencies: impl IntoIterator<Item = &'a FoundDependency>) -> Vec<Remote> {
        let mut remotes: Vec<Remote> = Vec::new();
        for dependency in dependencies {
            let DependencySource::Remote(repository) = &dependency.source else { continue };
            let remote = Remote {
                name: dependency.name.clone(),
                version: dependency.version.clone(),
                repository: repository.trim().to_owned(),
            };
            if !remotes.contains(&remote) {
                remotes.push(remote);
            }
        }
        remotes
    }
}

/// helm's `repositories.yaml` naming each `http(s)://` repository of
/// `remotes` once (`oci://` needs no entry; an `@alias` or a name is left
/// for helm to refuse). JSON, which helm reads as YAML.
pub fn repositories_file(remotes: &[Remote]) -> String {
    let mut urls: Vec<String> = Vec::new();
    for remote in remotes {
        let url = remote.repository.trim_end_matches('/');
        let lower = url.to_ascii_lowercase();
        if (lower.starts_with("https://") || lower.starts_with("http://")) && !urls.iter().any(|u| u == url) {
            urls.push(url.to_owned());
        }
    }
    let repositories: Vec<serde_json::Value> = urls
        .iter()
        .enumerate()
        .map(|(index, url)| serde_json::json!({ "name": format!("deployer-{index}"), "url": url }))
        .collect();
    serde_json::json!({ "apiVersion": "", "generated": "0001-01-01T00:00:00Z", "repositories": repositories })
        .to_string()
}

/// What helm says when a lock file does not match its `Chart.yaml`.
pub fn is_lock_out_of_sync(helm_says: &str) -> bool {
    helm_says.contains("out of sync with the dependencies file")
}

/// Why fetching `chart`'s dependencies failed: the chart, the dependencies
/// helm's message points at (those whose repository, or else name, it
/// mentions; all of them when it mentions none) with their repositories,
/// then what helm said.
pub fn failure_message(chart: &str, remotes: &[Remote], helm_says: &str) -> String {
    let mentioned = |text: &str| !text.is_empty() && helm_says.contains(text);
    let mut named: Vec<&Remote> = remotes.iter().filter(|r| mentioned(r.repository.trim_end_matches('/'))).collect();
    if named.len() != 1 {
        let by_name: Vec<&Remote> = remotes
            .iter()
            .filter(|r| named.is_empty() || named.contains(r))
            .filter(|r| {
                r.name.as_deref().is_some_and(|n| mentioned(&format!("\"{n}\"")) || mentioned(&format!("/{n}")))
            })
            .collect();
        if !by_name.is_empty() {
            named = by_name;
        }
    }
    if named.is_empty() {
        named = remotes.iter().collect();
    }
    let shown = |text: &str| crate::config::chart_schema::shown(text, 200);
    let listed: Vec<String> = named
        .iter()
        .map(|r| {
            let version = r.version.as_deref().map(|v| format!(" {}", shown(v))).unwrap_or_default();
            format!("`{}`{version} from `{}`", shown(r.name.as_deref().unwrap_or("?")), shown(&r.repository))
        })
        .collect();
    let what = match listed.len() {
        0 => "its dependencies".to_owned(),
        1 => format!("the dependency {}", listed[0]),
        _ => format!("the dependencies {}", listed.join(", ")),
    };
    format!("chart {}: fetching {what} failed: {helm_says}", shown(chart))
}

/// How a chart's dependencies were fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// Resolved without a matching lock file (`helm dependency update`): not reproducible.
    pub resolved: bool,
}

/// A private home for helm's cache, configuration and repository files.
#[derive(Debug)]
pub struct HelmHome {
    dir: PrivateDir,
}

impl HelmHome {
    pub fn create() -> Result<HelmHome, Error> {
        let dir = PrivateDir::create_named("deployer-helm-home")?;
        for sub in ["cache", "config", "data", "repository", "lists"] {
            let path = dir.path().join(sub);
            fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
        Ok(HelmHome { dir })
    }

    /// `base` with every helm location variable pointing into this home; the
    /// repository list is `repositories`.
    pub fn env(&self, base: &[(String, String)], repositories: &Path) -> Vec<(String, String)> {
        let at = |sub: &str| self.dir.path().join(sub).to_string_lossy().into_owned();
        let private = [
            ("HELM_CACHE_HOME", at("cache")),
            ("HELM_CONFIG_HOME", at("config")),
            ("HELM_DATA_HOME", at("data")),
            ("HELM_REPOSITORY_CACHE", at("repository")),
            ("HELM_REPOSITORY_CONFIG", repositories.to_string_lossy().into_owned()),
            (
                "HELM_REGISTRY_CONFIG",
                self.dir.path().join("config").join("registry.json").to_string_lossy().into_owned(),
            ),
            ("HELM_CONTENT_CACHE", at("cache")),
        ];
        let mut env: Vec<(String, String)> =
            base.iter().filter(|(name, _)| !private.iter().any(|(p, _)| p == name)).cloned().collect();
        env.extend(private.into_iter().map(|(name, value)| (name.to_owned(), value)));
        env
    }

    /// Writes the repository list of one fetch (`key` names it) and returns its path.
    pub fn repositories(&self, key: &str, remotes: &[Remote]) -> Result<PathBuf, Error> {
        let path = self.dir.path().join("lists").join(format!("{key}.yaml"));
        fs::write(&path, repositories_file(remotes)).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }
}

/// Fetches the dependencies of the chart folder `folder` (as helm is given
/// it): `helm dependency build`, or, for a folder with remote dependencies
/// (`remote`), `helm dependency update` when there is no lock file
/// (`has_lock`) or helm finds it out of sync. `run` runs helm with the
/// arguments given and returns its stdout, or its error output.
pub fn fetch(
    folder: &str,
    has_lock: bool,
    remote: bool,
    run: &dyn Fn(&[String]) -> Result<String, String>,
) -> Result<Fetched, String> {
    let args = |verb: &str| ["dependency".to_owned(), verb.to_owned(), folder.to_owned()];
    if has_lock || !remote {
        match run(&args("build")) {
            Ok(_) => return Ok(Fetched { resolved: false }),
            Err(why) if is_lock_out_of_sync(&why) => {}
            Err(why) => return Err(why),
        }
    }
    run(&args("update")).map(|_| Fetched { resolved: remote })
}

/// Whether a chart folder's files (paths relative to it) include a lock file.
pub fn has_lock<'a>(paths: impl IntoIterator<Item = &'a str>) -> bool {
    paths.into_iter().any(|p| p == "Chart.lock" || p == "requirements.lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(name: &str, repository: &str) -> Remote {
        Remote { name: Some(name.into()), version: Some("1.0.0".into()), repository: repository.into() }
    }

    #[test]
    fn the_repository_list_names_each_http_repository_once() {
        let remotes = [
            remote("jupyterhub", "https://hub.jupyter.org/helm-chart/"),
            remote("other", "https://hub.jupyter.org/helm-chart"),
            remote("dask", "oci://ghcr.io/dask"),
            remote("x", "@stable"),
            remote("y", "http://127.0.0.1:8080"),
        ];
        let parsed: serde_json::Value = serde_json::from_str(&repositories_file(&remotes)).unwrap();
        let urls: Vec<&str> =
            parsed["repositories"].as_array().unwrap().iter().map(|r| r["url"].as_str().unwrap()).collect();
        assert_eq!(urls, ["https://hub.jupyter.org/helm-chart", "http://127.0.0.1:8080"]);
        assert_eq!(parsed["repositories"][1]["name"], "deployer-1");
    }

    #[test]
    fn a_failure_names_the_dependency_helm_points_at() {
        let remotes = [remote("jupyterhub", "https://a.example/charts"), remote("dask", "oci://b.example/d")];
        let one =
            failure_message("basehub", &remotes, "Error: failed to fetch https://a.example/charts/index.yaml : 404");
        assert!(one.starts_with("chart basehub: fetching the dependency `jupyterhub` 1.0.0 from `https://a.example/charts` failed: Error: failed"), "{one}");
        let by_name = failure_message("basehub", &remotes, "Error: chart \"dask\" version \"1.0.0\" not found");
        assert!(by_name.contains("dependency `dask` 1.0.0 from `oci://b.example/d`"), "{by_name}");
        let neither = failure_message("basehub", &remotes, "Error: something else");
        assert!(
            neither.contains("the dependencies `jupyterhub` 1.0.0 from `https://a.example/charts`, `dask`"),
            "{neither}"
        );
    }

    #[test]
    fn a_lock_out_of_sync_resolves_and_other_failures_do_not() {
        use std::cell::RefCell;
        let calls = RefCell::new(Vec::new());
        let answer = |build: Result<String, String>| {
            calls.borrow_mut().clear();
            let run = |args: &[String]| {
                calls.borrow_mut().push(args[1].clone());
                if args[1] == "build" {
                    build.clone()
                } else {
                    Ok(String::new())
                }
            };
            let got = fetch("helm-charts/basehub", true, true, &run);
            (got, calls.borrow().clone())
        };
        assert_eq!(answer(Ok(String::new())), (Ok(Fetched { resolved: false }), vec!["build".to_owned()]));
        let out_of_sync = Err("Error: the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml). Please update the dependencies".to_owned());
        assert_eq!(
            answer(out_of_sync),
            (Ok(Fetched { resolved: true }), vec!["build".to_owned(), "update".to_owned()])
        );
        assert_eq!(answer(Err("404".into())), (Err("404".to_owned()), vec!["build".to_owned()]));
        let run = |args: &[String]| if args[1] == "update" { Ok(String::new()) } else { Err("no".to_owned()) };
        assert_eq!(fetch("c", false, true, &run), Ok(Fetched { resolved: true }));
        // Only file:// dependencies: built as before, never called a resolve.
        let built = |args: &[String]| if args[1] == "build" { Ok(String::new()) } else { Err("no".to_owned()) };
        assert_eq!(fetch("c", false, false, &built), Ok(Fetched { resolved: false }));
    }
}

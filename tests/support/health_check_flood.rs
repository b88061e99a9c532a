//! A checkout that floods the `health_checks` matching: `clusters` clusters,
//! `patterns` `cluster_paths` patterns and `paths` changed paths, all of them
//! under a pull request's control, built so that every changed path passes
//! every pattern's wildcard form and holds every cluster's name, while each
//! cluster matches exactly one path. Shared by `tests/health_check_flood.rs`
//! (the plan is right) and `benches/hostile.rs` (how long it takes).
//!
//! Cluster `i` is `c{i:03}`, on `gcp` when `i` is even and `aws` when odd,
//! with a `staging` and a `prod` hub. Pattern `j` is
//! `{x,alt{j}}/{provider}/**/*{cluster}*/**`. Path `k` is
//! `x/<provider k>/m<names>/f<all names>`, where `<names>` are the names of
//! the clusters `i` with `i % paths` equal to `k` (same provider: they match)
//! or to `k + 1` (the other provider: they do not), and the last segment
//! holds every name (it cannot match: `/**` needs a segment after the name).
//! So cluster `i` matches path `i % paths` only.

#![allow(dead_code)]

use std::fs;
use std::path::Path;

/// The name of cluster `i`.
pub fn cluster_name(i: usize) -> String {
    format!("c{i:03}")
}

/// The provider of cluster `i` (and of path `i`).
pub fn provider(i: usize) -> &'static str {
    if i.is_multiple_of(2) {
        "gcp"
    } else {
        "aws"
    }
}

/// The `deployer.yaml` text.
pub fn settings(patterns: usize) -> String {
    let mut text = String::from("health_checks:\n  cluster_paths:\n");
    for j in 0..patterns {
        text.push_str(&format!("    - '{{x,alt{j}}}/{{provider}}/**/*{{cluster}}*/**'\n"));
    }
    text
}

/// The changed paths. `paths` must be even, so that `k` and `k + 1` (modulo `paths`) differ in provider.
pub fn changed_paths(clusters: usize, paths: usize) -> Vec<String> {
    assert!(paths.is_multiple_of(2) && paths >= 2, "an even number of paths");
    let every: String = (0..clusters).map(cluster_name).collect();
    (0..paths)
        .map(|k| {
            let names: String =
                (0..clusters).filter(|i| i % paths == k || i % paths == (k + 1) % paths).map(cluster_name).collect();
            format!("x/{}/m{names}/f{every}", provider(k))
        })
        .collect()
}

/// Writes the checkout (settings, clusters, values files, the chart) and returns the changed paths.
pub fn write(repo: &Path, clusters: usize, patterns: usize, paths: usize) -> Vec<String> {
    let put = |relative: &str, text: &str| {
        let path = repo.join(relative);
        fs::create_dir_all(path.parent().expect("a parent folder")).expect("folder");
        fs::write(&path, text).expect("file");
    };
    put("deployer.yaml", &settings(patterns));
    put("helm-charts/basehub/Chart.yaml", "apiVersion: v2\nname: basehub\nversion: 0.1.0\n");
    for i in 0..clusters {
        let name = cluster_name(i);
        put(
            &format!("config/clusters/{name}/cluster.yaml"),
            &format!(
                "name: {name}\nprovider: {}\nhubs:\n  - {{name: staging, helm_chart: basehub, helm_chart_values_files: [staging.values.yaml]}}\n  - {{name: prod, helm_chart: basehub, helm_chart_values_files: [prod.values.yaml]}}\n",
                provider(i)
            ),
        );
        put(&format!("config/clusters/{name}/staging.values.yaml"), "x: 1\n");
        put(&format!("config/clusters/{name}/prod.values.yaml"), "x: 1\n");
    }
    changed_paths(clusters, paths)
}

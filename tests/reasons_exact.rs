//! Reasons stay exact: each values file is named once per reason, in the
//! hub's listed order, however often the hub lists it or the change names it.

mod support;

use std::fs;

use support::{copy_tree, example_repo, ActionRun};

#[test]
fn each_values_file_is_named_once_in_listed_order() {
    let repo = tempfile::tempdir().expect("temp");
    copy_tree(&example_repo(), repo.path());
    let file = repo.path().join("config/clusters/cluster2/cluster.yaml");
    let text = fs::read_to_string(&file).expect("read");
    // hub1 lists its own file, then support.values.yaml, then its own file again under another spelling.
    let listed = "      - hub1.values.yaml\n";
    assert!(text.contains(listed));
    let text =
        text.replacen(listed, "      - hub1.values.yaml\n      - support.values.yaml\n      - ./hub1.values.yaml\n", 1);
    fs::write(&file, text).expect("write");
    let changed = "config/clusters/cluster2/support.values.yaml\nconfig/clusters/cluster2/hub1.values.yaml\n\
                   ./config/clusters/cluster2/hub1.values.yaml";
    let result = ActionRun::new("action-generate", repo.path()).input("changed-files", changed).run();
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    let prod = result.json_output("prod-hub-matrix-jobs");
    let hub1 = prod
        .as_array()
        .expect("array")
        .iter()
        .find(|job| job["cluster_name"] == "cluster2" && job["hub_name"] == "hub1")
        .expect("cluster2/hub1 planned");
    assert_eq!(
        hub1["reason_for_redeploy"],
        "Following helm chart values files were modified: hub1.values.yaml, support.values.yaml"
    );
}

//! Each `actions/*/action.yml` is one contract with its binary: the inputs and
//! outputs it declares are exactly the ones the code reads and writes, the
//! token defaults to the job's token, and the entrypoint is in the image.

mod support;

use std::collections::BTreeSet;
use std::fs;

use support::project_root;

struct Contract {
    action: &'static str,
    binary: &'static str,
    inputs: &'static [&'static str],
    outputs: &'static [&'static str],
    /// The defaults the code gives its inputs: the one source `action.yml`'s `default:`s are checked against.
    defaults: fn() -> Vec<(&'static str, String)>,
    /// The Dockerfile that must copy the binary; `None` is the root `Dockerfile`.
    dockerfile: Option<&'static str>,
}

const CONTRACTS: &[Contract] = &[
    Contract {
        action: "generate",
        binary: "action-generate",
        inputs: deployer::stages::generate::inputs::ALL,
        outputs: deployer::stages::generate::outputs::ALL,
        defaults: deployer::stages::generate::inputs::defaults,
        dockerfile: None,
    },
    Contract {
        action: "comment",
        binary: "action-comment",
        inputs: deployer::stages::comment::stage::inputs::ALL,
        outputs: deployer::stages::comment::stage::outputs::ALL,
        defaults: deployer::stages::comment::stage::inputs::defaults,
        dockerfile: None,
    },
    Contract {
        action: "setup-cluster",
        binary: "action-setup-cluster",
        inputs: deployer::cluster::access::stage::inputs::ALL,
        outputs: deployer::cluster::access::stage::outputs::ALL,
        defaults: deployer::cluster::access::stage::inputs::defaults,
        // The deploy image: sops decrypts `enc-` kubeconfigs and `key:` files (issue 11).
        dockerfile: Some("Dockerfile.deploy"),
    },
    Contract {
        action: "filter",
        binary: "action-filter",
        inputs: deployer::stages::filter::inputs::ALL,
        outputs: deployer::stages::filter::outputs::ALL,
        defaults: deployer::stages::filter::inputs::defaults,
        dockerfile: None,
    },
    Contract {
        action: "deploy",
        binary: "action-deploy",
        inputs: deployer::cluster::deploy::inputs::ALL,
        outputs: deployer::cluster::deploy::outputs::ALL,
        defaults: deployer::cluster::deploy::inputs::defaults,
        // The image with helm, kubectl and sops; the others stay minimal.
        dockerfile: Some("Dockerfile.deploy"),
    },
    Contract {
        action: "diff",
        binary: "action-diff",
        inputs: deployer::stages::diff::inputs::ALL,
        outputs: deployer::stages::diff::outputs::ALL,
        defaults: deployer::stages::diff::inputs::defaults,
        // helm renders here.
        dockerfile: Some("Dockerfile.deploy"),
    },
];

fn keys(value: &yaml_serde::Value) -> BTreeSet<String> {
    value.as_mapping().map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

#[test]
fn every_action_is_covered() {
    let mut found: Vec<String> = fs::read_dir(project_root().join("actions"))
        .expect("actions folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut covered: Vec<String> = CONTRACTS.iter().map(|c| c.action.to_owned()).collect();
    covered.sort();
    assert_eq!(found, covered, "every actions/<name> has a contract here");
}

#[test]
fn metadata_matches_the_code() {
    // Name and default mismatches of every action, reported together.
    let mut problems = Vec::new();
    for contract in CONTRACTS {
        let dockerfile_path = contract.dockerfile.unwrap_or("Dockerfile");
        let dockerfile = fs::read_to_string(project_root().join(dockerfile_path)).expect("Dockerfile");
        let image = format!("../../{dockerfile_path}");
        let path = project_root().join("actions").join(contract.action).join("action.yml");
        let text = fs::read_to_string(&path).expect("action.yml");
        let metadata: yaml_serde::Value = yaml_serde::from_str(&text).expect("action.yml is YAML");
        let name = contract.action;

        let declared_inputs = keys(&metadata["inputs"]);
        let code_inputs: BTreeSet<String> = contract.inputs.iter().map(|s| (*s).to_owned()).collect();
        if declared_inputs != code_inputs {
            problems.push(format!("{name}: inputs of action.yml {declared_inputs:?}, of the code {code_inputs:?}"));
        }
        let declared_outputs = keys(&metadata["outputs"]);
        let code_outputs: BTreeSet<String> = contract.outputs.iter().map(|s| (*s).to_owned()).collect();
        if declared_outputs != code_outputs {
            problems.push(format!("{name}: outputs of action.yml {declared_outputs:?}, of the code {code_outputs:?}"));
        }

        for (input, spec) in metadata["inputs"].as_mapping().expect("inputs") {
            assert!(spec["description"].as_str().is_some_and(|d| !d.is_empty()), "{name}: {input:?} has a description");
        }
        problems.extend(check_defaults(name, &metadata["inputs"], contract));
        if declared_inputs.contains("github-token") {
            assert_eq!(metadata["inputs"]["github-token"]["default"].as_str(), Some("${{ github.token }}"), "{name}");
        }

        assert_eq!(metadata["runs"]["using"].as_str(), Some("docker"), "{name}: a container action");
        let entrypoint = format!("/usr/local/bin/{}", contract.binary);
        assert_eq!(metadata["runs"]["entrypoint"].as_str(), Some(entrypoint.as_str()), "{name}: entrypoint");
        let declared_image = metadata["runs"]["image"].as_str().unwrap_or_default();
        assert!(
            declared_image == image || declared_image.starts_with("docker://"),
            "{name}: runs.image is {image} (or a released image)"
        );
        // The deploy image copies its binary; the runtime image links each
        // action to the multi-call binary (`for action in ...; do ln -s`).
        let copied = dockerfile.contains(&format!("/src/target/release/{} {entrypoint}", contract.binary));
        let linked = dockerfile
            .lines()
            .filter(|l| l.trim_start().starts_with("&& for action in "))
            .any(|l| l.split_whitespace().any(|word| word.trim_end_matches(';') == contract.binary));
        assert!(copied || linked, "{name}: {dockerfile_path} puts {} at {entrypoint}", contract.binary);
        assert!(
            deployer::stages::entrypoints::entrypoint(&entrypoint).is_some(),
            "{name}: the multi-call binary knows {entrypoint}"
        );
        assert!(support::bin(contract.binary).exists(), "{name}: the binary builds");
    }
    assert!(problems.is_empty(), "action.yml against the code:\n{}", problems.join("\n"));
}

/// A `default:` as the runner passes it: the YAML scalar as text.
fn default_text(value: &yaml_serde::Value) -> Option<String> {
    match value {
        yaml_serde::Value::String(text) => Some(text.clone()),
        yaml_serde::Value::Bool(flag) => Some(flag.to_string()),
        yaml_serde::Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Each input default of the code is the `default:` of `action.yml`, and an input the code gives
/// no default to has none there either (empty, or the job's token for `github-token`).
fn check_defaults(name: &str, declared: &yaml_serde::Value, contract: &Contract) -> Vec<String> {
    let code: Vec<(&str, String)> = (contract.defaults)();
    let mut problems = Vec::new();
    for (input, default) in &code {
        if !contract.inputs.contains(input) {
            problems.push(format!("{name}: the code's default for `{input}`, an input it does not list"));
        }
        let declared_default = default_text(&declared[*input]["default"]);
        if declared_default.as_deref() != Some(default.as_str()) {
            problems.push(format!(
                "{name}: input `{input}` defaults to {default:?} in the code, to {declared_default:?} in action.yml"
            ));
        }
    }
    for (input, spec) in declared.as_mapping().expect("inputs") {
        let input = input.as_str().expect("input name");
        let Some(declared_default) = default_text(&spec["default"]) else { continue };
        let no_default =
            declared_default.is_empty() || (input == "github-token" && declared_default == "${{ github.token }}");
        if !no_default && !code.iter().any(|(known, _)| *known == input) {
            problems.push(format!(
                "{name}: input `{input}` defaults to {declared_default:?} in action.yml and to nothing in the code"
            ));
        }
    }
    problems
}

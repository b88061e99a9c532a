//! Stub `helm`, `sops` and `kubectl` executables: small shell scripts in a
//! `bin/` folder put first on the `PATH` of the binary under test. Each
//! records its arguments (one call per record, in order, all programs in one
//! log) and can be told to fail through the environment:
//!
//! - `helm`: `version` prints `STUB_HELM_VERSION` (default `v4.1.4+gstub`)
//!   and is not recorded; nor are `history` (the release is not found: a first install) and
//!   `get` (an empty manifest: no rollout to watch). For `upgrade`, also records each `-f` file's path and its content
//!   at call time. `STUB_HELM_FAIL_ON=upgrade` (or `dependency`) makes that
//!   subcommand print `STUB_HELM_FAIL_OUTPUT` and exit `STUB_HELM_FAIL_CODE`
//!   (default 1); `STUB_HELM_FAIL_RELEASE=<release>` fails only that release's
//!   `upgrade`, and `STUB_KUBECONFIG_LOG=<file>` records `<release> $KUBECONFIG`
//!   per upgrade. On success it prints a line that looks like a workflow
//!   command, to check that its output cannot issue one.
//! - `sops --decrypt FILE`: prints `decrypted: <name>` and
//!   `secret: plaintext-<name>`; `STUB_SOPS_FAIL=1` fails it.
//! - `kubectl`: counts its calls; the first `STUB_KUBECTL_FAIL_TIMES` fail,
//!   and `STUB_KUBECTL_SLEEP=SECS` makes each call sleep first (via `exec`).

use std::fs;
use std::path::{Path, PathBuf};

/// What the plaintext of every stub-decrypted file contains, and nothing else does.
pub const PLAINTEXT_MARKER: &str = "plaintext-";

const RECORD: &str = r#"{ printf '%s\0' "$(basename "$0")" "$@"; printf '\036\n'; } >>"$STUB_LOG""#;

fn helm_script() -> String {
    format!(
        r#"#!/bin/sh
if [ "$1" = version ]; then
    printf '%s' "${{STUB_HELM_VERSION:-v4.1.4+gstub}}"
    exit 0
fi
if [ "$1" = history ]; then
    echo "Error: release: not found" >&2
    exit 1
fi
if [ "$1" = get ]; then
    exit 0
fi
{RECORD}
if [ "$1" = upgrade ]; then
    previous=
    for argument in "$@"; do
        if [ "$previous" = -f ]; then
            {{
                printf '%s\0' "$argument"
                if [ -f "$argument" ]; then cat "$argument"; else printf '<missing>'; fi
                printf '\0\036\n'
            }} >>"$STUB_VALUES_LOG"
        fi
        previous=$argument
    done
fi
if [ "$1" = upgrade ] && [ -n "$STUB_KUBECONFIG_LOG" ]; then
    printf '%s %s\n' "$3" "$KUBECONFIG" >>"$STUB_KUBECONFIG_LOG"
fi
if [ -n "$STUB_HELM_FAIL_RELEASE" ] && [ "$1" = upgrade ] && [ "$3" = "$STUB_HELM_FAIL_RELEASE" ]; then
    echo "helm stub: $1 $3 in progress"
    echo "Error: UPGRADE FAILED: stub failure of $3" >&2
    exit 1
fi
if [ -n "$STUB_HELM_FAIL_ON" ] && [ "$1" = "$STUB_HELM_FAIL_ON" ]; then
    echo "helm stub: $1 $3 in progress"
    echo "${{STUB_HELM_FAIL_OUTPUT:-Error: UPGRADE FAILED: stub failure}}" >&2
    exit "${{STUB_HELM_FAIL_CODE:-1}}"
fi
case "$1" in
    upgrade)
        echo "Release \"$3\" has been upgraded. Happy Helming!"
        echo "::warning::helm stub output, not a workflow command"
        ;;
    dependency) echo "Saving 1 charts" ;;
esac
"#
    )
}

fn sops_script() -> String {
    format!(
        r#"#!/bin/sh
{RECORD}
if [ -n "$STUB_SOPS_FAIL" ]; then
    echo "sops stub: Failed to get the data key required to decrypt the SOPS file." >&2
    exit 128
fi
if [ "$1" != --decrypt ] || [ ! -f "$2" ]; then
    echo "sops stub: expected --decrypt and an existing file, got: $*" >&2
    exit 2
fi
name=$(basename "$2")
printf 'decrypted: %s\nsecret: {PLAINTEXT_MARKER}%s\n' "$name" "$name"
"#
    )
}

fn kubectl_script() -> String {
    format!(
        r#"#!/bin/sh
{RECORD}
count_file="$STUB_STATE/kubectl.count"
n=0
if [ -f "$count_file" ]; then n=$(cat "$count_file"); fi
n=$((n + 1))
echo "$n" >"$count_file"
if [ -n "$STUB_KUBECTL_SLEEP" ]; then
    echo "kubectl stub: call $n waits"
    exec sleep "$STUB_KUBECTL_SLEEP"
fi
if [ "$n" -le "${{STUB_KUBECTL_FAIL_TIMES:-0}}" ]; then
    echo "kubectl stub: call $n: deployment \"hub\" is not ready" >&2
    exit 1
fi
echo "kubectl stub: call $n: deployment \"hub\" successfully rolled out"
"#
    )
}

/// The stubs of one test, in their own folder.
pub struct Stubs {
    pub bin: PathBuf,
    pub log: PathBuf,
    pub values_log: PathBuf,
    pub state: PathBuf,
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub program: String,
    pub args: Vec<String>,
}

impl Stubs {
    /// Writes the stubs under `root` (`root/bin/{helm,sops,kubectl}`).
    pub fn new(root: &Path) -> Stubs {
        let bin = root.join("bin");
        let state = root.join("state");
        fs::create_dir_all(&bin).expect("stub bin folder");
        fs::create_dir_all(&state).expect("stub state folder");
        for (name, script) in [("helm", helm_script()), ("sops", sops_script()), ("kubectl", kubectl_script())] {
            let path = bin.join(name);
            fs::write(&path, script).expect("write stub");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod stub");
            }
        }
        let log = root.join("calls.log");
        let values_log = root.join("values.log");
        fs::write(&log, "").expect("stub log");
        fs::write(&values_log, "").expect("stub values log");
        Stubs { bin, log, values_log, state }
    }

    /// `PATH` with the stubs first, then the system folders (for `sh`, `cat`, `sleep`).
    pub fn path(&self) -> String {
        format!("{}:/usr/bin:/bin", self.bin.display())
    }

    /// The variables the stubs need: `PATH` and where to record.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PATH".into(), self.path()),
            ("STUB_LOG".into(), self.log.display().to_string()),
            ("STUB_VALUES_LOG".into(), self.values_log.display().to_string()),
            ("STUB_STATE".into(), self.state.display().to_string()),
        ]
    }

    /// Every call, in order.
    pub fn calls(&self) -> Vec<Call> {
        records(&self.log)
            .into_iter()
            .map(|fields| {
                let mut fields = fields.into_iter();
                Call { program: fields.next().expect("program name"), args: fields.collect() }
            })
            .collect()
    }

    /// The arguments of every call of `program`, in order.
    pub fn calls_of(&self, program: &str) -> Vec<Vec<String>> {
        self.calls().into_iter().filter(|c| c.program == program).map(|c| c.args).collect()
    }

    /// Each `-f` file helm was given, in order: its path as passed and its content then.
    pub fn values_seen(&self) -> Vec<(String, String)> {
        records(&self.values_log)
            .into_iter()
            .map(|fields| {
                let [path, content]: [String; 2] = fields.try_into().expect("path and content");
                (path, content)
            })
            .collect()
    }
}

/// Records: NUL-terminated fields, each record ended by `\x1e\n`.
fn records(path: &Path) -> Vec<Vec<String>> {
    let text = fs::read_to_string(path).expect("stub log");
    text.split("\u{1e}\n")
        .filter(|record| !record.is_empty())
        .map(|record| {
            let fields = record.strip_suffix('\0').expect("NUL-terminated fields");
            fields.split('\0').map(str::to_owned).collect()
        })
        .collect()
}

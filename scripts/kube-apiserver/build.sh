#!/usr/bin/env bash
# Builds kube-apiserver v1.20.2 from Debian bookworm's source package `kubernetes`
# (1.20.5+really1.20.2-1.1+deb12u1) with Debian's golang-go (1.19), offline after the
# apt downloads, into a cache outside the clone keyed by the source version:
#   build.sh CACHE_ROOT  ->  CACHE_ROOT/kube-apiserver-<source version>/kube-apiserver
# A cached binary is reused at once. About 7-10 minutes on 2 cores the first time.
set -euo pipefail
cache_root=${1:?usage: build.sh CACHE_ROOT}
SRCVER=1.20.5+really1.20.2-1.1+deb12u1
out="$cache_root/kube-apiserver-$SRCVER"
if [ -x "$out/kube-apiserver" ]; then
    echo "kube-apiserver: cached $out/kube-apiserver"
    exit 0
fi
for tool in go dpkg-source apt-get; do
    command -v "$tool" >/dev/null || { echo "kube-apiserver: cannot build: no $tool" >&2; exit 3; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/kube-apiserver-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$(date +%s)
# deb-src for bookworm in a private apt state folder (/etc/apt is not touched).
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$uri" ] || uri=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$uri" ] || { echo "kube-apiserver: cannot build: no Debian archive in the apt sources" >&2; exit 3; }
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm main" > "$work/apt/src.list"
apt_state=(-o "Dir::Etc::sourcelist=$work/apt/src.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache")
apt-get "${apt_state[@]}" update -qq
cd "$work"
apt-get "${apt_state[@]}" source --download-only -qq "kubernetes=$SRCVER" 2>&1 | grep -v unsandboxed || true
dpkg-source -q -x "kubernetes_$SRCVER.dsc" k8s >/dev/null
export GOCACHE="$work/go-build" CGO_ENABLED=0 GOPROXY=off GOFLAGS='' GOTOOLCHAIN=local
unset GOPATH GO111MODULE
cd "$work/k8s"
make gen_openapi > "$work/gen_openapi.log" 2>&1 || { tail -20 "$work/gen_openapi.log"; exit 1; }
mkdir -p "$work/gopath/src/k8s.io"
ln -sfn "$work/k8s" "$work/gopath/src/k8s.io/kubernetes"
cd "$work/gopath/src/k8s.io/kubernetes"
ldflags="-s -w"
for v in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $v.gitVersion=v1.20.2 -X $v.gitMajor=1 -X $v.gitMinor=20 -X $v.gitTreeState=clean -X $v.gitCommit=faecb196815e2 -X $v.buildDate=2021-01-13T00:00:00Z"
done
mkdir -p "$out.partial"
GOPATH="$work/gopath" GO111MODULE=off go build -ldflags "$ldflags" -o "$out.partial/kube-apiserver" ./cmd/kube-apiserver
# Whole or not at all: the cache folder appears only once the binary is complete.
rm -rf "$out"
mv "$out.partial" "$out"
echo "kube-apiserver: built $out/kube-apiserver in $(( $(date +%s) - started )) s"
"$out/kube-apiserver" --version

#!/usr/bin/env bash
# Benchmark of `deployer diff` (issue 13), side by side in one run on this
# machine; not a test: it prints figures for the README.
#
#   1. 200 hubs (10 clusters x 20) on one chart of 40 templates with a
#      file:// library dependency; a change to one of the chart's templates.
#      `deployer diff` against a plain serial loop of `helm template` of base
#      and head per hub (dependencies built once per side, as a script would).
#   2. A values-only change to one hub: how many renders it takes (the cache
#      makes the other 199 unchanged by construction).
#   3. Peak memory (maximum resident set size) and output size of the diff.
#
# Usage: bash scripts/bench-diff.sh [hubs-per-cluster] [clusters]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

per_cluster=${1:-20}
clusters=${2:-10}
templates=40
root=target/bench-diff
bash scripts/install-tools.sh >/dev/null
export PATH="$PWD/target/tools/bin:$PATH"
cargo build --release --locked --bin deployer >/dev/null 2>&1
deployer="$PWD/target/release/deployer"

rm -rf "$root"
mkdir -p "$root"
base="$root/base"

# The fleet, at base.
mkdir -p "$base/helm-charts/common/templates" "$base/helm-charts/big/templates"
printf 'apiVersion: v2\nname: common\nversion: 0.1.0\ntype: library\n' >"$base/helm-charts/common/Chart.yaml"
cat >"$base/helm-charts/common/templates/_labels.tpl" <<'EOF'
{{- define "common.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: bench
{{- end -}}
EOF
printf 'apiVersion: v2\nname: big\nversion: 0.1.0\ndependencies:\n  - name: common\n    version: 0.1.0\n    repository: file://../common\n' \
    >"$base/helm-charts/big/Chart.yaml"
printf 'replicas: 1\nimage: quay.io/jupyterhub/k8s-hub:4.0.0\ngreeting: hello\nsize: 10Gi\n' >"$base/helm-charts/big/values.yaml"
for t in $(seq -w 1 "$templates"); do
    cat >"$base/helm-charts/big/templates/t$t.yaml" <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config-$t
  labels:
    {{- include "common.labels" . | nindent 4 }}
data:
  greeting: {{ .Values.greeting | quote }}
  index: "$t"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-worker-$t
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: worker-$t
  template:
    metadata:
      labels:
        app: worker-$t
      annotations:
        checksum/config: {{ randAlphaNum 16 | sha256sum }}
    spec:
      containers:
        - name: worker
          image: {{ .Values.image }}
          resources:
            requests:
              memory: {{ .Values.size | quote }}
EOF
done
hubs=()
for c in $(seq 1 "$clusters"); do
    dir="$base/config/clusters/c$c"
    mkdir -p "$dir"
    {
        printf 'name: c%s\nprovider: kubeconfig\nkubeconfig:\n  file: kubeconfig.yaml\nhubs:\n' "$c"
        for h in $(seq 1 "$per_cluster"); do
            name=$([[ $h == 1 ]] && echo staging || echo "hub$h")
            printf '  - name: %s\n    helm_chart: big\n    helm_chart_values_files:\n      - %s.values.yaml\n' "$name" "$name"
            printf 'greeting: hello from c%s/%s\n' "$c" "$name" >"$dir/$name.values.yaml"
            hubs+=("c$c $name")
        done
    } >"$dir/cluster.yaml"
    printf 'apiVersion: v1\nkind: Config\n' >"$dir/kubeconfig.yaml"
done
total=${#hubs[@]}

# Head 1: a change to the shared chart. Head 2: one hub's values.
chart_head="$root/chart-head"
values_head="$root/values-head"
cp -r "$base" "$chart_head"
cp -r "$base" "$values_head"
sed -i 's/  index: "01"/  index: "01"\n  changed: "yes"/' "$chart_head/helm-charts/big/templates/t01.yaml"
printf 'greeting: good morning\n' >"$values_head/config/clusters/c1/hub2.values.yaml"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# 1a. The plain serial loop (on copies, so that its dependency builds do not touch the diff's inputs).
serial_base="$root/serial-base"
serial_head="$root/serial-head"
cp -r "$base" "$serial_base"
cp -r "$chart_head" "$serial_head"
start=$(now)
for side in "$serial_base" "$serial_head"; do
    helm dependency build "$side/helm-charts/big" >/dev/null
done
for entry in "${hubs[@]}"; do
    read -r cluster hub <<<"$entry"
    for side in "$serial_base" "$serial_head"; do
        helm template "$hub" "$side/helm-charts/big" --namespace "$hub" \
            -f "$side/config/clusters/$cluster/$hub.values.yaml" >/dev/null
    done
done
serial=$(elapsed "$start" "$(now)")

# 1b. deployer diff, the same change.
start=$(now)
/usr/bin/time -f '%M' -o "$root/rss-chart" "$deployer" diff --repo "$chart_head" --base-dir "$base" \
    --changed-files helm-charts/big/templates/t01.yaml --output json >"$root/chart.json" 2>"$root/chart.log"
diff_time=$(elapsed "$start" "$(now)")
chart_renders=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["renders"])' "$root/chart.json")
changed=$(python3 -c 'import json,sys; print(sum(r["status"]=="changed" for r in json.load(open(sys.argv[1]))["releases"]))' "$root/chart.json")

# 2. A values-only change to one hub.
start=$(now)
/usr/bin/time -f '%M' -o "$root/rss-values" "$deployer" diff --repo "$values_head" --base-dir "$base" \
    --changed-files config/clusters/c1/hub2.values.yaml --output json >"$root/values.json" 2>"$root/values.log"
values_time=$(elapsed "$start" "$(now)")
values_renders=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["renders"])' "$root/values.json")

speedup=$(awk -v s="$serial" -v d="$diff_time" 'BEGIN { printf "%.1f", s / d }')
cores=$(nproc)
printf '\n%s hubs, chart of %s templates, %s cores, helm %s\n\n' "$total" "$templates" "$cores" "$(helm version --template '{{.Version}}')"
printf '| run | wall time | helm renders | peak memory (deployer) | output |\n|---|---|---|---|---|\n'
printf '| serial loop, helm template base + head per hub | %s s | %s | | |\n' "$serial" "$((2 * total))"
printf '| `deployer diff`, chart change (%s hubs changed) | %s s (%sx) | %s | %s MB | %s KB JSON |\n' \
    "$changed" "$diff_time" "$speedup" "$chart_renders" "$(($(cat "$root/rss-chart") / 1024))" "$(($(wc -c <"$root/chart.json") / 1024))"
printf '| `deployer diff`, values change to 1 hub | %s s | %s | %s MB | %s KB JSON |\n' \
    "$values_time" "$values_renders" "$(($(cat "$root/rss-values") / 1024))" "$(($(wc -c <"$root/values.json") / 1024))"

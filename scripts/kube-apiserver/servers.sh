#!/usr/bin/env bash
# Real Kubernetes API servers for the test suite, on 127.0.0.1 only.
#   servers.sh start STATE N   starts N clusters (etcd + kube-apiserver each, TLS, a bearer
#                              token, RBAC, no insecure port); STATE/cluster<i>/kubeconfig
#   servers.sh stop STATE      stops every process STATE's pid files name
# The binary comes from build.sh's cache (DEPLOYER_CACHE, default /var/cache/deployer-ci).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${DEPLOYER_CACHE:-/var/cache/deployer-ci}
SRCVER=1.20.5+really1.20.2-1.1+deb12u1
apiserver="$cache_root/kube-apiserver-$SRCVER/kube-apiserver"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # url [curl args...]
    local url=$1; shift
    for _ in $(seq 1 600); do
        curl -fsS "$@" "$url" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

pki() { # dir: a CA, a serving certificate for 127.0.0.1, service-account keys, a token
    local d=$1
    mkdir -p "$d"
    (
        cd "$d"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.crt -subj "/CN=deployer-test-ca" 2>/dev/null
        printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:10.96.0.1\n' > serving.ext
        openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
        openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile serving.ext -out apiserver.crt 2>/dev/null
        openssl genrsa -out sa.key 2048 2>/dev/null
        openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
        token=$(openssl rand -hex 24)
        # The deployer's identity: a bearer token in system:masters (RBAC allows it everything).
        echo "$token,deployer-test,deployer-test-uid,system:masters" > tokens.csv
        echo "$token" > admin.token
        chmod 600 ./*.key tokens.csv admin.token
    )
}

start_one() { # state dir of the cluster, its name
    local s=$1 name=$2
    local etcd_port peer_port metrics_port api_port
    etcd_port=$(free_port); peer_port=$(free_port); metrics_port=$(free_port); api_port=$(free_port)
    mkdir -p "$s"
    pki "$s/pki"
    etcd --name "$name" --data-dir "$s/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "$name=http://127.0.0.1:$peer_port" \
        --listen-metrics-urls "http://127.0.0.1:$metrics_port" \
        --quota-backend-bytes 1073741824 --unsafe-no-fsync > "$s/etcd.log" 2>&1 &
    echo $! > "$s/etcd.pid"
    wait_http "http://127.0.0.1:$etcd_port/health" || { echo "etcd of $name did not start" >&2; tail -5 "$s/etcd.log" >&2; return 1; }
    "$apiserver" \
        --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" --insecure-port=0 \
        --etcd-servers="http://127.0.0.1:$etcd_port" \
        --tls-cert-file="$s/pki/apiserver.crt" --tls-private-key-file="$s/pki/apiserver.key" \
        --client-ca-file="$s/pki/ca.crt" --token-auth-file="$s/pki/tokens.csv" \
        --service-account-key-file="$s/pki/sa.pub" --service-account-signing-key-file="$s/pki/sa.key" \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --api-audiences=https://kubernetes.default.svc.cluster.local \
        --service-cluster-ip-range=10.96.0.0/24 \
        --authorization-mode=RBAC \
        --disable-admission-plugins=ServiceAccount \
        --allow-privileged=false --profiling=false \
        --cert-dir="$s/certs" > "$s/apiserver.log" 2>&1 &
    echo $! > "$s/apiserver.pid"
    local token
    token=$(cat "$s/pki/admin.token")
    if ! wait_http "https://127.0.0.1:$api_port/readyz" --cacert "$s/pki/ca.crt" -H "Authorization: Bearer $token"; then
        echo "kube-apiserver of $name was not ready in 60 s" >&2
        tail -20 "$s/apiserver.log" >&2
        return 1
    fi
    cat > "$s/kubeconfig" <<K
apiVersion: v1
kind: Config
clusters:
- name: $name
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $s/pki/ca.crt
users:
- name: deployer-test
  user:
    token: $token
contexts:
- name: $name
  context: {cluster: $name, user: deployer-test}
current-context: $name
K
    chmod 600 "$s/kubeconfig"
    echo "https://127.0.0.1:$api_port" > "$s/server"
}

stop_all() { # state
    local state=$1 pid
    for f in "$state"/*/apiserver.pid "$state"/*/etcd.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
    done
    for f in "$state"/*/apiserver.pid "$state"/*/etcd.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$f"
    done
}

case ${1:-} in
    start)
        state=${2:?state folder}; count=${3:-2}
        [ -x "$apiserver" ] || { echo "no kube-apiserver in $cache_root (run $here/build.sh $cache_root)" >&2; exit 3; }
        command -v etcd >/dev/null || { echo "no etcd (Debian: etcd-server)" >&2; exit 3; }
        mkdir -p "$state"
        started=$(date +%s.%N)
        for i in $(seq 1 "$count"); do
            start_one "$state/cluster$i" "cluster$i" || { stop_all "$state"; exit 1; }
        done
        printf 'kube-apiserver v1.20.2: %s clusters ready in %.1f s (%s)\n' "$count" "$(python3 -c "print($(date +%s.%N) - $started)")" "$state"
        ;;
    stop)
        stop_all "${2:?state folder}"
        ;;
    *)
        echo "usage: servers.sh start STATE N | stop STATE" >&2
        exit 2
        ;;
esac

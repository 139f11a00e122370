#!/usr/bin/env bash
# labctl istio-install: Istio with this cluster's values, in this cluster's context
# Seed section 13.1, 13.4 (corrected). Lab istio-multicluster, profile current, runs on cluster1-ctrl-plane.
# Rendered by labctl; idempotent: every step checks before it changes anything.
set -euo pipefail
# Seed 13.1/13.4 for cluster2: this cluster's IstioOperator values, installed into this
# cluster's context. Context and values come from the same lab.json cluster entry, so the seed's
# 13.4 mistake (cluster2.yaml installed with cluster1's context) cannot be rendered.
# Mesh stages run on cluster1-ctrl-plane (where the seed runs istioctl) with the merged kubeconfig;
# every kubectl and istioctl command names its context explicitly.
export KUBECONFIG="$HOME/.kube/labctl-mesh.yaml"
# ---- labctl script library ----
# Logs go to stderr; stdout carries only machine-readable key=value lines.
log() { printf 'labctl: %s\n' "$*" >&2; }
die() { printf 'labctl: error: %s\n' "$*" >&2; exit 1; }
result() { printf '%s=%s\n' "$1" "$2"; }
# retry TRIES PAUSE CMD...: run CMD until it succeeds, at most TRIES times (every wait is bounded).
retry() {
  local tries=$1 pause=$2 n=1
  shift 2
  until "$@"; do
    if [ "$n" -ge "$tries" ]; then
      return 1
    fi
    n=$((n + 1))
    sleep "$pause"
  done
}
# cached_sha256 URL: the sha256 labctl's host cache verified for URL, when labctl uploaded the file
# (docs/cache.md: /var/cache/labctl/files/<sha256 of the URL> and its .sha256); fails otherwise.
cached_sha256() {
  local key
  key=/var/cache/labctl/files/$(printf '%s' "$1" | sha256sum | awk '{print $1}')
  [ -f "$key" ] && [ -f "$key.sha256" ] && [ "$(sha256sum "$key" | awk '{print $1}')" = "$(cat "$key.sha256")" ] && cat "$key.sha256"
}
# cached URL DEST: copy the uploaded file for URL to DEST if it is there and intact; fails otherwise.
cached() {
  cached_sha256 "$1" >/dev/null || return 1
  cp "/var/cache/labctl/files/$(printf '%s' "$1" | sha256sum | awk '{print $1}')" "$2"
  log "$1: from labctl's cache"
}
# fetch URL DEST: the cached copy, else download with timeouts and bounded retries.
fetch() {
  cached "$1" "$2" && return 0
  curl -fsSL --retry 5 --retry-delay 3 --connect-timeout 20 --max-time 900 -o "$2" "$1"
}
# write_file PATH MODE: write stdin to PATH only when the content differs; sets CHANGED=true|false.
CHANGED=false
write_file() {
  local path=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat > "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    chmod "$mode" "$path"
    CHANGED=false
  else
    install -D -m "$mode" "$tmp" "$path"
    rm -f "$tmp"
    CHANGED=true
  fi
}
# fetch_verified URL DEST SUMURL [NAME]: download and check the sha256 the project publishes next to it.
# A sum file holds either the bare hash or "hash  name" lines; NAME picks the line.
fetch_verified() {
  local url=$1 dest=$2 sumurl=$3 name=${4:-} sums want got
  # The host cache checked the file against this same published checksum when it filled.
  cached "$url" "$dest" && return 0
  fetch "$url" "$dest"
  sums=$(mktemp)
  fetch "$sumurl" "$sums"
  if [ -n "$name" ]; then
    want=$(awk -v n="$name" '$2 == n || $2 == "*" n {print $1}' "$sums")
  else
    want=$(awk 'NR == 1 {print $1}' "$sums")
  fi
  rm -f "$sums"
  got=$(sha256sum "$dest" | awk '{print $1}')
  if [ -z "$want" ] || [ "$want" != "$got" ]; then
    die "checksum mismatch for $url (published ${want:-nothing}, downloaded $got)"
  fi
}
# changed: whether the last write_file changed its file.
changed() {
  [ "$CHANGED" = true ]
}
# ---- end of library ----

operator=$(mktemp)
trap 'rm -f "$operator"' EXIT
cat > "$operator" <<'LABCTL_EOF'
# Seed 13.1/13.4: the Istio control plane of cluster2, installed into context cluster2 only.
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  values:
    global:
      meshID: mesh1
      multiCluster:
        clusterName: cluster2
      network: network2
LABCTL_EOF
cluster_id() {
  kubectl --context=cluster2 -n istio-system get deployment istiod -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="CLUSTER_ID")].value}' 2>/dev/null || true
}
if [ "$(cluster_id)" = cluster2 ]; then
  result istio.cluster2.install skipped
else
  istioctl install --context=cluster2 -y -f "$operator" >&2
  result istio.cluster2.install applied
fi
if ! kubectl --context=cluster2 -n istio-system rollout status deployment/istiod --timeout=300s >&2; then
  die "istiod in cluster2 did not become ready within 5 minutes"
fi
# The guard of docs/stages.md ("The context guard after istioctl install"): the istiod in this context must carry this cluster's identity.
id=$(cluster_id)
network=$(kubectl --context=cluster2 get namespace istio-system -o jsonpath='{.metadata.labels.topology\.istio\.io/network}')
result istio.cluster2.clusterId "$id"
result istio.cluster2.network "$network"
if [ "$id" != cluster2 ] || [ "$network" != network2 ]; then
  die "istiod in context cluster2 reports CLUSTER_ID=$id and network=$network, expected cluster2 and network2"
fi

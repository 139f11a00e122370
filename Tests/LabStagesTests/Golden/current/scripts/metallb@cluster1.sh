#!/usr/bin/env bash
# labctl metallb: MetalLB and the cluster's address pool
# Seed section 9. Lab istio-multicluster, profile current, runs on cluster1-ctrl-plane.
# Rendered by labctl; idempotent: every step checks before it changes anything.
set -euo pipefail
export KUBECONFIG=/etc/kubernetes/admin.conf
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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Seed 9.1/9.2: strictARP matters only when kube-proxy runs in IPVS mode (MetalLB installation docs);
# in iptables or nftables mode the field is unused, so it is patched only there.
proxy_config=$(kubectl -n kube-system get configmap kube-proxy -o jsonpath='{.data.config\.conf}')
proxy_mode=$(printf '%s\n' "$proxy_config" | awk '/^mode:/ {gsub(/"/, "", $2); print $2}')
result kubeProxy.mode "${proxy_mode:-iptables}"
if [ "$proxy_mode" = ipvs ]; then
  if printf '%s\n' "$proxy_config" | grep -q 'strictARP: false'; then
    kubectl -n kube-system get configmap kube-proxy -o yaml | sed -e 's/strictARP: false/strictARP: true/' | kubectl apply -f - >&2
    kubectl -n kube-system rollout restart daemonset/kube-proxy >&2
    kubectl -n kube-system rollout status daemonset/kube-proxy --timeout=180s >&2
  fi
  result kubeProxy.strictARP true
fi

# Seed 9.3: MetalLB 0.16.1. The seed applies the manifests by URL; they are fetched
# first so that a filled host cache (docs/cache.md) serves them like every other download.
fetch 'https://raw.githubusercontent.com/metallb/metallb/v0.16.1/config/manifests/metallb-native.yaml' "$work/$(basename 'https://raw.githubusercontent.com/metallb/metallb/v0.16.1/config/manifests/metallb-native.yaml')"
kubectl apply -f "$work/$(basename 'https://raw.githubusercontent.com/metallb/metallb/v0.16.1/config/manifests/metallb-native.yaml')" >&2
if ! kubectl -n metallb-system rollout status deployment/controller --timeout=180s >&2 \
  || ! kubectl -n metallb-system rollout status daemonset/speaker --timeout=180s >&2; then
  die "MetalLB's controller or speaker did not become ready within 3 minutes"
fi
# The IPAddressPool webhook is served by the controller: applying the pool before its endpoint is up
# fails with "failed calling webhook" (metallb/metallb#1597, #1540). Wait for the endpoint, then
# retry the apply a bounded number of times.
webhook_ready() {
  [ -n "$(kubectl -n metallb-system get endpoints metallb-webhook-service -o jsonpath='{.subsets[*].addresses[*].ip}' 2>/dev/null)" ]
}
if ! retry 36 5 webhook_ready; then
  die "MetalLB's webhook has no endpoint after 3 minutes (can the API server reach pod IPs? check the CNI)"
fi
pool=$work/pool.yaml
cat > "$pool" <<'LABCTL_EOF'
# MetalLB 0.16.1: layer-2 pool for cluster1 (ConfigMaps are not read since 0.13).
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: cluster1-pool
  namespace: metallb-system
spec:
  addresses:
    - 194.89.64.81-194.89.64.100
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: cluster1-l2
  namespace: metallb-system
spec:
  ipAddressPools:
    - cluster1-pool
LABCTL_EOF
# Seed 9.4/9.5: this cluster's pool, from lab.json.
apply_pool() {
  kubectl apply -f "$pool" >&2
}
if ! retry 12 5 apply_pool; then
  die "the MetalLB address pool was refused 12 times"
fi
result metallb.version 0.16.1
result metallb.addresses 194.89.64.81-194.89.64.100

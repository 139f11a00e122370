#!/usr/bin/env bash
# labctl istio-eastwest: the east-west gateway and exposed services
# Seed section 13.2, 13.3, 13.5, 13.6. Lab istio-multicluster, profile seed-2021, runs on cluster1-ctrl-plane.
# Rendered by labctl; idempotent: every step checks before it changes anything.
set -euo pipefail
# Seed 13.2/13.3 (13.5/13.6) for cluster1: the east-west gateway, its LoadBalancer address from
# MetalLB, and *.local exposed through it on 15443.
# Mesh stages run on cluster1-ctrl-plane (where the seed runs istioctl) with the merged kubeconfig;
# every kubectl and istioctl command names its context explicitly.
export KUBECONFIG="$HOME/.kube/labctl-mesh.yaml"
ISTIO_DIR=/opt/istio-1.10.1
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
if kubectl --context=cluster1 -n istio-system get service istio-eastwestgateway >/dev/null 2>&1; then
  result eastwest.cluster1.install skipped
else
  # Istio 1.10's generator requires --mesh and --cluster as well as --network.
  "$ISTIO_DIR/samples/multicluster/gen-eastwest-gateway.sh" --mesh mesh1 --cluster cluster1 --network network1 > "$work/eastwest.yaml"
  istioctl install --context=cluster1 -y -f "$work/eastwest.yaml" >&2
  result eastwest.cluster1.install applied
fi
gateway_ip() {
  kubectl --context=cluster1 -n istio-system get service istio-eastwestgateway -o jsonpath='{.status.loadBalancer.ingress[0].ip}' 2>/dev/null
}
has_ip() {
  [ -n "$(gateway_ip)" ]
}
if ! retry 60 5 has_ip; then
  # MetalLB 0.10.2 has no IPAddressPool kind: its pool is the ConfigMap "config".
  die "istio-eastwestgateway in cluster1 has no external address after 5 minutes: MetalLB gives it one from 194.89.64.81-194.89.64.100; check kubectl --context=cluster1 -n metallb-system get pods,configmap/config"
fi
result eastwest.cluster1.ip "$(gateway_ip)"
cat > "$work/expose-services.yaml" <<'LABCTL_EOF'
# Istio's samples/multicluster/expose-services.yaml for 1.10.1: every *.local service
# through the east-west gateway on 15443, mTLS passed through.
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: cross-network-gateway
spec:
  selector:
    istio: eastwestgateway
  servers:
    - port:
        number: 15443
        name: tls
        protocol: TLS
      tls:
        mode: AUTO_PASSTHROUGH
      hosts:
        - "*.local"
LABCTL_EOF
kubectl --context=cluster1 apply -n istio-system -f "$work/expose-services.yaml" >&2
result eastwest.cluster1.exposed true

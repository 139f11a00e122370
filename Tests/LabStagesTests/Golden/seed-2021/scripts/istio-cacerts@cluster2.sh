#!/usr/bin/env bash
# labctl istio-cacerts: istio-system, its network label and the cacerts secret (secret input)
# Seed section 12.2, 12.3. Lab istio-multicluster, profile seed-2021, runs on cluster1-ctrl-plane.
# Rendered by labctl; idempotent: every step checks before it changes anything.
set -euo pipefail
# Seed 12.2/12.3 for cluster2: istio-system with its network label, and the cacerts secret,
# BEFORE Istio is installed (without it istiod makes its own root: istio/istio#31522, docs/pki.md).
# The four PEM files arrive as "name base64" lines after this script on standard input (ca-key.pem
# is secret); they live in a private temporary directory only while the secret is made.
# Mesh stages run on cluster1-ctrl-plane (where the seed runs istioctl) with the merged kubeconfig;
# every kubectl and istioctl command names its context explicitly.
export KUBECONFIG="$HOME/.kube/labctl-mesh.yaml"
PKI_DIR=""
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

main() {
  local dir name data file
  # A global, so the EXIT trap still sees it after main returns.
  PKI_DIR=$(mktemp -d)
  dir=$PKI_DIR
  chmod 700 "$dir"
  trap 'rm -rf "$PKI_DIR"' EXIT
  while IFS=' ' read -r name data; do
    case "$name" in
      ca-cert.pem | ca-key.pem | root-cert.pem | cert-chain.pem) printf '%s' "$data" | base64 -d > "$dir/$name" ;;
      "") ;;
      *) die "unexpected input '$name'" ;;
    esac
  done
  for file in ca-cert.pem ca-key.pem root-cert.pem cert-chain.pem; do
    if [ ! -s "$dir/$file" ]; then
      die "$file for cluster2 did not arrive on standard input"
    fi
  done
  if ! kubectl --context=cluster2 get namespace istio-system >/dev/null 2>&1; then
    kubectl --context=cluster2 create namespace istio-system >&2
  fi
  kubectl --context=cluster2 label namespace istio-system --overwrite topology.istio.io/network=network2 >&2
  kubectl --context=cluster2 -n istio-system create secret generic cacerts --dry-run=client -o yaml \
    --from-file="$dir/ca-cert.pem" --from-file="$dir/ca-key.pem" --from-file="$dir/root-cert.pem" --from-file="$dir/cert-chain.pem" \
    | kubectl --context=cluster2 apply -f - >/dev/null
  result cacerts.cluster2 applied
  result network.cluster2 "$(kubectl --context=cluster2 get namespace istio-system -o jsonpath='{.metadata.labels.topology\.istio\.io/network}')"
}

# The last line reads the secret input that follows the script on standard input.
main

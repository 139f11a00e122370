#!/usr/bin/env bash
# labctl mesh-verify: cross-cluster calls until every helloworld version answered
# Seed section 14 (verify). Lab istio-multicluster, profile current, runs on cluster1-ctrl-plane.
# Rendered by labctl; idempotent: every step checks before it changes anything.
set -euo pipefail
# Seed 14 from cluster1: call helloworld until every version (v1,v2) has answered,
# at most 30 times. Prints one machine-readable line per fact.
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

EXPECTED=(v1 v2 )
pod=$(kubectl --context=cluster1 -n sample get pod -l app=curl -o jsonpath='{.items[0].metadata.name}')
if [ -z "$pod" ]; then
  die "no curl pod in cluster1's sample namespace (run the mesh-sample stage first)"
fi
seen=" "
tries=0
missing=("${EXPECTED[@]}")
while [ "$tries" -lt 30 ] && [ "${#missing[@]}" -gt 0 ]; do
  tries=$((tries + 1))
  reply=$(kubectl --context=cluster1 -n sample exec -c curl "$pod" -- curl -sS --max-time 5 helloworld.sample:5000/hello 2>/dev/null || true)
  version=$(printf '%s\n' "$reply" | sed -n 's/^Hello version: \(v[0-9][0-9]*\),.*/\1/p' | head -n 1)
  if [ -n "$version" ] && [[ "$seen" != *" $version "* ]]; then
    seen="$seen$version "
  fi
  missing=()
  for v in "${EXPECTED[@]}"; do
    if [[ "$seen" != *" $v "* ]]; then
      missing+=("$v")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    sleep 2
  fi
done
# shellcheck disable=SC2086 # split the list of seen versions on purpose
answered=$(printf '%s\n' $seen | sort | paste -sd, -)
result verify.cluster1.answered "$answered"
result verify.cluster1.tries "$tries"
if [ "${#missing[@]}" -gt 0 ]; then
  result verify.cluster1.ok false
  die "from cluster1, ${missing[*]} never answered in $tries tries (see istioctl --context=cluster1 proxy-config endpoint $pod.sample | grep helloworld)"
fi
result verify.cluster1.ok true

#!/usr/bin/env bash
# labctl base-tools: istioctl and k9s
# Seed section 5, 6. Lab istio-multicluster, profile seed-2021, runs on ubuntu-20042-base.
# Rendered by labctl; idempotent: every step checks before it changes anything.
set -euo pipefail
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
# The release downloads are for one guest architecture (lab.json base.arch): stop before fetching the wrong ones.
if [ "$(uname -m)" != "x86_64" ]; then
  die "lab.json base.arch is amd64 (uname -m x86_64), but $(hostname) runs $(uname -m): set base.arch to the base image's architecture (amd64 for x86_64, arm64 for aarch64) or use a base image of that architecture"
fi
export DEBIAN_FRONTEND=noninteractive

# The Weave step (cni.sh) edits Weave's manifest with python3 and PyYAML; Ubuntu's minimal server image
# may lack python3-yaml. Every base script stands alone, so the package lists are refreshed first.
apt-get update -q >&2
apt-get install -y -q python3 python3-yaml >/dev/null

# Seed 5: Istio 1.10.1, the whole release (istioctl plus samples/ for the east-west gateway,
# helloworld and sleep), pinned instead of "latest", checksum-checked.
ISTIO_DIR=/opt/istio-1.10.1
if [ ! -x "$ISTIO_DIR/bin/istioctl" ]; then
  tmp=$(mktemp -d)
  fetch_verified 'https://github.com/istio/istio/releases/download/1.10.1/istio-1.10.1-linux-amd64.tar.gz' "$tmp/istio.tar.gz" 'https://github.com/istio/istio/releases/download/1.10.1/istio-1.10.1-linux-amd64.tar.gz.sha256' "$(basename 'https://github.com/istio/istio/releases/download/1.10.1/istio-1.10.1-linux-amd64.tar.gz')"
  tar -C "$tmp" -xzf "$tmp/istio.tar.gz"
  rm -rf "$ISTIO_DIR"
  mv "$tmp/istio-1.10.1" "$ISTIO_DIR"
  rm -rf "$tmp"
fi
ln -sfn "$ISTIO_DIR/bin/istioctl" /usr/local/bin/istioctl
result istio.dir "$ISTIO_DIR"
result istio.istioctl "$(istioctl version --remote=false 2>/dev/null | tail -n 1)"

# Seed 6: k9s, pinned (the seed took whatever was latest), checked against goreleaser's checksum file:
# checksums.txt up to 0.24.x, checksums.sha256 in 0.50.x (derailed/k9s@v0.24.15 and @v0.50.16:.goreleaser.yml).
K9S_DIR=/opt/k9s-0.24.15
if [ ! -x "$K9S_DIR/k9s" ]; then
  tmp=$(mktemp -d)
  fetch_verified 'https://github.com/derailed/k9s/releases/download/v0.24.15/k9s_Linux_x86_64.tar.gz' "$tmp/k9s.tar.gz" 'https://github.com/derailed/k9s/releases/download/v0.24.15/checksums.txt' "$(basename 'https://github.com/derailed/k9s/releases/download/v0.24.15/k9s_Linux_x86_64.tar.gz')"
  install -d -m 755 "$K9S_DIR"
  tar -C "$K9S_DIR" -xzf "$tmp/k9s.tar.gz" k9s
  rm -rf "$tmp"
fi
ln -sfn "$K9S_DIR/k9s" /usr/local/bin/k9s
result k9s.path "$K9S_DIR/k9s"

#!/usr/bin/env bash
# labctl base-runtime: the container runtime with the systemd cgroup driver
# Seed section 3. Lab istio-multicluster, profile current, runs on ubuntu-20042-base.
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
# The profile's packages exist for one Ubuntu release only: stop early on another.
# shellcheck source=/dev/null
. /etc/os-release
if [ "${VERSION_ID:-}" != "24.04" ]; then
  die "profile current needs Ubuntu 24.04, this machine runs ${PRETTY_NAME:-an unknown OS} (choose the profile in lab.json that matches the base image)"
fi
# The release downloads are for one guest architecture (lab.json base.arch): stop before fetching the wrong ones.
if [ "$(uname -m)" != "x86_64" ]; then
  die "lab.json base.arch is amd64 (uname -m x86_64), but $(hostname) runs $(uname -m): set base.arch to the base image's architecture (amd64 for x86_64, arm64 for aarch64) or use a base image of that architecture"
fi
export DEBIAN_FRONTEND=noninteractive

# containerd 2.3.4 from its release binaries (Ubuntu's package is 1.7), runc 1.4.3
# and the CNI plugins (containerd/containerd@v2.3.4:docs/getting-started.md).
# Every base script stands alone (labctl up --only, base prepare): the package lists may be empty.
apt-get update -q >&2
apt-get install -y -q ca-certificates curl >/dev/null
have=$(/usr/local/bin/containerd --version 2>/dev/null | awk '{print $3}' || true)
if [ "$have" != "v2.3.4" ]; then
  tmp=$(mktemp -d)
  fetch_verified 'https://github.com/containerd/containerd/releases/download/v2.3.4/containerd-2.3.4-linux-amd64.tar.gz' "$tmp/containerd.tar.gz" 'https://github.com/containerd/containerd/releases/download/v2.3.4/containerd-2.3.4-linux-amd64.tar.gz.sha256sum'
  tar -C /usr/local -xzf "$tmp/containerd.tar.gz"
  rm -rf "$tmp"
fi
unit=$(mktemp)
fetch 'https://raw.githubusercontent.com/containerd/containerd/v2.3.4/containerd.service' "$unit"
write_file /usr/local/lib/systemd/system/containerd.service 644 < "$unit"
rm -f "$unit"
if [ "$(runc --version 2>/dev/null | awk 'NR == 1 {print $3}')" != "1.4.3" ]; then
  tmp=$(mktemp -d)
  # One runc.sha256sum per release, a `hash  runc.<arch>` line per binary (opencontainers/runc@v1.4.3:script/release_build.sh).
  fetch_verified 'https://github.com/opencontainers/runc/releases/download/v1.4.3/runc.amd64' "$tmp/runc" "$(dirname 'https://github.com/opencontainers/runc/releases/download/v1.4.3/runc.amd64')/runc.sha256sum" "$(basename 'https://github.com/opencontainers/runc/releases/download/v1.4.3/runc.amd64')"
  install -m 755 "$tmp/runc" /usr/local/sbin/runc
  rm -rf "$tmp"
fi
# The default config says SystemdCgroup = false (config version 3 in 2.x); the kubelet defaults to systemd.
# A config with the CRI plugin disabled (containerd.io's default) fails kubeadm's preflight (containerd/containerd#8139).
install -d -m 755 /etc/containerd
conf=$(mktemp)
/usr/local/bin/containerd config default | sed 's/SystemdCgroup = false/SystemdCgroup = true/' > "$conf"
write_file /etc/containerd/config.toml 644 < "$conf"
config_changed=$CHANGED
rm -f "$conf"
if ! grep -q 'SystemdCgroup = true' /etc/containerd/config.toml; then
  die "containerd's default config has no SystemdCgroup key to set; check containerd 2.3.4's docs/cri/config.md"
fi
systemctl daemon-reload
systemctl enable containerd >/dev/null 2>&1
if [ "$config_changed" = true ] || ! systemctl is-active --quiet containerd; then
  systemctl restart containerd
fi
driver=systemd
result runtime.containerd "$(/usr/local/bin/containerd --version | awk '{print $3}')"
result runtime.cgroupDriver "$driver"
if [ "$driver" != systemd ]; then
  die "the container runtime uses the $driver cgroup driver, expected systemd"
fi

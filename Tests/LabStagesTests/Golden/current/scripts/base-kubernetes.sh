#!/usr/bin/env bash
# labctl base-kubernetes: kubeadm, kubelet and kubectl, pinned
# Seed section 4.2. Lab istio-multicluster, profile current, runs on ubuntu-20042-base.
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
K8S_VERSION=1.36.1

# pkgs.k8s.io has one repository per minor version (install-kubeadm.md).
# Every base script stands alone (labctl up --only, base prepare): the package lists may be empty.
apt-get update -q >&2
apt-get install -y -q apt-transport-https ca-certificates curl gpg >/dev/null
install -d -m 755 /etc/apt/keyrings
write_file /etc/apt/sources.list.d/kubernetes.list 644 <<'LABCTL_EOF'
deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.36/deb/ /
LABCTL_EOF
repo_changed=$CHANGED
if [ "$repo_changed" = true ] || [ ! -s /etc/apt/keyrings/kubernetes-apt-keyring.gpg ]; then
  key=$(mktemp)
  fetch 'https://pkgs.k8s.io/core:/stable:/v1.36/deb/Release.key' "$key"
  gpg --batch --yes --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg "$key"
  rm -f "$key"
fi
PACKAGE_VERSION='1.36.1-1.1'
for package in kubelet kubeadm kubectl; do
  if [ "$(dpkg-query -W -f='${Version}' "$package" 2>/dev/null || true)" != "$PACKAGE_VERSION" ]; then
    apt-get update -q
    apt-get install -y -q --allow-downgrades --allow-change-held-packages \
      "kubelet=$PACKAGE_VERSION" "kubeadm=$PACKAGE_VERSION" "kubectl=$PACKAGE_VERSION"
    break
  fi
done
apt-mark hold kubelet kubeadm kubectl >/dev/null

# The CNI reference plugins (bridge, loopback, portmap, host-local) that flannel delegates to.
if [ ! -x /opt/cni/bin/loopback ] || [ "$(cat /opt/cni/bin/.labctl-version 2>/dev/null || true)" != 'https://github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz' ]; then
  tmp=$(mktemp -d)
  fetch_verified 'https://github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz' "$tmp/cni.tgz" 'https://github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz.sha256'
  install -d -m 755 /opt/cni/bin
  tar -C /opt/cni/bin -xzf "$tmp/cni.tgz"
  printf '%s\n' 'https://github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz' > /opt/cni/bin/.labctl-version
  rm -rf "$tmp"
fi
systemctl daemon-reload
# The kubelet restarts in a loop until kubeadm init or join configures it: that is expected.
systemctl enable kubelet >/dev/null 2>&1
installed=$(kubeadm version -o short)
result kubernetes.kubeadm "$installed"
if [ "$installed" != "v$K8S_VERSION" ]; then
  die "kubeadm is $installed, expected v$K8S_VERSION"
fi

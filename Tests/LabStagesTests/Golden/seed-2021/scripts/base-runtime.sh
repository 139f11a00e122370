#!/usr/bin/env bash
# labctl base-runtime: the container runtime with the systemd cgroup driver
# Seed section 3. Lab istio-multicluster, profile seed-2021, runs on ubuntu-20042-base.
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
if [ "${VERSION_ID:-}" != "20.04" ]; then
  die "profile seed-2021 needs Ubuntu 20.04, this machine runs ${PRETTY_NAME:-an unknown OS} (choose the profile in lab.json that matches the base image)"
fi
# The release downloads are for one guest architecture (lab.json base.arch): stop before fetching the wrong ones.
if [ "$(uname -m)" != "x86_64" ]; then
  die "lab.json base.arch is amd64 (uname -m x86_64), but $(hostname) runs $(uname -m): set base.arch to the base image's architecture (amd64 for x86_64, arm64 for aarch64) or use a base image of that architecture"
fi
export DEBIAN_FRONTEND=noninteractive

# Seed 3: Docker Engine 20.10.7. Kubernetes 1.21.2 still has dockershim
# (removed in 1.24), so the kubelet talks to Docker directly: no cri-dockerd.
DOCKER_VERSION='5:20.10.7~3-0~ubuntu-focal'
CONTAINERD_VERSION='1.4.6-1'
KEYRING=/usr/share/keyrings/docker-archive-keyring.gpg
if [ ! -s "$KEYRING" ]; then
  apt-get update -q
  apt-get install -y -q apt-transport-https ca-certificates curl gnupg lsb-release
  key=$(mktemp)
  fetch 'https://download.docker.com/linux/ubuntu/gpg' "$key"
  gpg --batch --yes --dearmor -o "$KEYRING" "$key"
  rm -f "$key"
fi
write_file /etc/apt/sources.list.d/docker.list 644 <<'LABCTL_EOF'
deb [arch=amd64 signed-by=/usr/share/keyrings/docker-archive-keyring.gpg] https://download.docker.com/linux/ubuntu focal stable
LABCTL_EOF
have=$(dpkg-query -W -f='${Version}' docker-ce 2>/dev/null || true)
if [ "$have" != "$DOCKER_VERSION" ]; then
  apt-get update -q
  apt-get install -y -q --allow-downgrades --allow-change-held-packages \
    "docker-ce=$DOCKER_VERSION" "docker-ce-cli=$DOCKER_VERSION" "containerd.io=$CONTAINERD_VERSION"
  apt-mark hold docker-ce docker-ce-cli containerd.io >/dev/null
fi
# Seed 3.6: the systemd cgroup driver. kubeadm 1.21 sets the kubelet to systemd (kubernetes/kubernetes#99471);
# a Docker left on cgroupfs makes the kubelet crash-loop.
write_file /etc/docker/daemon.json 644 <<'LABCTL_EOF'
{
  "exec-opts": ["native.cgroupdriver=systemd"],
  "log-driver": "json-file",
  "log-opts": {
    "max-size": "100m"
  },
  "storage-driver": "overlay2"
}
LABCTL_EOF
daemon_changed=$CHANGED
systemctl daemon-reload
systemctl enable docker >/dev/null 2>&1
if [ "$daemon_changed" = true ] || ! systemctl is-active --quiet docker; then
  systemctl restart docker
fi
driver=$(docker info 2>/dev/null | awk -F': ' '/Cgroup Driver/ {print $2}')
result runtime.docker "$(dpkg-query -W -f='${Version}' docker-ce)"
result runtime.cgroupDriver "$driver"
if [ "$driver" != systemd ]; then
  die "the container runtime uses the $driver cgroup driver, expected systemd"
fi

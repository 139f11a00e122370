#!/usr/bin/env bash
# labctl kubeadm-init: kubeadm init and the lab user's kubeconfig
# Seed section 8.1. Lab istio-multicluster, profile seed-2021, runs on cluster1-ctrl-plane.
# Rendered by labctl; idempotent: every step checks before it changes anything.
set -euo pipefail
LAB_USER=hung
CONFIG=/etc/kubernetes/labctl-kubeadm.yaml
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

# The kubeadm configuration: advertise address and controlPlaneEndpoint = this node's address (the
# endpoint is also the server: in admin.conf, which create-remote-secret embeds), the cluster's pod
# and service subnets, clusterName so that the two admin kubeconfigs do not collide, systemd cgroups.
write_file "$CONFIG" 600 <<'LABCTL_EOF'
apiVersion: kubeadm.k8s.io/v1beta2
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 194.89.64.11
  bindPort: 6443
nodeRegistration:
  name: cluster1-ctrl-plane
  criSocket: /var/run/dockershim.sock
---
apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterConfiguration
clusterName: cluster1
kubernetesVersion: v1.21.2
controlPlaneEndpoint: 194.89.64.11:6443
imageRepository: registry.k8s.io
dns:
  imageRepository: registry.k8s.io/coredns
networking:
  podSubnet: 10.32.0.0/12
  serviceSubnet: 10.96.0.0/12
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
LABCTL_EOF

if [ -f /etc/kubernetes/admin.conf ]; then
  # Never reset a cluster implicitly: an existing control plane is kept as it is.
  log "/etc/kubernetes/admin.conf exists: kubeadm init already ran on this node"
  result kubeadm.init skipped
else
  # Seed 8.1: pull first, so a registry problem shows up as such and not as an init timeout.
  kubeadm config images pull --config "$CONFIG"
  # kubeadm prints its default bootstrap token ("Using token: …", bootstrap-tokens.md format
  # [a-z0-9]{6}.[a-z0-9]{16}) and a join command: secrets, so they never reach the logs (stdout is for key=value results; the progress goes to stderr with the token redacted).
  kubeadm init --config "$CONFIG" 2>&1 \
    | sed -E -e 's/(--token|--discovery-token-ca-cert-hash|--certificate-key) [^ ]+/\1 <redacted>/g' \
        -e 's/[a-z0-9]{6}\.[a-z0-9]{16}/<redacted>/g' >&2
  result kubeadm.init applied
fi

# A kubeconfig for the lab user on this node (kubeadm's "To start using your cluster" step).
home=$(getent passwd "$LAB_USER" | cut -d: -f6)
if [ -z "$home" ]; then
  die "user $LAB_USER does not exist on this node"
fi
install -d -m 700 -o "$LAB_USER" -g "$(id -gn "$LAB_USER")" "$home/.kube"
if ! cmp -s /etc/kubernetes/admin.conf "$home/.kube/config"; then
  install -m 600 -o "$LAB_USER" -g "$(id -gn "$LAB_USER")" /etc/kubernetes/admin.conf "$home/.kube/config"
fi
result kubeconfig.user "$home/.kube/config"
result cluster.name "$(kubectl config view -o jsonpath='{.clusters[0].name}')"
result cluster.server "$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')"

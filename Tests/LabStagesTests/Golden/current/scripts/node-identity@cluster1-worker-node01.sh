#!/usr/bin/env bash
# labctl node-identity: hosts, hostname, machine-id, SSH host keys and static address of a clone
# Seed section 7.1-7.4. Lab istio-multicluster, profile current, runs on cluster1-worker-node01.
# Rendered by labctl; idempotent: every step checks before it changes anything.
set -euo pipefail
NODE=cluster1-worker-node01
IFACE=ens33
ADDRESS=194.89.64.12
PREFIX=24
IDENTITY_FILE=/etc/labctl/identity
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

# 7.3 first: /etc/hosts with every lab node BEFORE the hostname changes, so sudo can always resolve
# the hostname it runs under and never waits on DNS (docs/stages.md, "Lessons from real guests"). While the old name is still
# the hostname it stays resolvable on 127.0.1.1.
hosts_file() {
  printf '%s\n' '127.0.0.1 localhost' "$@"
  cat <<'LABCTL_EOF'
194.89.64.11 cluster1-ctrl-plane
194.89.64.12 cluster1-worker-node01
194.89.64.13 cluster2-ctrl-plane
194.89.64.14 cluster2-worker-node01

# The following lines are desirable for IPv6 capable hosts
::1     ip6-localhost ip6-loopback
fe00::0 ip6-localnet
ff00::0 ip6-mcastprefix
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
LABCTL_EOF
}
current=$(hostname)
if [ "$current" != "$NODE" ]; then
  hosts_file "127.0.1.1 $current" | write_file /etc/hosts 644
fi

# 7.1: the hostname.
if [ "$(hostnamectl --static)" != "$NODE" ]; then
  hostnamectl set-hostname "$NODE"
  log "hostname set to $NODE"
fi
hosts_file | write_file /etc/hosts 644

# 7.4: a machine-id and SSH host keys of its own. Clones share the base's, and Weave derives its
# peer name from the machine-id (weaveworks/weave FAQ, duplicate-peer); DHCP client ids too.
# Done once per node: the identity file records the node and the id it got.
machine_id=$(cat /etc/machine-id)
if [ "$(cat "$IDENTITY_FILE" 2>/dev/null || true)" != "$NODE $machine_id" ]; then
  old_id=$machine_id
  rm -f /etc/machine-id /var/lib/dbus/machine-id
  systemd-machine-id-setup >/dev/null 2>&1
  machine_id=$(cat /etc/machine-id)
  # systemd-machine-id-setup takes a VM's UUID when it has one; a clone with the base's UUID would get the old id back.
  if [ "$machine_id" = "$old_id" ]; then
    rm -f /etc/machine-id
    systemd-id128 new > /etc/machine-id
    machine_id=$(cat /etc/machine-id)
  fi
  if [ -d /var/lib/dbus ]; then
    ln -sf /etc/machine-id /var/lib/dbus/machine-id
  fi
  rm -f /etc/ssh/ssh_host_*
  # Only the types labctl pins (GuestSSH prefers ed25519, then ecdsa) and OpenSSH clients prefer. No RSA key:
  # generating one costs 0.2-1 s of CPU per node, as much as booting it (docs/benchmarks.md), and nothing
  # in the lab uses it. The drop-in keeps sshd from looking for the missing default RSA key.
  ssh-keygen -q -t ed25519 -N '' -C "root@$NODE" -f /etc/ssh/ssh_host_ed25519_key
  ssh-keygen -q -t ecdsa -N '' -C "root@$NODE" -f /etc/ssh/ssh_host_ecdsa_key
  if [ -d /etc/ssh/sshd_config.d ]; then
    write_file /etc/ssh/sshd_config.d/50-labctl-host-keys.conf 644 <<'LABCTL_EOF'
# labctl node-identity: the node's host keys (ed25519, ecdsa); no RSA host key is generated.
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
LABCTL_EOF
  fi
  # Running sessions keep going; labctl re-pins the new host key from node-verify's output.
  systemctl restart ssh 2>/dev/null || systemctl restart sshd
  install -d -m 755 "$(dirname "$IDENTITY_FILE")"
  printf '%s %s\n' "$NODE" "$machine_id" > "$IDENTITY_FILE"
  result identity.regenerated true
else
  result identity.regenerated false
fi

# 7.2: the node's static address, applied last and detached.
# One netplan file owned by labctl; other files are moved aside so nothing merges DHCP back in.
NETPLAN_FILE=/etc/netplan/01-labctl.yaml
write_file "$NETPLAN_FILE" 600 <<'LABCTL_EOF'
# Written by labctl (seed 2.5 / 7.2): the static address of cluster1-worker-node01.
network:
  version: 2
  ethernets:
    ens33:
      dhcp4: false
      addresses: [194.89.64.12/24]
      routes:
        - to: default
          via: 194.89.64.2
      nameservers:
        addresses: [1.1.1.1, 8.8.8.8]
LABCTL_EOF
netplan_changed=$CHANGED
for f in /etc/netplan/*.yaml; do
  if [ "$f" = "$NETPLAN_FILE" ] || [ ! -e "$f" ]; then
    continue
  fi
  log "moving $f aside to $f.labctl-disabled"
  mv "$f" "$f.labctl-disabled"
  netplan_changed=true
done
# cloud-init must not rewrite the network configuration on the next boot.
if [ -d /etc/cloud/cloud.cfg.d ]; then
  write_file /etc/cloud/cloud.cfg.d/99-labctl-network.cfg 644 <<'LABCTL_EOF'
network: {config: disabled}
LABCTL_EOF
fi
if [ "$netplan_changed" = true ] || ! ip -4 -o addr show dev "$IFACE" | grep -qF " $ADDRESS/$PREFIX "; then
  netplan generate
  # `netplan apply` cuts the SSH session that runs it when the address changes, and the session then hangs
  # (docs/stages.md, "Lessons from real guests"). Apply it detached, 1 s from now; without the timer
  # accuracy property systemd may delay it by up to a minute (default AccuracySec=1min).
  systemctl stop labctl-netplan-apply.timer labctl-netplan-apply.service 2>/dev/null || true
  systemctl reset-failed labctl-netplan-apply.timer labctl-netplan-apply.service 2>/dev/null || true
  systemd-run --on-active=1 --timer-property=AccuracySec=10ms --unit=labctl-netplan-apply netplan apply >/dev/null
  result network.apply scheduled
else
  result network.apply unchanged
fi
result network.address "$ADDRESS/$PREFIX"

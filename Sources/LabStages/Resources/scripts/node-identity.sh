{{> _header}}
NODE={{node.name}}
IFACE={{node.interface}}
ADDRESS={{node.address}}
PREFIX={{network.prefix}}
IDENTITY_FILE=/etc/labctl/identity
{{> _lib}}

# 7.3 first: /etc/hosts with every lab node BEFORE the hostname changes, so sudo can always resolve
# the hostname it runs under and never waits on DNS (docs/stages.md, "Lessons from real guests"). While the old name is still
# the hostname it stays resolvable on 127.0.1.1.
hosts_file() {
  printf '%s\n' '127.0.0.1 localhost' "$@"
  cat <<'LABCTL_EOF'
{{#hosts}}
{{address}} {{name}}
{{/hosts}}

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
{{> _netplan}}

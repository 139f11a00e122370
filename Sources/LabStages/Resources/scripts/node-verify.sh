{{> _header}}
# Seed 7.5 as key=value lines that labctl compares with lab.json.
IFACE={{node.interface}}
{{> _lib}}

result hostname "$(hostname)"
result machine "$(uname -m)"
result address "$(ip -4 -o addr show dev "$IFACE" scope global | awk '{print $4}' | paste -sd, -)"
result gateway "$(ip -4 route show default | awk '{print $3; exit}')"
dns=$(resolvectl dns "$IFACE" 2>/dev/null | sed 's/^[^:]*://' | xargs || true)
if [ -z "$dns" ]; then
  # Without systemd-resolved (minimal images, the testbed's Debian), networkd's own link state
  # still lists the DNS servers netplan configured for the interface.
  dns=$(sed -n 's/^DNS=//p' "/run/systemd/netif/links/$(cat "/sys/class/net/$IFACE/ifindex")" 2>/dev/null | xargs || true)
fi
result dns "$(printf '%s' "$dns" | tr ' ' ',')"
result machineId "$(cat /etc/machine-id)"
result hostKeyEd25519 "$(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $2}')"
result mac "$(cat "/sys/class/net/$IFACE/address")"
result hostsEntry "$(getent hosts "$(hostname)" | awk '{print $1}' | head -n 1)"
if getent ahostsv4 dl.k8s.io >/dev/null 2>&1; then
  result resolves true
else
  result resolves false
fi

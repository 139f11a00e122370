# One netplan file owned by labctl; other files are moved aside so nothing merges DHCP back in.
NETPLAN_FILE=/etc/netplan/01-labctl.yaml
write_file "$NETPLAN_FILE" 600 <<'LABCTL_EOF'
{{{manifests.netplan}}}
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

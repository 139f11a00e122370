{{> _header}}
{{> _lib}}

# overlay for the runtime's snapshotter, br_netfilter so iptables sees bridged pod traffic.
write_file /etc/modules-load.d/k8s.conf 644 <<'LABCTL_EOF'
overlay
br_netfilter
LABCTL_EOF
for module in overlay br_netfilter; do
  if [ ! -d "/sys/module/$module" ]; then
    modprobe "$module"
  fi
done
# Current kubeadm only checks ip_forward (kubernetes/kubernetes#123464); the bridge sysctls stay for
# kube-proxy's iptables mode and bridge-based CNIs (docs/stages.md, "Kernel modules and sysctls").
write_file /etc/sysctl.d/k8s.conf 644 <<'LABCTL_EOF'
net.bridge.bridge-nf-call-iptables  = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward                 = 1
LABCTL_EOF
if [ "$CHANGED" = true ] || [ "$(sysctl -n net.ipv4.ip_forward)" != 1 ]; then
  sysctl --system >/dev/null
fi
for key in net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.ipv4.ip_forward; do
  value=$(sysctl -n "$key")
  result "sysctl.$key" "$value"
  if [ "$value" != 1 ]; then
    die "$key is $value, expected 1"
  fi
done

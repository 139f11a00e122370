{{> _header}}
LAB_USER={{lab.user}}
CONFIG=/etc/kubernetes/labctl-kubeadm.yaml
export KUBECONFIG=/etc/kubernetes/admin.conf
{{> _lib}}

# The kubeadm configuration: advertise address and controlPlaneEndpoint = this node's address (the
# endpoint is also the server: in admin.conf, which create-remote-secret embeds), the cluster's pod
# and service subnets, clusterName so that the two admin kubeconfigs do not collide, systemd cgroups.
write_file "$CONFIG" 600 <<'LABCTL_EOF'
{{{manifests.kubeadmConfig}}}
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

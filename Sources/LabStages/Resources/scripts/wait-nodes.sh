{{> _header}}
# Waits, with a deadline, until the listed nodes are Ready and CoreDNS is rolled out
# (CoreDNS stays Pending until a CNI runs: create-cluster-kubeadm.md).
export KUBECONFIG=/etc/kubernetes/admin.conf
NODES=({{#waitNodes}}{{.}} {{/waitNodes}})
{{> _lib}}

node_ready() {
  [ "$(kubectl get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
for node in "${NODES[@]}"; do
  if ! retry 60 5 node_ready "$node"; then
    kubectl get nodes -o wide >&2 || true
    die "node $node is not Ready after 5 minutes (check the CNI pods: kubectl -n kube-system get pods)"
  fi
  result "node.$node" Ready
done
if ! kubectl -n kube-system rollout status deployment/coredns --timeout=300s >&2; then
  die "CoreDNS did not become ready within 5 minutes"
fi
result coredns ready

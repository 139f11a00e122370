{{> _header}}
# Seed 10: resolve kubernetes.default from a pod, then clean up.
export KUBECONFIG=/etc/kubernetes/admin.conf
EXPECTED={{cluster.kubernetesServiceIP}}
{{> _lib}}

manifest=$(mktemp)
cleanup() {
  kubectl delete pod labctl-dnsutils -n default --ignore-not-found --wait=false >/dev/null 2>&1 || true
  rm -f "$manifest"
}
trap cleanup EXIT
cat > "$manifest" <<'LABCTL_EOF'
{{{manifests.dnsutils}}}
LABCTL_EOF
kubectl delete pod labctl-dnsutils -n default --ignore-not-found >&2
kubectl apply -f "$manifest" >&2
if ! kubectl wait -n default --for=condition=Ready pod/labctl-dnsutils --timeout=180s >&2; then
  die "the dnsutils pod did not become Ready within 3 minutes"
fi
lookup() {
  kubectl exec -n default labctl-dnsutils -- nslookup kubernetes.default > "$manifest.out" 2>&1
}
if ! retry 6 5 lookup; then
  cat "$manifest.out" >&2 || true
  die "nslookup kubernetes.default failed from a pod (check CoreDNS: kubectl -n kube-system get pods -l k8s-app=kube-dns)"
fi
answer=$(awk '/^Name:/ {found = 1} found && /^Address/ {print $NF; exit}' "$manifest.out")
rm -f "$manifest.out"
result dns.kubernetes.default "$answer"
if [ "$answer" != "$EXPECTED" ]; then
  die "kubernetes.default resolved to '$answer', expected $EXPECTED"
fi

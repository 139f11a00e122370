{{> _header}}
export KUBECONFIG=/etc/kubernetes/admin.conf
{{> _lib}}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Seed 9.1/9.2: strictARP matters only when kube-proxy runs in IPVS mode (MetalLB installation docs);
# in iptables or nftables mode the field is unused, so it is patched only there.
proxy_config=$(kubectl -n kube-system get configmap kube-proxy -o jsonpath='{.data.config\.conf}')
proxy_mode=$(printf '%s\n' "$proxy_config" | awk '/^mode:/ {gsub(/"/, "", $2); print $2}')
result kubeProxy.mode "${proxy_mode:-iptables}"
if [ "$proxy_mode" = ipvs ]; then
  if printf '%s\n' "$proxy_config" | grep -q 'strictARP: false'; then
    kubectl -n kube-system get configmap kube-proxy -o yaml | sed -e 's/strictARP: false/strictARP: true/' | kubectl apply -f - >&2
    kubectl -n kube-system rollout restart daemonset/kube-proxy >&2
    kubectl -n kube-system rollout status daemonset/kube-proxy --timeout=180s >&2
  fi
  result kubeProxy.strictARP true
fi

# Seed 9.3: MetalLB {{profile.metallb.version}}. The seed applies the manifests by URL; they are fetched
# first so that a filled host cache (docs/cache.md) serves them like every other download.
{{#profile.metallb.manifestURLs}}
fetch '{{.}}' "$work/$(basename '{{.}}')"
kubectl apply -f "$work/$(basename '{{.}}')" >&2
{{/profile.metallb.manifestURLs}}
if ! kubectl -n metallb-system rollout status deployment/controller --timeout=180s >&2 \
  || ! kubectl -n metallb-system rollout status daemonset/speaker --timeout=180s >&2; then
  die "MetalLB's controller or speaker did not become ready within 3 minutes"
fi
{{#flags.metallbCRDs}}
# The IPAddressPool webhook is served by the controller: applying the pool before its endpoint is up
# fails with "failed calling webhook" (metallb/metallb#1597, #1540). Wait for the endpoint, then
# retry the apply a bounded number of times.
webhook_ready() {
  [ -n "$(kubectl -n metallb-system get endpoints metallb-webhook-service -o jsonpath='{.subsets[*].addresses[*].ip}' 2>/dev/null)" ]
}
if ! retry 36 5 webhook_ready; then
  die "MetalLB's webhook has no endpoint after 3 minutes (can the API server reach pod IPs? check the CNI)"
fi
{{/flags.metallbCRDs}}
pool=$work/pool.yaml
cat > "$pool" <<'LABCTL_EOF'
{{{manifests.metallbPool}}}
LABCTL_EOF
# Seed 9.4/9.5: this cluster's pool, from lab.json.
apply_pool() {
  kubectl apply -f "$pool" >&2
}
if ! retry 12 5 apply_pool; then
  die "the MetalLB address pool was refused 12 times"
fi
result metallb.version {{profile.metallb.version}}
result metallb.addresses {{cluster.metallbList}}

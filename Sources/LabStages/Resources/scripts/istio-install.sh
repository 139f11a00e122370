{{> _header}}
# Seed 13.1/13.4 for {{cluster.name}}: this cluster's IstioOperator values, installed into this
# cluster's context. Context and values come from the same lab.json cluster entry, so the seed's
# 13.4 mistake (cluster2.yaml installed with cluster1's context) cannot be rendered.
{{> _mesh}}
{{> _lib}}

operator=$(mktemp)
trap 'rm -f "$operator"' EXIT
cat > "$operator" <<'LABCTL_EOF'
{{{manifests.istioOperator}}}
LABCTL_EOF
cluster_id() {
  kubectl --context={{cluster.name}} -n istio-system get deployment istiod -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="CLUSTER_ID")].value}' 2>/dev/null || true
}
if [ "$(cluster_id)" = {{cluster.name}} ]; then
  result istio.{{cluster.name}}.install skipped
else
  istioctl install --context={{cluster.name}} -y -f "$operator" >&2
  result istio.{{cluster.name}}.install applied
fi
if ! kubectl --context={{cluster.name}} -n istio-system rollout status deployment/istiod --timeout=300s >&2; then
  die "istiod in {{cluster.name}} did not become ready within 5 minutes"
fi
# The guard of docs/stages.md ("The context guard after istioctl install"): the istiod in this context must carry this cluster's identity.
id=$(cluster_id)
network=$(kubectl --context={{cluster.name}} get namespace istio-system -o jsonpath='{.metadata.labels.topology\.istio\.io/network}')
result istio.{{cluster.name}}.clusterId "$id"
result istio.{{cluster.name}}.network "$network"
if [ "$id" != {{cluster.name}} ] || [ "$network" != {{cluster.network}} ]; then
  die "istiod in context {{cluster.name}} reports CLUSTER_ID=$id and network=$network, expected {{cluster.name}} and {{cluster.network}}"
fi

{{> _header}}
# Seed 13.2/13.3 (13.5/13.6) for {{cluster.name}}: the east-west gateway, its LoadBalancer address from
# MetalLB, and *.local exposed through it on 15443.
{{> _mesh}}
ISTIO_DIR={{istio.dir}}
{{> _lib}}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if kubectl --context={{cluster.name}} -n istio-system get service istio-eastwestgateway >/dev/null 2>&1; then
  result eastwest.{{cluster.name}}.install skipped
else
{{#flags.eastwestMeshClusterNetwork}}
  # Istio 1.10's generator requires --mesh and --cluster as well as --network.
  "$ISTIO_DIR/samples/multicluster/gen-eastwest-gateway.sh" --mesh {{mesh.id}} --cluster {{cluster.name}} --network {{cluster.network}} > "$work/eastwest.yaml"
{{/flags.eastwestMeshClusterNetwork}}
{{^flags.eastwestMeshClusterNetwork}}
  # Since Istio 1.12 only --network matters (--mesh/--cluster are ignored).
  "$ISTIO_DIR/samples/multicluster/gen-eastwest-gateway.sh" --network {{cluster.network}} > "$work/eastwest.yaml"
{{/flags.eastwestMeshClusterNetwork}}
  istioctl install --context={{cluster.name}} -y -f "$work/eastwest.yaml" >&2
  result eastwest.{{cluster.name}}.install applied
fi
gateway_ip() {
  kubectl --context={{cluster.name}} -n istio-system get service istio-eastwestgateway -o jsonpath='{.status.loadBalancer.ingress[0].ip}' 2>/dev/null
}
has_ip() {
  [ -n "$(gateway_ip)" ]
}
if ! retry 60 5 has_ip; then
{{#flags.metallbCRDs}}
  die "istio-eastwestgateway in {{cluster.name}} has no external address after 5 minutes: MetalLB gives it one from {{cluster.metallbList}}; check kubectl --context={{cluster.name}} -n metallb-system get pods,ipaddresspools"
{{/flags.metallbCRDs}}
{{#flags.metallbConfigMap}}
  # MetalLB {{profile.metallb.version}} has no IPAddressPool kind: its pool is the ConfigMap "config".
  die "istio-eastwestgateway in {{cluster.name}} has no external address after 5 minutes: MetalLB gives it one from {{cluster.metallbList}}; check kubectl --context={{cluster.name}} -n metallb-system get pods,configmap/config"
{{/flags.metallbConfigMap}}
fi
result eastwest.{{cluster.name}}.ip "$(gateway_ip)"
cat > "$work/expose-services.yaml" <<'LABCTL_EOF'
{{{manifests.exposeServices}}}
LABCTL_EOF
kubectl --context={{cluster.name}} apply -n istio-system -f "$work/expose-services.yaml" >&2
result eastwest.{{cluster.name}}.exposed true

{{> _header}}
# Seed 14 for {{cluster.name}}: the sample namespace with sidecar injection, the helloworld service,
# helloworld {{cluster.helloworldVersion}} (one version per cluster), and the {{profile.istio.client}} client.
{{> _mesh}}
ISTIO_DIR={{istio.dir}}
{{> _lib}}

if ! kubectl --context={{cluster.name}} get namespace sample >/dev/null 2>&1; then
  kubectl --context={{cluster.name}} create namespace sample >&2
fi
kubectl --context={{cluster.name}} label namespace sample --overwrite istio-injection=enabled >&2
kubectl --context={{cluster.name}} apply -n sample -f "$ISTIO_DIR/samples/helloworld/helloworld.yaml" -l service=helloworld >&2
kubectl --context={{cluster.name}} apply -n sample -f "$ISTIO_DIR/samples/helloworld/helloworld.yaml" -l version={{cluster.helloworldVersion}} >&2
kubectl --context={{cluster.name}} apply -n sample -f "$ISTIO_DIR/samples/{{profile.istio.client}}/{{profile.istio.client}}.yaml" >&2
for deployment in helloworld-{{cluster.helloworldVersion}} {{profile.istio.client}}; do
  if ! kubectl --context={{cluster.name}} -n sample rollout status "deployment/$deployment" --timeout=300s >&2; then
    die "deployment $deployment in {{cluster.name}} did not become ready within 5 minutes"
  fi
done
result sample.{{cluster.name}}.helloworld {{cluster.helloworldVersion}}

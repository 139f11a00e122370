{{> _header}}
# Seed 12.4, corrected: what must be identical in every cluster is root-cert.pem. ca-cert.pem is each
# cluster's own intermediate and differs by design (Istio troubleshooting, "Trust Configuration").
# Each intermediate must also chain to that root.
{{> _mesh}}
{{> _lib}}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{{#clusters}}
kubectl --context={{name}} -n istio-system get secret cacerts -o jsonpath='{.data.root-cert\.pem}' | base64 -d > "$work/{{name}}-root.pem"
kubectl --context={{name}} -n istio-system get secret cacerts -o jsonpath='{.data.ca-cert\.pem}' | base64 -d > "$work/{{name}}-ca.pem"
result rootCert.{{name}}.sha256 "$(sha256sum < "$work/{{name}}-root.pem" | awk '{print $1}')"
if openssl verify -CAfile "$work/{{name}}-root.pem" "$work/{{name}}-ca.pem" >/dev/null 2>&1; then
  result caCert.{{name}}.chainsToRoot true
else
  result caCert.{{name}}.chainsToRoot false
  die "{{name}}'s intermediate (ca-cert.pem) does not chain to its root-cert.pem"
fi
{{/clusters}}
match=true
{{#clustersAfterFirst}}
if ! cmp -s "$work/{{firstCluster}}-root.pem" "$work/{{name}}-root.pem"; then
  match=false
fi
{{/clustersAfterFirst}}
result rootCert.match "$match"
if [ "$match" != true ]; then
  die "the clusters hold different root-cert.pem files: cross-cluster mTLS would fail (re-run the cacerts stage)"
fi

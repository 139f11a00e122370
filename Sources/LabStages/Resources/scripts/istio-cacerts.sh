{{> _header}}
# Seed 12.2/12.3 for {{cluster.name}}: istio-system with its network label, and the cacerts secret,
# BEFORE Istio is installed (without it istiod makes its own root: istio/istio#31522, docs/pki.md).
# The four PEM files arrive as "name base64" lines after this script on standard input (ca-key.pem
# is secret); they live in a private temporary directory only while the secret is made.
{{> _mesh}}
PKI_DIR=""
{{> _lib}}

main() {
  local dir name data file
  # A global, so the EXIT trap still sees it after main returns.
  PKI_DIR=$(mktemp -d)
  dir=$PKI_DIR
  chmod 700 "$dir"
  trap 'rm -rf "$PKI_DIR"' EXIT
  while IFS=' ' read -r name data; do
    case "$name" in
      ca-cert.pem | ca-key.pem | root-cert.pem | cert-chain.pem) printf '%s' "$data" | base64 -d > "$dir/$name" ;;
      "") ;;
      *) die "unexpected input '$name'" ;;
    esac
  done
  for file in ca-cert.pem ca-key.pem root-cert.pem cert-chain.pem; do
    if [ ! -s "$dir/$file" ]; then
      die "$file for {{cluster.name}} did not arrive on standard input"
    fi
  done
  if ! kubectl --context={{cluster.name}} get namespace istio-system >/dev/null 2>&1; then
    kubectl --context={{cluster.name}} create namespace istio-system >&2
  fi
  kubectl --context={{cluster.name}} label namespace istio-system --overwrite topology.istio.io/network={{cluster.network}} >&2
  kubectl --context={{cluster.name}} -n istio-system create secret generic cacerts --dry-run=client -o yaml \
    --from-file="$dir/ca-cert.pem" --from-file="$dir/ca-key.pem" --from-file="$dir/root-cert.pem" --from-file="$dir/cert-chain.pem" \
    | kubectl --context={{cluster.name}} apply -f - >/dev/null
  result cacerts.{{cluster.name}} applied
  result network.{{cluster.name}} "$(kubectl --context={{cluster.name}} get namespace istio-system -o jsonpath='{.metadata.labels.topology\.istio\.io/network}')"
}

# The last line reads the secret input that follows the script on standard input.
main

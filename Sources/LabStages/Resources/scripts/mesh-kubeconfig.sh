{{> _header}}
# Seed 11: installs the merged kubeconfig (both clusters' contexts) on this node, where the mesh
# stages run istioctl. It arrives base64-encoded as the line after this script on standard input.
TARGET="$HOME/{{mesh.kubeconfig}}"
{{> _lib}}

main() {
  local line tmp
  IFS= read -r line || true
  if [ -z "$line" ]; then
    die "expected the merged kubeconfig on standard input"
  fi
  tmp=$(mktemp)
  chmod 600 "$tmp"
  printf '%s' "$line" | base64 -d > "$tmp"
  install -d -m 700 "$(dirname "$TARGET")"
  if cmp -s "$tmp" "$TARGET"; then
    rm -f "$tmp"
    result kubeconfig.mesh unchanged
  else
    mv "$tmp" "$TARGET"
    chmod 600 "$TARGET"
    result kubeconfig.mesh written
  fi
  result kubeconfig.path "$TARGET"
}

# The last line reads the secret input that follows the script on standard input.
main

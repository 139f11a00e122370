{{> _header}}
# The join command is a secret: labctl sends it as the line after this script on standard input.
# It is turned into a JoinConfiguration file (mode 0600, removed afterwards), so the token is in
# no argv, neither labctl's nor this node's.
JOIN_CONFIG=""
{{> _lib}}

main() {
  local line word previous="" endpoint="" token="" hash=""
  IFS= read -r line || true
  if [ -f /etc/kubernetes/kubelet.conf ]; then
    result kubeadm.join skipped
    return 0
  fi
  case "$line" in
    "kubeadm join "*) ;;
    *) die "expected a 'kubeadm join' command on standard input" ;;
  esac
  # shellcheck disable=SC2086 # split the command into words on purpose
  for word in $line; do
    case "$previous" in
      join) endpoint=$word ;;
      --token) token=$word ;;
      --discovery-token-ca-cert-hash) hash=$word ;;
    esac
    previous=$word
  done
  if [ -z "$endpoint" ] || [ -z "$token" ] || [ -z "$hash" ]; then
    die "the join command lacks the endpoint, --token or --discovery-token-ca-cert-hash"
  fi
  # A global, so the EXIT trap still sees it after main returns.
  JOIN_CONFIG=$(mktemp /etc/kubernetes/labctl-join.XXXXXX 2>/dev/null || mktemp)
  chmod 600 "$JOIN_CONFIG"
  trap 'rm -f "$JOIN_CONFIG"' EXIT
  cat > "$JOIN_CONFIG" <<LABCTL_EOF
apiVersion: {{profile.kubernetes.kubeadmAPIVersion}}
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: "$endpoint"
    token: "$token"
    caCertHashes:
      - "$hash"
nodeRegistration:
  name: {{node.name}}
  criSocket: {{profile.runtime.criSocket}}
LABCTL_EOF
  kubeadm join --config "$JOIN_CONFIG"
  result kubeadm.join applied
}

# The last line reads the secret input that follows the script on standard input.
main

#!/usr/bin/env bash
# labctl dns-check: resolve kubernetes.default from a pod
# Seed section 10. Lab istio-multicluster, profile current, runs on cluster1-ctrl-plane.
# Rendered by labctl; idempotent: every step checks before it changes anything.
set -euo pipefail
# Seed 10: resolve kubernetes.default from a pod, then clean up.
export KUBECONFIG=/etc/kubernetes/admin.conf
EXPECTED=10.96.0.1
# ---- labctl script library ----
# Logs go to stderr; stdout carries only machine-readable key=value lines.
log() { printf 'labctl: %s\n' "$*" >&2; }
die() { printf 'labctl: error: %s\n' "$*" >&2; exit 1; }
result() { printf '%s=%s\n' "$1" "$2"; }
# retry TRIES PAUSE CMD...: run CMD until it succeeds, at most TRIES times (every wait is bounded).
retry() {
  local tries=$1 pause=$2 n=1
  shift 2
  until "$@"; do
    if [ "$n" -ge "$tries" ]; then
      return 1
    fi
    n=$((n + 1))
    sleep "$pause"
  done
}
# cached_sha256 URL: the sha256 labctl's host cache verified for URL, when labctl uploaded the file
# (docs/cache.md: /var/cache/labctl/files/<sha256 of the URL> and its .sha256); fails otherwise.
cached_sha256() {
  local key
  key=/var/cache/labctl/files/$(printf '%s' "$1" | sha256sum | awk '{print $1}')
  [ -f "$key" ] && [ -f "$key.sha256" ] && [ "$(sha256sum "$key" | awk '{print $1}')" = "$(cat "$key.sha256")" ] && cat "$key.sha256"
}
# cached URL DEST: copy the uploaded file for URL to DEST if it is there and intact; fails otherwise.
cached() {
  cached_sha256 "$1" >/dev/null || return 1
  cp "/var/cache/labctl/files/$(printf '%s' "$1" | sha256sum | awk '{print $1}')" "$2"
  log "$1: from labctl's cache"
}
# fetch URL DEST: the cached copy, else download with timeouts and bounded retries.
fetch() {
  cached "$1" "$2" && return 0
  curl -fsSL --retry 5 --retry-delay 3 --connect-timeout 20 --max-time 900 -o "$2" "$1"
}
# write_file PATH MODE: write stdin to PATH only when the content differs; sets CHANGED=true|false.
CHANGED=false
write_file() {
  local path=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat > "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    chmod "$mode" "$path"
    CHANGED=false
  else
    install -D -m "$mode" "$tmp" "$path"
    rm -f "$tmp"
    CHANGED=true
  fi
}
# fetch_verified URL DEST SUMURL [NAME]: download and check the sha256 the project publishes next to it.
# A sum file holds either the bare hash or "hash  name" lines; NAME picks the line.
fetch_verified() {
  local url=$1 dest=$2 sumurl=$3 name=${4:-} sums want got
  # The host cache checked the file against this same published checksum when it filled.
  cached "$url" "$dest" && return 0
  fetch "$url" "$dest"
  sums=$(mktemp)
  fetch "$sumurl" "$sums"
  if [ -n "$name" ]; then
    want=$(awk -v n="$name" '$2 == n || $2 == "*" n {print $1}' "$sums")
  else
    want=$(awk 'NR == 1 {print $1}' "$sums")
  fi
  rm -f "$sums"
  got=$(sha256sum "$dest" | awk '{print $1}')
  if [ -z "$want" ] || [ "$want" != "$got" ]; then
    die "checksum mismatch for $url (published ${want:-nothing}, downloaded $got)"
  fi
}
# changed: whether the last write_file changed its file.
changed() {
  [ "$CHANGED" = true ]
}
# ---- end of library ----

manifest=$(mktemp)
cleanup() {
  kubectl delete pod labctl-dnsutils -n default --ignore-not-found --wait=false >/dev/null 2>&1 || true
  rm -f "$manifest"
}
trap cleanup EXIT
cat > "$manifest" <<'LABCTL_EOF'
# Seed 10: the pod of kubernetes.io's DNS debugging task (k8s.io/examples/admin/dns/dnsutils.yaml).
apiVersion: v1
kind: Pod
metadata:
  name: labctl-dnsutils
  namespace: default
spec:
  containers:
    - name: dnsutils
      image: registry.k8s.io/e2e-test-images/jessie-dnsutils:1.3
      command: ["sleep", "infinity"]
      imagePullPolicy: IfNotPresent
  restartPolicy: Always
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

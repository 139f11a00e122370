#!/usr/bin/env bash
# labctl cni: the pod network
# Seed section 8.3. Lab istio-multicluster, profile seed-2021, runs on cluster2-ctrl-plane.
# Rendered by labctl; idempotent: every step checks before it changes anything.
set -euo pipefail
export KUBECONFIG=/etc/kubernetes/admin.conf
POD_SUBNET=10.32.0.0/12
MANIFEST_URL='https://github.com/weaveworks/weave/releases/download/v2.8.1/weave-daemonset-k8s-1.11.yaml'
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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch "$MANIFEST_URL" "$work/cni.yaml"
# Seed 8.3: Weave Net 2.8.1. cloud.weave.works is gone (weaveworks/weave#3960). Weave's
# docs moved to the release's weave-daemonset-k8s.yaml (weaveworks/weave commit d30828a3), which was
# reported to use :latest images (weaveworks/weave#3948); this is its sibling weave-daemonset-k8s-1.11.yaml,
# whose images bin/release pins to 2.8.1 (weaveworks/weave@v2.8.1:bin/release).
# Its IPALLOC_RANGE must equal the pod subnet kube-proxy was given, so it is set before the first
# weave pod starts (weaveworks/weave@v2.8.1:site/kubernetes/kube-addon.md, "Things to watch out for").
python3 - "$work/cni.yaml" "$POD_SUBNET" <<'LABCTL_EOF'
import sys, yaml
path, subnet = sys.argv[1], sys.argv[2]
with open(path) as f:
    doc = yaml.safe_load(f)
found = False
for item in doc.get("items", [doc]):
    if item.get("kind") != "DaemonSet":
        continue
    for container in item["spec"]["template"]["spec"]["containers"]:
        if container["name"] == "weave":
            env = [e for e in container.get("env", []) if e.get("name") != "IPALLOC_RANGE"]
            env.append({"name": "IPALLOC_RANGE", "value": subnet})
            container["env"] = env
            found = True
if not found:
    sys.exit("no weave container in the Weave manifest")
with open(path, "w") as f:
    yaml.safe_dump(doc, f, default_flow_style=False)
LABCTL_EOF
kubectl apply -f "$work/cni.yaml" >&2
if ! kubectl -n kube-system rollout status daemonset/weave-net --timeout=300s >&2; then
  die "weave-net did not roll out within 5 minutes"
fi
result cni.weave "$(kubectl -n kube-system get daemonset weave-net -o jsonpath='{.spec.template.spec.containers[0].image}')"
result cni.podSubnet "$POD_SUBNET"

{{> _header}}
export KUBECONFIG=/etc/kubernetes/admin.conf
POD_SUBNET={{cluster.podSubnet}}
MANIFEST_URL='{{profile.cni.manifestURL}}'
{{> _lib}}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch "$MANIFEST_URL" "$work/cni.yaml"
{{#flags.weave}}
# Seed 8.3: Weave Net {{profile.cni.version}}. cloud.weave.works is gone (weaveworks/weave#3960). Weave's
# docs moved to the release's weave-daemonset-k8s.yaml (weaveworks/weave commit d30828a3), which was
# reported to use :latest images (weaveworks/weave#3948); this is its sibling weave-daemonset-k8s-1.11.yaml,
# whose images bin/release pins to {{profile.cni.version}} (weaveworks/weave@v2.8.1:bin/release).
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
{{/flags.weave}}
{{#flags.flannel}}
# Flannel {{profile.cni.version}}: its manifest hard-codes {{profile.cni.defaultPodSubnet}} in net-conf.json;
# it must be the cluster's pod subnet (flannel Documentation/kubernetes.md).
sed -i "s#\"Network\": \"{{profile.cni.defaultPodSubnet}}\"#\"Network\": \"$POD_SUBNET\"#" "$work/cni.yaml"
if ! grep -qF "\"Network\": \"$POD_SUBNET\"" "$work/cni.yaml"; then
  die "the Flannel manifest has no net-conf.json Network to set; check $MANIFEST_URL"
fi
kubectl apply -f "$work/cni.yaml" >&2
if ! kubectl -n kube-flannel rollout status daemonset/kube-flannel-ds --timeout=300s >&2; then
  die "kube-flannel-ds did not roll out within 5 minutes"
fi
result cni.flannel "$(kubectl -n kube-flannel get daemonset kube-flannel-ds -o jsonpath='{.spec.template.spec.containers[0].image}')"
{{/flags.flannel}}
result cni.podSubnet "$POD_SUBNET"

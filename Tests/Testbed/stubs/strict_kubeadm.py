# labctl testbed stub: kubeadm's decoding of a --config file, per kubeadm version and API version.
#
# What the real kubeadm does (STUBS.md, "kubeadm"):
# - An apiVersion this kubeadm no longer knows fails: "your configuration file uses an old API spec"
#   (validateSupportedVersion in cmd/kubeadm/app/util/config/common.go; the text is as remembered, not
#   read at a tag); one it does not know yet fails as the scheme does: no kind "X" is registered for
#   version "Y". v1beta2: 1.15-1.26 (removed by kubernetes/kubernetes#114540, merged for 1.27);
#   v1beta3: 1.22-1.35 (added by #101129, removed by #136016 for 1.36); v1beta4: from 1.31 (#125029).
# - A value of the wrong type fails the decoding (encoding/json: "cannot unmarshal string into Go
#   struct field …"), in every version.
# - An unknown field does not fail `kubeadm init`/`join`/`config images pull`: kubeadm checks every
#   document a second time in strict mode and only logs the error as a klog warning
#   (kubernetes/kubernetes@04791b490660:cmd/kubeadm/app/util/config/strict/strict.go, the 1.21-era file:
#   "The returned error here is currently ignored everywhere and a klog warning is thrown instead").
#   That init still only warns in 1.36 is assumed, not read at v1.36.1. The field is then silently ignored,
#   so the stub records the warning in the journal entry (`warnings`) and the testbed tests fail on it.
#   `kubeadm config validate` (from 1.26) returns the same error and exits 1.
#   Text: 1.21 (sigs.k8s.io/yaml UnmarshalStrict) "error unmarshaling JSON: while decoding JSON: json:
#   unknown field "type""; from 1.24 (kubernetes/kubernetes#107725, the serializer's strict mode)
#   "strict decoding error: unknown field "dns.type"".
import re

from strict_lib import go_type, load_documents

KUBEADM_GROUP = "kubeadm.k8s.io"
# (first, last) minor version of kubeadm that reads each API version; None = still supported.
API_SUPPORT = {"v1beta2": (15, 26), "v1beta3": (22, 35), "v1beta4": (31, None)}
# kubeadm.go's oldKnownAPIVersions: the kubeadm to use for a removed API version.
OLD_API_KUBEADM = {"v1beta2": "v1.26", "v1beta3": "v1.35"}

# Field sets. A type is "string", "int32", "bool", "duration" (a string such as "4m0s"), "map"
# (map[string]string or map[string]bool), "[]string", "[]T" (a list of struct T), "T" (struct T) or
# "any" (a type the stub does not model further).
_TAINT = {"key": "string", "value": "string", "effect": "string", "timeAdded": "string"}  # k8s.io/api core/v1 Taint
_BOOTSTRAP_TOKEN = {"token": "string", "description": "string", "ttl": "duration", "expires": "string",
                    "usages": "[]string", "groups": "[]string"}
_API_ENDPOINT = {"advertiseAddress": "string", "bindPort": "int32"}
_IMAGE_META = {"imageRepository": "string", "imageTag": "string"}
_HOST_PATH_MOUNT = {"name": "string", "hostPath": "string", "mountPath": "string", "readOnly": "bool",
                    "pathType": "string"}
_NETWORKING = {"serviceSubnet": "string", "podSubnet": "string", "dnsDomain": "string"}
_EXTERNAL_ETCD = {"endpoints": "[]string", "caFile": "string", "certFile": "string", "keyFile": "string"}
_BOOTSTRAP_DISCOVERY = {"token": "string", "apiServerEndpoint": "string", "caCertHashes": "[]string",
                        "unsafeSkipCAVerification": "bool"}

# kubernetes/kubernetes@046d201c45ce:cmd/kubeadm/app/apis/kubeadm/v1beta2/types.go (the v1beta2 of 1.21; the API
# was frozen once v1beta3 came in 1.22)
V1BETA2 = {
    "InitConfiguration": {"bootstrapTokens": "[]BootstrapToken", "nodeRegistration": "NodeRegistrationOptions",
                          "localAPIEndpoint": "APIEndpoint", "certificateKey": "string"},
    "ClusterConfiguration": {"etcd": "Etcd", "networking": "Networking", "kubernetesVersion": "string",
                             "controlPlaneEndpoint": "string", "apiServer": "APIServer",
                             "controllerManager": "ControlPlaneComponent", "scheduler": "ControlPlaneComponent",
                             "dns": "DNS", "certificatesDir": "string", "imageRepository": "string",
                             "useHyperKubeImage": "bool", "featureGates": "map", "clusterName": "string"},
    "JoinConfiguration": {"nodeRegistration": "NodeRegistrationOptions", "caCertPath": "string",
                          "discovery": "Discovery", "controlPlane": "JoinControlPlane"},
    "ControlPlaneComponent": {"extraArgs": "map", "extraVolumes": "[]HostPathMount"},
    "APIServer": {"extraArgs": "map", "extraVolumes": "[]HostPathMount", "certSANs": "[]string",
                  "timeoutForControlPlane": "duration"},
    "DNS": dict(_IMAGE_META, type="string"),
    "APIEndpoint": _API_ENDPOINT,
    "NodeRegistrationOptions": {"name": "string", "criSocket": "string", "taints": "[]Taint",
                                "kubeletExtraArgs": "map", "ignorePreflightErrors": "[]string"},
    "Networking": _NETWORKING,
    "BootstrapToken": _BOOTSTRAP_TOKEN,
    "Etcd": {"local": "LocalEtcd", "external": "ExternalEtcd"},
    "LocalEtcd": dict(_IMAGE_META, dataDir="string", extraArgs="map", serverCertSANs="[]string",
                      peerCertSANs="[]string"),
    "ExternalEtcd": _EXTERNAL_ETCD,
    "JoinControlPlane": {"localAPIEndpoint": "APIEndpoint", "certificateKey": "string"},
    "Discovery": {"bootstrapToken": "BootstrapTokenDiscovery", "file": "FileDiscovery",
                  "tlsBootstrapToken": "string", "timeout": "duration"},
    "BootstrapTokenDiscovery": _BOOTSTRAP_DISCOVERY,
    "FileDiscovery": {"kubeConfigPath": "string"},
    "HostPathMount": _HOST_PATH_MOUNT,
    "Taint": _TAINT,
}

# kubernetes/kubernetes@008b3652959c:cmd/kubeadm/app/apis/kubeadm/v1beta3/types.go
V1BETA3 = dict(V1BETA2)
V1BETA3.update({
    "InitConfiguration": dict(V1BETA2["InitConfiguration"], skipPhases="[]string", patches="Patches"),
    "ClusterConfiguration": {k: v for k, v in V1BETA2["ClusterConfiguration"].items() if k != "useHyperKubeImage"},
    "JoinConfiguration": dict(V1BETA2["JoinConfiguration"], skipPhases="[]string", patches="Patches"),
    # v1beta3 dropped DNS.type (kube-dns support was removed): "dns" is only the image.
    "DNS": _IMAGE_META,
    "NodeRegistrationOptions": dict(V1BETA2["NodeRegistrationOptions"], imagePullPolicy="string"),
    "Patches": {"directory": "string"},
})

# cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go as of the 1.32 API (EncryptionAlgorithm, certificate validity
# periods, Timeouts.upgradeManifests, imagePullSerial), read from its copy in tengqm/kubeconfig
# config/kubeadm/v1beta4/types.go; not checked line by line against the v1.36.1 tag (a field added since is refused).
V1BETA4 = dict(V1BETA3)
_ARG = {"name": "string", "value": "string"}
_ENV = {"name": "string", "value": "string", "valueFrom": "any"}  # k8s.io/api core/v1 EnvVar
_COMPONENT4 = {"extraArgs": "[]Arg", "extraVolumes": "[]HostPathMount", "extraEnvs": "[]EnvVar"}
V1BETA4.update({
    "InitConfiguration": dict(V1BETA3["InitConfiguration"], dryRun="bool", timeouts="Timeouts"),
    "ClusterConfiguration": dict(V1BETA3["ClusterConfiguration"], proxy="Proxy", encryptionAlgorithm="string",
                                 certificateValidityPeriod="duration", caCertificateValidityPeriod="duration"),
    "JoinConfiguration": dict(V1BETA3["JoinConfiguration"], dryRun="bool", timeouts="Timeouts"),
    "ControlPlaneComponent": _COMPONENT4,
    "APIServer": dict(_COMPONENT4, certSANs="[]string"),
    "DNS": dict(_IMAGE_META, disabled="bool"),
    "Proxy": {"disabled": "bool"},
    "NodeRegistrationOptions": dict(V1BETA3["NodeRegistrationOptions"], kubeletExtraArgs="[]Arg",
                                    imagePullSerial="bool"),
    "LocalEtcd": dict(_IMAGE_META, dataDir="string", extraArgs="[]Arg", extraEnvs="[]EnvVar",
                      serverCertSANs="[]string", peerCertSANs="[]string"),
    "Discovery": {"bootstrapToken": "BootstrapTokenDiscovery", "file": "FileDiscovery", "tlsBootstrapToken": "string"},
    "Timeouts": {k: "duration" for k in ("controlPlaneComponentHealthCheck", "kubeletHealthCheck", "kubernetesAPICall",
                                         "etcdAPICall", "tlsBootstrap", "discovery", "upgradeManifests")},
    "Arg": _ARG,
    "EnvVar": _ENV,
})

TYPES = {"v1beta2": V1BETA2, "v1beta3": V1BETA3, "v1beta4": V1BETA4}
KINDS = ("InitConfiguration", "ClusterConfiguration", "JoinConfiguration")
# The component configs kubeadm accepts in the same file (componentconfigs.Scheme). Only their
# apiVersion is checked: their field sets are not modelled (STUBS.md).
COMPONENT_CONFIGS = {"kubelet.config.k8s.io/v1beta1": "KubeletConfiguration",
                     "kubeproxy.config.k8s.io/v1alpha1": "KubeProxyConfiguration"}

GO_SCALAR = {"string": "string", "int32": "int32", "bool": "bool", "duration": "string"}


class DecodeError(Exception):
    pass


def _check(value, typ, types, path, go_struct, unknown, minor):
    if value is None or typ == "any":
        return
    if typ in GO_SCALAR:
        ok = {"string": isinstance(value, str), "duration": isinstance(value, str),
              "bool": isinstance(value, bool),
              "int32": isinstance(value, int) and not isinstance(value, bool)}[typ]
        if not ok:
            raise DecodeError("json: cannot unmarshal %s into Go struct field %s.%s of type %s"
                              % (go_type(value), go_struct, path, GO_SCALAR[typ]))
        return
    if typ == "map":
        if not isinstance(value, dict):
            raise DecodeError("json: cannot unmarshal %s into Go struct field %s.%s of type map[string]string"
                              % (go_type(value), go_struct, path))
        return
    if typ.startswith("[]"):
        if not isinstance(value, list):
            raise DecodeError("json: cannot unmarshal %s into Go struct field %s.%s of type %s"
                              % (go_type(value), go_struct, path, typ))
        for item in value:
            _check(item, typ[2:], types, path, go_struct, unknown, minor)
        return
    fields = types[typ]
    if not isinstance(value, dict):
        raise DecodeError("json: cannot unmarshal %s into Go struct field %s.%s of type %s"
                          % (go_type(value), go_struct, path, typ))
    for key, item in value.items():
        where = "%s.%s" % (path, key) if path else str(key)
        if key not in fields:
            # 1.21's UnmarshalStrict names the field only; the strict serializer (1.24+) its path.
            unknown.append(str(key) if minor < 24 else where)
            continue
        _check(item, fields[key], types, where, typ, unknown, minor)


def decode(text, minor):
    """Decode a kubeadm config file as kubeadm 1.<minor> does.
    Returns the strict-mode warnings (unknown fields); raises DecodeError where kubeadm fails."""
    try:
        docs = load_documents(text)
    except ValueError as e:
        raise DecodeError("error converting YAML to JSON: %s" % e)
    warnings = []
    for doc in docs:
        if not isinstance(doc, dict):
            raise DecodeError("couldn't get version/kind; json parse error: json: cannot unmarshal %s into Go value "
                              "of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string "
                              "\"json:\\\"kind,omitempty\\\"\" }" % go_type(doc))
        api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
        gvk = 'schema.GroupVersionKind{Group:"%s", Version:"%s", Kind:"%s"}' % (
            api.rpartition("/")[0], api.rpartition("/")[2], kind)
        if api in COMPONENT_CONFIGS:
            if kind != COMPONENT_CONFIGS[api]:
                raise DecodeError('no kind "%s" is registered for version "%s" in scheme '
                                  '"k8s.io/kubernetes/cmd/kubeadm/app/componentconfigs/scheme.go:28"' % (kind, api))
            continue
        group, _, version = api.rpartition("/")
        if group != KUBEADM_GROUP:
            # kubeadm skips documents of other groups with a warning (SplitYAMLDocuments' caller).
            warnings.append("[config] WARNING: Ignored YAML document with GroupVersionKind %s" % gvk)
            continue
        first, last = API_SUPPORT.get(version, (None, None))
        if first is not None and last is not None and minor > last:
            raise DecodeError("your configuration file uses an old API spec: \"%s\" (kind: \"%s\"). Please use kubeadm "
                              "%s instead and run 'kubeadm config migrate --old-config old.yaml --new-config new.yaml', "
                              "which will write the new, similar spec using a newer API version."
                              % (api, kind, OLD_API_KUBEADM[version]))
        if first is None or minor < first or kind not in KINDS:
            raise DecodeError('no kind "%s" is registered for version "%s" in scheme '
                              '"k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31"' % (kind, api))
        types = TYPES[version]
        body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
        unknown = []
        _check(body, kind, types, "", kind, unknown, minor)
        if unknown:
            if minor < 24:
                detail = "error unmarshaling JSON: while decoding JSON: json: unknown field \"%s\"" % unknown[0]
            else:
                detail = "strict decoding error: " + ", ".join('unknown field "%s"' % u for u in unknown)
            warnings.append("error unmarshaling configuration %s: %s" % (gvk, detail))
    return warnings


def minor_of(version):
    m = re.match(r"v?1\.(\d+)", version or "")
    return int(m.group(1)) if m else 0


if __name__ == "__main__":
    # Host-side check (the tests): strict_kubeadm.py MINOR FILE [validate]. Exit 1 on a decoding error,
    # or on an unknown field with `validate` (as `kubeadm config validate`); warnings go to stderr.
    import sys
    try:
        found = decode(open(sys.argv[2]).read(), int(sys.argv[1]))
    except DecodeError as e:
        sys.exit(str(e))
    for w in found:
        sys.stderr.write("W %s\n" % w)
    sys.exit(1 if found and sys.argv[3:] == ["validate"] else 0)

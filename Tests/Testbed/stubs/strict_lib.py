# labctl testbed stubs: what the strict doubles (strict_kubeadm, strict_kubectl, strict_istioctl) share.
# The YAML parser is PyYAML from PyPI and the Kubernetes schemas come from the kubernetes-validate
# wheels on PyPI: `testbed stub-lib` downloads both into a directory (STUBS.md, "Strict doubles"),
# which the template installs as /usr/local/lib/labctl-stub. The guests' own python3 does not see
# it: labctl's scripts must bring what they need themselves (a real Ubuntu has no such directory).
import os
import sys

GUEST_LIB = "/usr/local/lib/labctl-stub"


def lib_dir():
    return os.environ.get("LABCTL_STUB_LIB") or GUEST_LIB


_yaml = None


def yaml_module():
    global _yaml
    if _yaml is None:
        path = os.path.join(lib_dir(), "python")
        if path not in sys.path:
            sys.path.insert(0, path)
        import yaml  # PyYAML, from the stub library (or the host's, for host-side tests)
        _yaml = yaml
    return _yaml


def load_documents(text):
    """Every non-empty YAML document of a manifest or config; a syntax error raises ValueError."""
    yaml = yaml_module()
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise ValueError(str(e).replace("\n", " "))


def go_type(value):
    """The name encoding/json uses for a JSON value in "cannot unmarshal X into …"."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"

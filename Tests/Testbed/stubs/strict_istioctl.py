# labctl testbed stub: istioctl's commands and flags, per Istio version (cobra's parsing).
# Only the commands the stub simulates are listed; any other command or flag fails as cobra does:
#   Error: unknown command "X" for "istioctl"   /   Error: unknown flag: --x
# Sources: istio/istio@1.10.1 and @1.30.3 (the profiles' versions), files named next to each fact.
import re

# Root persistent flags, inherited by every command.
# istio/istio@1.10.1:istioctl/cmd/root.go (kubeconfig -c, context, istioNamespace -i, namespace -n);
# istio/istio@1.30.3:istioctl/pkg/cli/option.go AddRootFlags (adds as, as-uid, as-group, kubeclient-timeout);
# both: pkg/log options attached by root.LoggingOptions.AttachCobraFlags (log_*, vklog).
_LOGGING = {"log_as_json": False, "log_caller": True, "log_output_level": True, "log_rotate": True,
            "log_rotate_max_age": True, "log_rotate_max_backups": True, "log_rotate_max_size": True,
            "log_stacktrace_level": True, "log_target": True, "vklog": True}
ROOT_1_10 = dict(_LOGGING, kubeconfig=True, context=True, istioNamespace=True, namespace=True)
ROOT_1_30 = dict(ROOT_1_10, **{"as": True, "as-uid": True, "as-group": True, "kubeclient-timeout": True})
ROOT_SHORT = {"c": "kubeconfig", "i": "istioNamespace", "n": "namespace"}

# istio/istio@1.10.1:operator/cmd/mesh/install.go addInstallFlags (+ kubeconfig/context of its own) and
# operator/cmd/mesh/root.go (dry-run); istio/istio@1.30.3:operator/cmd/mesh/install.go, shared root.go.
_INSTALL = {"filename": True, "readiness-timeout": True, "skip-confirmation": False, "force": False,
            "verify": False, "set": True, "charts": True, "manifests": True, "revision": True, "dry-run": False}
_INSTALL_SHORT = {"f": "filename", "y": "skip-confirmation", "s": "set", "d": "manifests", "r": "revision"}
# istio/istio@1.10.1:istioctl/pkg/multicluster/remote_secret.go addFlags; @1.30.3 adds tls-server-name.
_REMOTE_SECRET = {"service-account": True, "create-service-account": False, "name": True, "server": True,
                  "secret-name": True, "auth-type": True, "auth-plugin-name": True, "auth-plugin-config": True,
                  "type": True, "manifests": True}
# istio/istio@<tag>:pkg/version/cobra.go (short -s, output -o) and istioctl/cmd/version.go (remote, revision).
_VERSION = {"remote": False, "short": False, "output": True, "revision": True}
_VERSION_SHORT = {"s": "short", "o": "output", "r": "revision"}

# (first minor, last minor or None, command path, flags (name -> takes a value), short flags)
COMMANDS = [
    (0, None, ("install",), dict(_INSTALL, kubeconfig=True, context=True), _INSTALL_SHORT),
    (0, None, ("version",), _VERSION, _VERSION_SHORT),
    # create-remote-secret: only under `experimental` (aliases x, exp) in 1.10 and 1.11
    # (istio/istio@1.10.1:istioctl/cmd/root.go, experimentalCmd.AddCommand); at the top level and, "for
    # backwards compat", under x from 1.12 to 1.18 (@1.12.0 and @1.18.0:istioctl/cmd/root.go); top level
    # only from 1.19 (@1.19.0:istioctl/cmd/root.go).
    (0, 18, ("experimental", "create-remote-secret"), _REMOTE_SECRET, {"d": "manifests"}),
    (12, None, ("create-remote-secret",), _REMOTE_SECRET, {"d": "manifests"}),
]
ALIASES = {"x": "experimental", "exp": "experimental"}  # istio/istio@<tag>:istioctl/cmd/root.go experimentalCmd


class Refused(Exception):
    pass


def minor_of(version):
    m = re.match(r"v?1\.(\d+)", version or "")
    return int(m.group(1)) if m else 0


def parse(args, version):
    """The command path and flags of an istioctl call, as cobra parses them for Istio <version>.
    Returns (path, {flag: value}); raises Refused with istioctl's error."""
    minor = minor_of(version)
    root = ROOT_1_30 if minor >= 30 else ROOT_1_10
    table = [(path, flags, short) for first, last, path, flags, short in COMMANDS
             if first <= minor and (last is None or minor <= last)]
    words = [a for a in args if not a.startswith("-")]
    # Flag values are words too: find the command by matching the leading words against the table.
    path = None
    for candidate, flags, short in sorted(table, key=lambda t: -len(t[0])):
        got = tuple(ALIASES.get(w, w) for w in _command_words(args, root, flags, short)[:len(candidate)])
        if got == candidate:
            path, known, shorts = candidate, dict(root, **flags), dict(ROOT_SHORT, **short)
            break
    if path is None:
        first = ALIASES.get(words[0], words[0]) if words else ""
        if first == "experimental" and len(words) > 1:
            raise Refused('Error: unknown command "%s" for "istioctl experimental"' % words[1])
        raise Refused('Error: unknown command "%s" for "istioctl"\nRun \'istioctl --help\' for usage.' % (words[0] if words else ""))
    values = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            break
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if name not in known:
                raise Refused("Error: unknown flag: --%s" % name)
            if known[name] and not eq:
                i += 1
                value = args[i] if i < len(args) else ""
            values[name] = value if (eq or known[name]) else "true"
        elif a.startswith("-") and len(a) > 1:
            letter = a[1]
            if letter not in shorts:
                raise Refused("Error: unknown shorthand flag: '%s' in %s" % (letter, a))
            name = shorts[letter]
            if known[name]:
                value = a[2:].lstrip("=") if len(a) > 2 else (args[i + 1] if i + 1 < len(args) else "")
                if len(a) == 2:
                    i += 1
                values[name] = value
            else:
                values[name] = "true"
        i += 1
    return path, values


def _command_words(args, root, flags, short):
    """The non-flag words of args, skipping the values of flags that take one."""
    known = dict(root, **flags)
    shorts = dict(ROOT_SHORT, **short)
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            name = a[2:].split("=", 1)[0]
            if "=" not in a and known.get(name):
                i += 1
        elif a.startswith("-") and len(a) == 2:
            if known.get(shorts.get(a[1], ""), False):
                i += 1
        else:
            out.append(a)
        i += 1
    return out


if __name__ == "__main__":
    # Host-side check (the tests): strict_istioctl.py VERSION ARG...; exit 1 with istioctl's error.
    import sys
    try:
        print(" ".join(parse(sys.argv[2:], sys.argv[1])[0]))
    except Refused as e:
        sys.exit(str(e))

"""The strict download and package doubles of the labctl testbed stub (Tests/Testbed/STUBS.md).

curl: only the URLs in catalog.json exist; any other is GitHub's/dl.k8s.io's 404, reported as curl reports
it. Checksum files are served in each project's real format (catalog.json names the format and the
upstream file that establishes it).

apt-get: `install` of a package no list names fails like real apt ("E: Unable to locate package X", exit
100) until `apt-get update` ran, and again for a repository's packages when its sources.list.d file
changed after the last update.
"""
import hashlib, json, os, sys

HERE = os.path.dirname(os.path.realpath(__file__))


def load_catalog():
    for d in (HERE, "/usr/local/lib/labctl-stub"):
        path = os.path.join(d, "catalog.json")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)["entries"]
    raise SystemExit("labctl-stub: catalog.json is missing (Tests/Testbed/stubs)")


def find(url):
    """('asset', entry) for a catalog URL, ('checksum', [entries sharing it]) for a checksum file, else None."""
    entries = load_catalog()
    for e in entries:
        if e["url"] == url:
            return "asset", e
    sharing = [e for e in entries if e.get("checksum", {}).get("url") == url]
    return ("checksum", sharing) if sharing else None


def placeholder_hash(name):
    return hashlib.sha256(("labctl stub: not served: " + name).encode()).hexdigest()


def checksum_body(entries, artifact):
    """artifact(url) -> the bytes the stub serves for url. The lines follow catalog.json's `format`."""
    fmt = entries[0]["checksum"]["format"]
    lines = []
    for e in entries:
        name = os.path.basename(e["url"])
        digest = hashlib.sha256(artifact(e)).hexdigest()
        if fmt == "bare":  # dl.k8s.io: the hash only
            lines.append(digest)
        elif fmt == "sha256sum-single-space":  # istio/release-builder pkg/util/files.go: "%x %s\n"
            lines.append("%s %s" % (digest, name))
        elif fmt == "sha256sum-binary-slash":  # cri-tools hack/release.sh: sha256sum -b, directory cut to "/"
            lines.append("%s */%s" % (digest, name))
        else:  # sha256sum and sha256sum-list: "hash  name"
            lines.append("%s  %s" % (digest, name))
    if fmt == "sha256sum-list":
        lines += ["%s  %s" % (placeholder_hash(n), n) for n in entries[0]["checksum"].get("others", [])]
        lines.sort(key=lambda l: l.split()[-1])
    return ("\n".join(lines) + "\n").encode()


def not_found(url, args):
    """curl on a 404: with -f (--fail) exit 22 and, unless silenced by -s without -S, curl's message
    (curl/curl lib/http.c: "The requested URL returned error: %d", curl >= 7.76); without -f the
    server's body (GitHub's "Not Found") and exit 0."""
    short = "".join(a[1:] for a in args if a.startswith("-") and not a.startswith("--"))
    fail = "f" in short or "--fail" in args
    silent = "s" in short or "--silent" in args
    show = "S" in short or "--show-error" in args
    if not fail:
        return b"Not Found", 0
    if not silent or show:
        sys.stderr.write("curl: (22) The requested URL returned error: 404\n")
    return None, 22


# ---------------------------------------------------------------- apt
# Packages that only a repository labctl adds carries, by the sources.list.d file that adds it
# (base-runtime.sh: docker.list, download.docker.com; base-kubernetes.sh: kubernetes.list, pkgs.k8s.io).
REPOSITORY_PACKAGES = {
    "docker.list": {"docker-ce", "docker-ce-cli", "containerd.io"},
    "kubernetes.list": {"kubelet", "kubeadm", "kubectl", "cri-tools", "kubernetes-cni"},
}
APT_STATE = "apt-lists.json"
SOURCES = "/etc/apt/sources.list.d"


def sources_now():
    out = {}
    if os.path.isdir(SOURCES):
        for name in sorted(os.listdir(SOURCES)):
            with open(os.path.join(SOURCES, name), "rb") as f:
                out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def apt_update(state_dir):
    """What `apt-get update` leaves: lists for every source configured now."""
    with open(os.path.join(state_dir, APT_STATE), "w") as f:
        json.dump({"sources": sources_now()}, f)


def apt_unlocatable(state_dir, packages, installed):
    """The packages real apt would not find. The template starts with empty lists (a minimal image, or
    `rm -rf /var/lib/apt/lists/*` as Ubuntu's cloud images do), so before the first update every
    package not installed is unknown; a repository's packages are unknown until an update after its
    sources.list.d file was written."""
    path = os.path.join(state_dir, APT_STATE)
    listed = None
    if os.path.exists(path):
        with open(path) as f:
            listed = json.load(f)["sources"]
    now = sources_now()
    missing = []
    for pkg in packages:
        if installed(pkg):
            continue  # dpkg's status file names it even with empty lists
        if listed is None:
            missing.append(pkg)
            continue
        for name, pkgs in REPOSITORY_PACKAGES.items():
            if pkg in pkgs and (name not in now or listed.get(name) != now[name]):
                missing.append(pkg)
    return missing

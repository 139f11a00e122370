{{> _header}}
{{> _lib}}
{{> _oscheck}}
export DEBIAN_FRONTEND=noninteractive
K8S_VERSION={{profile.kubernetes.version}}
{{#flags.k8sBinaries}}

# apt.kubernetes.io is gone (2024-03-04) and pkgs.k8s.io starts at v1.24, so Kubernetes $K8S_VERSION comes
# from the release binaries on dl.k8s.io, checked against their published sha256 (install-kubeadm.md,
# "Without a package manager").
# Every base script stands alone (labctl up --only, base prepare): the package lists may be empty.
apt-get update -q >&2
apt-get install -y -q conntrack socat ebtables ethtool iptables curl >/dev/null
BIN=/usr/local/bin
for binary in kubeadm kubelet kubectl; do
  url='{{profile.kubernetes.binaryBaseURL}}'/$binary
  want=$(cached_sha256 "$url" || curl -fsSL --retry 5 --connect-timeout 20 --max-time 60 "$url.sha256" | awk '{print $1}')
  got=$(sha256sum "$BIN/$binary" 2>/dev/null | awk '{print $1}' || true)
  if [ "$got" != "$want" ]; then
    tmp=$(mktemp)
    fetch_verified "$url" "$tmp" "$url.sha256"
    install -m 755 "$tmp" "$BIN/$binary"
    rm -f "$tmp"
  fi
done
if [ "$(crictl --version 2>/dev/null | awk '{print $3}')" != "v{{profile.versions.crictl}}" ]; then
  tmp=$(mktemp -d)
  fetch_verified '{{profile.kubernetes.crictlURL}}' "$tmp/crictl.tar.gz" '{{profile.kubernetes.crictlURL}}.sha256'
  tar -C "$BIN" -xzf "$tmp/crictl.tar.gz"
  rm -rf "$tmp"
fi
# The kubelet unit and kubeadm's drop-in from the release repository's deb templates, moved to $BIN.
unit=$(mktemp)
fetch '{{profile.kubernetes.kubeletServiceURL}}' "$unit"
sed "s:/usr/bin:$BIN:g" "$unit" > "$unit.sed"
write_file /etc/systemd/system/kubelet.service 644 < "$unit.sed"
fetch '{{profile.kubernetes.kubeadmDropInURL}}' "$unit"
sed "s:/usr/bin:$BIN:g" "$unit" > "$unit.sed"
write_file /etc/systemd/system/kubelet.service.d/10-kubeadm.conf 644 < "$unit.sed"
rm -f "$unit" "$unit.sed"
{{/flags.k8sBinaries}}
{{#flags.k8sApt}}

# pkgs.k8s.io has one repository per minor version (install-kubeadm.md).
# Every base script stands alone (labctl up --only, base prepare): the package lists may be empty.
apt-get update -q >&2
apt-get install -y -q apt-transport-https ca-certificates curl gpg >/dev/null
install -d -m 755 /etc/apt/keyrings
write_file /etc/apt/sources.list.d/kubernetes.list 644 <<'LABCTL_EOF'
deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] {{profile.kubernetes.aptRepository}} /
LABCTL_EOF
repo_changed=$CHANGED
if [ "$repo_changed" = true ] || [ ! -s /etc/apt/keyrings/kubernetes-apt-keyring.gpg ]; then
  key=$(mktemp)
  fetch '{{profile.kubernetes.aptKeyURL}}' "$key"
  gpg --batch --yes --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg "$key"
  rm -f "$key"
fi
PACKAGE_VERSION='{{profile.kubernetes.packageVersion}}'
for package in kubelet kubeadm kubectl; do
  if [ "$(dpkg-query -W -f='${Version}' "$package" 2>/dev/null || true)" != "$PACKAGE_VERSION" ]; then
    apt-get update -q
    apt-get install -y -q --allow-downgrades --allow-change-held-packages \
      "kubelet=$PACKAGE_VERSION" "kubeadm=$PACKAGE_VERSION" "kubectl=$PACKAGE_VERSION"
    break
  fi
done
apt-mark hold kubelet kubeadm kubectl >/dev/null
{{/flags.k8sApt}}

# The CNI reference plugins (bridge, loopback, portmap, host-local) that {{profile.cni.kind}} delegates to.
if [ ! -x /opt/cni/bin/loopback ] || [ "$(cat /opt/cni/bin/.labctl-version 2>/dev/null || true)" != '{{profile.kubernetes.cniPluginsURL}}' ]; then
  tmp=$(mktemp -d)
  fetch_verified '{{profile.kubernetes.cniPluginsURL}}' "$tmp/cni.tgz" '{{profile.kubernetes.cniPluginsURL}}.sha256'
  install -d -m 755 /opt/cni/bin
  tar -C /opt/cni/bin -xzf "$tmp/cni.tgz"
  printf '%s\n' '{{profile.kubernetes.cniPluginsURL}}' > /opt/cni/bin/.labctl-version
  rm -rf "$tmp"
fi
systemctl daemon-reload
# The kubelet restarts in a loop until kubeadm init or join configures it: that is expected.
systemctl enable kubelet >/dev/null 2>&1
installed=$(kubeadm version -o short)
result kubernetes.kubeadm "$installed"
if [ "$installed" != "v$K8S_VERSION" ]; then
  die "kubeadm is $installed, expected v$K8S_VERSION"
fi

{{> _header}}
{{> _lib}}
{{> _oscheck}}
export DEBIAN_FRONTEND=noninteractive
{{#flags.docker}}

# Seed 3: Docker Engine {{profile.versions.docker}}. Kubernetes {{profile.kubernetes.version}} still has dockershim
# (removed in 1.24), so the kubelet talks to Docker directly: no cri-dockerd.
DOCKER_VERSION='{{profile.runtime.dockerPackageVersion}}'
CONTAINERD_VERSION='{{profile.runtime.containerdPackageVersion}}'
KEYRING=/usr/share/keyrings/docker-archive-keyring.gpg
if [ ! -s "$KEYRING" ]; then
  apt-get update -q
  apt-get install -y -q apt-transport-https ca-certificates curl gnupg lsb-release
  key=$(mktemp)
  fetch '{{profile.runtime.dockerGPGKey}}' "$key"
  gpg --batch --yes --dearmor -o "$KEYRING" "$key"
  rm -f "$key"
fi
write_file /etc/apt/sources.list.d/docker.list 644 <<'LABCTL_EOF'
deb [arch={{profile.arch}} signed-by=/usr/share/keyrings/docker-archive-keyring.gpg] {{profile.runtime.dockerAptRepository}} {{profile.os.codename}} stable
LABCTL_EOF
have=$(dpkg-query -W -f='${Version}' docker-ce 2>/dev/null || true)
if [ "$have" != "$DOCKER_VERSION" ]; then
  apt-get update -q
  apt-get install -y -q --allow-downgrades --allow-change-held-packages \
    "docker-ce=$DOCKER_VERSION" "docker-ce-cli=$DOCKER_VERSION" "containerd.io=$CONTAINERD_VERSION"
  apt-mark hold docker-ce docker-ce-cli containerd.io >/dev/null
fi
# Seed 3.6: the systemd cgroup driver. kubeadm 1.21 sets the kubelet to systemd (kubernetes/kubernetes#99471);
# a Docker left on cgroupfs makes the kubelet crash-loop.
write_file /etc/docker/daemon.json 644 <<'LABCTL_EOF'
{
  "exec-opts": ["native.cgroupdriver=systemd"],
  "log-driver": "json-file",
  "log-opts": {
    "max-size": "100m"
  },
  "storage-driver": "overlay2"
}
LABCTL_EOF
daemon_changed=$CHANGED
systemctl daemon-reload
systemctl enable docker >/dev/null 2>&1
if [ "$daemon_changed" = true ] || ! systemctl is-active --quiet docker; then
  systemctl restart docker
fi
driver=$(docker info 2>/dev/null | awk -F': ' '/Cgroup Driver/ {print $2}')
result runtime.docker "$(dpkg-query -W -f='${Version}' docker-ce)"
{{/flags.docker}}
{{#flags.containerd}}

# containerd {{profile.versions.containerd}} from its release binaries (Ubuntu's package is 1.7), runc {{profile.versions.runc}}
# and the CNI plugins (containerd/containerd@v{{profile.versions.containerd}}:docs/getting-started.md).
# Every base script stands alone (labctl up --only, base prepare): the package lists may be empty.
apt-get update -q >&2
apt-get install -y -q ca-certificates curl >/dev/null
have=$(/usr/local/bin/containerd --version 2>/dev/null | awk '{print $3}' || true)
if [ "$have" != "v{{profile.versions.containerd}}" ]; then
  tmp=$(mktemp -d)
  fetch_verified '{{profile.runtime.containerdURL}}' "$tmp/containerd.tar.gz" '{{profile.runtime.containerdURL}}.sha256sum'
  tar -C /usr/local -xzf "$tmp/containerd.tar.gz"
  rm -rf "$tmp"
fi
unit=$(mktemp)
fetch '{{profile.runtime.containerdServiceURL}}' "$unit"
write_file /usr/local/lib/systemd/system/containerd.service 644 < "$unit"
rm -f "$unit"
if [ "$(runc --version 2>/dev/null | awk 'NR == 1 {print $3}')" != "{{profile.versions.runc}}" ]; then
  tmp=$(mktemp -d)
  # One runc.sha256sum per release, a `hash  runc.<arch>` line per binary (opencontainers/runc@v1.4.3:script/release_build.sh).
  fetch_verified '{{profile.runtime.runcURL}}' "$tmp/runc" "$(dirname '{{profile.runtime.runcURL}}')/runc.sha256sum" "$(basename '{{profile.runtime.runcURL}}')"
  install -m 755 "$tmp/runc" /usr/local/sbin/runc
  rm -rf "$tmp"
fi
# The default config says SystemdCgroup = false (config version 3 in 2.x); the kubelet defaults to systemd.
# A config with the CRI plugin disabled (containerd.io's default) fails kubeadm's preflight (containerd/containerd#8139).
install -d -m 755 /etc/containerd
conf=$(mktemp)
/usr/local/bin/containerd config default | sed 's/SystemdCgroup = false/SystemdCgroup = true/' > "$conf"
write_file /etc/containerd/config.toml 644 < "$conf"
config_changed=$CHANGED
rm -f "$conf"
if ! grep -q 'SystemdCgroup = true' /etc/containerd/config.toml; then
  die "containerd's default config has no SystemdCgroup key to set; check containerd {{profile.versions.containerd}}'s docs/cri/config.md"
fi
systemctl daemon-reload
systemctl enable containerd >/dev/null 2>&1
if [ "$config_changed" = true ] || ! systemctl is-active --quiet containerd; then
  systemctl restart containerd
fi
driver=systemd
result runtime.containerd "$(/usr/local/bin/containerd --version | awk '{print $3}')"
{{/flags.containerd}}
result runtime.cgroupDriver "$driver"
if [ "$driver" != systemd ]; then
  die "the container runtime uses the $driver cgroup driver, expected systemd"
fi

{{> _header}}
{{> _lib}}
{{> _archcheck}}
export DEBIAN_FRONTEND=noninteractive
{{#flags.weave}}

# The Weave step (cni.sh) edits Weave's manifest with python3 and PyYAML; Ubuntu's minimal server image
# may lack python3-yaml. Every base script stands alone, so the package lists are refreshed first.
apt-get update -q >&2
apt-get install -y -q python3 python3-yaml >/dev/null
{{/flags.weave}}

# Seed 5: Istio {{profile.istio.version}}, the whole release (istioctl plus samples/ for the east-west gateway,
# helloworld and {{profile.istio.client}}), pinned instead of "latest", checksum-checked.
ISTIO_DIR={{istio.dir}}
if [ ! -x "$ISTIO_DIR/bin/istioctl" ]; then
  tmp=$(mktemp -d)
  fetch_verified '{{profile.istio.releaseURL}}' "$tmp/istio.tar.gz" '{{profile.istio.releaseURL}}.sha256' "$(basename '{{profile.istio.releaseURL}}')"
  tar -C "$tmp" -xzf "$tmp/istio.tar.gz"
  rm -rf "$ISTIO_DIR"
  mv "$tmp/istio-{{profile.istio.version}}" "$ISTIO_DIR"
  rm -rf "$tmp"
fi
ln -sfn "$ISTIO_DIR/bin/istioctl" /usr/local/bin/istioctl
result istio.dir "$ISTIO_DIR"
result istio.istioctl "$(istioctl version --remote=false 2>/dev/null | tail -n 1)"

# Seed 6: k9s, pinned (the seed took whatever was latest), checked against goreleaser's checksum file:
# checksums.txt up to 0.24.x, checksums.sha256 in 0.50.x (derailed/k9s@v0.24.15 and @v0.50.16:.goreleaser.yml).
K9S_DIR=/opt/k9s-{{profile.versions.k9s}}
if [ ! -x "$K9S_DIR/k9s" ]; then
  tmp=$(mktemp -d)
  fetch_verified '{{profile.tools.k9sURL}}' "$tmp/k9s.tar.gz" '{{profile.tools.k9sChecksumsURL}}' "$(basename '{{profile.tools.k9sURL}}')"
  install -d -m 755 "$K9S_DIR"
  tar -C "$K9S_DIR" -xzf "$tmp/k9s.tar.gz" k9s
  rm -rf "$tmp"
fi
ln -sfn "$K9S_DIR/k9s" /usr/local/bin/k9s
result k9s.path "$K9S_DIR/k9s"

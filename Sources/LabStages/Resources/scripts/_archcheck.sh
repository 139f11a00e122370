# The release downloads are for one guest architecture (lab.json base.arch): stop before fetching the wrong ones.
if [ "$(uname -m)" != "{{guest.uname}}" ]; then
  die "lab.json base.arch is {{guest.arch}} (uname -m {{guest.uname}}), but $(hostname) runs $(uname -m): set base.arch to the base image's architecture (amd64 for x86_64, arm64 for aarch64) or use a base image of that architecture"
fi

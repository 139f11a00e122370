# The profile's packages exist for one Ubuntu release only: stop early on another.
# shellcheck source=/dev/null
. /etc/os-release
if [ "${VERSION_ID:-}" != "{{profile.os.ubuntuVersion}}" ]; then
  die "profile {{profile.name}} needs Ubuntu {{profile.os.ubuntuVersion}}, this machine runs ${PRETTY_NAME:-an unknown OS} (choose the profile in lab.json that matches the base image)"
fi
{{> _archcheck}}

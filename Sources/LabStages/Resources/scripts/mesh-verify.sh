{{> _header}}
# Seed 14 from {{cluster.name}}: call helloworld until every version ({{mesh.versionList}}) has answered,
# at most {{mesh.tries}} times. Prints one machine-readable line per fact.
{{> _mesh}}
{{> _lib}}

EXPECTED=({{#mesh.versions}}{{.}} {{/mesh.versions}})
pod=$(kubectl --context={{cluster.name}} -n sample get pod -l app={{profile.istio.client}} -o jsonpath='{.items[0].metadata.name}')
if [ -z "$pod" ]; then
  die "no {{profile.istio.client}} pod in {{cluster.name}}'s sample namespace (run the mesh-sample stage first)"
fi
seen=" "
tries=0
missing=("${EXPECTED[@]}")
while [ "$tries" -lt {{mesh.tries}} ] && [ "${#missing[@]}" -gt 0 ]; do
  tries=$((tries + 1))
  reply=$(kubectl --context={{cluster.name}} -n sample exec -c {{profile.istio.client}} "$pod" -- curl -sS --max-time 5 helloworld.sample:5000/hello 2>/dev/null || true)
  version=$(printf '%s\n' "$reply" | sed -n 's/^Hello version: \(v[0-9][0-9]*\),.*/\1/p' | head -n 1)
  if [ -n "$version" ] && [[ "$seen" != *" $version "* ]]; then
    seen="$seen$version "
  fi
  missing=()
  for v in "${EXPECTED[@]}"; do
    if [[ "$seen" != *" $v "* ]]; then
      missing+=("$v")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    sleep 2
  fi
done
# shellcheck disable=SC2086 # split the list of seen versions on purpose
answered=$(printf '%s\n' $seen | sort | paste -sd, -)
result verify.{{cluster.name}}.answered "$answered"
result verify.{{cluster.name}}.tries "$tries"
if [ "${#missing[@]}" -gt 0 ]; then
  result verify.{{cluster.name}}.ok false
  die "from {{cluster.name}}, ${missing[*]} never answered in $tries tries (see istioctl --context={{cluster.name}} proxy-config endpoint $pod.sample | grep helloworld)"
fi
result verify.{{cluster.name}}.ok true

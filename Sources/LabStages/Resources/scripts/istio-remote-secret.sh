{{> _header}}
# Seed 13.7 for {{cluster.name}}: a remote secret that lets every other cluster's istiod watch
# {{cluster.name}}'s API server, at the address the other clusters reach on the lab network.
# The secret (a bearer token) goes from istioctl to kubectl through a shell variable and a pipe
# from printf, a builtin: it is never in argv, a file or a log.
{{> _mesh}}
{{> _lib}}

secret=$(istioctl {{istio.remoteSecretCommand}} --context={{cluster.name}} --name={{cluster.name}} --server={{cluster.apiServer}})
{{#otherClusters}}
printf '%s\n' "$secret" | kubectl --context={{name}} apply -f - >&2
result remoteSecret.{{cluster.name}}.in.{{name}} applied
{{/otherClusters}}

{{> _header}}
# Seed 11: prints this cluster's admin kubeconfig. Its output is SECRET (a client key): labctl merges
# it on the host and never logs it.
{{> _lib}}

cat /etc/kubernetes/admin.conf

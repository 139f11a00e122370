{{> _header}}
# Prints a fresh join command on stdout. Its output is SECRET: labctl passes it to the worker on
# standard input and never logs it. The token lives 30 minutes (not kubeadm's default 24 h).
export KUBECONFIG=/etc/kubernetes/admin.conf
{{> _lib}}

kubeadm token create --ttl 30m --description "labctl join for {{cluster.name}}" --print-join-command

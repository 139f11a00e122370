# Mesh stages run on {{mesh.node}} (where the seed runs istioctl) with the merged kubeconfig;
# every kubectl and istioctl command names its context explicitly.
export KUBECONFIG="$HOME/{{mesh.kubeconfig}}"

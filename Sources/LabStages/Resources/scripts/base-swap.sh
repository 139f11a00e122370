{{> _header}}
{{> _lib}}

# kubelet refuses to start with swap on (failSwapOn defaults to true).
if [ -n "$(swapon --show --noheadings)" ]; then
  swapoff -a
  log "swap turned off"
fi
# Permanently: comment out every active swap entry in /etc/fstab (a backup stays next to it).
if awk '$1 !~ /^#/ && $3 == "swap" {found = 1} END {exit !found}' /etc/fstab; then
  sed -i.labctl-backup -E '/^[^#]/ { /[[:space:]]swap[[:space:]]/ s/^/#/ }' /etc/fstab
  log "swap entries in /etc/fstab commented out"
fi
swap_bytes=$(free -b | awk '/^Swap:/ {print $2}')
result swap.totalBytes "$swap_bytes"
if [ "$swap_bytes" != 0 ]; then
  die "swap is still on ($swap_bytes bytes)"
fi

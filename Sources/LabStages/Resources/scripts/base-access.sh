{{> _header}}
# Runs as the lab user (sudo may still ask for a password). labctl sends the sudo password
# as the line after this script on standard input: it never appears in argv or in a file.
LAB_USER={{lab.user}}
PUBLIC_KEY='{{lab.publicKey}}'
SUDOERS_FILE=/etc/sudoers.d/labctl-{{lab.user}}
{{> _lib}}

main() {
  local password="" rule
  IFS= read -r password || true

  # 2.2: the lab's public key, once, in authorized_keys.
  install -d -m 700 "$HOME/.ssh"
  touch "$HOME/.ssh/authorized_keys"
  chmod 600 "$HOME/.ssh/authorized_keys"
  if grep -qxF "$PUBLIC_KEY" "$HOME/.ssh/authorized_keys"; then
    result ssh.key present
  else
    printf '%s\n' "$PUBLIC_KEY" >> "$HOME/.ssh/authorized_keys"
    result ssh.key added
  fi

  # 2.3: NOPASSWD sudo as a drop-in checked by visudo (never an edit of /etc/sudoers itself).
  if sudo -n test -f "$SUDOERS_FILE" 2>/dev/null; then
    result sudo.nopasswd present
    return 0
  fi
  rule="$LAB_USER ALL=(ALL) NOPASSWD: ALL"
  # shellcheck disable=SC2016 # the inner script is single-quoted on purpose; it gets its values as arguments
  install_rule='
    set -euo pipefail
    tmp=$(mktemp)
    printf "%s\n" "$1" > "$tmp"
    visudo -cf "$tmp" >/dev/null
    install -m 0440 "$tmp" "$2"
    rm -f "$tmp"'
  if sudo -n true 2>/dev/null; then
    # Passwordless already (another rule): labctl's own drop-in still makes it independent of that rule.
    sudo -n bash -c "$install_rule" labctl-sudoers "$rule" "$SUDOERS_FILE"
  elif [ -z "$password" ]; then
    die "sudo needs the password of $LAB_USER once; run 'labctl base prepare' and type it when asked"
  else
    printf '%s\n' "$password" | sudo -S -p '' bash -c "$install_rule" labctl-sudoers "$rule" "$SUDOERS_FILE"
  fi
  sudo -n true || die "sudo still asks for a password after writing $SUDOERS_FILE"
  result sudo.nopasswd added
}

# The last line reads the secret input that follows the script on standard input.
main

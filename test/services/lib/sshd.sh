# shellcheck shell=bash
# OpenSSH sshd serving SFTP only, on 127.0.0.1:52222, own config/host keys under
# $FERRY_SERVICES_DIR/sshd. User `ferrysftp`, key-only, chrooted to sshd/sftp-root with a writable
# /upload. Sourced by up.sh/down.sh/status.sh after common.sh.
#
# About the chroot: sshd refuses a ChrootDirectory unless every component of its path is a root-owned
# directory that is not group/other-writable, and /tmp (the default state dir's parent) is 1777. So
# sshd_config names a root-owned symlink under /run/ferry-services that points at sshd/sftp-root
# (sshd checks the path it is given, following the symlink). That is safe here because the state dir
# itself is root-owned 0755 (ensure_state_dirs enforces it) and /tmp's sticky bit keeps others from
# renaming it.

SSHD_PORT=52222
SSHD_USER=ferrysftp

sshd_comm() { echo sshd; }
sshd_ports() { echo "$SSHD_PORT"; }
sshd_packages() { echo openssh-server openssh-client; }

sshd_base() { svc_dir sshd; }
sshd_cfg() { echo "$(sshd_base)/sshd_config"; }
sshd_root() { echo "$(sshd_base)/sftp-root"; }
sshd_known_hosts() { echo "$(sshd_base)/known_hosts"; }
sshd_client_key() { echo "$(sshd_base)/client_ed25519"; }
sshd_chroot_link() {
  local h
  h="$(printf '%s' "$FERRY_SERVICES_DIR" | md5sum | cut -c1-12)"
  echo "/run/ferry-services/sftp-root-$h"
}

sshd_install() {
  [[ -x /usr/sbin/sshd ]] || die_service sshd "/usr/sbin/sshd missing after installing openssh-server"
  command -v sftp >/dev/null || die_service sshd "sftp client missing after installing openssh-client"
  if ! id -u "$SSHD_USER" >/dev/null 2>&1; then
    say "sshd: creating OS user $SSHD_USER (no shell, no home, key-only SFTP)"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$SSHD_USER"
  fi
  # A '!' password field means "locked", and with UsePAM no sshd then refuses even key logins.
  # '*' = no password can match, but the account is not locked.
  local pw
  pw="$(getent shadow "$SSHD_USER" | cut -d: -f2)"
  if [[ "$pw" == '!'* || -z "$pw" ]]; then
    usermod -p '*' "$SSHD_USER"
  fi
}

sshd_sftp_batch() {
  sftp -F /dev/null -q -b - -P "$SSHD_PORT" -i "$(sshd_client_key)" \
    -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=3 \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$(sshd_known_hosts)" \
    -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR \
    "$SSHD_USER@127.0.0.1"
}

# The SSH banner answers.
sshd_ready() {
  timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SSHD_PORT && IFS= read -r -t 2 line <&3 && [[ \$line == SSH-2.0-* ]]"
}

# A real key login + SFTP listing of /upload, with host key checking.
sshd_healthy() {
  [[ -s "$(sshd_client_key)" ]] || return 1
  sshd_sftp_batch <<<'cd /upload' >/dev/null 2>&1
}

sshd_prepare() {
  local base root link
  base="$(sshd_base)"
  root="$(sshd_root)"
  link="$(sshd_chroot_link)"
  mkdir -p "$base"
  chown root:root "$base"
  chmod 755 "$base"

  # Host keys (ed25519 and rsa) and the test client key, generated once.
  [[ -s "$base/ssh_host_ed25519_key" ]] ||
    ssh-keygen -q -t ed25519 -N '' -C ferry-test-host -f "$base/ssh_host_ed25519_key" </dev/null
  [[ -s "$base/ssh_host_rsa_key" ]] ||
    ssh-keygen -q -t rsa -b 3072 -N '' -C ferry-test-host -f "$base/ssh_host_rsa_key" </dev/null
  [[ -s "$(sshd_client_key)" ]] ||
    ssh-keygen -q -t ed25519 -N '' -C ferry-test-client -f "$(sshd_client_key)" </dev/null
  chmod 600 "$base/ssh_host_ed25519_key" "$base/ssh_host_rsa_key" "$(sshd_client_key)"

  # known_hosts for [127.0.0.1]:52222 with both host keys.
  {
    awk -v h="[127.0.0.1]:$SSHD_PORT" '{print h, $1, $2}' "$base/ssh_host_ed25519_key.pub"
    awk -v h="[127.0.0.1]:$SSHD_PORT" '{print h, $1, $2}' "$base/ssh_host_rsa_key.pub"
  } >"$(sshd_known_hosts).tmp"
  mv -f "$(sshd_known_hosts).tmp" "$(sshd_known_hosts)"
  chmod 644 "$(sshd_known_hosts)"

  # authorized_keys for the test user: the client key only, no forwarding of any kind.
  printf 'restrict %s\n' "$(cat "$(sshd_client_key).pub")" >"$base/authorized_keys"
  chmod 644 "$base/authorized_keys"

  # Chroot: root-owned, not writable by others; upload/ belongs to the test user.
  install -d -o root -g root -m 755 "$root"
  install -d -o "$SSHD_USER" -g "$(id -gn "$SSHD_USER")" -m 755 "$root/upload"
  install -d -o root -g root -m 755 /run/ferry-services
  ln -sfn "$root" "$link"

  # Privilege-separation dir (normally made by the distro's unit file).
  install -d -o root -g root -m 755 /run/sshd

  cat >"$(sshd_cfg)" <<EOF
# Written by test/services/lib/sshd.sh on every start; edits are overwritten.
Port $SSHD_PORT
ListenAddress 127.0.0.1
AddressFamily inet
HostKey $base/ssh_host_ed25519_key
HostKey $base/ssh_host_rsa_key
PidFile none
UsePAM no
UseDNS no
PrintMotd no
PermitRootLogin no
AllowUsers $SSHD_USER
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthenticationMethods publickey
AuthorizedKeysFile $base/authorized_keys
# The key files live under /tmp (1777), which StrictModes would reject.
StrictModes no
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
PermitTunnel no
PermitTTY no
LoginGraceTime 30
MaxStartups 64:30:256
MaxSessions 64
Subsystem sftp internal-sftp
ChrootDirectory $link
ForceCommand internal-sftp
LogLevel INFO
EOF
  chmod 644 "$(sshd_cfg)"
  /usr/sbin/sshd -t -f "$(sshd_cfg)" >>"$(svc_log sshd)" 2>&1
}

sshd_spawn() {
  # -D: stay in the foreground (we track its pid); -e: log to stderr, i.e. the service log file.
  spawn_detached "$(svc_pidfile sshd)" "$(svc_log sshd)" /usr/sbin/sshd -D -e -f "$(sshd_cfg)"
}

sshd_provision() { :; }

sshd_stop() {
  stop_pid "$(svc_pidfile sshd)" sshd TERM 10
}

sshd_describe() {
  echo "127.0.0.1:$SSHD_PORT user=$SSHD_USER key=$(sshd_client_key) known_hosts=$(sshd_known_hosts) root=$(sshd_root)"
}

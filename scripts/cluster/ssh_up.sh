#!/usr/bin/env bash
# Start real sshd hosts on this machine, for the tests and for trying compute=ssh. Needs root.
#   - "localhost": sshd on 127.0.0.1:2222
#   - two network-namespace hosts, tkh1 (10.77.0.2) and tkh2 (10.77.0.3), each with its own sshd
#     on port 22, joined by a bridge tkbr0 (10.77.0.1) in the root namespace. Each host also has a
#     mount namespace of its own, so what a job needs there must really be shipped:
#       - a private /tmp;
#       - a home (/root) that is not this machine's: $STATE/home, shared by the two hosts as an
#         NFS home would be (only .cache and, when the .venv's base interpreter is under
#         /root, that installation are this machine's);
#       - this checkout hidden (an empty directory) but for its .venv, the hosts' interpreter,
#         whose editable install of trainkit then points nowhere: trainkit is not installed there.
# A client key and a known_hosts file are generated in $STATE; nothing in ~/.ssh is touched.
# All traffic stays on loopback and these namespaces. Idempotent. `ssh_up.sh down` removes it all.
set -euo pipefail
STATE=${TRAINKIT_SSH_STATE:-/var/lib/trainkit-ssh}
NS=(tkh1 tkh2)
ADDR=(10.77.0.2 10.77.0.3)

down() {
  for f in "$STATE"/sshd-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; rm -f "$f"; done
  rm -f "$STATE"/layout-*
  for i in 0 1; do ip netns del "${NS[$i]}" 2>/dev/null || true; rm -rf "/etc/netns/${NS[$i]}"; done
  ip link del tkbr0 2>/dev/null || true
}
if [ "${1:-}" = down ]; then down; echo "ssh hosts: down"; exit 0; fi

if ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ] || ! command -v rsync >/dev/null || ! command -v ip >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client rsync iproute2 procps >/dev/null
fi
mkdir -p "$STATE" /run/sshd && chmod 700 "$STATE"
[ -f "$STATE/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C trainkit-test -f "$STATE/id_ed25519"
[ -f "$STATE/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C trainkit-test-host -f "$STATE/host_ed25519"
cp "$STATE/id_ed25519.pub" "$STATE/authorized_keys"

sshd_config() {  # $1 listen address, $2 port, $3 name
  cat > "$STATE/sshd_$3.conf" <<CONF
ListenAddress $1
Port $2
HostKey $STATE/host_ed25519
AuthorizedKeysFile $STATE/authorized_keys
PidFile $STATE/sshd-$3.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
ClientAliveInterval 2
ClientAliveCountMax 3
MaxStartups 100
MaxSessions 100
LogLevel ERROR
CONF
  echo "$STATE/sshd_$3.conf"
}
running() { [ -f "$STATE/sshd-$1.pid" ] && kill -0 "$(cat "$STATE/sshd-$1.pid")" 2>/dev/null; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# The base interpreter of the checkout's .venv (e.g. /root/.pyenv/versions/3.11.7): kept on the hosts.
PYBASE=$(sed -n 's|^home = \(.*\)/bin$|\1|p' "$ROOT/.venv/pyvenv.cfg" 2>/dev/null || true)
LAYOUT="private-mounts-v2 $ROOT $PYBASE"      # what a host's mount namespace hides; another checkout restarts the hosts

# The body of a host: runs in its own mount namespace (unshare -m), then becomes its sshd.
host_mounts() {  # $1 sshd config
  cat <<SH
set -e
mount --make-rprivate /
mount -t tmpfs -o size=8g,mode=1777 tk-tmp /tmp
mkdir -p /tmp/.keep/venv /tmp/.keep/python /tmp/.keep/cache
[ -d '$ROOT/.venv' ] && mount --bind '$ROOT/.venv' /tmp/.keep/venv
case '$PYBASE' in /root/?*) mount --bind '$PYBASE' /tmp/.keep/python;; esac
[ -d /root/.cache ] && mount --bind /root/.cache /tmp/.keep/cache
mount --bind '$STATE/home' /root
case '$PYBASE' in /root/?*) mkdir -p '$PYBASE' && mount --bind /tmp/.keep/python '$PYBASE';; esac
mkdir -p /root/.cache && mount --bind /tmp/.keep/cache /root/.cache
mount -t tmpfs -o size=1m,mode=755 tk-hidden '$ROOT'
if [ -e /tmp/.keep/venv/bin ]; then mkdir '$ROOT/.venv' && mount --bind /tmp/.keep/venv '$ROOT/.venv'; fi
umount /tmp/.keep/venv /tmp/.keep/python /tmp/.keep/cache 2>/dev/null || true
rm -rf /tmp/.keep
exec /usr/sbin/sshd -f '$1'
SH
}

running lo || /usr/sbin/sshd -f "$(sshd_config 127.0.0.1 2222 lo)"

ip link show tkbr0 >/dev/null 2>&1 || { ip link add tkbr0 type bridge; ip addr add 10.77.0.1/24 dev tkbr0; }
ip link set tkbr0 up
for i in 0 1; do
  ns=${NS[$i]} addr=${ADDR[$i]}
  if ! ip netns list | grep -qw "$ns"; then
    ip netns add "$ns"
    ip link add "v-$ns" type veth peer name eth0 netns "$ns"
    ip link set "v-$ns" master tkbr0 up
    ip netns exec "$ns" ip addr add "$addr/24" dev eth0
    ip netns exec "$ns" ip link set lo up
  fi
  ip netns exec "$ns" ip link set eth0 up        # also brings back a link a test took down
  # Real hosts have their own name resolving to their own address (Horovod's Gloo resolves it);
  # these share this machine's name, so `ip netns exec` gets a hosts file of the namespace's own.
  mkdir -p "/etc/netns/$ns"
  hosts="127.0.0.1 localhost
$addr $(hostname) $(hostname -s)"
  if [ "$(cat "/etc/netns/$ns/hosts" 2>/dev/null)" != "$hosts" ]; then
    printf '%s\n' "$hosts" > "/etc/netns/$ns/hosts"
    [ -f "$STATE/sshd-$ns.pid" ] && kill "$(cat "$STATE/sshd-$ns.pid")" 2>/dev/null && sleep 0.5 || true
  fi
  if running "$ns" && [ "$(cat "$STATE/layout-$ns" 2>/dev/null)" != "$LAYOUT" ]; then
    kill "$(cat "$STATE/sshd-$ns.pid")" 2>/dev/null; sleep 0.5
  fi
  if ! running "$ns"; then
    mkdir -p "$STATE/home" && chmod 700 "$STATE/home"
    ip netns exec "$ns" unshare --mount sh -c "$(host_mounts "$(sshd_config "$addr" 22 "$ns")")"
    echo "$LAYOUT" > "$STATE/layout-$ns"
  fi
done

{ printf '[127.0.0.1]:2222 '; cut -d' ' -f1,2 "$STATE/host_ed25519.pub"
  for a in "${ADDR[@]}"; do printf '%s ' "$a"; cut -d' ' -f1,2 "$STATE/host_ed25519.pub"; done; } > "$STATE/known_hosts"
for target in "-p 2222 root@127.0.0.1" "root@${ADDR[0]}" "root@${ADDR[1]}"; do
  for _ in $(seq 50); do
    ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$STATE/known_hosts" \
        -o ConnectTimeout=3 -i "$STATE/id_ed25519" $target true 2>/dev/null && break
    sleep 0.2
  done
done
echo "ssh hosts: 127.0.0.1:2222, ${ADDR[*]} (key $STATE/id_ed25519, known_hosts $STATE/known_hosts)"

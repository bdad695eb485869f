#!/usr/bin/env bash
# Real FTPS servers standing in for the printers' storage (docs/ftps.md): one vsftpd per
# printer, as the printers run it, with implicit TLS (TLS 1.2, the certificate naming the
# serial from gen-certs.sh), user bblp with the LAN access code, passive mode, and the data
# channel required to resume the control channel's TLS session (require_ssl_reuse).
#
#   ftps.sh --dir DIR --root STORAGE --serials S1,S2,… --base-port P [--pasv-base Q]
#           [--access-code CODE] [--max-rate BYTES_PER_S] [--daemon]
#   ftps.sh --dir DIR --stop
#
#   --root STORAGE  serial S is served from STORAGE/S/ (printdeck-sim --storage-dir STORAGE
#                   writes each job's .gcode.3mf there)
#   --base-port P   serial i (0-based) on 127.0.0.1:P+i
#   --pasv-base Q   its passive data ports Q+10i … Q+10i+9 (default P+100)
#   --max-rate B    send at most B bytes/s per transfer (vsftpd local_max_rate): a printer's
#                   pace is 75-150 KB/s; default unlimited
#   --daemon        return once every server listens (exit 1 with the logs if one fails);
#                   without it, run until SIGTERM/SIGINT and stop them all then
# Certificates are made by gen-certs.sh in DIR (ca.crt is what printdeck should trust): the
# same DIR as scripts/broker.sh's gives both one CA. Needs root: vsftpd logs the local user
# bblp in through PAM (service printdeck-ftps, pam_unix); the user is created if missing and
# its password set to CODE. Everything binds to 127.0.0.1 only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() { sed -n '7,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
die() { echo "ftps.sh: $*" >&2; exit 2; }
port_ok() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }

dir="" root="" serials="" base="" pasv="" code=12345678 rate=0 daemon=0 stop=0
while [ $# -gt 0 ]; do
  case $1 in
    --daemon) daemon=1; shift; continue ;;
    --stop) stop=1; shift; continue ;;
    -h|--help) usage 0 ;;
  esac
  [ $# -ge 2 ] || die "$1 needs a value"
  case $1 in
    --dir) dir=$2 ;;
    --root) root=$2 ;;
    --serials) serials=$2 ;;
    --base-port) base=$2 ;;
    --pasv-base) pasv=$2 ;;
    --access-code) code=$2 ;;
    --max-rate) rate=$2 ;;
    *) die "unknown option $1" ;;
  esac
  shift 2
done
[ -n "$dir" ] || usage
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pids=$dir/vsftpd.pids

stop_all() {
  [ -s "$pids" ] || return 0
  local p
  while read -r p; do kill "$p" 2>/dev/null || true; done <"$pids"
  for _ in $(seq 100); do
    local alive=0
    while read -r p; do kill -0 "$p" 2>/dev/null && alive=1; done <"$pids"
    [ "$alive" = 0 ] && { rm -f "$pids"; return 0; }
    sleep 0.1
  done
  echo "ftps.sh: vsftpd did not stop: $(paste -sd' ' "$pids")" >&2
  return 1
}
if [ "$stop" = 1 ]; then
  [ -s "$pids" ] || die "no $pids"
  stop_all
  exit $?
fi

IFS=, read -r -a list <<<"$serials"
[ ${#list[@]} -gt 0 ] || die "--serials is required"
[ -n "$root" ] || die "--root is required"
port_ok "${base:-x}" && port_ok $((base + ${#list[@]} - 1)) || die "bad --base-port"
pasv=${pasv:-$((base + 100))}
port_ok "$pasv" && port_ok $((pasv + 10 * ${#list[@]})) || die "bad --pasv-base"
[[ $code =~ ^[^:[:space:]]+$ ]] || die "bad --access-code"
[[ $rate =~ ^[0-9]+$ ]] || die "bad --max-rate"
command -v vsftpd >/dev/null || [ -x /usr/sbin/vsftpd ] || die "vsftpd not installed (scripts/setup.sh)"
[ "$(id -u)" = 0 ] || die "needs root: vsftpd logs user bblp in through PAM"
if [ -s "$pids" ] && kill -0 "$(head -1 "$pids")" 2>/dev/null; then
  die "vsftpd already runs on $dir; stop it with --stop"
fi

"$here/gen-certs.sh" "$dir" "${list[@]}"

# The printers' one user: a system account without a shell; PAM checks its password. vsftpd
# enters the home before local_root, so it must exist: "/".
# tests start servers side by side: another instance may create the user or hold the shadow
# lock at the same moment
id bblp >/dev/null 2>&1 || useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin bblp \
  2>/dev/null || id bblp >/dev/null
[ "$(getent passwd bblp | cut -d: -f6)" = / ] || usermod --home / bblp
for try in 1 2 3 4 5 6 7 8 9 10; do
  echo "bblp:$code" | chpasswd 2>/dev/null && break
  [ "$try" = 10 ] && die "chpasswd failed for bblp"
  sleep 0.2
done
# nodelay: pam_unix's 2 s after a wrong password would outlast the tests' reply timeouts
# written aside and renamed: a server of another test may be reading it
printf '%s\n' '# written by printdeck scripts/ftps.sh' 'auth required pam_unix.so nodelay' \
  'account required pam_unix.so' >/etc/pam.d/.printdeck-ftps.$$
mv -f /etc/pam.d/.printdeck-ftps.$$ /etc/pam.d/printdeck-ftps
mkdir -p /var/run/vsftpd/empty

# bblp reads what the simulator (root) writes, through every directory above it
mkdir -p "$root"
root=$(cd "$root" && pwd)
d=$root
while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done

rm -f "$pids"
for i in "${!list[@]}"; do
  s=${list[$i]}
  mkdir -p "$root/$s"
  chmod 0755 "$root/$s"
  conf=$dir/vsftpd-$s.conf
  lo=$((pasv + 10 * i))
  cat >"$conf" <<EOF
# written by scripts/ftps.sh for printer $s
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$((base + i))
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=YES
allow_writeable_chroot=YES
local_root=$root/$s
local_max_rate=$rate
pam_service_name=printdeck-ftps
userlist_enable=NO
seccomp_sandbox=NO
use_localtime=NO
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=$lo
pasv_max_port=$((lo + 9))
ssl_enable=YES
implicit_ssl=YES
rsa_cert_file=$dir/$s.crt
rsa_private_key_file=$dir/$s.key
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=YES
ssl_ciphers=ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305
require_ssl_reuse=YES
force_local_logins_ssl=YES
force_local_data_ssl=YES
xferlog_enable=YES
xferlog_std_format=NO
log_ftp_protocol=YES
vsftpd_log_file=$dir/vsftpd-$s.log
EOF
  # vsftpd writes its "500 OOPS" to descriptor 0 (inetd's socket): give it the file there too
  setsid /usr/sbin/vsftpd "$conf" 0<>"$dir/vsftpd-$s.out" >&0 2>&0 &
  echo $! >>"$pids"
done

# vsftpd logs nothing until a client comes: ready is every port listening; a port that is
# taken makes it print "500 OOPS: could not bind listening IPv4 socket" and exit.
ready() {
  for i in "${!list[@]}"; do
    ss -Hltn "sport = :$((base + i))" | grep -q . || return 1
  done
}
failed() {
  local p
  while read -r p; do kill -0 "$p" 2>/dev/null || return 0; done <"$pids"
  return 1
}
for _ in $(seq 600); do
  if ready; then
    echo "ftps: listening (${#list[@]} printer(s) on 127.0.0.1:$base-$((base + ${#list[@]} - 1)), storage $root)" >&2
    if [ "$daemon" = 1 ]; then exit 0; fi
    trap 'stop_all; exit 0' TERM INT
    while ! failed; do sleep 1; done
    stop_all
    exit 1
  fi
  failed && break
  sleep 0.1
done
{
  echo "ftps.sh: vsftpd did not start:"
  for s in "${list[@]}"; do
    out=$(cat "$dir/vsftpd-$s.out" 2>/dev/null || true)
    # the harness retries on new ports when a bind failed
    grep -q "could not bind" <<<"$out" && out+=" (Address already in use)"
    [ -z "$out" ] || echo "$s: $out"
  done
} >&2
stop_all || true
exit 1

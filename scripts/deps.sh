#!/usr/bin/env bash
# scripts/deps.sh installs what the tests need and is safe to run repeatedly:
# the npm packages from package-lock.json, and Debian's chromium and
# redis-server. Browsers are never downloaded by playwright.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf 'deps: %s\n' "$*" >&2; }

# npm ci when node_modules is missing or older than package-lock.json. A
# node_modules that is a symbolic link (a git worktree sharing another
# checkout's packages) is left alone: npm ci would empty its target.
if [ -L node_modules ]; then
  log "node_modules is a link to $(readlink node_modules), not reinstalling"
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules ] || [ ! -f node_modules/.package-lock.json ]; then
  log "npm ci"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
  touch node_modules
fi

# apt packages: binary path -> package name
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); else
      log "need root to install ${missing[*]}"; exit 1
    fi
  else
    SUDO=()
  fi
  # one apt-get update per boot is enough
  stamp=/tmp/parley-apt-updated
  boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$boot_id" ]; then
    log "apt-get update"
    "${SUDO[@]}" apt-get update
    echo "$boot_id" > "$stamp"
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y "${missing[@]}"
  for bin in /usr/bin/chromium /usr/bin/redis-server; do
    [ -x "$bin" ] || { log "$bin still missing after apt-get install"; exit 1; }
  done
fi
log "ok"

#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (as root) to build, run and test bindery:
# system tools from Debian, npm dependencies from the lock file, the native shim and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real peers for the tests and the references for the benchmarks.
PKGS=(
  iproute2 iputils-ping nftables tcpdump tshark
  qemu-system-x86 busybox-static linux-image-amd64 kmod cpio
  iperf3 passt slirp4netns isc-dhcp-client ndisc6 dnsutils dnsmasq-base curl
  libvirt-clients libxml2-utils
  python3 make g++
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node-gyp builds the shim against the installed Node's own headers (no download).
if [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent

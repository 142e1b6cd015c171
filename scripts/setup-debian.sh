#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (as root) to build, run and test bindery:
# system tools from Debian, npm dependencies from the lock file, the native shim and the build.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

# Real peers for the tests and the references for the benchmarks.
PKGS=(
  iproute2 iputils-ping nftables tcpdump tshark
  qemu-system-x86 busybox-static linux-image-amd64 kmod cpio
  iperf3 sockperf apache2-utils passt slirp4netns isc-dhcp-client ndisc6 dnsutils dnsmasq-base curl
  libvirt-clients libxml2-utils
  python3-grpcio python3-protobuf protobuf-compiler
  containerd runc containernetworking-plugins
  buildah podman
  python3 make g++
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libvirt 11.3 from bookworm-backports: its virt-xml-validate and domain schema know passt as
# a vhost-user backend (libvirt >= 11.1), and its embedded QEMU driver (`virt-qemu-run`, in
# libvirt-daemon-driver-qemu) runs `<interface type='user'><backend type='passt'/>` domains,
# both of which Debian 12's libvirt 9.0 rejects (a Debian patch). No daemon is started: the
# tests run one domain each with `virt-qemu-run --root DIR`. The daemon packages depend on
# `systemd-container | sysvinit-core`; unpinned, apt takes systemd-container from backports and
# upgrades systemd itself (252 -> 254, checked with apt-get -s), so it is pinned to bookworm.
# Debian 12's QEMU 7.2 satisfies the driver's `qemu-system` dependency (it has `-netdev
# stream`, which the type='user' passt form needs); QEMU 10 for vhost-user is unpacked below.
BPO=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # The mirror this machine already uses for bookworm itself (deb822 stanzas or one-line form).
  mirror=$(awk '/^$/ { u = "" } /^URIs:/ { u = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm" && u != "") { print u; exit } }' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list \
      2>/dev/null || true)
  fi
  if [ -z "$mirror" ]; then
    echo "setup-debian: no apt source for bookworm found to add bookworm-backports beside" >&2
    exit 1
  fi
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
    "$mirror" /usr/share/keyrings/debian-archive-keyring.gpg >"$BPO"
  apt-get update -qq
fi
LIBVIRT_PKGS=(libvirt-clients libvirt-common libvirt0 libvirt-daemon-common libvirt-daemon-log
  libvirt-daemon-driver-qemu)
libvirt_missing=()
for p in "${LIBVIRT_PKGS[@]}"; do
  v=$(dpkg-query -W -f='${Status} ${Version}' "$p" 2>/dev/null || true)
  case "$v" in
    'install ok installed '*) dpkg --compare-versions "${v##* }" ge 11.1 || libvirt_missing+=("$p") ;;
    *) libvirt_missing+=("$p") ;;
  esac
done
if [ "${#libvirt_missing[@]}" -gt 0 ]; then
  # Pin only what is not there yet: naming an installed systemd-container again could ask apt
  # to downgrade it.
  pin=()
  dpkg-query -W -f='${Status}' systemd-container 2>/dev/null | grep -q 'install ok installed' ||
    pin=(systemd-container/bookworm)
  apt-get update -qq
  apt-get install -y -qq -t bookworm-backports --no-install-recommends \
    "${LIBVIRT_PKGS[@]}" "${pin[@]}" >/dev/null
fi

# QEMU 10.0 from bookworm-backports, side by side with Debian 12's 7.2 (which stays the QEMU of
# every other suite): Debian 12's 7.2 crashes on vhost-user under TCG, and 10.0 is what libvirt
# 11 and KubeVirt >= 1.8 pair with passt's vhost-user. Installed instead of 7.2 it would move
# every other QEMU suite and libvirt's qemu driver to a new QEMU at once; unpacked into a
# private prefix, its libraries all come from bookworm (checked with ldd below) and only the
# vhost-user tests use it, through the wrapper $Q10/bin/qemu-system-x86_64 (its own firmware
# and modules first). Every module QEMU 10 knows must be found in its own directory (the
# modules packages too): it falls back to Debian 12's module directory, and loading a 7.2
# module aborts QEMU 10 (libvirt's capability probe, qom-list-types, loads them all).
Q10=/opt/bindery/qemu-10
Q10_MODULES=$Q10/usr/lib/x86_64-linux-gnu/qemu
if [ ! -x "$Q10/bin/qemu-system-x86_64" ] || [ ! -e "$Q10_MODULES/ui-opengl.so" ]; then
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  (cd "$tmp" && apt-get download -qq -t bookworm-backports \
    qemu-system-x86 qemu-system-common qemu-system-data \
    qemu-system-modules-opengl qemu-system-modules-spice qemu-system-gui 2>/dev/null)
  rm -rf "$Q10" && mkdir -p "$Q10/bin"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$Q10"; done
  rm -rf "$tmp"
  if ldd "$Q10/usr/bin/qemu-system-x86_64" | grep -q 'not found'; then
    echo "setup-debian: QEMU 10 needs libraries bookworm lacks:" >&2
    ldd "$Q10/usr/bin/qemu-system-x86_64" | grep 'not found' >&2
    exit 1
  fi
  cat >"$Q10/bin/qemu-system-x86_64" <<EOF
#!/bin/sh
# QEMU 10 from bookworm-backports, unpacked beside Debian 12's QEMU (scripts/setup-debian.sh).
export QEMU_MODULE_DIR=$Q10_MODULES
exec $Q10/usr/bin/qemu-system-x86_64 -L $Q10/usr/share/qemu "\$@"
EOF
  chmod 755 "$Q10/bin/qemu-system-x86_64"
fi

# node-gyp builds the shim against the installed Node's own headers (no download).
if [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent

#!/usr/bin/env bash
# Builds bindery's container image offline with buildah from scratch: this machine's Node 20 and its C libraries, dist/, the production node_modules, the native shim, entry points.
#
# Usage: scripts/build-image.sh [--tag NAME] [--archive FILE] [--rootfs-only DIR]
#   --tag NAME         image name (default localhost/bindery:<package.json version>)
#   --archive FILE     also write the image as an OCI archive (to load where there is no registry)
#   --rootfs-only DIR  only prepare the root filesystem in DIR (for deploy/Containerfile)
# BUILDAH_GLOBAL_ARGS: options put before every buildah subcommand, e.g.
#   "--root /tmp/x/root --runroot /tmp/x/run --storage-driver vfs" to leave the host's storage alone.
# BINDERY_NODE: the Node binary to ship (default: node on PATH; must be Node 20).
#
# Layout (the same as deploy/Containerfile documents):
#   /opt/bindery/node            the Node binary
#   /opt/bindery/lib/            the C libraries it and the native shim link, with glibc's loader
#   /opt/bindery/app/            package.json, bin/, dist/, proto/, node_modules (production only,
#                                per package-lock.json), build/Release/bindery_native.node
#   /lib64/ld-linux-*.so.N, /lib/<triplet>  symlinks into /opt/bindery/lib, so node runs directly
#   /usr/local/bin/bindery, bindery-cni, passt  entry points (Node scripts; the image has no shell)
# /opt/bindery is self-contained: `bindery install-cni` copies it onto nodes (deploy/daemonset.yaml).
# Nothing is downloaded: node_modules must already be installed (npm ci) and the shim built.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(node -p "require('./package.json').version")
tag="localhost/bindery:$version"
archive=""
rootfs_only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --archive) archive="$2"; shift 2 ;;
    --rootfs-only) rootfs_only="$2"; shift 2 ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
read -r -a B <<<"${BUILDAH_GLOBAL_ARGS:-}"

node_bin=${BINDERY_NODE:-$(command -v node)}
node_bin=$(readlink -f "$node_bin")
major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
if [ "$major" != 20 ]; then
  echo "build-image: $node_bin is Node $major; the image ships Node 20" >&2
  exit 1
fi
native=build/Release/bindery_native.node
for need in node_modules "$native"; do
  if [ ! -e "$need" ]; then
    echo "build-image: $need is missing (run scripts/setup-debian.sh first; no network is used here)" >&2
    exit 1
  fi
done
[ -f dist/cli/main.js ] || npm run build --silent

stage=$(mktemp -d /tmp/bindery-image.XXXXXX)
cleanup() { rm -rf "$stage"; }
trap cleanup EXIT
rootfs=$stage/rootfs
rt=$rootfs/opt/bindery
mkdir -p "$rt/lib" "$rt/app/build/Release" "$rootfs/usr/local/bin" "$rootfs/tmp" \
  "$rootfs/var/run/kubevirt-hooks"
chmod 1777 "$rootfs/tmp"

# The app: what `npm pack` ships plus the shim and the production dependencies.
cp package.json "$rt/app/"
cp -R bin dist "$rt/app/"
[ -d proto ] && cp -R proto "$rt/app/"
cp "$native" "$rt/app/build/Release/"
# Production packages are the lock file's entries without "dev": each is copied without its
# nested node_modules, which are entries of their own (so a nested dev-only package stays out).
node - "$rt/app" <<'JS'
const fs = require('node:fs');
const path = require('node:path');
const dest = process.argv[2];
const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'));
let n = 0;
for (const [p, meta] of Object.entries(lock.packages ?? {})) {
  if (!p.startsWith('node_modules/') || meta.dev || meta.link) continue;
  if (!fs.existsSync(p)) {
    if (meta.optional || meta.devOptional) continue; // another platform's optional package
    throw new Error(`build-image: ${p} is in package-lock.json but not installed (run npm ci)`);
  }
  const skip = path.join(p, 'node_modules');
  fs.cpSync(p, path.join(dest, p), {
    recursive: true,
    verbatimSymlinks: true,
    filter: (src) => src !== skip && !src.startsWith(skip + path.sep),
  });
  n++;
}
console.error(`build-image: ${n} production packages`);
JS

# Node and the C libraries it (and every native addon shipped) links, with glibc's loader.
cp "$node_bin" "$rt/node"
loader=""
while read -r lib; do
  cp -L "$lib" "$rt/lib/$(basename "$lib")"
  case "$(basename "$lib")" in ld-linux*) loader=$lib ;; esac
done < <(
  find "$rt/node" "$rt/app" -type f \( -name node -o -name '*.node' \) -print0 |
    xargs -0 ldd 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\// && $i !~ /:$/) print $i }' | sort -u
)
if [ -z "$loader" ]; then
  echo "build-image: ldd named no dynamic loader for $node_bin" >&2
  exit 1
fi
# node's interpreter path and the loader's default search path point into /opt/bindery/lib.
libc_dir=$(dirname "$(ldd "$node_bin" | awk '$1 == "libc.so.6" { print $3 }')")
mkdir -p "$rootfs$(dirname "$loader")" "$rootfs$(dirname "$libc_dir")"
ln -s "/opt/bindery/lib/$(basename "$loader")" "$rootfs$loader"
ln -s /opt/bindery/lib "$rootfs$libc_dir"

# Entry points: Node scripts (CommonJS, outside any package) that load the app's bin/ modules.
for entry in "$rt"/app/bin/*.js; do
  name=$(basename "$entry" .js)
  printf '#!/opt/bindery/node\n// %s in bindery'"'"'s image: runs /opt/bindery/app/bin/%s.js.\nimport('"'"'/opt/bindery/app/bin/%s.js'"'"');\n' \
    "$name" "$name" "$name" >"$rootfs/usr/local/bin/$name"
done
# libvirt starts `passt` from PATH: this drop-in runs `bindery passt` with the same argv.
cat >"$rootfs/usr/local/bin/passt" <<'JS'
#!/opt/bindery/node
// passt in bindery's image: libvirt runs `passt` from PATH; this runs `bindery passt` with the same argv.
process.argv.splice(2, 0, 'passt');
import('/opt/bindery/app/bin/bindery.js');
JS
chmod 0755 "$rootfs"/usr/local/bin/* "$rt/node"
chmod -R a+rX "$rootfs/opt"

if [ -n "$rootfs_only" ]; then
  rm -rf "$rootfs_only"
  mkdir -p "$(dirname "$rootfs_only")"
  mv "$rootfs" "$rootfs_only"
  echo "build-image: root filesystem in $rootfs_only" >&2
  exit 0
fi

ctr=$(buildah "${B[@]}" from scratch)
trap 'buildah "${B[@]}" rm "$ctr" >/dev/null 2>&1 || true; cleanup' EXIT
buildah "${B[@]}" copy --quiet "$ctr" "$rootfs" / >/dev/null
buildah "${B[@]}" config \
  --entrypoint '["/usr/local/bin/bindery"]' --cmd '["sidecar"]' \
  --env PATH=/usr/local/bin --env NODE_ENV=production --workingdir / \
  --label org.opencontainers.image.title=bindery \
  --label "org.opencontainers.image.version=$version" \
  --label org.opencontainers.image.licenses=Apache-2.0 "$ctr"
buildah "${B[@]}" commit --quiet --rm "$ctr" "$tag" >/dev/null
trap cleanup EXIT
if [ -n "$archive" ]; then
  rm -f "$archive"
  buildah "${B[@]}" push --quiet "$tag" "oci-archive:$archive:$tag"
fi
echo "$tag"

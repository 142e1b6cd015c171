// The bundled guest image: Debian's kernel and an initramfs built from this machine's Debian packages, cached by kernel version and content hash.
//
// The initramfs holds busybox-static (every tool: sh, ip, udhcpc, httpd, wget, ping, base64,
// timeout), ISC dhclient with its libraries (DHCPv6), the virtio modules the guest needs (PCI,
// net, console for the agent port; IPv6 and AF_PACKET are built into Debian's kernel) and the
// scripts of scripts.ts. It is written once under the cache directory as
// `initrd-<kernel version>-<key>.cpio`, where the key hashes the scripts, the module list and the
// identity (size, mtime) of busybox and dhclient; a missing file is rebuilt, an existing one reused.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BinderyError, ErrorCode } from '../errors.js';
import {
  BUSYBOX_PATH,
  busyboxRoot,
  findGuestKernel,
  moduleEntries,
  moduleLoadOrder,
  moduleName,
  newcArchive,
  parseModulesDep,
  programWithLibraries,
} from './initramfs.js';
import type { CpioEntry, GuestKernel } from './initramfs.js';
import { DHCLIENT_PATH, guestScripts } from './scripts.js';

/** Where the guest image is cached unless told otherwise. */
export const DEFAULT_GUEST_CACHE_DIR = '/var/cache/bindery/guest';

/** The modules the bundled guest loads (with their modules.dep dependencies). */
export const GUEST_IMAGE_MODULES = ['virtio_pci', 'virtio_net', 'virtio_console'] as const;

/** Bumped when the image's layout changes in a way the hash would not see. */
const IMAGE_FORMAT = 1;

/** A built guest: the kernel to pass to `-kernel`, the initramfs for `-initrd`, the kernel version. */
export interface GuestImage {
  readonly kernel: string;
  readonly initrd: string;
  readonly version: string;
}

/** Size and mtime of a file, for the cache key; 'missing' when absent. */
function identity(path: string): string {
  try {
    const s = statSync(path);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/** The module files (relative to the modules directory) in load order. */
function moduleOrder(kernel: GuestKernel): string[] {
  const dep = parseModulesDep(readFileSync(`${kernel.modulesDir}/modules.dep`, 'utf8'));
  return moduleLoadOrder(dep, GUEST_IMAGE_MODULES);
}

/**
 * Builds the guest's initramfs (a newc archive).
 *
 * @param kernel - The kernel whose modules to take.
 * @throws BinderyError (Guest) when busybox-static or dhclient is missing or a module unreadable.
 */
export function buildGuestInitramfs(kernel: GuestKernel): Buffer {
  if (!existsSync(BUSYBOX_PATH))
    throw new BinderyError(ErrorCode.Guest, `${BUSYBOX_PATH} missing (install busybox-static)`);
  if (!existsSync(DHCLIENT_PATH))
    throw new BinderyError(ErrorCode.Guest, `${DHCLIENT_PATH} missing (install isc-dhcp-client)`);
  const order = moduleOrder(kernel);
  const mods = moduleEntries(kernel, order);
  const names = mods.names;
  const entries: CpioEntry[] = [
    ...busyboxRoot(['var', 'etc/bindery', 'www']),
    { type: 'symlink', path: 'var/run', target: '../run' },
    ...programWithLibraries(DHCLIENT_PATH),
    ...mods.entries,
  ];
  for (const s of guestScripts(names))
    entries.push({ type: 'file', path: s.path, data: Buffer.from(s.text), mode: s.mode });
  return newcArchive(entries);
}

/**
 * The cache key of the guest for `kernel`: a hash of everything that goes into the initramfs.
 *
 * @param kernel - The kernel.
 */
export function guestImageKey(kernel: GuestKernel): string {
  const names = moduleOrder(kernel).map((m) => `${moduleName(m)}.ko`);
  const h = createHash('sha256');
  h.update(JSON.stringify({ format: IMAGE_FORMAT, version: kernel.version, names }));
  for (const s of guestScripts(names)) h.update(`\0${s.path}\0${s.mode}\0${s.text}`);
  h.update(`\0${identity(BUSYBOX_PATH)}\0${identity(DHCLIENT_PATH)}`);
  return h.digest('hex').slice(0, 16);
}

/**
 * The bundled guest: Debian's newest amd64 kernel with modules and the initramfs for it, built
 * into `cacheDir` unless already there.
 *
 * @param opts - `cacheDir`: where the initramfs is cached (default /var/cache/bindery/guest).
 * @returns Paths of the kernel and the initramfs, and the kernel version.
 * @throws BinderyError (Guest) when there is no usable kernel or a package is missing.
 */
export async function guestImage(opts: { cacheDir?: string } = {}): Promise<GuestImage> {
  const kernel = findGuestKernel();
  if (kernel === undefined)
    throw new BinderyError(
      ErrorCode.Guest,
      'no /boot/vmlinuz-*-amd64 with modules under /lib/modules (install linux-image-amd64)',
    );
  const cacheDir = opts.cacheDir ?? DEFAULT_GUEST_CACHE_DIR;
  const initrd = join(cacheDir, `initrd-${kernel.version}-${guestImageKey(kernel)}.cpio`);
  if (!existsSync(initrd)) {
    const archive = buildGuestInitramfs(kernel);
    await mkdir(cacheDir, { recursive: true });
    // Write then rename: a concurrent or interrupted build never leaves a half file under the name.
    const tmp = `${initrd}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, archive);
      await rename(tmp, initrd);
    } catch (e) {
      await rm(tmp, { force: true });
      throw new BinderyError(ErrorCode.Guest, `cannot write the guest image ${initrd}`, {
        cause: e,
      });
    }
  }
  return { kernel: kernel.vmlinuz, initrd, version: kernel.version };
}

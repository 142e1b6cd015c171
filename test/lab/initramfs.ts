// Builds the QEMU test guest's initramfs (its init script and per-boot script archive) on the guest machinery of src/guest/initramfs.ts.
//
// The guest is Debian's kernel (/boot/vmlinuz-*-amd64) with an initramfs holding busybox-static
// as every tool and the virtio-net modules with their dependencies, loaded in dependency order.
// Nothing is downloaded. The cpio writer, kernel discovery and module resolution live in
// src/guest/initramfs.ts (the product guest uses them too) and are re-exported here. The base image is built once per process and kept in memory; each boot
// appends a second small cpio with its script (the kernel unpacks concatenated archives).
import { existsSync, readFileSync } from 'node:fs';
import { BinderyError, ErrorCode } from '../../src/errors.js';
import {
  BUSYBOX_PATH,
  busyboxRoot,
  moduleEntries,
  moduleLoadOrder,
  newcArchive,
  parseModulesDep,
} from '../../src/guest/initramfs.js';
import type { CpioEntry, GuestKernel } from '../../src/guest/initramfs.js';

export {
  BUSYBOX_PATH,
  findGuestKernel,
  moduleLoadOrder,
  moduleName,
  newcArchive,
  parseModulesDep,
  programWithLibraries,
} from '../../src/guest/initramfs.js';
export type { CpioEntry, GuestKernel, ModuleDep } from '../../src/guest/initramfs.js';

/** Printed on the console when the guest's network is up and the script is about to run. */
export const GUEST_READY_MARKER = 'BINDERY-GUEST-READY';
/** Printed with the script's exit code when it ends: `BINDERY-GUEST-EXIT=<code>`. */
export const GUEST_EXIT_MARKER = 'BINDERY-GUEST-EXIT=';
/** Printed when a module fails to load: `BINDERY-GUEST-INSMOD-FAILED <name>`. */
export const GUEST_INSMOD_FAILED_MARKER = 'BINDERY-GUEST-INSMOD-FAILED';
/** Where the test's script lives inside the guest. */
export const GUEST_SCRIPT_PATH = '/test.sh';

/** The modules the guest needs, by module name; their dependencies come from modules.dep. */
export const GUEST_MODULES = ['virtio_pci', 'virtio_net'] as const;

/**
 * The guest's /init: mount, load modules, bring up lo and eth0, print the ready marker, run the
 * test's script, print its exit code, power off.
 *
 * @param modules - Module file names under /lib/modules in the guest, in load order.
 * @returns The script text.
 */
export function initScript(modules: readonly string[]): string {
  return `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin /etc
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in ${modules.join(' ')}; do
  insmod /lib/modules/$m || echo "${GUEST_INSMOD_FAILED_MARKER} $m"
done
ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
ip link set eth0 up
echo "${GUEST_READY_MARKER}"
sh ${GUEST_SCRIPT_PATH}
echo "${GUEST_EXIT_MARKER}$?"
poweroff -f
`;
}

/**
 * Builds the base initramfs (everything but the test's script) from the host's busybox and kernel.
 *
 * @param kernel - The kernel whose modules to take.
 * @returns The newc archive.
 */
export function buildBaseInitramfs(kernel: GuestKernel): Buffer {
  if (!existsSync(BUSYBOX_PATH))
    throw new BinderyError(ErrorCode.Lab, `${BUSYBOX_PATH} missing (install busybox-static)`);
  const dep = parseModulesDep(readFileSync(`${kernel.modulesDir}/modules.dep`, 'utf8'));
  const order = moduleLoadOrder(dep, GUEST_MODULES);
  const { names, entries: modules } = moduleEntries(kernel, order);
  const entries: CpioEntry[] = [...busyboxRoot(), ...modules];
  entries.push({ type: 'file', path: 'init', data: Buffer.from(initScript(names)), mode: 0o755 });
  return newcArchive(entries);
}

/**
 * The per-boot part: a newc archive holding only the test's script, to append to the base.
 *
 * @param script - Shell script text run by /init.
 * @returns The archive.
 */
export function scriptArchive(script: string): Buffer {
  return newcArchive([
    { type: 'file', path: GUEST_SCRIPT_PATH, data: Buffer.from(script), mode: 0o755 },
  ]);
}

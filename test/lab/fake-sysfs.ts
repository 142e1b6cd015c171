// A fabricated sysfs and /dev for SR-IOV/vDPA code (PCI devices, drivers, IOMMU groups, char nodes) and a fake kernel that rebinds drivers as the real one does.
//
// The fabricated sysfs has the attributes the kernel has, but nothing happens when they are
// written; FakeKernel (inotify watches on `drivers_probe` and the drivers' bind/unbind files)
// plays the kernel's part and moves a device's `driver` symlink the way the real PCI core does.
// The code under test writes exactly the files it writes on a real host and re-reads `driver`.
// The watches see writes from any process, so a `bindery` child process works against it too.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  unlinkSync,
  watch,
  writeFileSync,
  type FSWatcher,
} from 'node:fs';
import { basename, join } from 'node:path';
import { BinderyError, ErrorCode } from '../../src/errors.js';

/** One PCI function of the fabricated host. */
export interface FakeVf {
  readonly addr: string;
  /** The driver it is bound to; none: unbound. */
  readonly driver?: string;
  /** Its IOMMU group (a `/dev/vfio/<group>` node is made as `groupNode` says); none: no group. */
  readonly group?: string;
}

/** What {@link fakeHost} builds. */
export interface FakeHostOptions {
  /** Drivers under `bus/pci/drivers` (each with bind/unbind). */
  readonly drivers: readonly string[];
  readonly vfs: readonly FakeVf[];
  /** What each VF's `/dev/vfio/<group>` is: a character device (default), a file, nothing. */
  readonly groupNode?: 'char' | 'file' | 'none';
  /** vhost-vdpa character devices to make under /dev (`vhost-vdpa-3`). */
  readonly vdpa?: readonly string[];
}

/** A fabricated host: its sysfs and /dev roots, and what a VF looks like now. */
export interface FakeHost {
  readonly sysfs: string;
  readonly dev: string;
  readonly roots: { readonly sysfsRoot: string; readonly devRoot: string };
  /** The VF's driver (the `driver` symlink's name), undefined when unbound. */
  driverOf(addr: string): string | undefined;
  /** The VF's `driver_override` as written. */
  override(addr: string): string;
}

function link(p: string): string {
  return basename(readlinkSync(p));
}

/**
 * A real character device node (major 1, minor 3: the same device as /dev/null; needs root).
 * @param path - where to make it
 */
export function mknodChar(path: string): void {
  const r = spawnSync('mknod', [path, 'c', '1', '3'], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new BinderyError(ErrorCode.Lab, `mknod ${path}: ${r.stderr || String(r.error)}`);
}

/**
 * Builds `<root>/sys` (drivers, VFs with their driver and IOMMU group links) and `<root>/dev`.
 * @param root - an empty or missing directory (a lab temp dir)
 * @param opts - drivers, VFs, the group nodes, vDPA nodes
 * @returns the host
 */
export function fakeHost(root: string, opts: FakeHostOptions): FakeHost {
  const sysfs = join(root, 'sys');
  const dev = join(root, 'dev');
  mkdirSync(join(sysfs, 'bus/pci/devices'), { recursive: true });
  mkdirSync(join(dev, 'vfio'), { recursive: true });
  writeFileSync(join(sysfs, 'bus/pci/drivers_probe'), '');
  for (const d of opts.drivers) {
    mkdirSync(join(sysfs, 'bus/pci/drivers', d), { recursive: true });
    writeFileSync(join(sysfs, 'bus/pci/drivers', d, 'bind'), '');
    writeFileSync(join(sysfs, 'bus/pci/drivers', d, 'unbind'), '');
  }
  for (const vf of opts.vfs) {
    const d = join(sysfs, 'bus/pci/devices', vf.addr);
    mkdirSync(d);
    writeFileSync(join(d, 'driver_override'), '');
    if (vf.driver) symlinkSync(join(sysfs, 'bus/pci/drivers', vf.driver), join(d, 'driver'));
    if (vf.group) {
      const g = join(sysfs, 'kernel/iommu_groups', vf.group);
      mkdirSync(g, { recursive: true });
      symlinkSync(g, join(d, 'iommu_group'));
      const node = join(dev, 'vfio', vf.group);
      if ((opts.groupNode ?? 'char') === 'char') mknodChar(node);
      else if (opts.groupNode === 'file') writeFileSync(node, '');
    }
  }
  for (const v of opts.vdpa ?? []) mknodChar(join(dev, v));
  const devDir = (a: string): string => join(sysfs, 'bus/pci/devices', a);
  return {
    sysfs,
    dev,
    roots: { sysfsRoot: sysfs, devRoot: dev },
    driverOf: (a) =>
      existsSync(join(devDir(a), 'driver')) ? link(join(devDir(a), 'driver')) : undefined,
    override: (a) => readFileSync(join(devDir(a), 'driver_override'), 'utf8'),
  };
}

/**
 * Plays the kernel's PCI core for a fabricated sysfs: `drivers_probe` binds a device to its
 * driver_override (when that driver exists), `drivers/<d>/unbind` drops a device bound to d,
 * `drivers/<d>/bind` binds it to d. Writes arrive as inotify events. Call {@link stop} when
 * done (a lab's `defer`, or an afterEach).
 */
export class FakeKernel {
  private readonly watchers: FSWatcher[] = [];
  /** What it did, in order (a write can show up as two events: truncate, write). */
  readonly log: string[] = [];
  constructor(private readonly sysfs: string) {
    const drivers = join(sysfs, 'bus/pci/drivers');
    this.on(join(sysfs, 'bus/pci/drivers_probe'), (addr) => {
      const o = readFileSync(join(this.dev(addr), 'driver_override'), 'utf8').trim();
      if (o !== '' && existsSync(join(drivers, o))) this.bindTo(addr, o);
      this.log.push(`probe ${addr}`);
    });
    for (const d of existsSync(drivers) ? readdirSync(drivers) : []) {
      this.on(join(drivers, d, 'unbind'), (addr) => {
        const l = join(this.dev(addr), 'driver');
        if (existsSync(l) && link(l) === d) unlinkSync(l);
        this.log.push(`unbind ${d} ${addr}`);
      });
      this.on(join(drivers, d, 'bind'), (addr) => {
        this.bindTo(addr, d);
        this.log.push(`bind ${d} ${addr}`);
      });
    }
  }
  private dev(addr: string): string {
    return join(this.sysfs, 'bus/pci/devices', addr);
  }
  private bindTo(addr: string, d: string): void {
    const l = join(this.dev(addr), 'driver');
    if (existsSync(l)) unlinkSync(l);
    symlinkSync(join(this.sysfs, 'bus/pci/drivers', d), l);
  }
  private on(file: string, act: (addr: string) => void): void {
    this.watchers.push(
      watch(file, () => {
        const addr = readFileSync(file, 'utf8').trim();
        if (addr === '' || !existsSync(this.dev(addr))) return; // mid-write (truncated) or unknown
        act(addr);
      }),
    );
  }
  /** Closes the watches. */
  stop(): void {
    for (const w of this.watchers) w.close();
  }
}

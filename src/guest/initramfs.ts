// Initramfs machinery for the bundled guest: a newc cpio writer, Debian kernel discovery, module load order from modules.dep, module decompression, a program with its libraries.
//
// The guest is Debian's kernel (/boot/vmlinuz-*-amd64) with an initramfs built from files already
// on this machine: busybox-static as every tool, kernel modules (loaded in modules.dep order,
// decompressed because busybox insmod takes plain .ko) and dynamically linked programs with the
// libraries `ldd` names. Nothing is downloaded. src/guest/image.ts assembles the product guest;
// test/lab/initramfs.ts the test guest.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { BinderyError, ErrorCode } from '../errors.js';

/** One entry of a newc archive. */
export type CpioEntry =
  | { readonly type: 'dir'; readonly path: string; readonly mode?: number }
  | {
      readonly type: 'file';
      readonly path: string;
      readonly data: Uint8Array;
      readonly mode?: number;
    }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string }
  | {
      readonly type: 'chardev';
      readonly path: string;
      readonly major: number;
      readonly minor: number;
      readonly mode?: number;
    };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/**
 * Writes a cpio archive in the "newc" format (what `cpio -o -H newc` writes and the kernel's
 * initramfs unpacker reads): per entry a 110-byte ASCII header, the NUL-terminated name and the
 * data, each padded to 4 bytes; a `TRAILER!!!` entry ends it. Owner root, mtime 0.
 *
 * @param entries - Entries in order (a directory before what it contains); paths without a leading '/'.
 * @returns The archive.
 */
export function newcArchive(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const put = (
    name: string,
    mode: number,
    data: Uint8Array,
    rdevMajor = 0,
    rdevMinor = 0,
  ): void => {
    const nameBytes = Buffer.from(name + '\0', 'utf8');
    const fields = [
      ino++,
      mode,
      0, // uid
      0, // gid
      (mode & 0o170000) === S_IFDIR ? 2 : 1, // nlink
      0, // mtime
      data.length,
      0, // devmajor
      0, // devminor
      rdevMajor,
      rdevMinor,
      nameBytes.length,
      0, // check (only for the "crc" format)
    ];
    const header = '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
    parts.push(Buffer.from(header, 'ascii'), nameBytes, Buffer.alloc(pad4(110 + nameBytes.length)));
    if (data.length > 0)
      parts.push(
        Buffer.from(data.buffer, data.byteOffset, data.length),
        Buffer.alloc(pad4(data.length)),
      );
  };
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, '');
    switch (e.type) {
      case 'dir':
        put(path, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(0));
        break;
      case 'file':
        put(path, S_IFREG | (e.mode ?? 0o644), e.data);
        break;
      case 'symlink':
        put(path, S_IFLNK | 0o777, Buffer.from(e.target, 'utf8'));
        break;
      case 'chardev':
        put(path, S_IFCHR | (e.mode ?? 0o600), new Uint8Array(0), e.major, e.minor);
        break;
    }
  }
  ino = 0;
  put('TRAILER!!!', 0, new Uint8Array(0));
  return Buffer.concat(parts);
}

/** A module file and the modules it needs (paths relative to /lib/modules/<version>). */
export interface ModuleDep {
  readonly path: string;
  readonly deps: readonly string[];
}

/** The module name of a path: basename without .ko[.xz|.zst|.gz], '-' read as '_'. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/**
 * Parses modules.dep (`kernel/a.ko: kernel/b.ko kernel/c.ko` per line).
 *
 * @param text - The file's content.
 * @returns Module name → its file and direct dependencies (as paths).
 */
export function parseModulesDep(text: string): Map<string, ModuleDep> {
  const map = new Map<string, ModuleDep>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter((d) => d !== '');
    map.set(moduleName(path), { path, deps });
  }
  return map;
}

/**
 * The module files to load for `wanted`, dependencies first (a topological order), each once.
 *
 * @param dep - Parsed modules.dep.
 * @param wanted - Module names.
 * @returns Paths relative to the modules directory, in insmod order.
 * @throws BinderyError (Guest) for a module modules.dep does not know (e.g. built in: not needed,
 *   but then it must not be asked for) or a dependency cycle.
 */
export function moduleLoadOrder(
  dep: ReadonlyMap<string, ModuleDep>,
  wanted: readonly string[],
): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, from: string): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting')
      throw new BinderyError(ErrorCode.Guest, `module dependency cycle at ${name}`);
    const m = dep.get(name);
    if (m === undefined)
      throw new BinderyError(
        ErrorCode.Guest,
        `module ${name} (needed by ${from}) not in modules.dep`,
      );
    state.set(name, 'visiting');
    for (const d of m.deps) visit(moduleName(d), name);
    state.set(name, 'done');
    order.push(m.path);
  };
  for (const w of wanted) visit(w.replace(/-/g, '_'), 'the guest');
  return order;
}

/** The kernel the guest boots and its modules directory. */
export interface GuestKernel {
  readonly version: string;
  readonly vmlinuz: string;
  readonly modulesDir: string;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isNaN(nx) || Number.isNaN(ny) ? x.localeCompare(y) : nx - ny;
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * Finds Debian's newest amd64 kernel that has its modules installed.
 *
 * @returns The kernel, or undefined when there is none.
 */
export function findGuestKernel(): GuestKernel | undefined {
  let names: string[];
  try {
    names = readdirSync('/boot');
  } catch {
    return undefined;
  }
  const versions = names
    .map((n) => /^vmlinuz-(.+-amd64)$/.exec(n)?.[1])
    .filter((v): v is string => v !== undefined && existsSync(`/lib/modules/${v}/modules.dep`))
    .sort(compareVersions);
  const version = versions.at(-1);
  if (version === undefined) return undefined;
  return { version, vmlinuz: `/boot/vmlinuz-${version}`, modulesDir: `/lib/modules/${version}` };
}

/** The busybox the guest uses for everything (Debian's busybox-static). */
export const BUSYBOX_PATH = '/bin/busybox';

/** Reads a module file, decompressing .xz/.zst/.gz ones (busybox insmod takes plain .ko). */
export function readModule(path: string): Buffer {
  if (path.endsWith('.ko')) return readFileSync(path);
  const tool = path.endsWith('.xz')
    ? 'xz'
    : path.endsWith('.zst')
      ? 'zstd'
      : path.endsWith('.gz')
        ? 'gzip'
        : undefined;
  if (tool === undefined)
    throw new BinderyError(ErrorCode.Guest, `unknown module compression: ${path}`);
  try {
    return execFileSync(tool, ['-dc', path], { maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    throw new BinderyError(ErrorCode.Guest, `cannot decompress ${path} with ${tool}`, { cause: e });
  }
}

/**
 * A host program and the shared libraries `ldd` says it loads, as entries for the guest's
 * initramfs at the same paths (e.g. `/usr/bin/iperf3` with libiperf, libc, libcrypto and the
 * dynamic loader). Used for the bundled guest's dhclient and
 * by tests (`bootGuest(…, { extraFiles })`).
 *
 * @param path - Absolute path of the program on the host.
 * @returns Directories first, then the files (symlinks resolved to their content).
 * @throws BinderyError (Guest) when the program or ldd is missing.
 */
export function programWithLibraries(path: string): CpioEntry[] {
  if (!existsSync(path)) throw new BinderyError(ErrorCode.Guest, `${path} missing`);
  let out: string;
  try {
    out = execFileSync('ldd', [path], { encoding: 'utf8' });
  } catch (e) {
    throw new BinderyError(ErrorCode.Guest, `ldd ${path} failed`, { cause: e });
  }
  const files = [path];
  for (const line of out.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m !== null && !files.includes(m[1]!)) files.push(m[1]!);
  }
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.replace(/^\/+/, '').split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [
    ...[...dirs].sort().map((d): CpioEntry => ({ type: 'dir', path: d })),
    ...files.map((f): CpioEntry => ({
      type: 'file',
      path: f.replace(/^\/+/, ''),
      data: readFileSync(f),
      mode: 0o755,
    })),
  ];
}

/** The directories every bindery guest's root has. */
const ROOT_DIRS = [
  'bin',
  'sbin',
  'usr',
  'usr/bin',
  'usr/sbin',
  'dev',
  'proc',
  'sys',
  'tmp',
  'run',
  'etc',
  'lib',
  'lib/modules',
  'root',
] as const;

/**
 * The busybox root of a guest: the standard directories plus `extraDirs`, /dev/console,
 * busybox-static and /bin/sh.
 *
 * @param extraDirs - More directories (after the standard ones).
 * @returns The entries, in archive order.
 */
export function busyboxRoot(extraDirs: readonly string[] = []): CpioEntry[] {
  return [
    ...[...ROOT_DIRS, ...extraDirs].map((path): CpioEntry => ({ type: 'dir', path })),
    { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'bin/busybox', data: readFileSync(BUSYBOX_PATH), mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
  ];
}

/**
 * The kernel modules in load order as /lib/modules/NAME.ko files (decompressed).
 *
 * @param kernel - The kernel whose modules to take.
 * @param order - Module paths relative to its modules dir, in load order.
 * @returns The file names (for insmod) and the entries.
 */
export function moduleEntries(
  kernel: GuestKernel,
  order: readonly string[],
): { names: string[]; entries: CpioEntry[] } {
  const names = order.map((rel) => `${moduleName(rel)}.ko`);
  const entries = order.map((rel, i): CpioEntry => ({
    type: 'file',
    path: `lib/modules/${names[i]!}`,
    data: readModule(`${kernel.modulesDir}/${rel}`),
  }));
  return { names, entries };
}

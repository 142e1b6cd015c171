// Runs a libvirt domain for integration tests: completes a network-only domain into a bootable one and runs it with libvirt 11.3's `virt-qemu-run`, bindery's passt drop-in first on PATH.
//
//   const dir = await prepareGuestDir(lab);
//   const xml = bootableDomain(renderMinimalDomain(plan), await guestBootFiles(dir, script));
//   const dom = await runDomain(lab, podNs, xml, dir);
//   await dom.waitForConsole(/BINDERY-GUEST-EXIT=0/);
//   await dom.stop();
//
// Theory of operation. `virt-qemu-run --root DIR dom.xml` (libvirt-daemon-driver-qemu) is the
// embedded QEMU driver: no libvirtd, all state under DIR, one domain, exits on SIGTERM after
// destroying it. It is run inside the pod's network namespace (`ip netns exec`), so the passt
// libvirt starts for `<interface type='user'><backend type='passt'/>` runs there too, as it
// does in virt-launcher. libvirt looks `passt` up in PATH when it starts the domain, so putting
// scripts/passt-dropin first on PATH makes it run `bindery passt` with libvirt's own argv; the
// drop-in records that argv (BINDERY_PASST_ARGV_LOG). DIR/etc/qemu.conf is the one the facts
// found working here (facts-peers.md): QEMU and passt run as libvirt-qemu:kvm, no security
// driver, no mount namespace, no ownership changes, so whatever they write (console, passt's
// log and PID file) goes to a directory that user owns.
//
// The guest's console is a `<serial type='file'>`; the guest is the test guest of qemu.ts
// (Debian's kernel, the busybox initramfs of initramfs.ts) booted directly (`<kernel>`,
// `<initrd>`, `<cmdline>`), TCG (`<domain type='qemu'>`), no disks. ACPI is switched on so the
// guest's `poweroff -f` ends QEMU (without it libvirt passes -no-acpi and the guest only halts).
// virt-qemu-run 11.3 does not exit by itself when the guest powers off: `stop()` sends it
// SIGTERM. Teardown kills virt-qemu-run, then QEMU and the bindery passt libvirt started (by the
// PIDs in their pid files, checked against /proc/<pid>/cmdline), also when the test fails.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create } from 'xmlbuilder2';
import { BinderyError, ErrorCode } from '../../src/errors.js';
import { buildBaseInitramfs, findGuestKernel, scriptArchive } from './initramfs.js';
import { HOST } from './lab.js';
import type { Lab, LabProcess, Netns } from './lab.js';
import { track, untrack } from './registry.js';
import type { LabResource } from './registry.js';
import { waitFor } from './wait.js';

/** The directory holding bindery's `passt` drop-in (put first on PATH for libvirt). */
export const PASST_DROPIN_DIR = fileURLToPath(
  new URL('../../scripts/passt-dropin', import.meta.url),
);

/** The user and group QEMU and passt run as (qemu.conf below). */
export const QEMU_USER = 'libvirt-qemu';
export const QEMU_GROUP = 'kvm';

/** `<root>/etc/qemu.conf` for virt-qemu-run on these machines (facts-peers.md). */
export const QEMU_CONF = `user = "${QEMU_USER}"
group = "${QEMU_GROUP}"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = []
stdio_handler = "file"
`;

/**
 * Why libvirt domains cannot run here, or undefined when they can.
 * Use with qemuSkipReason() and labSkipReason().
 */
export function virtQemuRunSkipReason(): string | undefined {
  const path = (process.env.PATH ?? '').split(':');
  const has = (bin: string): boolean => path.some((d) => existsSync(`${d}/${bin}`));
  if (!has('virt-qemu-run'))
    return 'virt-qemu-run is not installed (libvirt-daemon-driver-qemu from bookworm-backports)';
  if (!has('virt-xml-validate')) return 'virt-xml-validate is not installed (libvirt-clients)';
  return undefined;
}

/** What `bootableDomain` adds to a domain. */
export interface GuestBoot {
  /** The kernel image (`<os><kernel>`). */
  readonly kernel: string;
  /** The initramfs (`<os><initrd>`). */
  readonly initrd: string;
  /** The kernel command line (`<os><cmdline>`). */
  readonly cmdline: string;
  /** The file QEMU writes the serial console to. */
  readonly consoleLog: string;
  /** Guest memory in MiB (replaces the domain's); default 256. */
  readonly memMib?: number;
  /**
   * Where passt backends log: each `<backend type='passt'>`'s `logFile` becomes
   * `<dir>/passt-<alias>.log` (KubeVirt's /var/run/kubevirt exists in virt-launcher, not here).
   * Omitted: logFile stays as it is.
   */
  readonly passtLogDir?: string;
}

type Builder = ReturnType<typeof create>;

/** The element children of `parent` named `name`. */
function children(parent: Builder, name: string): Builder[] {
  const out: Builder[] = [];
  parent.each(
    (c) => {
      if (c.node.nodeName === name) out.push(c);
    },
    false,
    false,
  );
  return out;
}

/** The first child named `name`, created at the end when absent. */
function child(parent: Builder, name: string): Builder {
  return children(parent, name)[0] ?? parent.ele(name);
}

/**
 * Completes a domain (bindery's `renderMinimalDomain`, or later a hook sidecar's
 * OnDefineDomain output) into one virt-qemu-run boots here: TCG (`type='qemu'`), direct kernel
 * boot of the test guest, ACPI on (so poweroff ends QEMU), destroy on poweroff/reboot/crash,
 * the serial console to a file, the guest's memory size, no disks (KubeVirt's disk sources do
 * not exist here). Network devices are left exactly as given, except passt's `logFile`
 * (see `GuestBoot.passtLogDir`).
 *
 * @param domainXml - The domain XML.
 * @param boot - Kernel, initramfs, command line, console file.
 * @returns The completed domain XML.
 * @throws BinderyError (Input) when the XML's root is not `<domain>`.
 */
export function bootableDomain(domainXml: string, boot: GuestBoot): string {
  const doc = create(domainXml);
  const dom = doc.root();
  if (dom.node.nodeName !== 'domain')
    throw new BinderyError(ErrorCode.Input, `not a libvirt domain: <${dom.node.nodeName}>`);
  dom.att('type', 'qemu');
  for (const n of ['memory', 'currentMemory']) for (const e of children(dom, n)) e.remove();
  dom.ele('memory', { unit: 'MiB' }).txt(String(boot.memMib ?? 256));
  if (children(dom, 'vcpu').length === 0) dom.ele('vcpu').txt('1');

  const os = child(dom, 'os');
  for (const n of ['kernel', 'initrd', 'cmdline', 'boot', 'loader', 'nvram'])
    for (const e of children(os, n)) e.remove();
  os.ele('kernel').txt(boot.kernel);
  os.ele('initrd').txt(boot.initrd);
  os.ele('cmdline').txt(boot.cmdline);

  const features = child(dom, 'features');
  if (children(features, 'acpi').length === 0) features.ele('acpi');
  for (const n of ['on_poweroff', 'on_reboot', 'on_crash']) {
    for (const e of children(dom, n)) e.remove();
    dom.ele(n).txt('destroy');
  }

  const devices = child(dom, 'devices');
  for (const n of ['disk', 'serial', 'console']) for (const e of children(devices, n)) e.remove();
  const serial = devices.ele('serial', { type: 'file' });
  serial.ele('source', { path: boot.consoleLog });
  serial.ele('target', { port: '0' });
  const con = devices.ele('console', { type: 'file' });
  con.ele('source', { path: boot.consoleLog });
  con.ele('target', { type: 'serial', port: '0' });

  if (boot.passtLogDir !== undefined) {
    for (const iface of children(devices, 'interface')) {
      const alias = children(iface, 'alias')[0]?.node as {
        getAttribute?(n: string): string | null;
      };
      const name = alias?.getAttribute?.('name') ?? 'net';
      for (const b of children(iface, 'backend')) {
        const be = b.node as unknown as { getAttribute(n: string): string | null };
        if (be.getAttribute('type') === 'passt' && be.getAttribute('logFile') !== null)
          b.att('logFile', join(boot.passtLogDir, `passt-${name}.log`));
      }
    }
  }
  return doc.end({ prettyPrint: true, indent: '  ' }) + '\n';
}

/**
 * Writes the test guest's initramfs (base image plus `script`) to `dir` and returns what
 * `bootableDomain` needs to boot it, the console going to `<dir>/console.log`.
 *
 * @param dir - A directory QEMU's user can read and write.
 * @param script - The guest's test script (initramfs.ts: run after eth0 is up).
 * @returns Kernel, initramfs, command line, console file, passt log dir.
 */
export async function guestBootFiles(dir: string, script: string): Promise<GuestBoot> {
  const kernel = findGuestKernel();
  if (kernel === undefined)
    throw new BinderyError(ErrorCode.Lab, 'no /boot/vmlinuz-*-amd64 with modules');
  const initrd = join(dir, 'initrd.cpio');
  await writeFile(initrd, Buffer.concat([buildBaseInitramfs(kernel), scriptArchive(script)]));
  await chmod(initrd, 0o644);
  return {
    kernel: kernel.vmlinuz,
    initrd,
    cmdline: 'console=ttyS0 panic=-1 quiet',
    consoleLog: join(dir, 'console.log'),
    passtLogDir: dir,
  };
}

/**
 * Validates domain XML with libvirt's `virt-xml-validate FILE domain`.
 *
 * @param lab - The lab (for its temp dir and processes).
 * @param xml - The domain XML.
 * @returns The validator's output.
 * @throws BinderyError (Lab) quoting the validator when the domain is invalid.
 */
export async function validateDomain(lab: Lab, xml: string): Promise<string> {
  const dir = await lab.tmpDir();
  const file = join(dir, 'domain.xml');
  await writeFile(file, xml);
  const r = await lab.exec(HOST, ['virt-xml-validate', file, 'domain'], { timeoutMs: 30_000 });
  if (r.code !== 0)
    throw new BinderyError(
      ErrorCode.Lab,
      `virt-xml-validate rejects the domain:\n${r.stderr}${r.stdout}\n${xml}`,
    );
  return r.stdout + r.stderr;
}

/** One start of the passt drop-in, as it recorded it. */
export interface PasstStart {
  readonly uid: number;
  readonly argv: readonly string[];
}

/**
 * Parses the drop-in's argv log: `uid=N argv: 'a' 'b' …` per line, quotes as sh's.
 *
 * @param text - The log's content.
 * @returns One entry per start.
 */
export function parsePasstArgvLog(text: string): PasstStart[] {
  const out: PasstStart[] = [];
  for (const line of text.split('\n')) {
    const m = /^uid=(\d+) argv:(.*)$/.exec(line);
    if (m === null) continue;
    const argv: string[] = [];
    for (const a of m[2]!.matchAll(/ '((?:[^']|'\\'')*)'/g))
      argv.push(a[1]!.replace(/'\\''/g, "'"));
    out.push({ uid: Number(m[1]), argv });
  }
  return out;
}

/** A domain running under virt-qemu-run. */
export interface RunningDomain {
  /** The virt-qemu-run process. */
  readonly process: LabProcess;
  /** virt-qemu-run's --root. */
  readonly root: string;
  /** The directory the guest's files, console and passt logs are in. */
  readonly dir: string;
  /** The serial console so far. */
  console(): string;
  /** What the passt drop-in recorded so far. */
  passtStarts(): PasstStart[];
  /**
   * Waits until the console matches `re`; fails early when virt-qemu-run exits.
   *
   * @returns The match.
   */
  waitForConsole(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Waits until QEMU has exited (its pid file is gone and the process too). */
  waitForQemuExit(timeoutMs?: number): Promise<void>;
  /** Stops virt-qemu-run (SIGTERM: it destroys the domain), then kills what is left. */
  stop(): Promise<void>;
}

/** Reads a pid file; undefined when missing or malformed. */
function readPid(file: string): number | undefined {
  try {
    const t = readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(t) ? Number(t) : undefined;
  } catch {
    return undefined;
  }
}

/** True when `pid` runs and its command line matches `re` (not a reused PID). */
function runs(pid: number, re: RegExp): boolean {
  try {
    return re.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
  } catch {
    return false;
  }
}

function killIf(pid: number, re: RegExp): void {
  if (!runs(pid, re)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}

/** The pid files of what libvirt started under `root`: QEMU's and passt's. */
function daemonPids(root: string): Array<{ pid: number; re: RegExp; file: string }> {
  const out: Array<{ pid: number; re: RegExp; file: string }> = [];
  const run = join(root, 'run', 'qemu');
  const scan = (dir: string, re: RegExp): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      if (!n.endsWith('.pid') || n === 'driver.pid') continue;
      const pid = readPid(join(dir, n));
      if (pid !== undefined) out.push({ pid, re, file: join(dir, n) });
    }
  };
  scan(run, /qemu-system/);
  scan(join(run, 'passt'), /passt/);
  return out;
}

/**
 * libvirt runs the drop-in (and through it bin/bindery.js, dist/, node_modules/) as QEMU_USER,
 * so every directory above the checkout must let others pass through. A checkout under a
 * private directory (mktemp's 0700) does not: add the search bit (o+x, never read) to those
 * directories for the test and put the old mode back at teardown.
 * @param lab - the lab whose teardown restores the modes
 * @param dir - a directory inside the checkout
 */
async function reachableForQemuUser(lab: Lab, dir: string): Promise<void> {
  for (let d = dirname(dir); ; d = dirname(d)) {
    const mode = statSync(d).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      await chmod(d, mode | 0o001);
      lab.defer(() => chmod(d, mode));
    }
    if (d === '/') break;
  }
}

/**
 * Runs `xml` with `virt-qemu-run` inside `ns`, bindery's passt drop-in first on PATH.
 * Everything lives in a fresh lab temp dir: `root/` (virt-qemu-run's state, with qemu.conf)
 * and the domain file; the guest's files (initramfs, console, passt's log, the drop-in's argv
 * log) are in `guestDir` (see `prepareGuestDir`).
 *
 * @param lab - The lab; teardown kills virt-qemu-run, QEMU and passt.
 * @param ns - The pod's namespace.
 * @param xml - The bootable domain (`bootableDomain`).
 * @param guestDir - The directory from `prepareGuestDir`.
 * @returns The running domain, once virt-qemu-run has started (the guest may not be up yet).
 */
export async function runDomain(
  lab: Lab,
  ns: Netns,
  xml: string,
  guestDir: string,
): Promise<RunningDomain> {
  await reachableForQemuUser(lab, PASST_DROPIN_DIR);
  const base = await lab.tmpDir();
  await chmod(base, 0o755);
  const root = join(base, 'root');
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc', 'qemu.conf'), QEMU_CONF);
  const xmlFile = join(base, 'domain.xml');
  await writeFile(xmlFile, xml);
  const argvLog = join(guestDir, 'passt-argv.log');
  const consoleLog = join(guestDir, 'console.log');

  // Killers for what libvirt daemonizes (QEMU, passt): not in virt-qemu-run's process group.
  const killers = new Map<string, LabResource>();
  const seen: Array<{ pid: number; re: RegExp }> = [];
  const trackDaemons = (): void => {
    for (const d of daemonPids(root)) {
      const key = `${d.file}:${d.pid}`;
      if (killers.has(key) || seen.some((x) => x.pid === d.pid)) continue;
      seen.push(d);
      killers.set(
        key,
        track({ kind: 'close', label: `${d.file} (${d.pid})`, close: () => killIf(d.pid, d.re) }),
      );
    }
  };
  const killDaemons = (): void => {
    trackDaemons();
    for (const r of killers.values()) {
      untrack(r);
      if (r.kind === 'close') r.close();
    }
  };

  const proc = lab.spawn(ns, ['virt-qemu-run', '--verbose', '--root', root, xmlFile], {
    env: {
      PATH: `${PASST_DROPIN_DIR}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      BINDERY_PASST_ARGV_LOG: argvLog,
      BINDERY_NODE: process.execPath,
    },
    label: 'virt-qemu-run',
  });
  const stop = async (): Promise<void> => {
    trackDaemons();
    if (proc.exitStatus === undefined) await proc.kill('SIGTERM', 15_000);
    killDaemons();
  };
  lab.defer(stop);

  const read = (f: string): string => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  const context = (): string =>
    `virt-qemu-run:\n${proc.output.slice(-3000)}\nconsole:\n${read(consoleLog).slice(-3000)}`;
  return {
    process: proc,
    root,
    dir: guestDir,
    console: () => read(consoleLog),
    passtStarts: () => parsePasstArgvLog(read(argvLog)),
    async waitForConsole(re, timeoutMs = 120_000) {
      let m: RegExpExecArray | null = null;
      await waitFor(
        () => {
          trackDaemons();
          m = re.exec(read(consoleLog));
          if (m === null && proc.exitStatus !== undefined)
            throw new BinderyError(
              ErrorCode.Lab,
              `virt-qemu-run exited before ${re}\n${context()}`,
            );
          return m !== null;
        },
        timeoutMs,
        () => `${re} on the console\n${context()}`,
        100,
      );
      return m!;
    },
    async waitForQemuExit(timeoutMs = 30_000) {
      await waitFor(
        () => {
          trackDaemons();
          return !seen.some((d) => d.re.source.includes('qemu') && runs(d.pid, d.re));
        },
        timeoutMs,
        () => `QEMU to exit\n${context()}`,
        100,
      );
    },
    stop,
  };
}

/**
 * Makes the directory the guest's files go in: owned by QEMU's user (it writes the console and
 * passt's log there), readable by it (the initramfs).
 *
 * @param lab - The lab (the directory is one of its temp dirs).
 * @returns The directory.
 */
export async function prepareGuestDir(lab: Lab): Promise<string> {
  const base = await lab.tmpDir();
  await chmod(base, 0o755);
  const dir = join(base, 'guest');
  await mkdir(dir);
  await lab.run(HOST, ['chown', `${QEMU_USER}:${QEMU_GROUP}`, dir]);
  await chmod(dir, 0o775);
  return dir;
}

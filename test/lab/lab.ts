// The integration-test lab: network namespaces, veths, taps, processes and temp dirs that always go away.
//
// Usage (every namespace/VM suite):
//
//   test('guest reaches the gateway', async (t) => {
//     const lab = await Lab.create(t);              // teardown registered with t.after
//     const ns = await lab.namespace('pod');        // bdy-<runId>-pod1, lo up
//     await lab.veth('host', ns, { addrsA: ['10.9.0.1/24'], addrsB: ['10.9.0.2/24'] });
//     const srv = lab.spawn(ns, ['busybox', 'nc', '-l', '-p', '8080']);
//     const { code, stdout } = await lab.exec(ns, ['ip', 'addr'], { timeoutMs: 5000 });
//   });
//
// Names. Namespaces are `bdy-<runId>-<tag><n>`, runId from BINDERY_RUN_ID (set by
// scripts/run-tests.mjs; 'dev' otherwise), so the driver can find leftovers of its run. Temp
// dirs are `<tmpdir>/bindery-lab-<runId>-XXXXXX`. Interface names are derived from the pid and
// a counter to stay unique across concurrent test processes within 15 characters.
//
// Teardown. Always: at the end of the test (t.after, which node:test also runs on failure and
// timeout), and through the process-wide registry (registry.ts) on exit, SIGINT and SIGTERM.
// It is idempotent; a resource created after teardown began is released at once and the call
// throws, so a test body still running after its timeout cannot leak.
//
// Network safety. Whatever a test starts with `lab.spawn('host', …)` must listen only on
// loopback or on addresses inside namespaces the test created; sysctls of the root namespace
// cannot be changed through the lab.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { BinderyError, ErrorCode } from '../../src/errors.js';
import type { TapDevice } from '../../src/native/index.js';
import { execCommand, spawnProcess } from './proc.js';
import type { ExecOptions, ExecResult, LabProcess, SpawnOptions } from './proc.js';
import { isTracked, releaseSync, track } from './registry.js';
import type { LabResource } from './registry.js';

export type { ExecOptions, ExecResult, LabProcess, SpawnOptions } from './proc.js';

/** The root network namespace, where the test process runs. */
export const HOST = 'host';

/** A namespace name made by `lab.namespace`, or `'host'` for the root namespace. */
export type Netns = string;

/** The run id shared by everything one test run creates (BINDERY_RUN_ID, default 'dev'). */
export const runId: string = process.env.BINDERY_RUN_ID ?? 'dev';

/** Prefix of every namespace of this run. */
export const NETNS_PREFIX = `bdy-${runId}-`;
/** Prefix of every lab temp dir of this run (under os.tmpdir()). */
export const TMPDIR_PREFIX = `bindery-lab-${runId}-`;

/** Options of `lab.veth`. */
export interface VethOptions {
  /** Addresses (CIDR) for the A end; IPv6 ones are added with `nodad`. */
  readonly addrsA?: readonly string[];
  /** Addresses (CIDR) for the B end. */
  readonly addrsB?: readonly string[];
  /** MTU of both ends. */
  readonly mtu?: number;
  /** Interface name of the A end (≤ 15 chars); default a unique one. */
  readonly nameA?: string;
  /** Interface name of the B end (≤ 15 chars); default a unique one. */
  readonly nameB?: string;
}

/** A veth pair: which end lives where. */
export interface VethPair {
  readonly nsA: Netns;
  readonly nameA: string;
  readonly nsB: Netns;
  readonly nameB: string;
}

/** Options of `lab.tap`. */
export interface TapOptions {
  /** Interface name; default a unique one. */
  readonly name?: string;
  /** Addresses (CIDR) to configure; IPv6 ones are added with `nodad`. */
  readonly addrs?: readonly string[];
  /** MTU of the tap. */
  readonly mtu?: number;
  /** Bring the link up (default true). */
  readonly up?: boolean;
}

let nsCounter = 0;
let ifCounter = 0;
const PID36 = process.pid.toString(36);

/**
 * A fresh interface name, unique among concurrent test processes: `<prefix><pid36><n36>`.
 *
 * @param prefix - One or two letters saying what it is (e.g. 'v' for veth, 't' for tap).
 * @returns A name of at most 15 characters (the kernel's IFNAMSIZ - 1).
 */
export function uniqueIfName(prefix: string): string {
  const name = `${prefix}${PID36}${(++ifCounter).toString(36)}`;
  if (name.length > 15) throw new BinderyError(ErrorCode.Lab, `interface name too long: ${name}`);
  return name;
}

/**
 * Why lab namespaces, veths and taps cannot be made here (not root), or undefined when they can.
 * Use as `test('…', { skip: labSkipReason() }, …)` on tests that make them; a test that only
 * runs host processes in temp dirs needs no root and no skip.
 */
export function labSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'the lab needs root (network namespaces)';
  return undefined;
}

function needRoot(): void {
  const why = labSkipReason();
  if (why !== undefined) throw new BinderyError(ErrorCode.Lab, why);
}

/** The integration-test host: creates network objects and processes, and removes them all. */
export class Lab {
  private readonly resources: LabResource[] = [];
  private readonly processes = new Set<LabProcess>();
  private readonly deferred: Array<() => unknown> = [];
  private tearing: Promise<void> | undefined;

  private constructor(
    /** The run id in every name this lab makes. */
    readonly runId: string,
  ) {}

  /**
   * Creates a lab, registering its teardown with the test.
   *
   * Host processes and temp dirs need no root; namespaces, veths and taps do (they throw
   * BinderyError (Lab) with {@link labSkipReason}'s reason otherwise).
   *
   * @param t - The test context (`t.after(() => lab.teardown())`); omit to tear down yourself.
   * @returns The lab.
   */
  static async create(t?: Pick<TestContext, 'after'>): Promise<Lab> {
    const lab = new Lab(runId);
    t?.after(() => lab.teardown());
    return lab;
  }

  /** True once teardown has begun; nothing can be created any more. */
  get tornDown(): boolean {
    return this.tearing !== undefined;
  }

  /**
   * Creates a network namespace `bdy-<runId>-<tag><n>` with lo up.
   *
   * @param tag - Short lowercase word saying what it is for ('pod', 'guest', 'peer').
   * @returns The namespace name.
   */
  async namespace(tag = 'ns'): Promise<Netns> {
    this.assertOpen();
    needRoot();
    if (!/^[a-z][a-z0-9]{0,15}$/.test(tag)) {
      throw new BinderyError(ErrorCode.Lab, `namespace tag must match [a-z][a-z0-9]*: ${tag}`);
    }
    for (let attempt = 0; attempt < 100; attempt++) {
      const name = `${NETNS_PREFIX}${tag}${++nsCounter}`;
      // `ip netns add` creates /run/netns/<name> with O_EXCL: a taken name fails, atomically.
      const r = await execCommand(['ip', 'netns', 'add', name], { timeoutMs: 10_000 });
      if (r.code !== 0) {
        if (/File exists/.test(r.stderr)) continue;
        throw new BinderyError(ErrorCode.Lab, `ip netns add ${name}: ${r.stderr.trim()}`);
      }
      this.own({ kind: 'netns', name });
      await this.ip(name, ['link', 'set', 'lo', 'up']);
      return name;
    }
    throw new BinderyError(ErrorCode.Lab, `no free namespace name for tag ${tag}`);
  }

  /**
   * Creates a veth pair between two namespaces (either may be 'host'), sets MTU and
   * addresses, and brings both ends up.
   *
   * @param nsA - Namespace of the A end, or 'host'.
   * @param nsB - Namespace of the B end, or 'host'.
   * @param opts - Addresses, MTU, names.
   * @returns Where each end is and its name.
   */
  async veth(nsA: Netns, nsB: Netns, opts: VethOptions = {}): Promise<VethPair> {
    this.assertOpen();
    needRoot();
    const base = uniqueIfName('v');
    const nameA = opts.nameA ?? `${base}a`;
    const nameB = opts.nameB ?? `${base}b`;
    for (const n of [nameA, nameB]) {
      if (n.length > 15) throw new BinderyError(ErrorCode.Lab, `interface name too long: ${n}`);
    }
    const where = (ns: Netns): string[] => (ns === HOST ? [] : ['netns', ns]);
    await this.ip(HOST, [
      'link',
      'add',
      'name',
      nameA,
      ...where(nsA),
      'type',
      'veth',
      'peer',
      'name',
      nameB,
      ...where(nsB),
    ]);
    if (nsA === HOST) this.own({ kind: 'hostlink', name: nameA });
    if (nsB === HOST) this.own({ kind: 'hostlink', name: nameB });
    for (const [ns, name, addrs] of [
      [nsA, nameA, opts.addrsA],
      [nsB, nameB, opts.addrsB],
    ] as const) {
      if (opts.mtu !== undefined) await this.ip(ns, ['link', 'set', name, 'mtu', String(opts.mtu)]);
      await this.addAddrs(ns, name, addrs ?? []);
      await this.ip(ns, ['link', 'set', name, 'up']);
    }
    return { nsA, nameA, nsB, nameB };
  }

  /**
   * Opens a tap inside `ns` through the native shim (src/native), configures it, and closes
   * it at teardown. Frames the namespace's kernel sends on it arrive through `onFrames`.
   *
   * @param ns - The namespace (not 'host').
   * @param opts - Name, addresses, MTU, up.
   * @returns The open tap device.
   * @throws BinderyError (NativeUnavailable) when the shim is not built.
   */
  async tap(ns: Netns, opts: TapOptions = {}): Promise<TapDevice> {
    this.assertOpen();
    if (ns === HOST) throw new BinderyError(ErrorCode.Lab, 'lab taps live in lab namespaces');
    needRoot();
    const native = await import('../../src/native/index.js');
    const dev = native.openTap({
      netns: ns,
      name: opts.name ?? uniqueIfName('t'),
      ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
      up: false,
    });
    this.own({ kind: 'close', label: `tap ${dev.name} in ${ns}`, close: () => dev.close() });
    await this.addAddrs(ns, dev.name, opts.addrs ?? []);
    if (opts.up ?? true) await this.ip(ns, ['link', 'set', dev.name, 'up']);
    return dev;
  }

  /**
   * Runs a command in a namespace (`ip netns exec`) or on the host, to completion.
   *
   * @param ns - Namespace or 'host'.
   * @param argv - Program and arguments.
   * @param opts - Deadline (default 30 s; the process group is killed at it), stdin input, env.
   * @returns Exit status, stdout and stderr (a non-zero exit is not an error here).
   * @throws BinderyError (Timeout) at the deadline.
   */
  async exec(ns: Netns, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.assertOpen();
    return execCommand(this.inNetns(ns, argv), {
      ...opts,
      onSpawn: (p) => this.adopt(p),
    });
  }

  /**
   * Like `exec`, but a non-zero exit is an error.
   *
   * @returns The command's stdout.
   * @throws BinderyError (Lab) on a non-zero exit, quoting stderr.
   */
  async run(ns: Netns, argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(ns, argv, opts);
    if (r.code !== 0) {
      const where = ns === HOST ? '' : ` (in ${ns})`;
      throw new BinderyError(
        ErrorCode.Lab,
        `${argv.join(' ')}${where} failed (${r.signal ?? `exit ${r.code}`}): ${r.stderr.trim() || r.stdout.trim()}`,
      );
    }
    return r.stdout;
  }

  /**
   * Runs `ip` in a namespace (`ip -n <ns> …`) or on the host; a failure throws.
   *
   * @param ns - Namespace or 'host'.
   * @param args - Arguments after `ip`.
   * @returns stdout.
   */
  ip(ns: Netns, args: readonly string[]): Promise<string> {
    return this.run(HOST, ['ip', ...(ns === HOST ? [] : ['-n', ns]), ...args], {
      timeoutMs: 10_000,
    });
  }

  /**
   * Starts a long-running process in a namespace or on the host; killed at teardown.
   * On the host, anything it listens on must be loopback or inside the test's namespaces.
   *
   * @param ns - Namespace or 'host'.
   * @param argv - Program and arguments.
   * @param opts - Environment, stdin pipe, label.
   * @returns The process handle (`waitForOutput`, `kill`, captured output).
   */
  spawn(ns: Netns, argv: readonly string[], opts: SpawnOptions = {}): LabProcess {
    this.assertOpen();
    const where = ns === HOST ? '' : `[${ns}] `;
    const p = spawnProcess(this.inNetns(ns, argv), {
      ...opts,
      label: opts.label ?? `${where}${argv.join(' ')}`,
    });
    this.adopt(p);
    return p;
  }

  /**
   * Creates a temp dir `<tmpdir>/bindery-lab-<runId>-XXXXXX`, removed at teardown.
   *
   * @returns Its path.
   */
  async tmpDir(): Promise<string> {
    this.assertOpen();
    const path = await mkdtemp(join(tmpdir(), TMPDIR_PREFIX));
    this.own({ kind: 'dir', path });
    return path;
  }

  /**
   * Sets a sysctl inside a lab namespace (the root namespace's are not the lab's to change).
   *
   * @param ns - A lab namespace.
   * @param key - Dotted or slashed key, e.g. 'net.ipv6.conf.all.forwarding'.
   * @param value - The value to write.
   */
  async sysctl(ns: Netns, key: string, value: string | number): Promise<void> {
    if (ns === HOST) {
      throw new BinderyError(ErrorCode.Lab, `refusing to change ${key} in the root namespace`);
    }
    await this.run(ns, ['sysctl', '-q', '-w', `${key}=${value}`], { timeoutMs: 10_000 });
  }

  /**
   * Registers extra cleanup (e.g. `() => link.close()`), run first at teardown, last in first out.
   *
   * @param fn - Cleanup; may be async; its errors are reported by teardown.
   */
  defer(fn: () => unknown): void {
    this.assertOpen();
    this.deferred.push(fn);
  }

  /**
   * Removes everything the lab made: deferred cleanups, processes (SIGTERM, then SIGKILL),
   * native handles, namespaces, host links, temp dirs. Idempotent.
   *
   * @throws BinderyError (Lab) listing what could not be removed.
   */
  teardown(): Promise<void> {
    this.tearing ??= this.doTeardown();
    return this.tearing;
  }

  private async doTeardown(): Promise<void> {
    const errors: string[] = [];
    for (const fn of this.deferred.splice(0).reverse()) {
      try {
        await fn();
      } catch (e) {
        errors.push(`deferred cleanup: ${(e as Error).message}`);
      }
    }
    await Promise.all([...this.processes].map((p) => p.kill('SIGTERM', 1000)));
    const order: LabResource['kind'][] = ['close', 'netns', 'hostlink', 'dir'];
    for (const kind of order) {
      for (const r of [...this.resources].reverse()) {
        if (r.kind !== kind || !isTracked(r)) continue;
        const err = releaseSync(r);
        if (err !== undefined) errors.push(err);
      }
    }
    if (errors.length > 0) {
      throw new BinderyError(ErrorCode.Lab, `lab teardown: ${errors.join('; ')}`);
    }
  }

  private async addAddrs(ns: Netns, dev: string, addrs: readonly string[]): Promise<void> {
    for (const a of addrs) {
      await this.ip(ns, ['addr', 'add', a, 'dev', dev, ...(a.includes(':') ? ['nodad'] : [])]);
    }
  }

  private inNetns(ns: Netns, argv: readonly string[]): string[] {
    return ns === HOST ? [...argv] : ['ip', 'netns', 'exec', ns, ...argv];
  }

  private own(r: LabResource): void {
    track(r);
    if (this.tornDown) {
      releaseSync(r);
      throw new BinderyError(ErrorCode.Lab, `lab already torn down; released ${r.kind} at once`);
    }
    this.resources.push(r);
  }

  private adopt(p: LabProcess): void {
    if (this.tornDown) {
      void p.kill('SIGKILL', 0);
      throw new BinderyError(ErrorCode.Lab, `lab already torn down; killed ${p.label}`);
    }
    this.processes.add(p);
    void p.exited.then(() => this.processes.delete(p));
  }

  private assertOpen(): void {
    if (this.tornDown) throw new BinderyError(ErrorCode.Lab, 'lab already torn down');
  }
}

// Process-wide record of everything the lab created, so it is removed even on exit, SIGINT or SIGTERM.
//
// Every lab resource (process group, namespace, host-side link, temp dir, native handle) is
// tracked here from the moment it exists until it is released. Labs release their own
// resources asynchronously at teardown; whatever is still tracked when the process exits or
// is told to stop is released synchronously by `releaseAllSync()` (kill, `ip netns del`,
// rm -r), the only kind of work allowed in an 'exit' handler.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

/** One thing to undo. */
export type LabResource =
  /** A process group (the child was spawned detached, so its pid is the group id). */
  | { readonly kind: 'process'; readonly pid: number; readonly label: string }
  /** A named network namespace (/run/netns/<name>). */
  | { readonly kind: 'netns'; readonly name: string }
  /** A link in the root namespace (e.g. the host end of a veth). */
  | { readonly kind: 'hostlink'; readonly name: string }
  /** A temporary directory, removed recursively. */
  | { readonly kind: 'dir'; readonly path: string }
  /** Anything else with a synchronous close (e.g. a native tap handle). */
  | { readonly kind: 'close'; readonly label: string; readonly close: () => void };

const live = new Set<LabResource>();
let installed = false;

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => releaseAllSync());
  for (const [sig, num] of Object.entries(SIGNALS)) {
    process.once(sig as NodeJS.Signals, () => {
      releaseAllSync();
      process.exit(128 + num);
    });
  }
}

/**
 * Starts tracking a resource (and installs the exit and signal handlers, once per process).
 *
 * @param r - The resource, which must already exist.
 * @returns The same resource, to pass to `untrack`/`releaseSync` later.
 */
export function track<R extends LabResource>(r: R): R {
  install();
  live.add(r);
  return r;
}

/**
 * Stops tracking a resource that is gone (or was released by its owner).
 *
 * @param r - A tracked resource.
 */
export function untrack(r: LabResource): void {
  live.delete(r);
}

/** True when `r` is still tracked (not yet released). */
export function isTracked(r: LabResource): boolean {
  return live.has(r);
}

/**
 * Releases one resource synchronously and stops tracking it; never throws.
 *
 * @param r - The resource.
 * @returns An error message when the release failed, undefined when it worked.
 */
export function releaseSync(r: LabResource): string | undefined {
  live.delete(r);
  try {
    switch (r.kind) {
      case 'process':
        try {
          process.kill(-r.pid, 'SIGKILL');
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
        }
        return undefined;
      case 'netns': {
        const res = spawnSync('ip', ['netns', 'del', r.name], { encoding: 'utf8' });
        if (res.status === 0 || /No such file/.test(res.stderr)) return undefined;
        return `ip netns del ${r.name}: ${res.stderr.trim() || `exit ${res.status}`}`;
      }
      case 'hostlink':
        // Usually gone already with its peer's namespace; then this fails harmlessly.
        spawnSync('ip', ['link', 'del', r.name], { stdio: 'ignore' });
        return undefined;
      case 'dir':
        rmSync(r.path, { recursive: true, force: true });
        return undefined;
      case 'close':
        r.close();
        return undefined;
    }
  } catch (e) {
    return `${r.kind}: ${(e as Error).message}`;
  }
}

/** Releases everything still tracked: processes first, then handles, namespaces, links, dirs. */
export function releaseAllSync(): void {
  const order: LabResource['kind'][] = ['process', 'close', 'netns', 'hostlink', 'dir'];
  for (const kind of order) {
    for (const r of [...live].reverse()) if (r.kind === kind) releaseSync(r);
  }
}

// The `memory` control operation: what the translator holds — process memory, V8's heap, the npm packages loaded, and per-flow state left over.
//
// For operators and tests (docs/memory.md): the per-flow counts must all be 0 once every flow
// is gone (no per-flow object outlives its flow), and `packages` says which libraries the
// process has loaded (CommonJS ones: everything in node_modules the daemon uses is CommonJS),
// so a test can check that `bindery passt` does not load what it does not use.
import { createRequire } from 'node:module';
import { getHeapStatistics } from 'node:v8';
import type { ControlServer } from './control.js';
import type { ControlContext } from './control-ops.js';

/** The npm package a module file belongs to (`@scope/name` or `name`), or undefined. */
export function packageOf(file: string): string | undefined {
  const m = /.*node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
  return m?.[1];
}

/** The packages whose modules are in the CommonJS module cache, sorted. */
export function loadedPackages(): string[] {
  const cache = createRequire(import.meta.url).cache;
  const names = new Set<string>();
  for (const file of Object.keys(cache)) {
    const p = packageOf(file);
    if (p !== undefined) names.add(p);
  }
  return [...names].sort();
}

/** The answer of `memory`. */
export interface MemoryReport {
  readonly process: NodeJS.MemoryUsage;
  readonly heap: { used: number; total: number; limit: number; malloced: number };
  readonly packages: string[];
  readonly flows: {
    readonly table: { byId: number; bySide: number; byBytes: number };
    readonly tcp?: { dirty: number; delayedAck: number; timed: number; frames: number };
    readonly udp?: number;
    readonly ping?: number;
  };
}

/**
 * Registers `memory` → `{ process, heap, packages, flows }`: process.memoryUsage() in bytes,
 * V8's heap (used, total, limit, malloced), the loaded packages, and per-flow state: the flow
 * table's indexes, the TCP core's per-connection sets and queued frames, UDP and ping flows.
 */
export function registerMemoryOps(server: ControlServer, ctx: ControlContext): void {
  server.handle('memory', (): MemoryReport => {
    const h = getHeapStatistics();
    const t = ctx.translators();
    return {
      process: process.memoryUsage(),
      heap: {
        used: h.used_heap_size,
        total: h.total_heap_size,
        limit: h.heap_size_limit,
        malloced: h.malloced_memory,
      },
      packages: loadedPackages(),
      flows: {
        table: ctx.daemon.table.indexSizes(),
        ...(t !== undefined
          ? {
              tcp: t.tcpTranslator.pending(),
              udp: t.udpTranslator.size,
              ping: t.pingTranslator.size,
            }
          : {}),
      },
    };
  });
}

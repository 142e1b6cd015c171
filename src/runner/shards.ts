// `--threads N`: the translator as N shards on N threads, one queue of a multiqueue tap each.
//
// Theory of operation
// ===================
//
// passt is one thread; on a machine with more cores, bindery can be N. Shard 0 is the daemon
// of the main thread as it is without --threads (control socket, metrics, capture, logging,
// inbound forwards, link services); shards 1…N−1 are worker threads (runner/shard-worker.ts),
// each a PasstDaemon with its own flow table, TCP/UDP/ping translators and host sockets. All
// of them serve one tap opened with IFF_MULTI_QUEUE: shard 0's open creates it, each worker's
// open adds a queue. The kernel spreads the namespace's flows over the queues; each shard reads
// and writes its own, and `shardOf` (usernet/shard/route.ts) says which shard owns a frame.
// Frames read by a shard that does not own them are packed and posted to the owner over a
// MessagePort (usernet/shard/link.ts); tun then learns from the owner's writes which queue the
// flow's next frames go to. Ports: a full mesh of MessageChannels, one per pair of shards, made
// here and handed to each worker in workerData (transferred).
//
// What is shared: nothing mutable but the inbound-port map (a SharedArrayBuffer that shard 0
// rewrites when forwards change; the workers only read it). Each shard learns the guest's MAC
// from the frames it dispatches (a flow's owner sees the guest's frames before it answers).
//
// Lives: `startShards` resolves when every worker has opened its queue (a worker's failure to
// start rejects it, after the others are stopped); `close` asks each worker to close its daemon
// and waits for its last counters, terminating a worker that does not answer in
// SHARD_CLOSE_TIMEOUT_MS. A worker that fails later is reported through `onFailure` (the daemon
// then stops: a shard's flows cannot move to another).
//
// Limits: a --migrate-target hand-over and migrate.export see shard 0's flows only, so the CLI
// refuses --threads with --migrate-target; capture (-p) sees shard 0's frames; vhost-user and
// stream links have one queue and stay single-threaded.
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { PasstConfig } from '../usernet/conf.js';
import type { EphemeralRange } from '../usernet/fwd/portspec.js';
import type { InboundPorts } from '../usernet/shard/route.js';
import type { ShardMesh } from '../usernet/shard/link.js';
import type { PasstCounters } from '../usernet/passt.js';
import type { TcpCounters } from '../usernet/flow/tcp/index.js';

/** How long a worker gets to close its daemon before it is terminated. */
export const SHARD_CLOSE_TIMEOUT_MS = 5_000;

/** What a worker shard starts from (structured-cloned; `peers` and `inbound` are shared). */
export interface ShardWorkerData {
  readonly shard: number;
  readonly shards: number;
  readonly cfg: PasstConfig;
  readonly tap: { readonly name: string; readonly netns: string };
  readonly offload: boolean;
  readonly mtu?: number;
  readonly hostResolvers: readonly string[];
  readonly ephemeral: EphemeralRange;
  readonly inbound: InboundPorts;
  /** The port to each other shard, by shard number (null for this shard's own slot). */
  readonly peers: readonly (MessagePort | null)[];
  readonly noDhcp: boolean;
  readonly noDhcpv6: boolean;
  readonly noNdp: boolean;
  readonly hostname?: string;
}

/** One shard's counters. */
export interface ShardReport {
  readonly shard: number;
  readonly daemon: PasstCounters;
  readonly flows: number;
  readonly link: { forwardedOut: number; forwardedIn: number; forwardedBatches: number };
  readonly tcp?: TcpCounters;
}

/** Messages from the main thread to a worker shard. */
export type MainToShard = { op: 'counters'; id: number } | { op: 'close' };

/** Messages from a worker shard to the main thread. */
export type ShardToMain =
  | { op: 'ready' }
  | { op: 'error'; message: string }
  | { op: 'warn'; message: string }
  | { op: 'counters'; id: number; report: ShardReport }
  | { op: 'closed'; report: ShardReport };

/** The worker shards of a running daemon, from the main thread's side. */
export interface ShardSet {
  /** Shard 0's way to the others (for its shardedLink). */
  readonly mesh: ShardMesh;
  /** Routes the batches the workers post to shard 0 into `inject` (shard 0's link). */
  listen(inject: (packed: ArrayBuffer) => void): void;
  /** The workers' counters now (shards 1…N−1). */
  reports(): Promise<ShardReport[]>;
  /** Stops every worker (idempotent); resolves with their last counters. */
  close(): Promise<ShardReport[]>;
}

/** Everything a worker needs beyond its number and ports. */
export type ShardSettings = Omit<ShardWorkerData, 'shard' | 'peers' | 'inbound' | 'shards'>;

/** The worker's module next to this one (.ts when running from source through tsx). */
function workerUrl(): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./shard-worker${ext}`, import.meta.url);
}

/**
 * Starts shards 1…shards−1 as worker threads on the tap shard 0 already opened (multiqueue).
 *
 * @param shards - The total shard count, 2 or more.
 * @param inbound - The shared inbound-port map (newInboundPorts(true)).
 * @param settings - Configuration, tap and services, as the main daemon has them.
 * @param events - Warnings to log and a later failure of a worker.
 * @throws Error with the first worker's start-up failure (the others are stopped first).
 */
export async function startShards(
  shards: number,
  inbound: InboundPorts,
  settings: ShardSettings,
  events: { warn(msg: string): void; onFailure(msg: string): void },
): Promise<ShardSet> {
  // ports[i][j]: shard i's end of the channel to shard j.
  const ports: (MessagePort | null)[][] = Array.from({ length: shards }, () =>
    new Array<MessagePort | null>(shards).fill(null),
  );
  for (let i = 0; i < shards; i++)
    for (let j = i + 1; j < shards; j++) {
      const ch = new MessageChannel();
      ports[i]![j] = ch.port1;
      ports[j]![i] = ch.port2;
    }
  const workers: Worker[] = [];
  const waiters = new Map<number, (r: ShardReport) => void>();
  const lastReports = new Map<number, ShardReport>();
  const closedWaits = new Map<number, () => void>();
  let nextId = 1;
  let closing: Promise<ShardReport[]> | undefined;
  const starts: Promise<void>[] = [];
  for (let s = 1; s < shards; s++) {
    const peers = ports[s]!;
    const data: ShardWorkerData = { ...settings, shard: s, shards, inbound, peers };
    const transfer = peers.filter((p): p is MessagePort => p !== null);
    const w = new Worker(workerUrl(), { workerData: data, transferList: transfer });
    workers.push(w);
    starts.push(
      new Promise<void>((resolve, reject) => {
        let started = false;
        w.on('message', (m: ShardToMain) => {
          switch (m.op) {
            case 'ready':
              started = true;
              resolve();
              return;
            case 'error':
              if (!started) reject(new Error(`shard ${s}: ${m.message}`));
              else events.onFailure(`shard ${s}: ${m.message}`);
              return;
            case 'warn':
              events.warn(`shard ${s}: ${m.message}`);
              return;
            case 'counters':
              waiters.get(m.id)?.(m.report);
              waiters.delete(m.id);
              return;
            case 'closed':
              lastReports.set(s, m.report);
              closedWaits.get(s)?.();
              return;
          }
        });
        w.on('error', (e) => {
          if (!started) reject(new Error(`shard ${s}: ${e.message}`));
          else events.onFailure(`shard ${s}: ${e.message}`);
        });
        w.on('exit', (code) => {
          closedWaits.get(s)?.();
          if (!started) reject(new Error(`shard ${s}: exited (${code}) before it was ready`));
          else if (closing === undefined) events.onFailure(`shard ${s}: exited (${code})`);
        });
      }),
    );
  }
  const own = ports[0]!;
  const set: ShardSet = {
    mesh: {
      self: 0,
      shards,
      inbound,
      forward: (to, packed) => own[to]?.postMessage(packed, [packed]),
    },
    listen(inject) {
      for (const p of own) p?.on('message', (packed: ArrayBuffer) => inject(packed));
    },
    reports() {
      return Promise.all(
        workers.map(
          (w) =>
            new Promise<ShardReport>((resolve) => {
              const id = nextId++;
              waiters.set(id, resolve);
              w.postMessage({ op: 'counters', id } satisfies MainToShard);
            }),
        ),
      );
    },
    close() {
      closing ??= (async () => {
        await Promise.all(
          workers.map(async (w, i) => {
            const s = i + 1;
            const done = new Promise<void>((resolve) => closedWaits.set(s, resolve));
            w.postMessage({ op: 'close' } satisfies MainToShard);
            let timer: ReturnType<typeof setTimeout> | undefined;
            const late = new Promise<'late'>((resolve) => {
              timer = setTimeout(() => resolve('late'), SHARD_CLOSE_TIMEOUT_MS);
            });
            if ((await Promise.race([done, late])) === 'late')
              events.warn(`shard ${s}: did not close in ${SHARD_CLOSE_TIMEOUT_MS} ms; terminated`);
            clearTimeout(timer);
            await w.terminate();
          }),
        );
        for (const p of own) p?.close();
        return [...lastReports.values()].sort((a, b) => a.shard - b.shard);
      })();
      return closing;
    },
  };
  try {
    await Promise.all(starts);
  } catch (e) {
    await set.close();
    throw e;
  }
  return set;
}

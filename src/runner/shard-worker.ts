// A translator shard's thread (`--threads N`, shards 1…N−1): its own tap queue, daemon, flow table and host sockets.
//
// Started by runner/shards.ts with everything it needs in `workerData` (ShardWorkerData); the
// theory of operation is in usernet/shard/route.ts (who owns which frame) and runner/shards.ts
// (the threads' lives). This shard serves the flows that hash to it: no inbound forwards (their
// sockets and flows live on shard 0), no unsolicited Router Advertisements, no announcements
// at link-up; the frames it reads but does not own go to their owner through `peers`.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { openTap } from '../native/index.js';
import { tapLink } from '../usernet/link/tap.js';
import { shardedLink } from '../usernet/shard/link.js';
import { PasstDaemon, type Clock } from '../usernet/passt.js';
import { nativeHost } from '../usernet/host/index.js';
import { flowTranslators, type FlowTranslators } from './translators.js';
import type { ShardReport, ShardToMain, ShardWorkerData, MainToShard } from './shards.js';

const d = workerData as ShardWorkerData;
const port = parentPort!;
const post = (m: ShardToMain): void => port.postMessage(m);

const clock: Clock = {
  now: () => performance.now(),
  random: () => Math.random(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

function serve(): void {
  const tap = openTap({
    netns: d.tap.netns,
    name: d.tap.name,
    up: true,
    offload: d.offload,
    reuseRx: true,
    multiQueue: true,
    ...(d.mtu !== undefined ? { mtu: d.mtu } : {}),
  });
  const peers = d.peers;
  const link = shardedLink(tapLink(tap, d.mtu !== undefined ? { mtu: d.mtu } : {}), {
    self: d.shard,
    shards: d.shards,
    inbound: d.inbound,
    forward: (to, packed) => peers[to]?.postMessage(packed, [packed]),
  });
  for (const p of peers) p?.on('message', (packed: ArrayBuffer) => link.inject(packed));
  let translators: FlowTranslators | undefined;
  const warn = (message: string): void => post({ op: 'warn', message });
  const daemon = new PasstDaemon(d.cfg, link, {
    noDhcp: d.noDhcp,
    noDhcpv6: d.noDhcpv6,
    noNdp: d.noNdp,
    noRa: true,
    ...(d.hostname !== undefined ? { hostname: d.hostname } : {}),
    hostResolvers: d.hostResolvers,
    clock,
    l4: (deps) =>
      (translators = flowTranslators(deps, warn, [], d.ephemeral, [], nativeHost(), {})),
  });
  daemon.start();
  const report = (): ShardReport => ({
    shard: d.shard,
    daemon: daemon.counters,
    flows: daemon.table.size,
    link: link.shardCounters,
    ...(translators ? { tcp: translators.tcpTranslator.counters } : {}),
  });
  port.on('message', (m: MainToShard) => {
    if (m.op === 'counters') {
      post({ op: 'counters', id: m.id, report: report() });
    } else if (m.op === 'close') {
      void daemon
        .close()
        .catch((e: unknown) => warn(`shard ${d.shard}: close: ${(e as Error).message}`))
        .finally(() => {
          post({ op: 'closed', report: report() });
          for (const p of peers) p?.close();
          port.close();
        });
    }
  });
  post({ op: 'ready' });
}

try {
  serve();
} catch (e) {
  post({ op: 'error', message: (e as Error).message });
  for (const p of d.peers as (MessagePort | null)[]) p?.close();
  port.close();
}

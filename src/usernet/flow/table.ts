// The translator's one bounded flow table, shared by UDP, ping and (later) TCP flows.
//
// Theory of operation (after passt's flow.c/flow.h):
// - Goal: one place that owns every flow, so limits, expiry, counters and the `bindery flows`
//   view are the same for all protocols. Lookups on the per-frame path are O(1).
// - A flow has two sides: `ini` (the side that started it: the guest for outbound flows, the
//   host for forwarded ports) and `tgt` (the side it was forwarded to). Each side is
//   {endpointAddr, endpointPort, ourAddr, ourPort} seen from bindery: the endpoint is the remote
//   peer on that side, "our" is the address bindery uses towards it.
// - Index: a Map from a side's 5-tuple key to the flow, one entry per side, so frames from the
//   guest and datagrams from the host both find the flow directly.
// - A second index on the same sides for lookups straight from a frame's address bytes
//   (`lookupBytes`, TCP's per-segment path): a 30-bit hash of type, pif, addresses and ports,
//   keyed with a random seed per table so a guest cannot aim its tuples at one chain, and a
//   short chain per hash compared byte by byte. Nothing is formatted or allocated per lookup.
// - Ids: 1 … MAX_FLOW_ID, reused only after wrapping around and never while in use, so an id is
//   never 0 and fits an unsigned 32-bit readiness-event id; ids above MAX_FLOW_ID are left to
//   owners for objects that are not flows (TCP's listening sockets).
// - Limits: at most `maxFlows` (passt: 131071 in total). When full, insert() returns undefined
//   and the caller counts a drop (or sends an RST) — never an exception.
// - Lifecycle: ACTIVE until expired or closed; `expire(now)` removes flows idle past their
//   timeout (time is passed in, never read here) and returns them so the owner can close sockets.
// - Timers: per-protocol idle timeouts chosen by the owner (UDP 30 s one-way / 120 s two-way as
//   conntrack; ping 60 s), stored per flow so a flow can move between them.
// - Observation: an optional `observer` hears of every insert and removal (flow open/close logs;
//   unset, it costs one branch per flow, never per frame), and each protocol's owner registers a
//   `describer` that tells its flows' state (and RTT) for `bindery flows` and the metrics.

import { randomBytes } from 'node:crypto';
import { parseIpv4, parseIpv6 } from '../../wire/common.js';

/** Largest flow id; ids above it never name a flow. */
export const MAX_FLOW_ID = 0x7fffffff;

/** Flow kinds. */
export type FlowType = 'udp' | 'ping4' | 'ping6' | 'tcp';

/** One side of a flow, as bindery sees it. */
export interface FlowSide {
  readonly endpointAddr: string;
  readonly endpointPort: number;
  readonly ourAddr: string;
  readonly ourPort: number;
}

/** Which interface a side lives on. */
export type Pif = 'guest' | 'host';

/** A flow entry: common part plus the protocol's own state in `state`. */
export interface Flow<S = unknown> {
  readonly id: number;
  readonly type: FlowType;
  readonly pif: readonly [Pif, Pif];
  readonly sides: readonly [FlowSide, FlowSide];
  /** Protocol-specific state (sockets, sequence numbers, ...). */
  state: S;
  /** When something last happened on the flow (ms, the caller's clock). */
  lastActivityMs: number;
  /** Idle time after which expire() removes it. */
  timeoutMs: number;
  /** When the flow was created (ms, the caller's clock). */
  readonly createdMs: number;
  /** Counters of the flow: In is from the guest, Out is to the guest. */
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** The key of one side: type, pif and 4-tuple. */
export function sideKey(type: FlowType, pif: Pif, s: FlowSide): string {
  return `${type}|${pif}|${s.endpointAddr}|${s.endpointPort}|${s.ourAddr}|${s.ourPort}`;
}

const TYPE_CODE: Readonly<Record<FlowType, number>> = { udp: 1, ping4: 2, ping6: 3, tcp: 4 };

/** One side in the byte index: its flow and tuple, chained with the other sides of its hash. */
interface SideEntry {
  readonly flow: Flow;
  /** Type and pif. */
  readonly tag: number;
  readonly ep: Uint8Array;
  readonly epPort: number;
  readonly our: Uint8Array;
  readonly ourPort: number;
  next: SideEntry | undefined;
}

const addrOf = (s: string): Uint8Array | undefined =>
  s.includes(':') ? parseIpv6(s) : parseIpv4(s);

const tagOf = (type: FlowType, pif: Pif): number => TYPE_CODE[type] * 2 + (pif === 'guest' ? 0 : 1);

/** Mixes one 32-bit word into a hash (multiply–rotate, as MurmurHash3's block step). */
function mix(h: number, w: number, k: number): number {
  w = Math.imul(w ^ k, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  h ^= Math.imul(w, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function mixAddr(h: number, a: Uint8Array, k: number): number {
  for (let i = 0; i + 3 < a.length; i += 4)
    h = mix(h, (a[i]! << 24) | (a[i + 1]! << 16) | (a[i + 2]! << 8) | a[i + 3]!, k);
  return h;
}

function equalAddr(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Table-wide counters. */
export interface FlowTableCounters {
  created: number;
  expired: number;
  closed: number;
  /** insert() refused because the table was full. */
  full: number;
}

/** Why a flow was removed, as the table counts it. */
export type RemoveReason = 'closed' | 'expired';

/** Hears of flows coming and going (set `FlowTable.observer`). */
export interface FlowObserver {
  opened(flow: Flow): void;
  /** `why`: the owner's finer reason when it gave one (e.g. `fin`, `guest-reset`, `idle`). */
  closed(flow: Flow, reason: RemoveReason, why: string | undefined): void;
}

/** What a protocol's owner tells about one of its flows. */
export interface FlowDetail {
  /** The protocol's state (TCP: connecting, established, …; UDP: one-way, two-way). */
  readonly state: string;
  /** The translator's own smoothed RTT to the guest, in µs, when measured (TCP). */
  readonly rttGuestUs?: number;
  /** The kernel's smoothed RTT of the host socket (TCP_INFO), in µs, when known. */
  readonly rttHostUs?: number;
}

/** A bounded flow table with an index on both sides of each flow. */
export class FlowTable {
  private readonly byId = new Map<number, Flow>();
  private readonly index = new Map<string, Flow>();
  /** Sides by a hash of their bytes (see the theory of operation). */
  private readonly byBytes = new Map<number, SideEntry>();
  private readonly seed: Uint32Array = new Uint32Array(randomBytes(8).buffer);
  private nextId = 1;
  readonly counters: FlowTableCounters = { created: 0, expired: 0, closed: 0, full: 0 };
  /** Hears of every insert and removal; undefined (the default) costs one branch per flow. */
  observer: FlowObserver | undefined;
  private readonly describers = new Map<FlowType, (flow: Flow) => FlowDetail>();

  constructor(readonly maxFlows = 131071) {}

  /** Number of live flows. */
  get size(): number {
    return this.byId.size;
  }

  /** Entries in each index (all 0 when no flow is live: nothing per flow outlives it). */
  indexSizes(): { byId: number; bySide: number; byBytes: number } {
    return { byId: this.byId.size, bySide: this.index.size, byBytes: this.byBytes.size };
  }

  /**
   * Adds a flow; returns it, or undefined when the table is full or a side is already
   * indexed (the caller looked up first, so that is a bug guard, not a normal path).
   */
  insert<S>(
    type: FlowType,
    pif: readonly [Pif, Pif],
    sides: readonly [FlowSide, FlowSide],
    state: S,
    nowMs: number,
    timeoutMs: number,
  ): Flow<S> | undefined {
    if (this.byId.size >= this.maxFlows) {
      this.counters.full++;
      return undefined;
    }
    const k0 = sideKey(type, pif[0], sides[0]);
    const k1 = sideKey(type, pif[1], sides[1]);
    if (this.index.has(k0) || this.index.has(k1)) return undefined;
    const flow: Flow<S> = {
      id: this.newId(),
      type,
      pif,
      sides,
      state,
      lastActivityMs: nowMs,
      createdMs: nowMs,
      timeoutMs,
      packetsIn: 0,
      packetsOut: 0,
      bytesIn: 0,
      bytesOut: 0,
    };
    this.byId.set(flow.id, flow);
    this.index.set(k0, flow);
    this.index.set(k1, flow);
    this.indexBytes(flow, 0);
    this.indexBytes(flow, 1);
    this.counters.created++;
    if (this.observer !== undefined) this.observer.opened(flow);
    return flow;
  }

  /** The next id not in use (see the theory of operation). */
  private newId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= MAX_FLOW_ID ? 1 : id + 1;
      if (!this.byId.has(id)) return id;
    }
  }

  private hash(tag: number, ep: Uint8Array, epPort: number, our: Uint8Array, ourPort: number) {
    const k = this.seed[1]!;
    let h = mix(this.seed[0]!, (tag << 16) | epPort, k);
    h = mixAddr(h, ep, k);
    h = mix(h, ourPort, k);
    h = mixAddr(h, our, k);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    return h & 0x3fffffff;
  }

  /** Adds side `i` of `flow` to the byte index (a side whose addresses do not parse is left out). */
  private indexBytes(flow: Flow, i: 0 | 1): void {
    const s = flow.sides[i];
    const ep = addrOf(s.endpointAddr);
    const our = addrOf(s.ourAddr);
    if (ep === undefined || our === undefined) return;
    const tag = tagOf(flow.type, flow.pif[i]);
    const h = this.hash(tag, ep, s.endpointPort, our, s.ourPort);
    const e: SideEntry = {
      flow,
      tag,
      ep,
      epPort: s.endpointPort,
      our,
      ourPort: s.ourPort,
      next: this.byBytes.get(h),
    };
    this.byBytes.set(h, e);
  }

  private unindexBytes(flow: Flow, i: 0 | 1): void {
    const s = flow.sides[i];
    const ep = addrOf(s.endpointAddr);
    const our = addrOf(s.ourAddr);
    if (ep === undefined || our === undefined) return;
    const h = this.hash(tagOf(flow.type, flow.pif[i]), ep, s.endpointPort, our, s.ourPort);
    let prev: SideEntry | undefined;
    for (let e = this.byBytes.get(h); e !== undefined; prev = e, e = e.next) {
      if (e.flow !== flow) continue;
      if (prev !== undefined) prev.next = e.next;
      else if (e.next !== undefined) this.byBytes.set(h, e.next);
      else this.byBytes.delete(h);
      return;
    }
  }

  /** The flow one of whose sides matches, or undefined. */
  lookup<S = unknown>(type: FlowType, pif: Pif, side: FlowSide): Flow<S> | undefined {
    return this.index.get(sideKey(type, pif, side)) as Flow<S> | undefined;
  }

  /**
   * The flow one of whose sides is (endpoint, our) given as address bytes (4 or 16) — the
   * per-frame lookup: the same answer as lookup() with the addresses formatted, without
   * formatting anything.
   */
  lookupBytes<S = unknown>(
    type: FlowType,
    pif: Pif,
    endpointAddr: Uint8Array,
    endpointPort: number,
    ourAddr: Uint8Array,
    ourPort: number,
  ): Flow<S> | undefined {
    const tag = tagOf(type, pif);
    let e = this.byBytes.get(this.hash(tag, endpointAddr, endpointPort, ourAddr, ourPort));
    for (; e !== undefined; e = e.next)
      if (
        e.tag === tag &&
        e.epPort === endpointPort &&
        e.ourPort === ourPort &&
        equalAddr(e.ep, endpointAddr) &&
        equalAddr(e.our, ourAddr)
      )
        return e.flow as Flow<S>;
    return undefined;
  }

  /** The flow with `id`, or undefined. */
  get<S = unknown>(id: number): Flow<S> | undefined {
    return this.byId.get(id) as Flow<S> | undefined;
  }

  /**
   * Removes a flow, counted as closed by its owner or as expired (idle past its timeout);
   * returns whether it was there.
   */
  remove(flow: Flow, reason: RemoveReason = 'closed', why?: string): boolean {
    if (!this.byId.delete(flow.id)) return false;
    this.index.delete(sideKey(flow.type, flow.pif[0], flow.sides[0]));
    this.index.delete(sideKey(flow.type, flow.pif[1], flow.sides[1]));
    this.unindexBytes(flow, 0);
    this.unindexBytes(flow, 1);
    this.counters[reason]++;
    if (this.observer !== undefined) this.observer.closed(flow, reason, why);
    return true;
  }

  /** Registers how the flows of `type` describe themselves (their owner calls this once). */
  setDescriber<S>(type: FlowType, fn: (flow: Flow<S>) => FlowDetail): void {
    this.describers.set(type, fn as (flow: Flow) => FlowDetail);
  }

  /** The flow's state and RTTs as its owner tells them (state `active` without a describer). */
  describe(flow: Flow): FlowDetail {
    const fn = this.describers.get(flow.type);
    return fn === undefined ? { state: 'active' } : fn(flow);
  }

  /** Removes and returns every flow idle for at least its timeout at `nowMs`. */
  expire(nowMs: number): Flow[] {
    const out: Flow[] = [];
    for (const f of this.byId.values()) if (nowMs - f.lastActivityMs >= f.timeoutMs) out.push(f);
    for (const f of out) this.remove(f, 'expired');
    return out;
  }

  /** The earliest time a flow can expire, or undefined when empty (for the caller's timer). */
  nextExpiryMs(): number | undefined {
    let next: number | undefined;
    for (const f of this.byId.values()) {
      const t = f.lastActivityMs + f.timeoutMs;
      if (next === undefined || t < next) next = t;
    }
    return next;
  }

  /** Every live flow (for `bindery flows` and for closing all when the guest link goes away). */
  all(): IterableIterator<Flow> {
    return this.byId.values();
  }
}

/**
 * Expiry for a translator that keeps its own set of flows (to own their sockets): removes from
 * `table` and from `owned` every flow idle at `nowMs`, and forgets flows the table no longer
 * holds (removed behind the owner's back); `release` closes each one's resources.
 *
 * @returns how many flows expired (forgotten ones are not counted)
 */
export function expireOwned<F extends Flow>(
  table: FlowTable,
  owned: Set<F>,
  nowMs: number,
  release: (flow: F) => void,
): number {
  let expired = 0;
  for (const f of [...owned]) {
    if (table.get(f.id) !== f) {
      release(f);
      continue;
    }
    if (nowMs - f.lastActivityMs < f.timeoutMs) continue;
    table.remove(f, 'expired', 'idle');
    expired++;
    release(f);
  }
  return expired;
}

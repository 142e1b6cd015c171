// TCP translation: the guest's TCP connections become ordinary host sockets of the pod, and forwarded host ports reach the guest.
//
// Theory of operation: this folder's parts each open with their share — conn.ts (the goal, the
// index, teardown, limits, and the list of parts), open.ts (handshakes, RFC 9293 §3.5),
// from-guest.ts (guest → host), to-guest.ts (host → guest), recovery.ts (RFC 6298, RFC 5681,
// RFC 6582 and the timers) and frame.ts (segment layout). TcpTranslator below is the facade the
// daemon uses; the parts are plain functions over its one TcpCore.
import type { TcpRepr } from '../../../wire/tcp.js';
import { allConns, resetHost, TcpCore, type Conn, type TcpCounters, type TcpDeps } from './conn.js';
import { fromGuest } from './from-guest.js';
import { applyForwards, listen } from './open.js';
import type { ForwardPlan } from '../../fwd/forwards.js';
import { expire } from './recovery.js';
import {
  exportFlows,
  freeze,
  importFlows,
  type ExportResult,
  type ImportResult,
} from './migrate.js';
import type { TcpFlowState } from './migrate-state.js';
import type { TcpRepair } from '../../host/repair.js';

export {
  RECV_BUFFER,
  WS_TO_GUEST,
  PEEK_SEGMENTS,
  PUMP_BYTES,
  RTO_INIT_MS,
  RTO_MIN_MS,
  RTO_MAX_MS,
  MAX_RETRIES,
  SYN_RETRIES,
  KEEPALIVE_MS,
  KEEPALIVE_PROBES,
  INACTIVITY_MS,
  LINGER_MS,
  TICK_MS,
  ACK_DELAY_MS,
  type TcpDeps,
  type TcpCounters,
} from './conn.js';

/** Translates the guest's TCP to host sockets and back (see the theory of operation in conn.ts). */
export class TcpTranslator {
  private readonly core: TcpCore;
  readonly counters: TcpCounters;

  constructor(deps: TcpDeps, secret?: Uint8Array) {
    this.core = new TcpCore(deps, secret);
    this.counters = this.core.counters;
    const host = this.core.host;
    deps.table.setDescriber<Conn>('tcp', (f) => {
      const c = f.state;
      const rttHostUs = c.sock !== undefined ? host.rttUs?.(c.sock) : undefined;
      return {
        state: c.state,
        ...(c.srtt !== undefined ? { rttGuestUs: Math.round(c.srtt * 1000) } : {}),
        ...(rttHostUs !== undefined ? { rttHostUs } : {}),
      };
    });
  }

  /**
   * Connections in the core's per-connection sets and frames queued for the link (all 0 when
   * idle: nothing per connection outlives it; the `memory` control operation).
   */
  pending(): { dirty: number; delayedAck: number; timed: number; frames: number } {
    const s = this.core;
    return {
      dirty: s.dirty.size,
      delayedAck: s.delayed.size,
      timed: s.timed.size,
      frames: s.out.length,
    };
  }

  /** Live connections (lingering finished ones included). */
  get size(): number {
    let n = 0;
    for (const f of this.core.table.all()) if (f.type === 'tcp') n++;
    return n;
  }

  /**
   * Handles one TCP segment from the guest (the daemon has checked lengths and the checksum).
   *
   * @param family - 4 or 6
   * @param src - the guest's address (4 or 16 bytes)
   * @param dst - the destination as the guest wrote it
   * @param seg - the parsed header
   * @param payload - the segment's payload (a view into the frame; kept only until the end of
   *   the batch unless copied)
   */
  fromGuest(
    family: 4 | 6,
    src: Uint8Array,
    dst: Uint8Array,
    seg: TcpRepr,
    payload: Uint8Array,
  ): void {
    fromGuest(this.core, family, src, dst, seg, payload);
  }

  /**
   * Inbound forwarding: listens on every host port `p` with portMap[p] ≠ 0 and connects each
   * accepted connection to that guest port.
   *
   * @param portMap - from resolvePortMap (65536 entries)
   * @param bindAddr - host address to bind (default '::', IPv4 and IPv6)
   * @returns when every port listens; rejects with the first error (a BinderyError whose
   *   message reads like Node's: "listen EADDRINUSE: address already in use 127.0.0.1:8080")
   */
  async listen(portMap: Uint16Array, bindAddr?: string): Promise<void> {
    listen(this.core, portMap, bindAddr);
  }

  /**
   * Makes the listening sockets match `plan` (start, and runtime forwards): closes per-port
   * listeners the plan dropped (their connections stay), opens new ones, and with
   * `allPortsPort` opens the all-ports listeners the pod's REDIRECT rule feeds.
   *
   * @throws BinderyError (Syscall) from the first socket that cannot listen
   */
  applyForwards(plan: ForwardPlan, allPortsPort?: number): void {
    applyForwards(this.core, plan, allPortsPort);
  }

  /** Open listening sockets (all-ports and per-port). */
  get listeners(): number {
    return this.core.listeners.filter((l) => l !== undefined).length;
  }

  /**
   * Resets connections idle past INACTIVITY_MS, sends keepalives to quiet guests, resets those
   * whose guest stopped answering, and removes lingering finished flows.
   *
   * @param nowMs - the daemon's clock
   */
  expire(nowMs: number): void {
    expire(this.core, nowMs);
    this.core.arena?.trim();
  }

  /** The guest went away (stream client disconnected): reset every host connection. */
  linkDown(): void {
    const s = this.core;
    for (const c of allConns(s)) resetHost(s, c, 'closed', 'link-down');
    s.out = [];
    s.arena?.reset();
  }

  /**
   * Hand-over, source side (migrate.ts): stops serving guest TCP (segments dropped silently)
   * and exports every established flow; their sockets are closed in repair mode (silently).
   */
  exportFlows(repair: TcpRepair): ExportResult {
    freeze(this.core);
    return exportFlows(this.core, repair);
  }

  /** Hand-over, target side (migrate.ts): restores exported flows. */
  importFlows(repair: TcpRepair, flows: readonly TcpFlowState[]): ImportResult {
    return importFlows(this.core, repair, flows);
  }

  /** Resets every connection, closes the listening sockets and the epoll set. */
  close(): Promise<void> {
    const s = this.core;
    this.linkDown();
    s.closed = true;
    if (s.tick !== undefined) s.deps.clearTimer(s.tick);
    s.tick = undefined;
    if (s.ackTimer !== undefined) s.deps.clearTimer(s.ackTimer);
    s.ackTimer = undefined;
    for (const l of s.listeners.splice(0)) if (l) s.host.close(l.sock, false);
    s.byKey.clear();
    s.poller?.close();
    s.poller = undefined;
    return Promise.resolve();
  }
}

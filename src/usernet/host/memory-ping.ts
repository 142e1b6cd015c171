// The ping part of the in-memory kernel (memory.ts): a PingHost whose hosts answer unless told not to.
//
// Model. Echo identifiers are bound per family like a real kernel's ping sockets (EADDRINUSE when
// taken; 0 picks a free one from 0x8000 up). Every request is recorded; addresses not in `silent`
// answer on the next flush with the same message as an echo reply carrying the socket's
// identifier (the kernel's rewrite), or earlier at the socket's readNow. `denied` makes opening fail with EACCES
// (net.ipv4.ping_group_range), `unreachable` addresses make send throw ENETUNREACH, `full` makes
// send report a full buffer. The netns option is recorded, not interpreted.
import type { PingHost, PingMessage, PingOpen, PingSocket } from './ping.js';
import { errnoError, type MemoryKernel } from './memory-kernel.js';

/** An echo request as the host saw it. */
export interface PingRequest {
  readonly family: 4 | 6;
  readonly addr: string;
  /** The socket's identifier (what went on the wire). */
  readonly ident: number;
  readonly seqNo: number;
  readonly data: Uint8Array;
  readonly netns: string | undefined;
}

/** A PingHost in memory. */
export class MemoryPing implements PingHost {
  private readonly used = new Set<string>();
  private nextIdent = 0x8000;
  /** Every request sent, in order. */
  readonly requests: PingRequest[] = [];
  /** Addresses that do not answer. */
  readonly silent = new Set<string>();
  /** Addresses whose sends fail with ENETUNREACH. */
  readonly unreachable = new Set<string>();
  /** Opening fails with EACCES. */
  denied = false;
  /** Sends report a full socket buffer (false). */
  full = false;
  /** Sockets open. */
  openSockets = 0;

  constructor(readonly kernel: MemoryKernel) {}

  /** Takes identifier `ident` of `family`, as another program's socket would. */
  occupy(family: 4 | 6, ident: number): void {
    this.used.add(`${family}:${ident}`);
  }

  open({ family, ident, netns }: PingOpen): PingSocket {
    if (this.denied) throw errnoError('EACCES', 'socket', 'ping');
    let id = ident;
    if (id === 0) {
      while (this.used.has(`${family}:${this.nextIdent}`)) this.nextIdent++;
      id = this.nextIdent++;
    } else if (this.used.has(`${family}:${id}`)) {
      throw errnoError('EADDRINUSE', 'bind', `ping ident ${id}`);
    }
    const key = `${family}:${id}`;
    this.used.add(key);
    this.openSockets++;
    let closed = false;
    let onMsgs: ((m: readonly PingMessage[]) => void) | undefined;
    /** Replies sent and not yet delivered (by the kernel's flush or by readNow). */
    const queued: PingMessage[] = [];
    const deliver = (): void => {
      if (closed || queued.length === 0) return;
      onMsgs?.(queued.splice(0));
    };
    return {
      ident: id,
      send: (addr, msg) => {
        if (closed) throw errnoError('EBADF', 'sendto', addr);
        if (this.unreachable.has(addr)) throw errnoError('ENETUNREACH', 'sendto', addr);
        if (this.full) return false;
        const data = msg.slice(8);
        this.requests.push({
          family,
          addr,
          ident: id,
          seqNo: (msg[6]! << 8) | msg[7]!,
          data,
          netns,
        });
        if (!this.silent.has(addr)) {
          const reply = msg.slice();
          reply[0] = family === 4 ? 0 : 129;
          reply[1] = 0;
          reply[4] = id >> 8;
          reply[5] = id & 0xff;
          queued.push({ data: reply, addr });
          this.kernel.post(deliver);
        }
        return true;
      },
      onMessages: (cb) => {
        onMsgs = cb;
      },
      readNow: deliver,
      onError: () => {
        // In memory, nothing fails asynchronously.
      },
      close: () => {
        if (closed) return;
        closed = true;
        this.used.delete(key);
        this.openSockets--;
      },
    };
  }
}

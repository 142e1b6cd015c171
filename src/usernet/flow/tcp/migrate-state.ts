// The hand-over state of TCP flows as JSON: what migrate.export returns and migrate.import takes, checked field by field.
//
// One HandoverState per translator: the guest's MAC and a list of flows. Each flow carries
// - the guest side as the translator plays it (the guest's and the remote's address and port,
//   our sequence numbers and windows towards the guest, the guest's, the options agreed in the
//   handshake, and guest data we acknowledged but had not written to the host socket yet);
// - the host socket as TCP_REPAIR dumps it (the kernel's send and receive sequence numbers at
//   the heads of their queues, the queues' bytes, how much of the send queue was never sent,
//   TCP_REPAIR_WINDOW, the options, the RFC 7323 clock).
// Byte strings are base64. `decodeHandoverState` refuses anything else whole (a BinderyError
// naming the first bad field): the import changes nothing when the state is malformed.
import { BinderyError, ErrorCode } from '../../../errors.js';

/** Format version of the state (bumped on any change of shape). */
export const HANDOVER_STATE_VERSION = 1;
/** Largest queue carried per flow (bytes; the kernel's buffers are smaller). */
export const MAX_QUEUE_BYTES = 64 << 20;

/** The host socket of a flow, as dumped in repair mode. */
export interface HostSocketState {
  readonly localAddr: string;
  readonly localPort: number;
  readonly peerAddr: string;
  readonly peerPort: number;
  /** Sequence number of the first byte of the send queue (write_seq − queued). */
  readonly sndSeq: number;
  /** Sequence number of the first byte of the receive queue (rcv_nxt − queued). */
  readonly rcvSeq: number;
  /** The send queue (sent but unacknowledged, then never sent) and its unsent tail's length. */
  readonly sendQueue: Uint8Array;
  readonly notSent: number;
  /** The receive queue: bytes from the peer not yet taken by the translator. */
  readonly recvQueue: Uint8Array;
  readonly sndWl1: number;
  readonly sndWnd: number;
  readonly maxWindow: number;
  readonly rcvWnd: number;
  readonly rcvWup: number;
  readonly sndWscale: number;
  readonly rcvWscale: number;
  readonly mss: number;
  /** tcpi_options bits (timestamps 1, SACK 2, window scaling 4). */
  readonly options: number;
  readonly timestamp: number;
}

/** The translator's side towards the guest. */
export interface GuestSideState {
  readonly guestAddr: string;
  readonly guestPort: number;
  /** The remote address and port as the guest sees them. */
  readonly remoteAddr: string;
  readonly remotePort: number;
  readonly iss: number;
  readonly irs: number;
  readonly rcvNxt: number;
  readonly rcvEdge: number;
  readonly sndUna: number;
  readonly sndMax: number;
  /** The guest's window in bytes; its shift; ours. */
  readonly sndWnd: number;
  readonly wsIn: number;
  readonly wsOut: number;
  readonly mss: number;
  readonly rcvMss: number;
  readonly sackOk: boolean;
  /** Guest data acknowledged to the guest, not yet written to the host socket. */
  readonly pending: Uint8Array;
}

export interface TcpFlowState {
  readonly family: 4 | 6;
  readonly inbound: boolean;
  readonly guest: GuestSideState;
  readonly host: HostSocketState;
}

export interface HandoverState {
  readonly version: number;
  /** The guest's MAC as the source learnt it ("aa:bb:cc:dd:ee:ff"), or null. */
  readonly guestMac: string | null;
  readonly flows: readonly TcpFlowState[];
}

const b64 = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');

/** The JSON form (byte strings as base64). */
export function encodeHandoverState(st: HandoverState): unknown {
  return {
    version: st.version,
    guestMac: st.guestMac,
    flows: st.flows.map((f) => ({
      family: f.family,
      inbound: f.inbound,
      guest: { ...f.guest, pending: b64(f.guest.pending) },
      host: { ...f.host, sendQueue: b64(f.host.sendQueue), recvQueue: b64(f.host.recvQueue) },
    })),
  };
}

function bad(where: string, what: string): never {
  throw new BinderyError(ErrorCode.Migrate, `malformed hand-over state: ${where} ${what}`);
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(where, 'is not an object');
  return v as Record<string, unknown>;
}

function int(o: Record<string, unknown>, k: string, where: string, max: number): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
    bad(`${where}.${k}`, `is not an integer in 0…${max}`);
  return v;
}

const u32 = (o: Record<string, unknown>, k: string, w: string) => int(o, k, w, 0xffffffff);
const port = (o: Record<string, unknown>, k: string, w: string) => int(o, k, w, 65535);

function bool(o: Record<string, unknown>, k: string, where: string): boolean {
  const v = o[k];
  if (typeof v !== 'boolean') bad(`${where}.${k}`, 'is not a boolean');
  return v;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:.]{2,45}$/;

function addr(o: Record<string, unknown>, k: string, where: string, family: 4 | 6): string {
  const v = o[k];
  const ok =
    typeof v === 'string' && (family === 4 ? IPV4.test(v) : IPV6.test(v) && v.includes(':'));
  if (!ok) bad(`${where}.${k}`, `is not an IPv${family} address`);
  return v as string;
}

function bytes(o: Record<string, unknown>, k: string, where: string): Uint8Array {
  const v = o[k];
  if (typeof v !== 'string' || v.length % 4 !== 0) bad(`${where}.${k}`, 'is not base64');
  if ((v.length / 4) * 3 > MAX_QUEUE_BYTES + 3) bad(`${where}.${k}`, 'is too long');
  // Node's decoder skips what is not base64: a decoded length short of what the text's length
  // promises means such characters (a regular expression over megabytes costs far more).
  const pad = v.endsWith('==') ? 2 : v.endsWith('=') ? 1 : 0;
  const b = Buffer.from(v, 'base64');
  if (b.length !== (v.length / 4) * 3 - pad || v.slice(0, v.length - pad).includes('='))
    bad(`${where}.${k}`, 'is not base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

function guestSide(v: unknown, w: string, family: 4 | 6): GuestSideState {
  const o = obj(v, w);
  return {
    guestAddr: addr(o, 'guestAddr', w, family),
    guestPort: port(o, 'guestPort', w),
    remoteAddr: addr(o, 'remoteAddr', w, family),
    remotePort: port(o, 'remotePort', w),
    iss: u32(o, 'iss', w),
    irs: u32(o, 'irs', w),
    rcvNxt: u32(o, 'rcvNxt', w),
    rcvEdge: u32(o, 'rcvEdge', w),
    sndUna: u32(o, 'sndUna', w),
    sndMax: u32(o, 'sndMax', w),
    sndWnd: int(o, 'sndWnd', w, 0x3fffffff),
    wsIn: int(o, 'wsIn', w, 14),
    wsOut: int(o, 'wsOut', w, 14),
    mss: int(o, 'mss', w, 65535),
    rcvMss: int(o, 'rcvMss', w, 65535),
    sackOk: bool(o, 'sackOk', w),
    pending: bytes(o, 'pending', w),
  };
}

function hostSide(v: unknown, w: string, family: 4 | 6): HostSocketState {
  const o = obj(v, w);
  const st: HostSocketState = {
    localAddr: addr(o, 'localAddr', w, family),
    localPort: port(o, 'localPort', w),
    peerAddr: addr(o, 'peerAddr', w, family),
    peerPort: port(o, 'peerPort', w),
    sndSeq: u32(o, 'sndSeq', w),
    rcvSeq: u32(o, 'rcvSeq', w),
    sendQueue: bytes(o, 'sendQueue', w),
    notSent: u32(o, 'notSent', w),
    recvQueue: bytes(o, 'recvQueue', w),
    sndWl1: u32(o, 'sndWl1', w),
    sndWnd: u32(o, 'sndWnd', w),
    maxWindow: u32(o, 'maxWindow', w),
    rcvWnd: u32(o, 'rcvWnd', w),
    rcvWup: u32(o, 'rcvWup', w),
    sndWscale: int(o, 'sndWscale', w, 14),
    rcvWscale: int(o, 'rcvWscale', w, 14),
    mss: int(o, 'mss', w, 65535),
    options: int(o, 'options', w, 0xff),
    timestamp: u32(o, 'timestamp', w),
  };
  if (st.notSent > st.sendQueue.length) bad(`${w}.notSent`, 'exceeds the send queue');
  if (st.localPort === 0 || st.peerPort === 0) bad(w, 'has port 0');
  return st;
}

/**
 * Checks and decodes a hand-over state (the JSON form).
 *
 * @throws BinderyError (Migrate) naming the first malformed field.
 */
export function decodeHandoverState(v: unknown): HandoverState {
  const o = obj(v, 'state');
  if (o.version !== HANDOVER_STATE_VERSION)
    bad('state.version', `is not ${HANDOVER_STATE_VERSION}`);
  const mac = o.guestMac;
  if (mac !== null && (typeof mac !== 'string' || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac)))
    bad('state.guestMac', 'is not a MAC address or null');
  if (!Array.isArray(o.flows)) bad('state.flows', 'is not an array');
  const flows = o.flows.map((f: unknown, i: number): TcpFlowState => {
    const w = `state.flows[${i}]`;
    const fo = obj(f, w);
    const family = fo.family;
    if (family !== 4 && family !== 6) bad(`${w}.family`, 'is not 4 or 6');
    return {
      family,
      inbound: bool(fo, 'inbound', w),
      guest: guestSide(fo.guest, `${w}.guest`, family),
      host: hostSide(fo.host, `${w}.host`, family),
    };
  });
  return { version: HANDOVER_STATE_VERSION, guestMac: mac, flows };
}

// One shard's view of a multiqueue guest link: frames it owns go to its daemon, the others to their owner shard.
//
// A shard reads its own queue of the tap (shard/route.ts explains who owns what). `shardedLink`
// wraps that queue's GuestLink: each batch read is split by owner; the shard's own frames reach
// the daemon as they came (a batch that is all local, the common case once tun steers the
// flow, passes through with no copy and no allocation), the rest are packed into one buffer per
// owner (`packFrames`) and handed to the mesh, which posts it to the owner's thread. There
// `inject` delivers them to that shard's daemon as if its own queue had read them, with their
// checksum-trust flags. Sending is untouched: each shard writes to the guest on its own queue,
// which is what teaches tun to steer the flow's next frames to it.

import type { GuestLink } from '../link/types.js';
import { shardOf, type InboundPorts } from './route.js';

/** How a shard reaches the others. */
export interface ShardMesh {
  /** This shard's number. */
  readonly self: number;
  /** How many shards there are. */
  readonly shards: number;
  /** The guest ports of inbound forwards (shared by all shards). */
  readonly inbound: InboundPorts;
  /** Hands a packed batch (packFrames) to shard `to`; the buffer is theirs from now on. */
  forward(to: number, packed: ArrayBuffer): void;
}

/** A shard's link: the queue's GuestLink plus delivery of frames other shards forward here. */
export interface ShardedLink extends GuestLink {
  /** Delivers a batch another shard packed (packFrames) to this shard's daemon. */
  inject(packed: ArrayBuffer): void;
  /** Frames handed to other shards and taken from them. */
  readonly shardCounters: { forwardedOut: number; forwardedIn: number; forwardedBatches: number };
}

const HEAD = 4;

/**
 * Packs frames (and their checksum-trust flags, GuestLink.onFrames) into one buffer:
 * count (u32), then per frame its length (u32), then per frame its flag (u8), then the frames
 * back to back. Little-endian, as both ends are this process.
 */
export function packFrames(
  frames: readonly Uint8Array[],
  trusted: Uint8Array | undefined,
): ArrayBuffer {
  const n = frames.length;
  let bytes = 0;
  for (let i = 0; i < n; i++) bytes += frames[i]!.length;
  const meta = HEAD + 4 * n + n;
  const buf = new ArrayBuffer(meta + bytes);
  const view = new DataView(buf);
  const u8 = new Uint8Array(buf);
  view.setUint32(0, n, true);
  let at = meta;
  for (let i = 0; i < n; i++) {
    const f = frames[i]!;
    view.setUint32(HEAD + 4 * i, f.length, true);
    u8[HEAD + 4 * n + i] = trusted !== undefined ? trusted[i]! : 0;
    u8.set(f, at);
    at += f.length;
  }
  return buf;
}

/** The frames and flags of a packFrames buffer (views into it), or undefined if it is malformed. */
export function unpackFrames(
  buf: ArrayBuffer,
): { frames: Uint8Array[]; trusted: Uint8Array } | undefined {
  if (buf.byteLength < HEAD) return undefined;
  const view = new DataView(buf);
  const n = view.getUint32(0, true);
  const meta = HEAD + 5 * n;
  if (meta > buf.byteLength) return undefined;
  const frames: Uint8Array[] = [];
  let at = meta;
  for (let i = 0; i < n; i++) {
    const len = view.getUint32(HEAD + 4 * i, true);
    if (at + len > buf.byteLength) return undefined;
    frames.push(new Uint8Array(buf, at, len));
    at += len;
  }
  return { frames, trusted: new Uint8Array(buf, HEAD + 4 * n, n) };
}

/**
 * Wraps one shard's queue of the guest link (see the file comment).
 *
 * @param inner - This shard's queue (its frames may be transient: forwarded ones are copied).
 * @param mesh - The shard's number, the shard count, the inbound ports and the way to the others.
 */
export function shardedLink(inner: GuestLink, mesh: ShardMesh): ShardedLink {
  const { self, shards, inbound } = mesh;
  let listener: ((frames: Uint8Array[], trusted?: Uint8Array) => void) | undefined;
  let owners = new Uint8Array(64);
  const counters = { forwardedOut: 0, forwardedIn: 0, forwardedBatches: 0 };
  const split = (frames: Uint8Array[], trusted: Uint8Array | undefined): void => {
    const n = frames.length;
    if (owners.length < n) owners = new Uint8Array(n);
    let foreign = 0;
    for (let i = 0; i < n; i++) {
      const o = shardOf(frames[i]!, shards, inbound);
      owners[i] = o;
      if (o !== self) foreign++;
    }
    if (foreign === 0) {
      listener?.(frames, trusted);
      return;
    }
    counters.forwardedOut += foreign;
    for (let to = 0; to < shards; to++) {
      if (to === self) continue;
      const out: Uint8Array[] = [];
      const flags: number[] = [];
      for (let i = 0; i < n; i++) {
        if (owners[i] !== to) continue;
        out.push(frames[i]!);
        flags.push(trusted !== undefined ? trusted[i]! : 0);
      }
      if (out.length > 0) mesh.forward(to, packFrames(out, Uint8Array.from(flags)));
    }
    if (foreign === n) return;
    const local: Uint8Array[] = [];
    const localTrusted = new Uint8Array(n - foreign);
    for (let i = 0; i < n; i++) {
      if (owners[i] !== self) continue;
      localTrusted[local.length] = trusted !== undefined ? trusted[i]! : 0;
      local.push(frames[i]!);
    }
    listener?.(local, localTrusted);
  };
  return {
    kind: inner.kind,
    ...(inner.checksumOffload !== undefined ? { checksumOffload: inner.checksumOffload } : {}),
    ...(inner.tsoMax !== undefined ? { tsoMax: inner.tsoMax } : {}),
    ...(inner.consumesOnSend !== undefined ? { consumesOnSend: inner.consumesOnSend } : {}),
    ...(inner.framesTransient !== undefined ? { framesTransient: inner.framesTransient } : {}),
    shardCounters: counters,
    send: (frames, partialChecksum) => inner.send(frames, partialChecksum),
    onFrames(fn) {
      listener = fn;
      inner.onFrames(split);
    },
    onDrain: (fn) => inner.onDrain(fn),
    inject(packed) {
      const batch = unpackFrames(packed);
      if (batch === undefined || batch.frames.length === 0) return;
      counters.forwardedIn += batch.frames.length;
      counters.forwardedBatches++;
      listener?.(batch.frames, batch.trusted);
    },
    close: () => inner.close(),
  };
}

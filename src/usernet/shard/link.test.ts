// Unit tests of the sharded link: a batch splits by owner, foreign frames are packed for their shard, injected ones reach the daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packFrames, shardedLink, unpackFrames } from './link.js';
import { newInboundPorts, shardOf } from './route.js';
import type { GuestLink } from '../link/types.js';
import { buildIpv4Frame } from '../../wire/build.js';
import { IpProtocol } from '../../wire/ipv4.js';
import { parseIpv4, parseMac } from '../../wire/common.js';

const MAC = parseMac('02:00:00:00:00:01')!;

function udp(sport: number): Uint8Array {
  return buildIpv4Frame(
    MAC,
    MAC,
    { src: parseIpv4('10.0.2.15')!, dst: parseIpv4('10.0.2.2')!, protocol: IpProtocol.Udp },
    8,
    (l4) => {
      l4[0] = sport >> 8;
      l4[1] = sport & 0xff;
      l4[3] = 53;
    },
  );
}

function fakeLink(): GuestLink & { deliver(f: Uint8Array[], t?: Uint8Array): void } {
  let fn: ((f: Uint8Array[], t?: Uint8Array) => void) | undefined;
  return {
    kind: 'tap',
    checksumOffload: true,
    framesTransient: true,
    send: () => true,
    onFrames: (l) => void (fn = l),
    onDrain: () => {},
    close: () => Promise.resolve(),
    deliver: (f, t) => fn!(f, t),
  };
}

test('packFrames and unpackFrames round-trip frames and flags; a short buffer is refused', () => {
  const frames = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array([9])];
  const back = unpackFrames(packFrames(frames, new Uint8Array([1, 0, 1])))!;
  assert.deepEqual(
    back.frames.map((f) => [...f]),
    [[1, 2, 3], [], [9]],
  );
  assert.deepEqual([...back.trusted], [1, 0, 1]);
  const cut = packFrames(frames, undefined).slice(0, 10);
  assert.equal(unpackFrames(cut), undefined);
  assert.equal(unpackFrames(new ArrayBuffer(2)), undefined);
});

test('a batch splits by owner: local frames pass on, foreign ones are packed for their shard', () => {
  const inbound = newInboundPorts();
  const inner = fakeLink();
  const sent: { to: number; packed: ArrayBuffer }[] = [];
  const link = shardedLink(inner, {
    self: 0,
    shards: 2,
    inbound,
    forward: (to, packed) => sent.push({ to, packed }),
  });
  assert.equal(link.checksumOffload, true);
  const got: { frames: Uint8Array[]; trusted?: Uint8Array }[] = [];
  link.onFrames((frames, trusted) => got.push({ frames, ...(trusted ? { trusted } : {}) }));
  const frames = Array.from({ length: 40 }, (_, i) => udp(40000 + 2 * i));
  const owner = frames.map((f) => shardOf(f, 2, inbound));
  assert.ok(owner.includes(0) && owner.includes(1));
  const trusted = Uint8Array.from(frames, (_, i) => i % 2);
  inner.deliver(frames, trusted);
  assert.equal(got.length, 1);
  assert.deepEqual(
    got[0]!.frames,
    frames.filter((_, i) => owner[i] === 0),
  );
  assert.deepEqual(
    [...got[0]!.trusted!],
    [...trusted].filter((_, i) => owner[i] === 0),
  );
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.to, 1);
  const fwd = unpackFrames(sent[0]!.packed)!;
  assert.deepEqual(
    fwd.frames.map((f) => [...f]),
    frames.filter((_, i) => owner[i] === 1).map((f) => [...f]),
  );
  assert.equal(link.shardCounters.forwardedOut, owner.filter((o) => o === 1).length);

  // All-local batches pass through as the same array; injected batches reach the listener.
  const mine = frames.filter((_, i) => owner[i] === 0);
  inner.deliver(mine);
  assert.equal(got[1]!.frames, mine);
  link.inject(sent[0]!.packed);
  assert.equal(got[2]!.frames.length, fwd.frames.length);
  assert.equal(link.shardCounters.forwardedIn, fwd.frames.length);
});

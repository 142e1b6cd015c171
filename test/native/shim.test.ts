// Integration (root): the shim's receive paths keep every frame when a batch buffer cannot be made or JS detaches the reused one, and leave no fd open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labSkipReason, uniqueIfName, type Netns } from '../lab/lab.js';
import { failNextBatches, openTap, type TapDevice } from '../../src/native/index.js';
import { settleFds, shimFds } from './fds.js';

const skip = labSkipReason();
const before = shimFds();

/** A tap in a fresh namespace with 10.202.0.1/24 and a neighbour 10.202.0.2 the kernel sends to. */
async function tapWithPeer(
  lab: Lab,
  opts: { reuseRx?: boolean },
): Promise<{ ns: Netns; tap: TapDevice }> {
  const ns = await lab.namespace('shim');
  const name = uniqueIfName('sh');
  const tap = openTap({ netns: ns, name, up: true, reuseRx: opts.reuseRx ?? false });
  lab.defer(() => tap.close());
  await lab.ip(ns, ['addr', 'add', '10.202.0.1/24', 'dev', name]);
  await lab.ip(ns, ['neigh', 'replace', '10.202.0.2', 'lladdr', '02:00:00:00:bd:09', 'dev', name]);
  return { ns, tap };
}

/** Sends datagrams "mark<i>" (i < n) from the namespace to 10.202.0.2:4242, `gap` s apart. */
function sendMarks(lab: Lab, ns: Netns, n: number, gap = 0): Promise<string> {
  return lab.run(ns, [
    'python3',
    '-c',
    `import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(${n}):
    s.sendto(b'mark%d' % i, ('10.202.0.2', 4242))
    time.sleep(${gap})`,
  ]);
}

/** The "mark<i>" payload of a UDP/IPv4 frame, if it is one. */
function markOf(f: Uint8Array): string | undefined {
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 17) return undefined;
  const text = Buffer.from(f.subarray(42)).toString('latin1');
  return text.startsWith('mark') ? text : undefined;
}

/** Waits (deadline 5 s) until `seen` holds every mark below n. */
async function waitMarks(seen: string[], n: number): Promise<void> {
  const want = Array.from({ length: n }, (_, i) => `mark${i}`);
  const end = Date.now() + 5000;
  while (!want.every((m) => seen.includes(m))) {
    if (Date.now() > end) assert.fail(`marks seen: ${JSON.stringify(seen)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test(
  'a batch whose ArrayBuffer cannot be made is delivered later, complete and in order',
  { skip },
  async (t) => {
    const lab = await Lab.create(t);
    const { ns, tap } = await tapWithPeer(lab, {});
    const seen: string[] = [];
    tap.onFrames((frames) => {
      for (const f of frames) {
        const m = markOf(f);
        if (m !== undefined) seen.push(m);
      }
    });
    t.after(() => failNextBatches(0));
    // A lone frame whose batch fails: it must come later without another frame to wake the
    // reader (the shim retries on the next loop turn).
    failNextBatches(1);
    await sendMarks(lab, ns, 1);
    await waitMarks(seen, 1);
    assert.equal(failNextBatches(3), 0, 'the injected failure happened');
    // Then one datagram at a time with three failures among them: none lost.
    await sendMarks(lab, ns, 6, 0.05);
    await waitMarks(seen, 6);
    assert.equal(failNextBatches(0), 0, 'all three injected failures happened');
    seen.splice(0, 1); // mark0 of the first round
    assert.deepEqual(
      seen,
      seen.slice().sort((a, b) => Number(a.slice(4)) - Number(b.slice(4))),
      'in order',
    );
    assert.equal(new Set(seen).size, seen.length, 'none twice');
  },
);

test(
  'the reused receive buffer is C-owned: JS cannot detach it by transferring it',
  { skip },
  async (t) => {
    const lab = await Lab.create(t);
    const { ns, tap } = await tapWithPeer(lab, { reuseRx: true });
    assert.equal(tap.transient, true);
    const seen: string[] = [];
    const buffers = new Set<ArrayBufferLike>();
    let tried = false;
    let lengthAfter = -1;
    tap.onFrames((frames) => {
      for (const f of frames) {
        const m = markOf(f);
        if (m !== undefined) seen.push(m);
      }
      const buf = frames[0]!.buffer as ArrayBuffer;
      buffers.add(buf);
      if (!tried && seen.length > 0) {
        tried = true;
        // A JS-allocated ArrayBuffer would be detached by this (byteLength 0) while the shim
        // kept writing into its memory; Node copies an external one instead (or refuses).
        try {
          structuredClone(buf, { transfer: [buf] });
        } catch {
          // refusing is as good as copying
        }
        lengthAfter = buf.byteLength;
      }
    });
    await sendMarks(lab, ns, 1);
    await waitMarks(seen, 1);
    assert.ok(tried);
    assert.ok(lengthAfter > 0, 'still attached after the transfer attempt');
    await sendMarks(lab, ns, 4, 0.02);
    await waitMarks(seen, 4);
    assert.equal(buffers.size, 1, 'every batch arrives in the one C-owned buffer');
  },
);

test('the suite leaves no socket, tap or epoll fd open', { skip }, async () => {
  assert.deepEqual(await settleFds(before), []);
});

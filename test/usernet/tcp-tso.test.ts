// TCP segmentation offload toward the guest through `bindery passt --tap`: bulk host→guest at MTU 1500 in 64 KiB frames the guest's kernel takes whole, IPv4 and IPv6; no-offload and MTU 65520 as before.
//
// The guest namespace's kernel is the receiver: each transfer's SHA-256 must match at both
// ends. bindery's own capture (-p) shows what it handed the tap: with offload at MTU 1500, TCP
// frames past 1514 bytes (up to TAP_TSO_MAX), every one of them decoding clean in tshark once
// its partial checksum is completed (the test checks each checksum is either complete or a
// correct partial one first); without offload, none past 1514.
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Lab, labSkipReason } from '../lab/lab.js';
import { FAMILIES, lastJson, startTcpLink } from '../lab/tcp-tools.js';
import type { Family, TalkReport, TcpLink } from '../lab/tcp-tools.js';
import { FLOW_CONTROL, tsharkDecode, tsharkProblems } from '../lab/tshark.js';
import { closedSocketResets } from '../lab/tcp-resets.js';
import { readPcap } from '../../src/wire/pcap.js';
import { completePartialChecksum, sum16, verify } from '../../src/wire/checksum.js';
import { l4PseudoSum } from '../../src/wire/udp.js';
import { TAP_TSO_MAX } from '../../src/usernet/link/gso.js';

const skip = labSkipReason();
const MiB = 1024 ** 2;
/** Host→guest bulk per family (the TSO path), and guest→host (unchanged, for contrast). */
const H2G = 32 * MiB;
const G2H = 4 * MiB;

/**
 * One connection from the guest to the pod's loopback through the gateway: the pod sends
 * `down` bytes, the guest `up`; both ends' SHA-256 must match what the other sent.
 */
async function transfer(
  lab: Lab,
  link: TcpLink,
  fam: Family,
  port: number,
  down: number,
  up: number,
): Promise<TalkReport> {
  const srv = lab.spawn(link.pod, [
    ...link.tool,
    'talk',
    'listen',
    fam.loopback,
    String(port),
    String(down),
    'send-then-read',
    String(2 * port + 1),
  ]);
  await srv.waitForOutput(/ready/, 10_000);
  const r = await lab.exec(
    link.guest,
    [
      ...link.tool,
      'talk',
      'connect',
      fam.gateway,
      String(port),
      String(up),
      'read-then-send',
      String(2 * port),
    ],
    { timeoutMs: 120_000 },
  );
  await srv.exited;
  const ctx = `${fam.name}: client ${r.stdout}${r.stderr}\nserver ${srv.output}\n${link.proc.output}`;
  assert.equal(r.code, 0, ctx);
  const c = lastJson<TalkReport>(r.stdout);
  const s = lastJson<TalkReport>(srv.stdout);
  assert.equal(c.error, undefined, ctx);
  assert.equal(s.error, undefined, ctx);
  assert.equal(s.sent.bytes, down, ctx);
  assert.deepEqual(c.got, s.sent, `the guest got what the pod sent; ${ctx}`);
  assert.deepEqual(s.got, c.sent, `the pod got what the guest sent; ${ctx}`);
  return c;
}

/** Where the TCP header of an untagged IPv4/IPv6 frame starts, with its addresses; or undefined. */
function tcpOf(f: Uint8Array): { at: number; src: Uint8Array; dst: Uint8Array } | undefined {
  const type = (f[12]! << 8) | f[13]!;
  if (type === 0x0800 && f.length >= 34 && f[23] === 6)
    return { at: 14 + (f[14]! & 15) * 4, src: f.subarray(26, 30), dst: f.subarray(30, 34) };
  if (type === 0x86dd && f.length >= 74 && f[20] === 6)
    return { at: 54, src: f.subarray(22, 38), dst: f.subarray(38, 54) };
  return undefined;
}

/**
 * Makes every TCP checksum in `frames` complete, in place: an offloading tap leaves them
 * partial both ways (the field holds the pseudo-header sum). Returns how many were neither
 * complete nor a correct partial sum (they are left as they were, for tshark to flag).
 */
function completeTcpChecksums(frames: Uint8Array[]): number {
  let bad = 0;
  for (const f of frames) {
    const tcp = tcpOf(f);
    if (tcp === undefined) continue;
    const l4 = f.subarray(tcp.at);
    const pseudo = l4PseudoSum(tcp.src, tcp.dst, 6, l4.length);
    if (verify(sum16(l4, pseudo))) continue;
    const copy = f.slice();
    completePartialChecksum(copy, tcp.at, 16);
    if (verify(sum16(copy.subarray(tcp.at), pseudo)))
      f.set(copy.subarray(tcp.at + 16, tcp.at + 18), tcp.at + 16);
    else bad++;
  }
  return bad;
}

interface Run {
  readonly lab: Lab;
  readonly link: TcpLink;
  readonly pcap?: string;
}

async function start(
  t: TestContext,
  args: readonly string[],
  mtu?: number,
  pcap = false,
): Promise<Run> {
  const lab = await Lab.create(t);
  const dir = await lab.tmpDir();
  const file = pcap ? join(dir, 'bindery.pcap') : undefined;
  const link = await startTcpLink(lab, {
    kind: 'bindery',
    ...(mtu !== undefined ? { mtu } : {}),
    binderyArgs: [...args, ...(file !== undefined ? ['-p', file] : [])],
  });
  return { lab, link, ...(file !== undefined ? { pcap: file } : {}) };
}

/** Stops bindery (SIGTERM: a clean exit flushes the capture) and returns its frames. */
async function stop(t: TestContext, run: Run): Promise<Uint8Array[]> {
  const st = await run.link.proc.kill('SIGTERM', 5000);
  const log = await readFile(run.link.logFile!, 'utf8');
  for (const m of log.matchAll(/stopped; counters .*/g)) t.diagnostic(m[0]);
  assert.equal(st.code, 0, `bindery exits cleanly: ${run.link.proc.output}\n${log}`);
  if (run.pcap === undefined) return [];
  const pcap = readPcap(await readFile(run.pcap));
  assert.ok(pcap, 'bindery wrote a pcap file');
  return pcap.records.map((r) => r.frame);
}

/** The guest tap's MAC: frames from any other source are bindery's. */
async function guestMac(run: Run): Promise<string> {
  const j = JSON.parse(await run.lab.ip(run.link.guest, ['-j', 'link', 'show', run.link.tap])) as [
    { address: string },
  ];
  return j[0].address;
}

function macOf(f: Uint8Array, at: number): string {
  return [...f.subarray(at, at + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

describe('TCP segmentation offload toward the guest on the tap', () => {
  test(
    'MTU 1500 with offload: 64 KiB frames, the guest kernel takes them whole',
    { skip, timeout: 300_000 },
    async (t) => {
      const run = await start(t, [], 1500, true);
      const guest = await guestMac(run);
      let port = 20_000;
      for (const fam of FAMILIES) {
        const c = await transfer(run.lab, run.link, fam, port++, H2G, G2H);
        t.diagnostic(
          `${fam.name}: ${H2G / MiB} MiB host→guest, ${G2H / MiB} MiB back, ${c.seconds.toFixed(2)} s`,
        );
      }
      const frames = await stop(t, run);
      const ours = frames.filter((f) => macOf(f, 6) !== guest && tcpOf(f) !== undefined);
      const big = ours.filter((f) => f.length > 1514);
      const longest = Math.max(...ours.map((f) => f.length));
      t.diagnostic(
        `${ours.length} TCP frames to the guest, ${big.length} past 1514 bytes, longest ${longest}`,
      );
      assert.ok(big.length > 0, 'bindery sent TCP frames past the MTU');
      assert.ok(longest <= TAP_TSO_MAX, `no frame past ${TAP_TSO_MAX}: ${longest}`);
      for (const fam of [0x0800, 0x86dd])
        assert.ok(
          big.some((f) => ((f[12]! << 8) | f[13]!) === fam),
          `big frames in ${fam === 0x0800 ? 'IPv4' : 'IPv6'}`,
        );
      assert.equal(
        completeTcpChecksums(frames),
        0,
        'every TCP checksum is complete or a correct partial sum',
      );
      // The payload is random bytes: keep tshark from reading it as some protocol.
      const decoded = await tsharkDecode(frames, ['tcp.port==20000-20099,data']);
      // A loaded machine delays our ACK of the guest's FIN past its tail-loss probe: the
      // guest's kernel then resets our second ACK, by the rules (see tcp-resets.ts).
      const resets = closedSocketResets(frames);
      const problems = tsharkProblems(decoded, FLOW_CONTROL, resets);
      t.diagnostic(`tshark: ${decoded.length} frames decoded, ${resets.size} closed-socket RSTs`);
      assert.deepEqual(problems.slice(0, 30), [], `${problems.length} problems`);
    },
  );

  test('MTU 1500 without offload: no frame past the MTU', { skip, timeout: 300_000 }, async (t) => {
    const run = await start(t, ['--no-tap-offload'], 1500, true);
    const guest = await guestMac(run);
    let port = 20_100;
    for (const fam of FAMILIES) await transfer(run.lab, run.link, fam, port++, 4 * MiB, 0);
    const frames = await stop(t, run);
    const ours = frames.filter((f) => macOf(f, 6) !== guest && tcpOf(f) !== undefined);
    const longest = Math.max(...ours.map((f) => f.length));
    t.diagnostic(`${ours.length} TCP frames to the guest, longest ${longest}`);
    assert.ok(longest <= 1514, `no frame past the MTU: ${longest}`);
  });

  test(
    'MTU 65520 with offload: bulk both ways as before',
    { skip, timeout: 300_000 },
    async (t) => {
      const run = await start(t, []);
      let port = 20_200;
      for (const fam of FAMILIES) await transfer(run.lab, run.link, fam, port++, H2G, G2H);
      await stop(t, run);
    },
  );
});

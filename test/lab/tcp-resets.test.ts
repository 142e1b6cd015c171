// Tests of closedSocketResets: it picks out the RST of a socket closed by the rules, and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closedSocketResets } from './tcp-resets.js';
import { tsharkDecode, tsharkProblems } from './tshark.js';
import { frame4, frame6, V4_A, V4_B, V6_A, V6_B } from './frames.js';
import { emitTcp, tcpHeaderLen, TcpFlag, TCP_NO_OPTIONS } from '../../src/wire/tcp.js';

const { ACK, FIN, RST, PSH, SYN } = TcpFlag;

/** One segment of the connection A:40000 ⇄ B:20000, from A when `fromA`. */
function seg(v6: boolean, fromA: boolean, flags: number, seq: number, ack: number, len = 0) {
  const [a, b] = v6 ? [V6_A, V6_B] : [V4_A, V4_B];
  const [src, dst] = fromA ? [a, b] : [b, a];
  const r = {
    srcPort: fromA ? 40000 : 20000,
    dstPort: fromA ? 20000 : 40000,
    seq,
    ack,
    flags,
    window: (flags & RST) !== 0 ? 0 : 65535,
    urgent: 0,
    options: TCP_NO_OPTIONS,
    payloadLen: len,
  };
  const fill = (l4: Uint8Array): void => emitTcp(r, l4, src, dst);
  const l4Len = tcpHeaderLen(r) + len;
  return v6 ? frame6(src, dst, 6, l4Len, fill) : frame4(src, dst, 6, l4Len, fill);
}

/**
 * The crossing seen in CI (A is the guest, B bindery): B's FIN first, A's last data with FIN,
 * B's ACK of it, A's tail-loss probe, B's ACK again, A's RST. The options vary it: A's FIN
 * first (`bFinFirst` false), the RST's sequence number, no ACKs from B (`acked` false).
 */
function crossing(v6: boolean, opts: { bFinFirst?: boolean; rstSeq?: number; acked?: boolean }) {
  const { bFinFirst = true, rstSeq = 1111, acked = true } = opts;
  const f = [
    seg(v6, true, SYN, 999, 0),
    seg(v6, false, SYN | ACK, 4999, 1000),
    seg(v6, true, ACK, 1000, 5000),
  ];
  const bFin = seg(v6, false, FIN | ACK, 5000, 1000);
  const aAck = seg(v6, true, ACK, 1000, 5001);
  if (bFinFirst) f.push(bFin, aAck);
  f.push(seg(v6, true, FIN | PSH | ACK, 1000, bFinFirst ? 5001 : 5000, 110));
  if (!bFinFirst) f.push(bFin);
  if (acked) f.push(seg(v6, false, ACK, 5001, 1111));
  f.push(seg(v6, true, FIN | PSH | ACK, 1100, 5001, 10));
  if (acked) f.push(seg(v6, false, ACK, 5001, 1111));
  f.push(seg(v6, true, RST, rstSeq, 0));
  return f;
}

test('the RST of a passive closer after its FIN was acknowledged is picked out, IPv4 and IPv6', async () => {
  for (const v6 of [false, true]) {
    const frames = crossing(v6, {});
    const resets = closedSocketResets(frames);
    assert.deepEqual([...resets], [frames.length]);
    // tshark does flag it; the set is what lets a test tell it from a fault.
    const decoded = await tsharkDecode(frames);
    const problems = tsharkProblems(decoded);
    assert.ok(problems.some((p) => p.startsWith(`frame ${frames.length} `) && /reset/.test(p)));
    assert.deepEqual(tsharkProblems(decoded, [], resets), []);
  }
});

test('other RSTs are not picked out', () => {
  for (const v6 of [false, true]) {
    // The active closer (its FIN came first) sits in TIME-WAIT: it has no cause to reset.
    assert.equal(closedSocketResets(crossing(v6, { bFinFirst: false })).size, 0);
    // A RST at another sequence number is something else.
    assert.equal(closedSocketResets(crossing(v6, { rstSeq: 1100 })).size, 0);
    // Before its FIN was acknowledged the socket was still open.
    assert.equal(closedSocketResets(crossing(v6, { acked: false })).size, 0);
  }
  // A new connection on the same ports starts afresh.
  const again = [...crossing(false, {})];
  const rst = again.pop()!;
  again.push(seg(false, true, SYN, 7000, 0), rst);
  assert.equal(closedSocketResets(again).size, 0);
});

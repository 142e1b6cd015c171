// The hand-over state codec: what migrate.export writes is what migrate.import reads, and malformed states are refused whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinderyError, ErrorCode } from '../../../errors.js';
import { decodeHandoverState, encodeHandoverState, type HandoverState } from './migrate-state.js';
import { SAMPLE } from '../../../../test/lab/handover-fixtures.js';

/** The JSON text of a state, parsed again (what crosses the file or the socket). */
const wire = (st: HandoverState): Record<string, unknown> =>
  JSON.parse(JSON.stringify(encodeHandoverState(st))) as Record<string, unknown>;

test('export JSON → import: every field and byte comes back', () => {
  const back = decodeHandoverState(wire(SAMPLE));
  assert.deepEqual(back, SAMPLE);
  const j = wire(SAMPLE) as { flows: { host: { sendQueue: string } }[] };
  assert.equal(typeof j.flows[0]!.host.sendQueue, 'string', 'byte strings are base64 text');
});

test('a malformed state is refused with BINDERY_ERR_MIGRATE naming the field', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mutating parsed JSON by path
  const cases: [string, (j: any) => void, RegExp][] = [
    ['version', (j) => (j.version = 2), /state\.version/],
    ['mac', (j) => (j.guestMac = 'nope'), /guestMac/],
    ['flows', (j) => (j.flows = {}), /state\.flows/],
    ['family', (j) => (j.flows[0].family = 5), /flows\[0\]\.family/],
    ['seq range', (j) => (j.flows[0].host.sndSeq = 2 ** 32), /host\.sndSeq/],
    ['negative', (j) => (j.flows[1].guest.rcvNxt = -1), /guest\.rcvNxt/],
    ['fraction', (j) => (j.flows[0].guest.mss = 1.5), /guest\.mss/],
    ['port 0', (j) => (j.flows[0].host.peerPort = 0), /port 0/],
    ['address family', (j) => (j.flows[0].host.peerAddr = '::1'), /peerAddr/],
    ['base64', (j) => (j.flows[0].host.recvQueue = 'a*b='), /recvQueue.*base64/],
    ['notSent', (j) => (j.flows[0].host.notSent = 70001), /notSent/],
    ['scale', (j) => (j.flows[0].guest.wsIn = 15), /wsIn/],
    ['boolean', (j) => (j.flows[0].inbound = 'no'), /inbound/],
    ['missing', (j) => delete j.flows[1].host, /flows\[1\]\.host is not an object/],
  ];
  for (const [name, mutate, re] of cases) {
    const j = wire(SAMPLE);
    mutate(j);
    assert.throws(
      () => decodeHandoverState(j),
      (e: unknown) =>
        e instanceof BinderyError && e.code === ErrorCode.Migrate && re.test(e.message),
      name,
    );
  }
  for (const v of [null, 1, 'x', [], undefined])
    assert.throws(() => decodeHandoverState(v), BinderyError);
});

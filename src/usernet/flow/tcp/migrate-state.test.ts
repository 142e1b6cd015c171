// The hand-over state codec: what migrate.export writes is what migrate.import reads, and malformed states are refused whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinderyError, ErrorCode } from '../../../errors.js';
import {
  decodeHandoverState,
  encodeHandoverState,
  HANDOVER_STATE_VERSION,
  type HandoverState,
} from './migrate-state.js';

const bytes = (n: number, seed: number) =>
  Uint8Array.from({ length: n }, (_, i) => (i * seed + 7) & 0xff);

export const SAMPLE: HandoverState = {
  version: HANDOVER_STATE_VERSION,
  guestMac: '52:54:00:12:34:56',
  flows: [
    {
      family: 4,
      inbound: false,
      guest: {
        guestAddr: '10.0.2.15',
        guestPort: 41000,
        remoteAddr: '10.88.0.1',
        remotePort: 5001,
        iss: 0xfffffff0,
        irs: 12345,
        rcvNxt: 99999,
        rcvEdge: 4_294_000_000,
        sndUna: 0xfffffff1,
        sndMax: 100,
        sndWnd: 3_000_000,
        wsIn: 7,
        wsOut: 7,
        mss: 65480,
        rcvMss: 65480,
        sackOk: true,
        pending: bytes(3000, 3),
      },
      host: {
        localAddr: '10.77.0.2',
        localPort: 51786,
        peerAddr: '10.88.0.1',
        peerPort: 5001,
        sndSeq: 1,
        rcvSeq: 0xffffffff,
        sendQueue: bytes(70000, 5),
        notSent: 1000,
        recvQueue: bytes(1, 9),
        sndWl1: 5,
        sndWnd: 65536,
        maxWindow: 1 << 20,
        rcvWnd: 1 << 20,
        rcvWup: 4,
        sndWscale: 10,
        rcvWscale: 10,
        mss: 1460,
        options: 7,
        timestamp: 123456789,
      },
    },
    {
      family: 6,
      inbound: true,
      guest: {
        guestAddr: 'fd00:bd::15',
        guestPort: 8080,
        remoteAddr: 'fd00:bd::2',
        remotePort: 33000,
        iss: 0,
        irs: 0,
        rcvNxt: 0,
        rcvEdge: 0,
        sndUna: 0,
        sndMax: 0,
        sndWnd: 0,
        wsIn: 0,
        wsOut: 0,
        mss: 536,
        rcvMss: 536,
        sackOk: false,
        pending: new Uint8Array(0),
      },
      host: {
        localAddr: '::1',
        localPort: 18080,
        peerAddr: '::1',
        peerPort: 33000,
        sndSeq: 0,
        rcvSeq: 0,
        sendQueue: new Uint8Array(0),
        notSent: 0,
        recvQueue: new Uint8Array(0),
        sndWl1: 0,
        sndWnd: 0,
        maxWindow: 0,
        rcvWnd: 0,
        rcvWup: 0,
        sndWscale: 0,
        rcvWscale: 0,
        mss: 536,
        options: 0,
        timestamp: 0,
      },
    },
  ],
};

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

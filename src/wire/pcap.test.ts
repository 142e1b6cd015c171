// Tests of the pcap writer and reader: round trip, and tcpdump's reading of what we write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  pcapFile,
  pcapHeader,
  putPcapRecord,
  readPcap,
  LINKTYPE_ETHERNET,
  PCAP_RECORD_HEADER_LEN,
} from './pcap.js';

test('write then read gives the same records', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          timeUs: fc.integer({ min: 0, max: 2 ** 40 }),
          frame: fc.uint8Array({ minLength: 14, maxLength: 200 }),
        }),
        { maxLength: 8 },
      ),
      (recs) => {
        const back = readPcap(pcapFile(recs));
        assert.ok(back);
        assert.equal(back.linktype, LINKTYPE_ETHERNET);
        assert.deepEqual(
          back.records.map((r) => [r.timeUs, Array.from(r.frame)]),
          recs.map((r) => [r.timeUs, Array.from(r.frame)]),
        );
      },
    ),
  );
});

test('records put one after another in a buffer read back as the same file pcapFile writes', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          timeUs: fc.integer({ min: 0, max: 2 ** 42 }),
          frame: fc.uint8Array({ minLength: 14, maxLength: 200 }),
        }),
        { maxLength: 8 },
      ),
      fc.nat({ max: 7 }),
      (recs, lead) => {
        const size = recs.reduce((n, r) => n + PCAP_RECORD_HEADER_LEN + r.frame.length, 0);
        // Written at an offset inside a larger buffer, as the capture's chunks are.
        const buf = new Uint8Array(lead + 24 + size + 3);
        buf.set(pcapHeader(), lead);
        let off = lead + 24;
        for (const r of recs) off = putPcapRecord(buf, off, r.timeUs, r.frame);
        assert.equal(off, lead + 24 + size);
        assert.deepEqual(buf.subarray(lead, off), pcapFile(recs));
      },
    ),
  );
});

test('random bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
      readPcap(b);
    }),
  );
});

test('tcpdump reads the file we write', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bindery-pcap-'));
  try {
    const frame = new Uint8Array(60);
    frame.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06], 0);
    const p = join(dir, 'x.pcap');
    writeFileSync(p, pcapFile([{ timeUs: 1_700_000_000_123_456, frame }]));
    const out = execFileSync('tcpdump', ['-nn', '-r', p], { encoding: 'utf8', stdio: 'pipe' });
    assert.equal(out.trim().split('\n').length, 1);
    assert.match(out, /ARP/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

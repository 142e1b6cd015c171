// Decodes frames with Wireshark's tshark and reports malformed packets and expert warnings.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pcapFile } from '../../src/wire/pcap.js';

const run = promisify(execFile);

/** Expert severities as tshark prints them (epan/proto.h PI_*). */
export const Severity = {
  chat: 0x200000,
  note: 0x400000,
  warn: 0x600000,
  error: 0x800000,
} as const;

/** What tshark made of one frame. */
export interface TsharkFrame {
  /** 1-based frame number. */
  readonly number: number;
  /** Protocol stack, e.g. "eth:ethertype:ip:udp:dhcp". */
  readonly protocols: string;
  readonly experts: ReadonlyArray<{ severity: number; message: string }>;
  readonly malformed: boolean;
}

/** Checksum validation is off by default in tshark; turn it on for every protocol we emit. */
const PREFS = ['ip.check_checksum:TRUE', 'tcp.check_checksum:TRUE', 'udp.check_checksum:TRUE'];

/**
 * Writes `frames` to a temporary pcap, decodes it with tshark (checksums validated) and
 * returns one report per frame. `decodeAs` adds `-d` rules (e.g. "udp.port==10067,dhcp").
 */
export async function tsharkDecode(
  frames: readonly Uint8Array[],
  decodeAs: readonly string[] = [],
): Promise<TsharkFrame[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bindery-tshark-'));
  try {
    const file = join(dir, 'frames.pcap');
    await writeFile(
      file,
      pcapFile(frames.map((frame, i) => ({ timeUs: 1_700_000_000_000_000 + i, frame }))),
    );
    return await tsharkDecodeFile(file, decodeAs);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** tsharkDecode of a pcap file already written (e.g. by `bindery passt --pcap`). */
export async function tsharkDecodeFile(
  file: string,
  decodeAs: readonly string[] = [],
): Promise<TsharkFrame[]> {
  const args = ['-r', file, '-T', 'json'];
  for (const p of PREFS) args.push('-o', p);
  for (const d of decodeAs) args.push('-d', d);
  for (const f of [
    'frame.number',
    'frame.protocols',
    '_ws.expert.severity',
    '_ws.expert.message',
    '_ws.malformed',
  ])
    args.push('-e', f);
  const { stdout } = await run('tshark', args, { maxBuffer: 256 * 1024 * 1024 });
  const docs = JSON.parse(stdout) as Array<{ _source: { layers: Record<string, string[]> } }>;
  return docs.map((d) => {
    const l = d._source.layers;
    const sev = l['_ws.expert.severity'] ?? [];
    const msg = l['_ws.expert.message'] ?? [];
    return {
      number: Number(l['frame.number']?.[0] ?? 0),
      protocols: l['frame.protocols']?.[0] ?? '',
      experts: sev.map((s, i) => ({ severity: Number(s), message: msg[i] ?? '' })),
      malformed: l['_ws.malformed'] !== undefined,
    };
  });
}

/**
 * Fields of the frames of `file` that match the display `filter`, one array per frame
 * (`tshark -T fields`, '|' between occurrences of a field).
 */
export async function tsharkFields(
  file: string,
  fields: readonly string[],
  filter = '',
): Promise<string[][]> {
  const args = ['-r', file, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|'];
  if (filter !== '') args.push('-Y', filter);
  for (const f of fields) args.push('-e', f);
  const { stdout } = await run('tshark', args, { maxBuffer: 256 * 1024 * 1024 });
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

/**
 * tshark's warnings about flow control at work — a receiver's window filled up or closed to
 * zero while its application had not read yet. No fault of the frames.
 */
export const FLOW_CONTROL: readonly RegExp[] = [
  /window specified by the receiver is now completely full/,
  /^TCP Zero Window segment$/,
];

/**
 * The problems tshark found: malformed frames and expert entries of warning severity or
 * worse, except those whose message matches one of `allow` (e.g. /Connection reset/ for an RST)
 * and those of the frames numbered in `exempt` (e.g. closedSocketResets of tcp-resets.ts).
 */
export function tsharkProblems(
  frames: readonly TsharkFrame[],
  allow: readonly RegExp[] = [],
  exempt: ReadonlySet<number> = new Set(),
): string[] {
  const out: string[] = [];
  for (const f of frames) {
    if (exempt.has(f.number)) continue;
    if (f.malformed) out.push(`frame ${f.number} (${f.protocols}): malformed`);
    for (const e of f.experts) {
      if (e.severity < Severity.warn) continue;
      if (allow.some((r) => r.test(e.message))) continue;
      out.push(`frame ${f.number} (${f.protocols}): ${e.message}`);
    }
  }
  return out;
}

// The translator's control-socket protocol: versioned JSON lines, pure encode/decode, no I/O.
//
// Theory of operation
// ===================
//
// A client connects to the unix stream socket given with `-c/--conf-path` and sends requests,
// one JSON object per line (LF-terminated, UTF-8), each answered by one response line in order:
//
//   → {"v":1,"id":7,"op":"forwards.add","args":{"proto":"tcp","spec":"8080"}}
//   ← {"v":1,"id":7,"ok":true,"result":{...}}
//   ← {"v":1,"id":7,"ok":false,"error":{"code":"BINDERY_ERR_CONTROL","message":"…"}}
//
// Limits. A line longer than MAX_LINE_BYTES is refused (the connection is answered with an error
// and closed: the stream cannot be resynchronised without reading the rest). Garbage that is not
// JSON, a wrong shape, or a version other than PROTOCOL_VERSION gets an error response with
// id 0 (or the request's id when it could be read) and the connection stays open. Bytes left
// without a newline when the client closes are a truncated request: counted, never answered.
// Nothing in here throws on client bytes.

/** The protocol version this build speaks. */
export const PROTOCOL_VERSION = 1;
/** The longest request or response line accepted, in bytes (without the LF). */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;
/** Operation names: dotted lowercase words (`forwards.add`, `flows.list`). */
export const OP_NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;

/** A parsed request. */
export interface ControlRequest {
  readonly v: number;
  readonly id: number;
  readonly op: string;
  readonly args: unknown;
}

/** The error half of a response. */
export interface ControlErrorBody {
  readonly code: string;
  readonly message: string;
}

/** A response line. */
export type ControlResponse =
  | { readonly v: number; readonly id: number; readonly ok: true; readonly result: unknown }
  | {
      readonly v: number;
      readonly id: number;
      readonly ok: false;
      readonly error: ControlErrorBody;
    };

/** Why a request line was refused (also the counter names of the server). */
export type BadRequestKind = 'not-json' | 'bad-shape' | 'bad-version' | 'too-long';

/** The outcome of parsing one line. */
export type ParsedRequest =
  | { readonly ok: true; readonly req: ControlRequest }
  | {
      readonly ok: false;
      readonly kind: BadRequestKind;
      readonly id: number;
      readonly message: string;
    };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses one request line (without its LF).
 *
 * @param line - The line's text.
 * @returns The request, or the reason it is refused and the id to answer with.
 */
export function parseRequest(line: string): ParsedRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { ok: false, kind: 'not-json', id: 0, message: 'request is not a JSON object' };
  }
  if (!isRecord(v))
    return { ok: false, kind: 'bad-shape', id: 0, message: 'request is not a JSON object' };
  const id = Number.isSafeInteger(v['id']) && (v['id'] as number) >= 0 ? (v['id'] as number) : 0;
  if (v['v'] !== PROTOCOL_VERSION)
    return {
      ok: false,
      kind: 'bad-version',
      id,
      message: `unsupported protocol version ${JSON.stringify(v['v'] ?? null)}: this translator speaks ${PROTOCOL_VERSION}`,
    };
  if (!Number.isSafeInteger(v['id']) || (v['id'] as number) < 0)
    return { ok: false, kind: 'bad-shape', id: 0, message: '"id" must be a non-negative integer' };
  const op = v['op'];
  if (typeof op !== 'string' || !OP_NAME.test(op))
    return { ok: false, kind: 'bad-shape', id, message: '"op" must be an operation name' };
  return { ok: true, req: { v: PROTOCOL_VERSION, id, op, args: v['args'] ?? {} } };
}

/** Encodes a request line (with its LF). */
export function encodeRequest(id: number, op: string, args: unknown = {}): string {
  return `${JSON.stringify({ v: PROTOCOL_VERSION, id, op, args })}\n`;
}

/** Encodes a success response line (with its LF). */
export function encodeResult(id: number, result: unknown): string {
  return `${JSON.stringify({ v: PROTOCOL_VERSION, id, ok: true, result: result ?? null })}\n`;
}

/** Encodes an error response line (with its LF). */
export function encodeError(id: number, error: ControlErrorBody): string {
  return `${JSON.stringify({ v: PROTOCOL_VERSION, id, ok: false, error })}\n`;
}

/**
 * Parses one response line (client side).
 *
 * @returns The response, or undefined when the line is not one.
 */
export function parseResponse(line: string): ControlResponse | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isRecord(v) || typeof v['v'] !== 'number' || !Number.isSafeInteger(v['id']))
    return undefined;
  if (v['ok'] === true) return { v: v['v'], id: v['id'] as number, ok: true, result: v['result'] };
  const e = v['error'];
  if (
    v['ok'] === false &&
    isRecord(e) &&
    typeof e['code'] === 'string' &&
    typeof e['message'] === 'string'
  )
    return {
      v: v['v'],
      id: v['id'] as number,
      ok: false,
      error: { code: e['code'], message: e['message'] },
    };
  return undefined;
}

/**
 * Splits a byte stream into lines of at most `maxBytes` (LF removed). Pure state machine.
 *
 * @example
 * const d = new LineSplitter();
 * for (const l of d.push(chunk)) handle(l);
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  /** Set once a line ran past the limit; the splitter then yields nothing more. */
  overflowed = false;

  constructor(private readonly maxBytes = MAX_LINE_BYTES) {}

  /** Feeds bytes; returns the complete lines they finish. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    if (this.overflowed) return lines;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (this.size + (end - start) > this.maxBytes) {
        this.overflowed = true;
        this.parts = [];
        this.size = 0;
        return lines;
      }
      if (nl < 0) {
        if (end > start) {
          this.parts.push(chunk.subarray(start, end));
          this.size += end - start;
        }
        return lines;
      }
      this.parts.push(chunk.subarray(start, end));
      lines.push(Buffer.concat(this.parts).toString('utf8'));
      this.parts = [];
      this.size = 0;
      start = nl + 1;
    }
  }

  /** Bytes of an unfinished line (a truncated request when the peer closes now). */
  get pending(): number {
    return this.size;
  }
}

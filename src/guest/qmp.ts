// A small QMP (QEMU Machine Protocol) client over QEMU's `-qmp unix:…` socket: the handshake, commands matched to replies by id, events kept aside.
//
// QMP is JSON objects, one per line: QEMU greets with `{"QMP": …}`, the client must send
// `qmp_capabilities` first, and then each `{"execute": C, "arguments": A, "id": I}` gets
// `{"return": R, "id": I}` or `{"error": {"class", "desc"}, "id": I}`. Asynchronous events
// (`{"event": …}`) may come between replies; they are counted by name and otherwise ignored.
import { createConnection, type Socket } from 'node:net';
import { BinderyError, ErrorCode } from '../errors.js';
import { LineSplitter, PendingRequests } from './line-client.js';

/** One parsed QMP line. */
export type QmpMessage =
  | { readonly kind: 'greeting' }
  | { readonly kind: 'return'; readonly id?: number; readonly value: unknown }
  | { readonly kind: 'error'; readonly id?: number; readonly class: string; readonly desc: string }
  | { readonly kind: 'event'; readonly event: string; readonly data?: unknown };

/**
 * Parses one QMP line; undefined for anything that is not a QMP message.
 * @param line - one JSON line (without its newline)
 */
export function parseQmpLine(line: string): QmpMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const id = typeof o['id'] === 'number' ? { id: o['id'] } : {};
  if ('QMP' in o) return { kind: 'greeting' };
  if ('return' in o) return { kind: 'return', value: o['return'], ...id };
  if (o['error'] !== null && typeof o['error'] === 'object') {
    const e = o['error'] as Record<string, unknown>;
    return {
      kind: 'error',
      class: typeof e['class'] === 'string' ? e['class'] : 'GenericError',
      desc: typeof e['desc'] === 'string' ? e['desc'] : JSON.stringify(e),
      ...id,
    };
  }
  if (typeof o['event'] === 'string') return { kind: 'event', event: o['event'], data: o['data'] };
  return undefined;
}

/** A QMP connection after the capabilities handshake. */
export class Qmp {
  /** Events seen, by name. */
  readonly events = new Map<string, number>();
  private readonly lines = new LineSplitter();
  private readonly pending = new PendingRequests<QmpMessage>();
  private greeted: (() => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly path: string,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => this.onData(d));
    socket.on('error', () => {
      /* 'close' follows */
    });
    socket.on('close', () =>
      this.pending.fail(new BinderyError(ErrorCode.Guest, `QMP ${path}: connection closed`)),
    );
  }

  /**
   * Connects (retrying while the socket does not exist yet or refuses) and negotiates.
   * @throws BinderyError (Timeout) when QEMU did not answer within `timeoutMs`
   */
  static async connect(path: string, opts: { timeoutMs?: number } = {}): Promise<Qmp> {
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    let last: unknown;
    while (Date.now() < deadline) {
      let q: Qmp | undefined;
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection({ path });
          s.once('error', reject);
          s.once('connect', () => {
            s.off('error', reject);
            resolve(s);
          });
        });
        q = new Qmp(socket, path);
        await q.waitGreeting(Math.max(1, deadline - Date.now()));
        await q.execute('qmp_capabilities', undefined, Math.max(1, deadline - Date.now()));
        return q;
      } catch (e) {
        last = e;
        q?.close();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new BinderyError(
      ErrorCode.Timeout,
      `QMP ${path}: no answer in time${last instanceof Error ? ` (${last.message})` : ''}`,
      { cause: last },
    );
  }

  /**
   * Runs a command.
   * @returns its `return` value
   * @throws BinderyError (Guest) for a QMP error (its class and description), a closed connection; (Timeout) at the deadline
   */
  execute(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
    return this.pending.request<unknown>(
      timeoutMs,
      () => new BinderyError(ErrorCode.Timeout, `QMP ${command}: no reply in ${timeoutMs} ms`),
      (id) =>
        this.socket.write(
          JSON.stringify({
            execute: command,
            ...(args !== undefined ? { arguments: args } : {}),
            id,
          }) + '\n',
        ),
      (m, resolve, reject) => {
        if (m.kind === 'error')
          reject(new BinderyError(ErrorCode.Guest, `QMP ${command}: ${m.class}: ${m.desc}`));
        else resolve(m.kind === 'return' ? m.value : undefined);
      },
    );
  }

  /** Closes the connection. */
  close(): void {
    this.socket.destroy();
  }

  private waitGreeting(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.greeted = undefined;
        reject(new BinderyError(ErrorCode.Timeout, `QMP ${this.path}: no greeting`));
      }, timeoutMs);
      this.greeted = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private onData(chunk: string): void {
    this.lines.push(chunk, (line) => {
      const m = parseQmpLine(line.trim());
      if (!m) return;
      if (m.kind === 'greeting') {
        const g = this.greeted;
        this.greeted = undefined;
        g?.();
      } else if (m.kind === 'event') this.events.set(m.event, (this.events.get(m.event) ?? 0) + 1);
      else if (m.id !== undefined) this.pending.deliver(m.id, m);
    });
  }
}

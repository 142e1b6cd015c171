// The translator's control socket (-c/--conf-path): a unix-socket server that runs registered operations, and its client.
//
// The server owns the socket file (removed on close), answers each connection's requests in
// order (usernet/control/protocol.ts), and never lets a handler's failure or a client's bytes
// take the translator down: a handler that throws a BinderyError answers with its code, any
// other throw with BINDERY_ERR_CONTROL. Operations are registered by name (`handle`), each in
// the module that owns the state it touches (runner/control-ops.ts lists them).
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { BinderyError, ErrorCode } from '../errors.js';
import {
  LineSplitter,
  OP_NAME,
  encodeError,
  encodeRequest,
  encodeResult,
  parseRequest,
  parseResponse,
  type BadRequestKind,
} from '../usernet/control/protocol.js';

/** An operation: gets the request's args (unchecked JSON), returns a JSON-able result. */
export type ControlHandler = (args: unknown) => unknown;

/** What the control server counts. */
export interface ControlCounters {
  connections: number;
  requests: number;
  /** Requests answered with an error by their handler (or for an unknown op). */
  failed: number;
  /** Lines refused before reaching a handler, by reason. */
  bad: Record<BadRequestKind, number>;
  /** Connections closed with an unfinished line. */
  truncated: number;
}

/** A thrown value as the error body of a response. */
function errorBody(e: unknown): { code: string; message: string } {
  if (e instanceof BinderyError) return { code: e.code, message: e.message };
  return { code: ErrorCode.Control, message: e instanceof Error ? e.message : String(e) };
}

/**
 * The control-socket server.
 *
 * @example
 * const ctl = await ControlServer.listen('/run/bindery/vm.ctl', (m) => log.warn(m));
 * ctl.handle('ping', () => ({ version }));
 */
export class ControlServer {
  readonly counters: ControlCounters = {
    connections: 0,
    requests: 0,
    failed: 0,
    bad: { 'not-json': 0, 'bad-shape': 0, 'bad-version': 0, 'too-long': 0 },
    truncated: 0,
  };
  private readonly ops = new Map<string, ControlHandler>();
  private readonly sockets = new Set<Socket>();
  private closing: Promise<void> | undefined;

  private constructor(
    readonly path: string,
    private readonly server: Server,
    private readonly warn: (msg: string) => void,
  ) {
    server.on('connection', (s) => this.serve(s));
  }

  /**
   * Binds `path` (a stale socket file there is replaced; any other file is an error), mode 0600.
   * The server answers from the moment the socket file exists: `setup` registers the operations
   * before that, so a client that connects as soon as it sees the file is answered.
   *
   * @throws BinderyError (Listen) when the path cannot be bound.
   */
  static async listen(
    path: string,
    warn: (msg: string) => void = () => {},
    setup: (ctl: ControlServer) => void = () => {},
  ): Promise<ControlServer> {
    try {
      const st = await lstat(path);
      if (!st.isSocket())
        throw new BinderyError(
          ErrorCode.Listen,
          `control socket ${path}: exists and is not a socket`,
        );
      await unlink(path);
    } catch (e) {
      if (e instanceof BinderyError) throw e;
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const server = createServer();
    // The connection handler is on before the bind: a connection accepted with no handler
    // would get no answer, and would keep server.close() (our shutdown) waiting for ever.
    const ctl = new ControlServer(path, server, warn);
    setup(ctl);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(
          new BinderyError(ErrorCode.Listen, `control socket ${path}: ${e.message}`, { cause: e }),
        ),
      );
      server.listen(path, () => resolve());
    });
    await chmod(path, 0o600);
    return ctl;
  }

  /** Registers (or replaces) the handler of `op`. */
  handle(op: string, fn: ControlHandler): void {
    if (!OP_NAME.test(op)) throw new Error(`bad control operation name ${op}`);
    this.ops.set(op, fn);
  }

  /** The registered operation names, sorted. */
  get operations(): string[] {
    return [...this.ops.keys()].sort();
  }

  /** Stops listening, drops the connections and removes the socket file; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const s of this.sockets) s.destroy();
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
      await unlink(this.path).catch(() => {});
    })();
    return this.closing;
  }

  private serve(sock: Socket): void {
    this.counters.connections++;
    this.sockets.add(sock);
    const lines = new LineSplitter();
    // Requests run one after another per connection so responses keep the requests' order.
    let queue: Promise<void> = Promise.resolve();
    let refused = false;
    sock.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) queue = queue.then(() => this.answer(sock, line));
      if (lines.overflowed && !refused) {
        refused = true;
        this.counters.bad['too-long']++;
        this.warn('control: request line too long, connection closed');
        queue = queue.then(() => {
          sock.end(encodeError(0, { code: ErrorCode.Control, message: 'request line too long' }));
        });
      }
    });
    sock.on('end', () => {
      if (lines.pending > 0) this.counters.truncated++;
      queue = queue.then(() => void sock.end());
    });
    sock.on('error', () => {});
    sock.on('close', () => this.sockets.delete(sock));
  }

  private async answer(sock: Socket, line: string): Promise<void> {
    if (line.trim() === '') return;
    const p = parseRequest(line);
    if (!p.ok) {
      this.counters.bad[p.kind]++;
      this.warn(`control: ${p.message}`);
      return write(sock, encodeError(p.id, { code: ErrorCode.Control, message: p.message }));
    }
    this.counters.requests++;
    const fn = this.ops.get(p.req.op);
    if (!fn) {
      this.counters.failed++;
      return write(
        sock,
        encodeError(p.req.id, {
          code: ErrorCode.Control,
          message: `unknown operation ${p.req.op} (known: ${this.operations.join(', ')})`,
        }),
      );
    }
    let out: string;
    try {
      out = encodeResult(p.req.id, await fn(p.req.args));
    } catch (e) {
      this.counters.failed++;
      out = encodeError(p.req.id, errorBody(e));
    }
    return write(sock, out);
  }
}

function write(sock: Socket, text: string): void {
  if (!sock.destroyed && sock.writable) sock.write(text);
}

/** Options of `controlRequest`. */
export interface ControlRequestOptions {
  /** Give up after this many ms (default 10 000). */
  readonly timeoutMs?: number;
}

/**
 * Sends one request to the control socket at `path` and returns its result.
 *
 * @throws BinderyError: the handler's code when it failed; Control when the socket cannot be
 *   reached or the answer is malformed; Timeout after `timeoutMs`.
 */
export function controlRequest(
  path: string,
  op: string,
  args: unknown = {},
  opts: ControlRequestOptions = {},
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ path });
    const lines = new LineSplitter();
    let settled = false;
    const done = (err: Error | undefined, v?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(v);
    };
    const timer = setTimeout(
      () => done(new BinderyError(ErrorCode.Timeout, `control ${path}: no answer to ${op}`)),
      opts.timeoutMs ?? 10_000,
    );
    sock.once('connect', () => sock.write(encodeRequest(1, op, args)));
    sock.on('data', (chunk: Buffer) => {
      const [line] = lines.push(chunk);
      if (line === undefined) {
        if (lines.overflowed)
          done(new BinderyError(ErrorCode.Control, `control ${path}: answer too long`));
        return;
      }
      const r = parseResponse(line);
      if (!r) return done(new BinderyError(ErrorCode.Control, `control ${path}: malformed answer`));
      if (r.ok) return done(undefined, r.result);
      const code = (Object.values(ErrorCode) as string[]).includes(r.error.code)
        ? (r.error.code as ErrorCode)
        : ErrorCode.Control;
      done(new BinderyError(code, r.error.message));
    });
    sock.on('error', (e) =>
      done(
        new BinderyError(ErrorCode.Control, `control socket ${path}: ${e.message}`, { cause: e }),
      ),
    );
    sock.on('close', () =>
      done(new BinderyError(ErrorCode.Control, `control ${path}: closed without an answer`)),
    );
  });
}

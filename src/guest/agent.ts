// Host side of the bundled guest's command channel: a line protocol over QEMU's virtio-serial port socket.
//
// Protocol (text lines ending in '\n'; ids are decimal, chosen by the host):
//   host → guest   PING <id>                          guest → host   PONG <id>
//   host → guest   RUN <id> <base64 command> <secs>   guest → host   OUT <id> <base64 of stdout+stderr>
//                                                                    EXIT <id> <code>
// The guest (scripts.ts, /etc/bindery/agent) runs the command with `sh -c`, stdin /dev/null,
// under `timeout -s KILL <secs>`, one at a time. QEMU's chardev is a unix socket server
// (`server=on,wait=off`) holding one host connection at a time; while none is connected the
// guest's port reads EOF and the agent reopens it, so connections may come and go.
//
// The host serialises calls (one request in flight), matches replies by id and ignores lines it
// cannot parse or ids it is not waiting for (a reply to a request that already timed out, or a
// PONG to an earlier connect attempt's PING).
import { createConnection } from 'node:net';
import type { Socket } from 'node:net';
import { BinderyError, ErrorCode } from '../errors.js';
import { LineSplitter, PendingRequests } from './line-client.js';

/** A reply line from the guest. */
export type AgentReply =
  | { readonly kind: 'pong'; readonly id: number }
  | { readonly kind: 'out'; readonly id: number; readonly output: Buffer }
  | { readonly kind: 'exit'; readonly id: number; readonly code: number };

const ID_RE = /^\d{1,15}$/;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Parses one reply line (without its '\n'; a trailing '\r' is tolerated).
 *
 * @param line - The line.
 * @returns The reply, or undefined for anything malformed.
 */
export function parseAgentLine(line: string): AgentReply | undefined {
  const fields = line.replace(/\r$/, '').split(' ');
  const [verb, idText, arg] = fields;
  if (idText === undefined || !ID_RE.test(idText)) return undefined;
  const id = Number(idText);
  switch (verb) {
    case 'PONG':
      return fields.length === 2 ? { kind: 'pong', id } : undefined;
    case 'OUT': {
      // An empty output is `OUT <id> ` (or `OUT <id>`).
      if (fields.length > 3) return undefined;
      const b64 = arg ?? '';
      if (!B64_RE.test(b64)) return undefined;
      return { kind: 'out', id, output: Buffer.from(b64, 'base64') };
    }
    case 'EXIT': {
      if (fields.length !== 3 || arg === undefined || !/^\d{1,3}$/.test(arg)) return undefined;
      const code = Number(arg);
      return code <= 255 ? { kind: 'exit', id, code } : undefined;
    }
    default:
      return undefined;
  }
}

/** The result of a command run in the guest. */
export interface ExecResult {
  /** Exit status (137 when the guest killed it at its timeout). */
  readonly code: number;
  /** stdout and stderr, interleaved as written, decoded as UTF-8. */
  readonly output: string;
}

/** Default deadline of `exec`. */
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
/** Default deadline of `connect` (QEMU start, guest boot under TCG, agent up). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 180_000;
/** Deadline of one PING while connecting. */
const CONNECT_PING_MS = 1_000;
/** Pause between attempts to open the socket. */
const RETRY_MS = 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Opens the unix socket, resolving with it once connected. */
function openSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ path });
    const onError = (e: Error): void => {
      s.destroy();
      reject(e);
    };
    s.once('error', onError);
    s.once('connect', () => {
      s.off('error', onError);
      resolve(s);
    });
  });
}

/** A connection to the agent of a running guest. */
export class GuestAgent {
  private readonly socket: Socket;
  private readonly lines = new LineSplitter();
  private readonly pending = new PendingRequests<AgentReply>();
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => {
      /* 'close' follows and fails what is pending */
    });
    socket.on('close', () =>
      this.pending.fail(new BinderyError(ErrorCode.Guest, 'the guest agent connection closed')),
    );
  }

  /**
   * Connects to the agent socket QEMU listens on and waits until the guest answers a PING:
   * retries while the socket does not exist yet or refuses, and while the guest is booting.
   *
   * @param socketPath - QEMU's `-chardev socket,path=…` of the agent port.
   * @param opts - `timeoutMs`: overall deadline (default 180 s).
   * @throws BinderyError (Timeout) when the guest did not answer in time.
   */
  static async connect(socketPath: string, opts: { timeoutMs?: number } = {}): Promise<GuestAgent> {
    const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    let last: unknown;
    while (Date.now() < deadline) {
      let socket: Socket;
      try {
        socket = await openSocket(socketPath);
      } catch (e) {
        last = e;
        await sleep(RETRY_MS);
        continue;
      }
      const agent = new GuestAgent(socket);
      while (Date.now() < deadline && agent.pending.closedError === undefined) {
        try {
          await agent.ping(Math.min(CONNECT_PING_MS, Math.max(1, deadline - Date.now())));
          return agent;
        } catch (e) {
          last = e;
        }
      }
      agent.close();
      await sleep(RETRY_MS);
    }
    throw new BinderyError(
      ErrorCode.Timeout,
      `the guest agent at ${socketPath} did not answer in time${last instanceof Error ? ` (last: ${last.message})` : ''}`,
      { cause: last },
    );
  }

  /**
   * Sends PING and waits for its PONG.
   *
   * @param timeoutMs - Deadline (default 10 s).
   * @throws BinderyError (Timeout) at the deadline, (Guest) when the connection closed.
   */
  ping(timeoutMs = 10_000): Promise<void> {
    return this.serial(async () => {
      await this.request('PING', timeoutMs, (r, done) => {
        if (r.kind === 'pong') done(undefined);
      });
    });
  }

  /**
   * Runs `command` with `sh -c` in the guest, after any call still in flight.
   *
   * @param command - Shell command line.
   * @param opts - `timeoutMs`: deadline (default 60 s); the guest kills the command a second later.
   * @returns Exit code and combined output.
   * @throws BinderyError (Timeout) at the deadline, (Guest) when the connection closed.
   */
  exec(command: string, opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    // The guest's own limit is a little later than ours, so the host reports the timeout.
    const guestSecs = Math.ceil(timeoutMs / 1000) + 1;
    const b64 = Buffer.from(command, 'utf8').toString('base64');
    return this.serial(() => {
      let output: Buffer = Buffer.alloc(0);
      return this.request<ExecResult>(
        `RUN`,
        timeoutMs,
        (r, done) => {
          if (r.kind === 'out') output = r.output;
          else if (r.kind === 'exit') done({ code: r.code, output: output.toString('utf8') });
        },
        `${b64} ${guestSecs}`,
      );
    });
  }

  /** Closes the connection; calls in flight reject with BinderyError (Guest). */
  close(): void {
    this.pending.fail(new BinderyError(ErrorCode.Guest, 'the guest agent connection was closed'));
    this.socket.destroy();
  }

  /** Runs `op` after every earlier call has settled. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.chain.then(op, op);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Sends `<verb> <id>[ <rest>]` and feeds replies with that id to `onReply` until it calls done. */
  private request<T>(
    verb: string,
    timeoutMs: number,
    onReply: (r: AgentReply, done: (v: T) => void) => void,
    rest?: string,
  ): Promise<T> {
    return this.pending.request<T>(
      timeoutMs,
      (id) =>
        new BinderyError(
          ErrorCode.Timeout,
          `guest agent: ${verb} ${id} got no answer in ${timeoutMs} ms`,
        ),
      (id) => this.socket.write(`${verb} ${id}${rest !== undefined ? ` ${rest}` : ''}\n`),
      (r, resolve) => onReply(r, resolve),
    );
  }

  private onData(chunk: string): void {
    // An OUT line of megabytes arrives in many chunks; the splitter searches each only once.
    this.lines.push(chunk, (line) => {
      const r = parseAgentLine(line);
      if (r !== undefined) this.pending.deliver(r.id, r);
    });
  }
}

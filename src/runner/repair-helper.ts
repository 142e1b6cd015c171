// `bindery repair-helper`: the privileged side of TCP flow hand-over — sets TCP_REPAIR on sockets a translator sends it.
//
// Why. TCP_REPAIR needs CAP_NET_ADMIN; the translator runs without it. Like passt-repair
// (upstream passt's helper), this process holds the capability and does nothing else: it takes
// sockets over a unix socket (SCM_RIGHTS), sets or clears repair mode on its copies of them and
// answers. The protocol is passt-repair's: one message = one command byte (1: repair on, 0: off,
// 0xff i.e. −1: off without the window probe) with 1…253 fds; the answer is the command byte
// echoed when it was applied to every fd. Unlike passt-repair, the helper listens (the
// translator connects, one connection per request: `--repair-path` names this socket), uses
// SOCK_SEQPACKET (a message cannot be split or merged), answers a failure with FAILED (0x7f)
// instead of exiting, and serves until SIGTERM. Anything malformed — no fds, more than one byte,
// truncated or foreign ancillary data, an unknown command — is answered with FAILED, its fds
// closed; nothing a client sends stops the helper.
//
// The socket is created with mode 0600 (umask set around bind) and can be handed to the
// translator's user with --owner.
import { chown, lstat, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { BinderyError, ErrorCode } from '../errors.js';
import {
  RepairMode,
  repairSet,
  unixAccept,
  unixClose,
  unixListen,
  unixRecvFds,
  unixSendByte,
  type UnixHandle,
} from '../native/repair.js';
import { tcpClose } from '../native/tcp.js';

/** The answer to a request that was not applied to every fd. */
export const REPAIR_FAILED = 0x7f;
/** How long one accept or receive waits before the loop looks at the abort signal. */
const POLL_MS = 100;
/** A connected client has this long to send its request. */
const REQUEST_TIMEOUT_MS = 2000;
/** errno values the loop expects. */
const ETIMEDOUT = 110;

export interface RepairHelperOptions {
  readonly socketPath: string;
  /** Owner of the socket file (the translator's user), when not root. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  readonly log: (msg: string) => void;
  /** Stops serving (the socket file is removed). */
  readonly signal: AbortSignal;
}

/** What the helper did (logged at exit, returned for tests). */
export interface RepairHelperCounters {
  requests: number;
  sockets: number;
  failed: number;
}

const MODES = new Map<number, number>([
  [1, RepairMode.On],
  [0, RepairMode.Off],
  [0xff, RepairMode.OffNoProbe],
]);

/** Serves one connection's requests (the translator sends one, passt-repair's clients several). */
function serveConnection(c: UnixHandle, n: RepairHelperCounters, log: (m: string) => void): void {
  for (;;) {
    const m = unixRecvFds(c, REQUEST_TIMEOUT_MS);
    if (typeof m === 'number') {
      if (m !== 0 && m !== ETIMEDOUT) {
        n.failed++;
        log(`repair-helper: malformed request (errno ${m})`);
        unixSendByte(c, REPAIR_FAILED);
      }
      return;
    }
    const [cmd, socks] = m;
    n.requests++;
    const mode = MODES.get(cmd);
    let ok = mode !== undefined;
    if (!ok) log(`repair-helper: unknown command ${cmd}`);
    for (const s of socks) {
      if (ok) {
        const e = repairSet(s, mode!);
        if (e !== 0) {
          log(`repair-helper: TCP_REPAIR ${mode}: errno ${e}`);
          ok = false;
        } else {
          n.sockets++;
        }
      }
      tcpClose(s, false); // our copy only: the translator's descriptor stays open
    }
    if (!ok) n.failed++;
    unixSendByte(c, ok ? cmd : REPAIR_FAILED);
  }
}

/**
 * Listens at `socketPath` and serves until `signal` aborts.
 *
 * @throws BinderyError (Migrate) when the socket cannot be created (an existing non-socket file
 *   is not replaced).
 */
export async function runRepairHelper(o: RepairHelperOptions): Promise<RepairHelperCounters> {
  try {
    const st = await lstat(o.socketPath);
    if (!st.isSocket())
      throw new BinderyError(ErrorCode.Migrate, `${o.socketPath} exists and is not a socket`);
    await unlink(o.socketPath);
  } catch (e) {
    if (e instanceof BinderyError) throw e;
  }
  let l: UnixHandle;
  try {
    l = unixListen(o.socketPath, 0o600);
  } catch (e) {
    throw new BinderyError(ErrorCode.Migrate, `repair helper: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const n: RepairHelperCounters = { requests: 0, sockets: 0, failed: 0 };
  try {
    if (o.owner) await chown(o.socketPath, o.owner.uid, o.owner.gid);
    o.log(`repair-helper: listening at ${o.socketPath}`);
    while (!o.signal.aborted) {
      const c = unixAccept(l, POLL_MS);
      if (typeof c === 'number') {
        // Let signals and timers run between polls.
        await sleep(0);
        continue;
      }
      try {
        serveConnection(c, n, o.log);
      } finally {
        unixClose(c);
      }
      await sleep(0);
    }
  } finally {
    unixClose(l);
    await unlink(o.socketPath).catch(() => {});
    o.log(`repair-helper: stopped; ${JSON.stringify(n)}`);
  }
  return n;
}

// The numbers of the shim's TCP interface that callers test for: errno values and the poller's event and watch bits (no addon is loaded here).
import { constants } from 'node:os';

/** errno values the callers test for (Linux numbering, from Node's own table). */
export const Errno = {
  EAGAIN: constants.errno.EAGAIN,
  EINPROGRESS: constants.errno.EINPROGRESS,
  ECONNREFUSED: constants.errno.ECONNREFUSED,
  ECONNRESET: constants.errno.ECONNRESET,
  EPIPE: constants.errno.EPIPE,
  ENOENT: constants.errno.ENOENT,
  EBADF: constants.errno.EBADF,
  EADDRINUSE: constants.errno.EADDRINUSE,
  ETIMEDOUT: constants.errno.ETIMEDOUT,
  EHOSTUNREACH: constants.errno.EHOSTUNREACH,
} as const;

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, n]) => [n, name]),
);

/** The symbolic name of errno `n` (e.g. 111 → 'ECONNREFUSED'); sign ignored. */
export function errnoName(n: number): string {
  return errnoNames.get(Math.abs(n)) ?? `E${Math.abs(n)}`;
}

/** Bits of the readiness events a poller reports (BDY_EV_* in native/bindery.c). */
export const TcpEvent = { In: 1, Out: 2, RdHup: 4, Hup: 16, Err: 32 } as const;
/** Bits of what a poller is asked to watch. */
export const TcpWatch = { In: 1, Out: 2, RdHup: 4, Edge: 8 } as const;

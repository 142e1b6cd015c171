// What every flow translator gets from the daemon: the flow table, configuration, the guest's
// side (frames out, its MAC), the host's side (the socket seam) and time.
import type { FlowTable } from './table.js';
import type { PasstConfig } from '../conf.js';
import type { HostSockets } from '../host/index.js';

/** What the flow translators need from the daemon. */
export interface FlowDeps {
  readonly table: FlowTable;
  readonly cfg: PasstConfig;
  /** The pod's sockets (usernet/host): the native shim, or an in-memory kernel in tests. */
  readonly host: HostSockets;
  /** The host's own resolvers (resolv.conf), for DNS redirection. */
  readonly hostResolvers: readonly string[];
  readonly ourMac: Uint8Array;
  /** The guest's MAC, once known. */
  guestMac(): Uint8Array | undefined;
  /**
   * The address inbound flows of `family` go to: the one the guest was last seen using as a
   * source (global before link-local), else the assigned one (undefined: cfg's guestAddr).
   */
  guestAddr?(family: 4 | 6): string | undefined;
  /** Sends frames to the guest (`partialChecksum`: their TCP/UDP checksums are partial). */
  toGuest(frames: Uint8Array[], partialChecksum?: boolean): void;
  /** The link takes partial TCP/UDP checksums (GuestLink.checksumOffload). */
  readonly checksumOffload?: boolean;
  /** Frames passed to `toGuest` may be reused once it returns (GuestLink.consumesOnSend). */
  readonly framesReusable?: boolean;
  /** Current time in ms. */
  now(): number;
  /** Optional log sink for one-off warnings. */
  log?(msg: string): void;
  /** Guest payloads are valid only until the batch's microtasks ran (GuestLink.framesTransient). */
  readonly framesTransient?: boolean;
}

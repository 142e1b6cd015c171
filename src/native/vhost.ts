// Typed wrapper of the shim's vhost-user syscalls (native/vhost.c): a unix listener, messages with fds, region mmap, eventfds.
import { native } from './index.js';

declare const vhostFdBrand: unique symbol;
/** An fd inside the shim (listener, connection, eventfd, region fd): a tagged external. */
export type VhostFd = { readonly [vhostFdBrand]: true };

declare const vhostMapBrand: unique symbol;
/** A mapping of a guest memory region inside the shim. */
export type VhostMap = { readonly [vhostMapBrand]: true };

/** The raw exports of native/vhost.c. */
interface VhostShim {
  vhostListen(path: string): VhostFd;
  vhostAccept(listener: VhostFd): VhostFd | number;
  vhostRecv(conn: VhostFd, buf: Uint8Array): [number, VhostFd[]];
  vhostSend(conn: VhostFd, bytes: Uint8Array): number;
  vhostWatch(h: VhostFd, cb: () => void): number;
  vhostClose(h: VhostFd): void;
  vhostEventRead(h: VhostFd): number;
  vhostEventWrite(h: VhostFd): number;
  vhostMmap(fd: VhostFd, size: number, offset: number): [VhostMap, ArrayBuffer];
  vhostUnmap(m: VhostMap): void;
}

/** The shim's vhost-user functions (loads the shim; throws BinderyError when it is missing). */
export function vhostShim(): VhostShim {
  return native() as unknown as VhostShim;
}

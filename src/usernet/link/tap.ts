// The tap guest link: a native tap device (in a network namespace) adapted to GuestLink.
import type { TapDevice } from '../../native/index.js';
import { completePartialChecksum } from '../../wire/checksum.js';
import type { GuestLink } from './types.js';

/**
 * Adapts a native tap device to the GuestLink interface: a frame the kernel queue cannot take
 * is a drop (counted by the caller through `send`'s false).
 *
 * @param dev - An open tap.
 * @returns The link; `close()` closes the tap.
 */
export function tapLink(dev: TapDevice): GuestLink {
  return {
    kind: 'tap',
    checksumOffload: dev.offload,
    consumesOnSend: true,
    framesTransient: dev.transient,
    send(frames, partialChecksum) {
      try {
        return dev.send(frames, partialChecksum) === frames.length;
      } catch {
        return false;
      }
    },
    onFrames(listener) {
      dev.onFrames((frames, vnet) => listener(frames, vnet && offloadedChecksums(frames, vnet)));
    },
    onDrain() {
      // tap writes never queue: frames the kernel cannot take are dropped at once
    },
    close() {
      dev.close();
      return Promise.resolve();
    },
  };
}

/**
 * What an offloading tap's virtio_net_hdr says about checksums: TCP with a partial checksum is
 * marked trusted (the translator terminates TCP and never forwards the checksum); other partial
 * checksums (UDP) are completed here, so the services can verify them as usual.
 */
function offloadedChecksums(frames: Uint8Array[], vnet: Uint16Array): Uint8Array {
  const trusted = new Uint8Array(frames.length);
  for (let i = 0; i < frames.length; i++) {
    const flags = vnet[3 * i]!;
    if (!(flags & 1)) continue; // VIRTIO_NET_HDR_F_NEEDS_CSUM
    const start = vnet[3 * i + 1]!;
    const offset = vnet[3 * i + 2]!;
    if (offset === 16) trusted[i] = 1;
    else completePartialChecksum(frames[i]!, start, offset);
  }
  return trusted;
}

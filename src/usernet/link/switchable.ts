// A guest link that can be attached and detached while the daemon runs: a hand-over moves the tap from one translator to the next.
//
// The daemon reads a link's properties once at start, so they are given up front and must be
// what every attached link has (a tap opened the same way each time). While detached, frames
// to the guest are dropped (send returns false) and none arrive.
import type { GuestLink } from './types.js';

export interface SwitchableLink extends GuestLink {
  readonly attached: boolean;
  /** Opens the underlying link (no-op when attached). Throws what `open` throws. */
  attach(): void;
  /** Closes the underlying link; the daemon keeps running without a guest. */
  detach(): Promise<void>;
}

/** Properties every link `open` returns has. */
export interface SwitchableProps {
  readonly kind: GuestLink['kind'];
  readonly checksumOffload: boolean;
  readonly consumesOnSend: boolean;
  readonly framesTransient: boolean;
  readonly tsoMax?: number;
}

/**
 * A link that opens `open()` on attach and closes it on detach.
 *
 * @param open - Opens the underlying link (e.g. the tap).
 * @param props - Its properties (see the module comment).
 */
export function switchableLink(open: () => GuestLink, props: SwitchableProps): SwitchableLink {
  let inner: GuestLink | undefined;
  let onFrames: ((frames: Uint8Array[], trusted?: Uint8Array) => void) | undefined;
  let onDrain: (() => void) | undefined;
  let closed = false;
  return {
    ...props,
    get attached() {
      return inner !== undefined;
    },
    attach() {
      if (inner !== undefined || closed) return;
      const l = open();
      if (onFrames) l.onFrames(onFrames);
      if (onDrain) l.onDrain(onDrain);
      inner = l;
    },
    async detach() {
      const l = inner;
      inner = undefined;
      await l?.close();
    },
    send(frames, partialChecksum) {
      return inner !== undefined && inner.send(frames, partialChecksum);
    },
    onFrames(listener) {
      onFrames = listener;
      inner?.onFrames(listener);
    },
    onDrain(listener) {
      onDrain = listener;
      inner?.onDrain(listener);
    },
    async close() {
      closed = true;
      await this.detach();
    },
  };
}

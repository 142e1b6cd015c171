// What the translator needs from a guest link, whatever carries the frames (stream socket, tap).

/**
 * A guest link: Ethernet frames in from the guest (batched), frames out to it.
 *
 * Frames handed to `send` belong to the link until they are written: the caller must not
 * reuse or modify them afterwards. Frames delivered to `onFrames` belong to the listener, or,
 * on a link with `framesTransient`, only until the listener returns (microtasks included).
 */
export interface GuestLink {
  /** What carries the frames. */
  readonly kind: 'stream' | 'tap' | 'vhost-user';
  /**
   * The link accepts TCP/UDP frames whose checksum field holds only the pseudo-header sum
   * (`send(frames, true)`), as an offloading tap does; nobody computes it for local delivery.
   */
  readonly checksumOffload?: boolean;
  /**
   * TCP segmentation offload toward the guest: the link takes TCP frames of up to this many
   * bytes (Ethernet header included) even when they exceed the MTU, and marks them so the guest
   * treats each as a train of MTU-sized segments (virtio_net_hdr gso_type TCPV4/TCPV6, gso_size
   * from the MTU). Unset: no TCP frame longer than the MTU allows.
   */
  readonly tsoMax?: number;
  /**
   * `send()` has written (or dropped) every frame when it returns, so the caller may reuse
   * their memory at once (a tap: one write() per frame). Links that queue frames leave it unset.
   */
  readonly consumesOnSend?: boolean;
  /**
   * Frames delivered to `onFrames` live in memory the link reuses for its next read: valid
   * until the listener returns and the microtasks it queued have run. Copy what must wait.
   */
  readonly framesTransient?: boolean;
  /**
   * Sends frames to the guest, in order.
   *
   * @param frames - Ethernet frames without FCS; the link pads short ones as it must.
   * @param partialChecksum - With `checksumOffload`: the frames' TCP/UDP checksums are partial.
   * @returns false when the guest is not there (frames dropped and counted) or the link's
   *   buffer is full (frames queued; wait for `onDrain` before sending more).
   */
  send(frames: readonly Uint8Array[], partialChecksum?: boolean): boolean;
  /**
   * Registers a consumer of guest frames. Every frame complete after one read arrives in
   * one call.
   *
   * @param listener - Called with one or more frames, and, from links that know it, which of
   *   them (1) carry a TCP or UDP checksum that must not be verified (left partial by an offloading
   *   sender inside the same host: the bytes never crossed a wire).
   */
  onFrames(listener: (frames: Uint8Array[], trusted?: Uint8Array) => void): void;
  /**
   * Registers a listener for the end of back-pressure (after `send` returned false).
   *
   * @param listener - Called when the link can take frames again.
   */
  onDrain(listener: () => void): void;
  /**
   * Closes the link and releases its resources; idempotent.
   *
   * @returns A promise that settles when everything is closed.
   */
  close(): Promise<void>;
}

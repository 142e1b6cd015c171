// STUB of the bundled guest image (the real one comes from the guest-image branch): same exports, no image.
import { BinderyError, ErrorCode } from '../errors.js';

/** Where the guest's kernel and initramfs are. */
export interface GuestImage {
  readonly kernel: string;
  readonly initrd: string;
  readonly version: string;
}

/**
 * Stub: the real guest image is built by the guest-image branch.
 * @param _opts - where the image is cached
 * @throws BinderyError always (stub)
 */
export function guestImage(_opts?: { cacheDir?: string }): Promise<GuestImage> {
  return Promise.reject(new BinderyError(ErrorCode.Input, 'guest image: not built yet (stub)'));
}

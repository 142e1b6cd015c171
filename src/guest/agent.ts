// STUB of the guest agent client (the real one comes from the guest-image branch): same exports.
import { BinderyError, ErrorCode } from '../errors.js';

/** A connection to the agent in the guest. */
export class GuestAgent {
  private constructor() {}

  /**
   * Stub: connects to the agent socket.
   * @param socketPath - QEMU's agent chardev socket
   * @param _opts - deadline
   * @throws BinderyError always (stub)
   */
  static connect(socketPath: string, _opts?: { timeoutMs?: number }): Promise<GuestAgent> {
    return Promise.reject(
      new BinderyError(ErrorCode.Timeout, `${socketPath}: guest agent not available (stub)`),
    );
  }

  /** Runs `cmd` (a shell line) in the guest. */
  exec(_cmd: string, _opts?: { timeoutMs?: number }): Promise<{ code: number; output: string }> {
    return Promise.reject(new BinderyError(ErrorCode.Timeout, 'guest agent stub'));
  }

  /** Checks the agent answers. */
  ping(): Promise<void> {
    return Promise.resolve();
  }

  /** Closes the connection. */
  close(): void {}
}

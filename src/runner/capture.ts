// Packet capture of every guest frame both ways to a pcap file (-p/--pcap, `capture.start`), buffered so no frame waits for the disk.
//
// Theory of operation
// ===================
//
// Format: classic pcap as passt writes it (pcap.c): little-endian, microsecond timestamps,
// LINKTYPE_ETHERNET, one record per frame exactly as it crossed the link — frames sent with
// partial checksums (tap offload) are written as sent, so their checksums look wrong to a
// reader that validates them.
//
// Hot path: the capture is the daemon's FrameTap. Each batch takes one timestamp and copies its
// frames, each behind its record header, into the current chunk (CHUNK_BYTES, or one frame's
// size if larger); nothing is written from there. Full chunks queue up for a writer that runs
// asynchronously (one writev per drain) and is kicked when a chunk fills or, for a quiet link,
// FLUSH_MS after the first unflushed record. If the disk falls behind and MAX_QUEUED_BYTES wait,
// new frames are dropped and counted (as the kernel's capture drops), never buffered without
// bound and never waited for.
//
// Failure: an error of the file (ENOSPC, EIO, a short write) stops the capture with one warning;
// the translator never sees it. Limits (`maxBytes` of file, `maxFrames`) stop it cleanly.
//
// One capture at a time (CaptureManager): -p starts one at start-up, the control socket starts
// and stops others; `status` tells the running one, or the last one and why it stopped.
import { open, type FileHandle } from 'node:fs/promises';
import { BinderyError, ErrorCode } from '../errors.js';
import { pcapHeader, putPcapRecord, PCAP_RECORD_HEADER_LEN } from '../wire/pcap.js';
import type { FrameTap } from '../usernet/passt.js';

/** Bytes per buffer chunk. */
export const CHUNK_BYTES = 1 << 20;
/** Bytes that may wait for the disk before frames are dropped. */
export const MAX_QUEUED_BYTES = 64 << 20;
/** How long a record may wait in a partly filled chunk. */
export const FLUSH_MS = 100;
/** The pcap global header's length. */
const HEADER_LEN = 24;

/** Where a capture stops by itself. */
export interface CaptureLimits {
  /** Stop before the file would grow past this many bytes (header included). */
  readonly maxBytes?: number;
  /** Stop after this many frames. */
  readonly maxFrames?: number;
}

/** Why a capture ended. */
export type CaptureStopReason = 'stopped' | 'max-bytes' | 'max-frames' | 'error' | 'shutdown';

/** What `capture.status` answers (JSON). */
export interface CaptureStatus {
  readonly active: boolean;
  readonly path?: string;
  /** Frames and bytes (file bytes, headers included) written or waiting to be. */
  readonly frames: number;
  readonly bytes: number;
  /** Frames dropped because the disk fell MAX_QUEUED_BYTES behind. */
  readonly dropped: number;
  readonly startedAt?: string;
  readonly limits?: CaptureLimits;
  /** Why it ended, once it did. */
  readonly stopped?: CaptureStopReason;
  readonly error?: string;
}

/** What a capture takes from its edge. */
export interface CaptureEdge {
  /** Wall-clock time in µs since the epoch (pcap timestamps). */
  wallUs(): number;
  /** Where the one warning of a failed capture goes. */
  warn(msg: string): void;
}

/** One capture to one file; the daemon's FrameTap while it runs. */
export class PcapCapture implements FrameTap {
  private chunk: Uint8Array;
  private used = 0;
  private queue: Uint8Array[] = [];
  private queued = 0;
  private draining: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private frames = 0;
  private bytes = HEADER_LEN;
  private dropped = 0;
  private stopReason: CaptureStopReason | undefined;
  private error: string | undefined;
  private closing: Promise<void> | undefined;
  private readonly startedAt = new Date().toISOString();

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly limits: CaptureLimits,
    private readonly edge: CaptureEdge,
    /** Called once when the capture ends by itself (limit or error). */
    private readonly onEnd: (c: PcapCapture) => void,
  ) {
    this.chunk = new Uint8Array(CHUNK_BYTES);
    // The header is the first thing the writer writes: a disk that is already full fails there,
    // asynchronously, like any later write.
    this.queue.push(pcapHeader());
    this.queued = HEADER_LEN;
    this.kick();
  }

  /**
   * Creates (or truncates) `path`, mode 0600; the pcap header follows asynchronously.
   *
   * @throws BinderyError (Capture) when the file cannot be created.
   */
  static async open(
    path: string,
    limits: CaptureLimits,
    edge: CaptureEdge,
    onEnd: (c: PcapCapture) => void = () => {},
  ): Promise<PcapCapture> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'w', 0o600);
    } catch (e) {
      throw new BinderyError(ErrorCode.Capture, `capture ${path}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    return new PcapCapture(path, fh, limits, edge, onEnd);
  }

  fromGuest(frames: readonly Uint8Array[]): void {
    this.add(frames);
  }

  toGuest(frames: readonly Uint8Array[]): void {
    this.add(frames);
  }

  /** Whether frames are still taken. */
  get active(): boolean {
    return this.stopReason === undefined;
  }

  status(): CaptureStatus {
    return {
      active: this.active,
      path: this.path,
      frames: this.frames,
      bytes: this.bytes,
      dropped: this.dropped,
      startedAt: this.startedAt,
      limits: this.limits,
      ...(this.stopReason !== undefined ? { stopped: this.stopReason } : {}),
      ...(this.error !== undefined ? { error: this.error } : {}),
    };
  }

  /** Stops taking frames, writes what is buffered and closes the file; idempotent. */
  stop(reason: CaptureStopReason = 'stopped'): Promise<void> {
    this.stopReason ??= reason;
    this.closing ??= (async () => {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.seal();
      while (this.draining) await this.draining;
      if (this.queue.length > 0 && this.error === undefined) await this.drain();
      await this.fh.close().catch(() => {});
    })();
    return this.closing;
  }

  private add(frames: readonly Uint8Array[]): void {
    if (this.stopReason !== undefined) return;
    const t = this.edge.wallUs();
    const { maxBytes, maxFrames } = this.limits;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      const need = PCAP_RECORD_HEADER_LEN + f.length;
      if (maxBytes !== undefined && this.bytes + need > maxBytes) return this.end('max-bytes');
      if (this.queued + this.used + need > MAX_QUEUED_BYTES) {
        this.dropped++;
        continue;
      }
      if (this.chunk.length - this.used < need) {
        this.seal();
        if (this.chunk.length < need) this.chunk = new Uint8Array(need);
        this.kick();
      }
      this.used = putPcapRecord(this.chunk, this.used, t, f);
      this.frames++;
      this.bytes += need;
      if (maxFrames !== undefined && this.frames >= maxFrames) return this.end('max-frames');
    }
    if (this.used > 0 && this.timer === undefined)
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.seal();
        this.kick();
      }, FLUSH_MS);
  }

  /** Moves the current chunk's records to the queue and starts a fresh chunk. */
  private seal(): void {
    if (this.used === 0) return;
    this.queue.push(this.chunk.subarray(0, this.used));
    this.queued += this.used;
    this.chunk = new Uint8Array(CHUNK_BYTES);
    this.used = 0;
  }

  private kick(): void {
    if (this.draining !== undefined || this.queue.length === 0 || this.error !== undefined) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.stopReason === undefined) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && this.error === undefined) {
      const batch = this.queue;
      const size = this.queued;
      this.queue = [];
      this.queued = 0;
      try {
        const { bytesWritten } = await this.fh.writev(batch);
        if (bytesWritten !== size)
          throw new Error(`short write (${bytesWritten} of ${size} bytes): disk full?`);
      } catch (e) {
        this.error = (e as Error).message;
        this.edge.warn(`capture ${this.path}: ${this.error}; capture stopped`);
        this.end('error');
        return;
      }
    }
  }

  /** Ends the capture by itself (limit or error). */
  private end(reason: CaptureStopReason): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    this.onEnd(this);
    void this.stop(reason);
  }
}

/** Options of `CaptureManager.start`. */
export interface CaptureStart extends CaptureLimits {
  readonly path: string;
}

/** One capture at a time on one daemon (see the theory of operation). */
export class CaptureManager {
  private current: PcapCapture | undefined;
  private last: CaptureStatus | undefined;

  /**
   * @param setTap - Installs (or removes, with undefined) the daemon's frame tap.
   * @param edge - Clock and warnings.
   */
  constructor(
    private readonly setTap: (tap: FrameTap | undefined) => void,
    private readonly edge: CaptureEdge,
  ) {}

  /**
   * Starts capturing to `o.path`.
   *
   * @throws BinderyError (Capture) when one is running or the file cannot be written.
   */
  async start(o: CaptureStart): Promise<CaptureStatus> {
    if (this.current?.active === true)
      throw new BinderyError(
        ErrorCode.Capture,
        `a capture is already running to ${this.current.path} (capture.stop first)`,
      );
    const limits: CaptureLimits = {
      ...(o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {}),
      ...(o.maxFrames !== undefined ? { maxFrames: o.maxFrames } : {}),
    };
    const c = await PcapCapture.open(o.path, limits, this.edge, (ended) => {
      if (this.current === ended) this.setTap(undefined);
    });
    // Someone started another while the file opened.
    const other = this.current as PcapCapture | undefined;
    if (other?.active === true) {
      await c.stop();
      throw new BinderyError(ErrorCode.Capture, `a capture is already running to ${other.path}`);
    }
    this.current = c;
    this.setTap(c);
    return c.status();
  }

  /** Stops the running capture (flushed and closed when this resolves); the last status if none runs. */
  async stop(reason: CaptureStopReason = 'stopped'): Promise<CaptureStatus | undefined> {
    const c = this.current;
    if (c === undefined) return this.last;
    this.setTap(undefined);
    await c.stop(reason);
    this.current = undefined;
    this.last = c.status();
    return this.last;
  }

  /** The running capture's status, or the last one's, or undefined when there was none. */
  status(): CaptureStatus | undefined {
    return this.current?.status() ?? this.last;
  }
}

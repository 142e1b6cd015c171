// The daemon's log: pino at passt's levels, written as text lines to a size-capped --log-file or stderr.
//
// Theory of operation:
// - Levels follow passt (passt.c sets the syslog mask): `-q` logs errors only, the default is
//   info, `-d` adds debug, `--trace` adds per-packet trace messages. `passtLogLevel()` maps them.
// - pino formats each record as one JSON line and hands it synchronously to our destination.
//   The destination turns it back into passt's text form, `<ISO time> <message>` (warnings and
//   errors prefixed `WARNING: ` / `ERROR: ` as in passt's log.c), so the log stays greppable
//   (tests look for `stopped; counters {...}`), and queues it. Nothing blocks per line.
//   Structured fields of a record (`logger.debug({ proto: 'tcp', … }, 'flow open')`) follow the
//   message as ` key=value` pairs (logfmt: values quoted as JSON when they need it).
// - The file (`CappedLogFile`) is opened once, truncated, and starts with a header line, as
//   passt's logfile_init() does. Lines are appended by one asynchronous writer that drains the
//   queue in batches. When the next batch would take the file past `--log-size` (default 1 MiB,
//   passt's LOGFILE_SIZE_DEFAULT), the oldest ~30% of the cap (passt's LOGFILE_CUT_RATIO) is
//   dropped, cut at a line boundary, and the header says where the log was truncated.
// - `flush()` resolves once everything logged so far is in the file (readiness is reported only
//   after it, so a reader that saw "serving" finds the lines before it); `close()` flushes and
//   closes. Failures of the log never take the daemon down: they are counted and dropped.
import { open, type FileHandle } from 'node:fs/promises';
import { pino, type Logger } from 'pino';

/** passt's default log file size cap (log.h LOGFILE_SIZE_DEFAULT). */
export const DEFAULT_LOG_SIZE = 1024 * 1024;
/** Share of the cap dropped from the start of a full log file (passt: LOGFILE_CUT_RATIO). */
const CUT_RATIO = 0.3;

/** pino level names used by the daemon. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * The level of passt's logging switches.
 *
 * @param o - `-q`, `-d`, `--trace` (trace wins, then debug, then quiet).
 * @returns The pino level.
 */
export function passtLogLevel(o: {
  readonly quiet: boolean;
  readonly debug: boolean;
  readonly trace: boolean;
}): LogLevel {
  if (o.trace) return 'trace';
  if (o.debug) return 'debug';
  if (o.quiet) return 'error';
  return 'info';
}

const PREFIX: Readonly<Record<number, string>> = { 40: 'WARNING: ', 50: 'ERROR: ', 60: 'ERROR: ' };

/**
 * One pino JSON record as a text line: `<ISO time> <prefix><msg>\n`.
 *
 * @param json - A line pino wrote.
 * @returns The text line (the input unchanged if it is not a pino record).
 */
export function textLine(json: string): string {
  let rec: { level?: unknown; time?: unknown; msg?: unknown } & Record<string, unknown>;
  try {
    rec = JSON.parse(json) as typeof rec;
  } catch {
    return json.endsWith('\n') ? json : json + '\n';
  }
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString() : '';
  const prefix = typeof rec.level === 'number' ? (PREFIX[rec.level] ?? '') : '';
  let fields = '';
  for (const k of Object.keys(rec)) {
    if (k === 'level' || k === 'time' || k === 'msg') continue;
    const v = rec[k];
    const text = typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
    fields += ` ${k}=${text}`;
  }
  return `${time} ${prefix}${String(rec.msg ?? '')}${fields}\n`;
}

/** Where text lines go. */
interface LineSink {
  write(line: string): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A log file opened once, appended to asynchronously, kept under `maxBytes` by dropping its
 * oldest lines (see the theory of operation).
 */
export class CappedLogFile implements LineSink {
  private queue: string[] = [];
  private written = 0;
  private handle: FileHandle | undefined;
  private draining: Promise<void> | undefined;
  private failed = false;
  private closed = false;
  /** Lines lost because the file could not be written. */
  dropped = 0;

  /**
   * @param path - The file; opened and truncated at once (asynchronously).
   * @param maxBytes - Size cap.
   * @param header - First line of the file (and of each truncation notice).
   */
  constructor(
    readonly path: string,
    readonly maxBytes: number,
    private readonly header: string,
  ) {
    this.kick(); // open, truncate and write the header now, as passt does at start
  }

  write(line: string): void {
    if (this.closed || this.failed) {
      this.dropped++;
      return;
    }
    this.queue.push(line);
    this.kick();
  }

  /** Starts the writer unless it runs (it re-checks the queue when it ends). */
  private kick(): void {
    if (this.draining || this.failed || this.closed) return;
    if (this.queue.length === 0 && this.handle) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      this.kick();
    });
  }

  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => {});
  }

  private async drain(): Promise<void> {
    let inFlight = 0;
    try {
      if (!this.handle) {
        // 'a+': readable (for cutting), and every write lands at the end, also after truncation, and interleaves with a
        // detached daemon's stdout/stderr, which point at the same file.
        this.handle = await open(this.path, 'a+');
        await this.handle.truncate(0);
        const head = `${this.header}\n`;
        await this.handle.write(head);
        this.written = Buffer.byteLength(head);
      }
      while (this.queue.length > 0) {
        const batch = Buffer.from(this.queue.join(''));
        inFlight = this.queue.length;
        this.queue = [];
        if (this.written + batch.length > this.maxBytes) {
          await this.cutAndWrite(batch);
        } else {
          await this.handle.write(batch);
          this.written += batch.length;
        }
        inFlight = 0;
      }
    } catch {
      this.failed = true;
      this.dropped += inFlight + this.queue.length;
      this.queue = [];
    }
  }

  /**
   * Rewrites the file as a truncation notice, then the newest lines of (file body + `batch`):
   * at least the overflow plus CUT_RATIO of the cap is dropped from the start, at a line
   * boundary.
   */
  private async cutAndWrite(batch: Buffer): Promise<void> {
    const h = this.handle!;
    const { size } = await h.stat();
    const old = Buffer.alloc(size);
    const { bytesRead } = await h.read(old, 0, size, 0);
    const firstNl = old.subarray(0, bytesRead).indexOf(0x0a);
    const all = Buffer.concat([
      old.subarray(firstNl < 0 ? bytesRead : firstNl + 1, bytesRead),
      batch,
    ]);
    const head = Buffer.from(`${this.header} - log truncated at ${new Date().toISOString()}\n`);
    const drop = all.length + head.length - this.maxBytes + Math.ceil(this.maxBytes * CUT_RATIO);
    const nl = drop <= 0 ? -1 : all.indexOf(0x0a, Math.min(all.length, drop) - 1);
    const kept = drop <= 0 ? all : nl < 0 ? Buffer.alloc(0) : all.subarray(nl + 1);
    await h.truncate(0);
    await h.write(Buffer.concat([head, kept]));
    this.written = head.length + kept.length;
  }
}

/** The daemon's logger and the sink behind it. */
export interface DaemonLog {
  readonly logger: Logger;
  /** Resolves when every line logged so far is written. */
  flush(): Promise<void>;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

/** Where the log goes. */
export interface LogTarget {
  readonly level: LogLevel;
  /** `--log-file`; when undefined, lines go to `stderr` if given, else nowhere. */
  readonly file?: string;
  /** `--log-size` (default 1 MiB). */
  readonly maxBytes?: number;
  /** First line of the file. */
  readonly header?: string;
  /** A stderr writer, used without a file (each line is prefixed `passt: `). */
  readonly stderr?: (text: string) => void;
}

/**
 * Opens the daemon's log.
 *
 * @param target - Level and destination.
 * @returns The logger; lines below `target.level` cost a level check only.
 */
export function openDaemonLog(target: LogTarget): DaemonLog {
  let sink: LineSink;
  if (target.file !== undefined) {
    sink = new CappedLogFile(
      target.file,
      target.maxBytes ?? DEFAULT_LOG_SIZE,
      target.header ?? 'bindery passt',
    );
  } else {
    const err = target.stderr;
    sink = {
      write: err ? (line) => err(`passt: ${line.slice(line.indexOf(' ') + 1)}`) : () => {},
      flush: async () => {},
      close: async () => {},
    };
  }
  const logger = pino(
    { level: target.level, base: null },
    { write: (json: string) => sink.write(textLine(json)) },
  );
  return { logger, flush: () => sink.flush(), close: () => sink.close() };
}

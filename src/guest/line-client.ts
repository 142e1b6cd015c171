// Shared plumbing of the host's line-protocol clients to a guest (QMP, the guest agent): lines out of socket text, replies matched to requests by id under a deadline.
//
// Both protocols send one request per line with a host-chosen numeric id and answer with lines
// carrying that id. PendingRequests keeps the handler of each request in flight until its reply
// settles it, its deadline passes, or the connection fails (then every pending request rejects
// with that error, and later requests reject at once).

/** Splits socket text into lines (without their '\n'), across chunk boundaries. */
export class LineSplitter {
  /** Pieces of the current, not yet complete line. */
  private partial: string[] = [];

  /**
   * Feeds a chunk, calling `onLine` for each line it completes.
   * Only the new chunk is searched: a line of megabytes arrives in many chunks.
   */
  push(chunk: string, onLine: (line: string) => void): void {
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf('\n', start)) >= 0) {
      const line = this.partial.join('') + chunk.slice(start, nl);
      this.partial = [];
      start = nl + 1;
      onLine(line);
    }
    if (start < chunk.length) this.partial.push(chunk.slice(start));
  }
}

/** Requests in flight on one connection, by id. */
export class PendingRequests<M> {
  private nextId = 1;
  private readonly handlers = new Map<number, (m: M) => void>();
  private readonly closers = new Set<(e: Error) => void>();
  private failed: Error | undefined;

  /** The error the connection failed with, once it has. */
  get closedError(): Error | undefined {
    return this.failed;
  }

  /**
   * Sends a request under a fresh id and feeds replies with that id to `onReply` until it
   * resolves or rejects the request.
   *
   * @param timeoutMs - Deadline; then the request rejects with `timeoutError(id)`.
   * @param timeoutError - The error for a request that got no answer in time.
   * @param send - Writes the request line carrying `id`.
   * @param onReply - Called for each reply with the request's id.
   */
  request<T>(
    timeoutMs: number,
    timeoutError: (id: number) => Error,
    send: (id: number) => void,
    onReply: (m: M, resolve: (v: T) => void, reject: (e: Error) => void) => void,
  ): Promise<T> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.handlers.delete(id);
        this.closers.delete(onClose);
      };
      const onClose = (e: Error): void => {
        finish();
        reject(e);
      };
      const timer = setTimeout(() => {
        finish();
        reject(timeoutError(id));
      }, timeoutMs);
      this.closers.add(onClose);
      this.handlers.set(id, (m) =>
        onReply(
          m,
          (v) => {
            finish();
            resolve(v);
          },
          (e) => {
            finish();
            reject(e);
          },
        ),
      );
      send(id);
    });
  }

  /** Hands a reply to the request with `id`, if one is waiting. */
  deliver(id: number, m: M): void {
    this.handlers.get(id)?.(m);
  }

  /** Fails every pending request with `e`; later requests fail with the first such error. */
  fail(e: Error): void {
    this.failed ??= e;
    for (const c of [...this.closers]) c(e);
  }
}

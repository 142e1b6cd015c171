// A FIFO of byte chunks read from a host socket, kept without copying until they are framed for the guest (pure).

/** Chunks appended at the tail, consumed from the head; ranges are read by offset from the head. */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  /** Index of the first live chunk in `chunks`. */
  private first = 0;
  /** Bytes of chunks[first] already consumed. */
  private headOff = 0;
  private len = 0;

  /** Bytes queued. */
  get length(): number {
    return this.len;
  }

  /** Appends a chunk (kept by reference: the caller must not modify it afterwards). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.len += chunk.length;
  }

  /** Drops `n` bytes from the head (at most all of them). */
  drop(n: number): void {
    let left = Math.min(n, this.len);
    this.len -= left;
    while (left > 0) {
      const c = this.chunks[this.first]!;
      const avail = c.length - this.headOff;
      if (left < avail) {
        this.headOff += left;
        return;
      }
      left -= avail;
      this.first++;
      this.headOff = 0;
    }
    if (this.first > 64 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
    if (this.len === 0) {
      this.chunks = [];
      this.first = 0;
      this.headOff = 0;
    }
  }

  /**
   * Copies `n` bytes starting `from` bytes after the head into `dst` at `at`.
   *
   * @param from - offset from the head; from + n must not exceed `length`
   * @param n - bytes to copy
   * @param dst - destination buffer
   * @param at - offset in `dst`
   */
  copy(from: number, n: number, dst: Uint8Array, at: number): void {
    if (n <= 0) return;
    let skip = from + this.headOff;
    let i = this.first;
    while (skip >= this.chunks[i]!.length) {
      skip -= this.chunks[i]!.length;
      i++;
    }
    let left = n;
    let out = at;
    while (left > 0) {
      const c = this.chunks[i]!;
      const take = Math.min(left, c.length - skip);
      dst.set(skip === 0 && take === c.length ? c : c.subarray(skip, skip + take), out);
      out += take;
      left -= take;
      skip = 0;
      i++;
    }
  }

  /** Empties the queue. */
  clear(): void {
    this.chunks = [];
    this.first = 0;
    this.headOff = 0;
    this.len = 0;
  }
}

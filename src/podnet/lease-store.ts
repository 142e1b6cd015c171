// The address server's lease store: which client holds which address, kept in a JSON file that survives restarts.
//
// One lease per (family, client): IPv4 leases are keyed by the client MAC, IPv6 leases by the
// client's DUID (the MAC is recorded too). The file is rewritten whole on every grant, atomically
// (a temporary file in the same directory, then rename), so a crash leaves the old or the new
// file, never half of one. Writes are serialised. The addresses themselves come from the
// configuration: a stored lease only records what was handed out. When the configuration names
// another address for a client than its stored lease, the configuration wins and the next grant
// replaces the lease (the daemon logs the change).
import { readFile, rename, writeFile } from 'node:fs/promises';
import { BinderyError, ErrorCode } from '../errors.js';

/** One granted lease. */
export interface Lease {
  readonly family: 4 | 6;
  /** Client MAC, lower-case colon form. */
  readonly mac: string;
  /** IPv6 only: the client DUID, hex. */
  readonly duid?: string;
  /** IPv6 only: the IA_NA identifier. */
  readonly iaid?: number;
  readonly address: string;
  /** When it was (last) granted, ISO 8601. */
  readonly grantedAt: string;
  /** When it runs out, ISO 8601; null: never (bindery grants infinite leases). */
  readonly expiresAt: string | null;
}

/** The file's shape. */
interface LeaseFile {
  readonly version: 1;
  readonly leases: readonly Lease[];
}

function isLease(x: unknown): x is Lease {
  if (typeof x !== 'object' || x === null) return false;
  const l = x as Record<string, unknown>;
  return (
    (l.family === 4 || l.family === 6) &&
    typeof l.mac === 'string' &&
    typeof l.address === 'string' &&
    typeof l.grantedAt === 'string' &&
    (l.expiresAt === null || typeof l.expiresAt === 'string') &&
    (l.duid === undefined || typeof l.duid === 'string') &&
    (l.iaid === undefined || typeof l.iaid === 'number')
  );
}

function keyOf(l: Pick<Lease, 'family' | 'mac' | 'duid'>): string {
  return l.family === 4 ? `4/${l.mac}` : `6/${l.duid ?? l.mac}`;
}

/** The leases of one server, backed by a JSON file. */
export class LeaseStore {
  private readonly leases = new Map<string, Lease>();
  private writing: Promise<void> = Promise.resolve();
  private seq = 0;

  private constructor(readonly path: string) {}

  /**
   * Loads `path`; a missing file is an empty store.
   *
   * @throws BinderyError (Input) when the file exists but is not a lease file.
   */
  static async load(path: string): Promise<LeaseStore> {
    const store = new LeaseStore(path);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return store;
      throw new BinderyError(ErrorCode.Input, `cannot read lease file ${path}: ${String(e)}`, {
        cause: e,
      });
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new BinderyError(ErrorCode.Input, `lease file ${path} is not JSON`, { cause: e });
    }
    const leases = (data as Partial<LeaseFile> | null)?.leases;
    if (!Array.isArray(leases) || !leases.every(isLease))
      throw new BinderyError(ErrorCode.Input, `lease file ${path} is not a bindery lease file`);
    for (const l of leases) store.leases.set(keyOf(l), l);
    return store;
  }

  /** Every lease, in insertion order. */
  all(): Lease[] {
    return [...this.leases.values()];
  }

  /** The lease of a client, if any. */
  find(family: 4 | 6, mac: string, duid?: string): Lease | undefined {
    return this.leases.get(keyOf({ family, mac, ...(duid !== undefined ? { duid } : {}) }));
  }

  /**
   * Records a grant and writes the file.
   *
   * @returns the lease it replaced (absent for a new client).
   */
  async grant(lease: Lease): Promise<Lease | undefined> {
    const key = keyOf(lease);
    const previous = this.leases.get(key);
    this.leases.set(key, lease);
    await this.save();
    return previous;
  }

  /** Writes the file atomically; writes are serialised, each writes the state of its time. */
  save(): Promise<void> {
    const body: LeaseFile = { version: 1, leases: this.all() };
    const text = `${JSON.stringify(body, null, 2)}\n`;
    const tmp = `${this.path}.tmp-${process.pid}-${++this.seq}`;
    const next = this.writing.then(async () => {
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, this.path);
    });
    this.writing = next.catch(() => undefined);
    return next;
  }
}

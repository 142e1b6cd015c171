// A reachability probe from the node namespace during a migration: an HTTP GET to the guest every 10 ms through the pod addresses, each answer's time recorded.
//
// The probe is a child Node process in the node namespace (`ip netns exec`), so its sockets are
// the node's. Every `everyMs` it starts a GET per URL (a fresh connection each time, at most
// `maxInFlight` per URL, each given up after `timeoutMs`) and prints `<url index> <epoch ms>`
// for each 200 answer. Only the guest answers (its httpd, reached through the binding's port
// forward): a translator that accepts the connection while the guest is stopped does not count.
// The child exits when its stdin closes, so it cannot outlive `migrate`.
import { spawn, type ChildProcess } from 'node:child_process';

const SCRIPT = `
const http = require('node:http');
const [everyMs, timeoutMs, maxInFlight, ...urls] = process.argv.slice(1);
const inFlight = urls.map(() => 0);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
setInterval(() => {
  urls.forEach((u, i) => {
    if (inFlight[i] >= Number(maxInFlight)) return;
    inFlight[i]++;
    let done = false;
    const end = (ok) => {
      if (done) return;
      done = true;
      inFlight[i]--;
      if (ok) process.stdout.write(i + ' ' + Date.now() + '\\n');
    };
    const req = http.get(u, { agent: false, headers: { connection: 'close' } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => end(res.statusCode === 200));
      res.on('error', () => end(false));
    });
    req.setTimeout(Number(timeoutMs), () => req.destroy());
    req.on('error', () => end(false));
    req.on('close', () => end(false));
  });
}, Number(everyMs));
`;

/** A running probe. */
export class Probe {
  /** Answer times (epoch ms) per URL. */
  readonly answers: number[][];
  private buf = '';
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly urls: readonly string[],
  ) {
    this.answers = urls.map(() => []);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const [i, t] = this.buf.slice(0, nl).split(' ').map(Number);
        this.buf = this.buf.slice(nl + 1);
        if (i !== undefined && t !== undefined && this.answers[i]) this.answers[i].push(t);
      }
    });
    child.stdin!.on('error', () => {});
    this.exited = new Promise((r) => child.once('close', () => r()));
  }

  /**
   * Starts probing `urls` from `netns`.
   * @param opts - `everyMs` (10), `timeoutMs` per request (200), `maxInFlight` per URL (8)
   */
  static start(
    netns: string,
    urls: readonly string[],
    opts: { everyMs?: number; timeoutMs?: number; maxInFlight?: number } = {},
  ): Probe {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        process.execPath,
        '-e',
        SCRIPT,
        String(opts.everyMs ?? 10),
        String(opts.timeoutMs ?? 200),
        String(opts.maxInFlight ?? 8),
        ...urls,
      ],
      { stdio: ['pipe', 'pipe', 'ignore'] },
    );
    child.on('error', () => {});
    return new Probe(child, urls);
  }

  /** Every answer's time, whichever URL. */
  all(): number[] {
    return this.answers.flat();
  }

  /** Stops the child (closing its stdin; SIGKILL if it lingers) and waits for it. */
  async stop(): Promise<void> {
    this.child.stdin?.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await this.exited;
    clearTimeout(t);
  }
}

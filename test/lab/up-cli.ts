// Runs the `bindery` CLI as the `up`/`migrate` suites do (own TMPDIR per run) and lists what a run may leave behind.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
export const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `bindery ARGS` with the run's TMPDIR; `onStdout` sees output as it comes. */
export function bindery(
  env: { tmp: string },
  args: string[],
  opts: {
    timeoutMs?: number;
    onStdout?: (all: string, kill: (s: NodeJS.Signals) => void) => void;
  } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, TMPDIR: env.tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, (s) => child.kill(s));
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** What a run may leave: namespaces, processes, host links, nft tables, temp entries, state entries. */
export function leftovers(env: { tmp: string; state: string }): {
  ns: string[];
  procs: string[];
  links: string[];
  nft: string[];
  tmp: string[];
  state: string[];
} {
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith('bdy-up-'));
  const procs = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(env.tmp) && !l.includes('ps -eo'));
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => /^\d+: bdy[0-9a-f]{6}[@:]/.test(l));
  const nft = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim() !== '')
    .sort();
  const ls = (d: string): string[] => (existsSync(d) ? readdirSync(d) : []);
  return { ns, procs, links, nft, tmp: ls(env.tmp), state: ls(env.state) };
}

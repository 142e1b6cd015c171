// The setups the network benches compare (columns), and which build of each peer runs: bindery
// from dist/, Debian's pasta, the newest upstream pasta (built on demand into a cache), slirp4netns.
//
// Upstream pasta is built by the project's peer script (`build-passt.sh DIR`, a pinned snapshot,
// ~15 s to a minute on 2 cores) into a cache directory outside the repository, and reused when
// already there: BINDERY_BENCH_PASST_DIR, or $XDG_CACHE_HOME (default ~/.cache)
// /bindery-bench/passt-<version>. BINDERY_BENCH_PASST_BUILD names the script (default: the
// first of ../shared/peers/build-passt.sh beside the repository and /work/shared/peers/…).
// A peer that cannot be had (no script, build failed, binary missing) is not dropped: its
// column shows every cell as failed with the reason.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The setups, in table order. `pasta` is Debian's (its key predates the upstream column, so
 * older results and BINDERY_BENCH_TCP_SETUPS=bindery,pasta keep their meaning).
 * `bindery-threads` is bindery with `--threads BINDERY_BENCH_THREADS` (default 2): only the
 * workloads that name it run on it (bench/matrix.ts `Workload.kinds`).
 */
export type Kind =
  | 'bindery'
  | 'bindery-no-offload'
  | 'bindery-threads'
  | 'pasta'
  | 'pasta-upstream'
  | 'slirp4netns'
  | 'veth';
export const KINDS: readonly Kind[] = [
  'bindery',
  'bindery-no-offload',
  'bindery-threads',
  'pasta',
  'pasta-upstream',
  'slirp4netns',
  'veth',
];

/** Columns only the workloads that name them run (the rest of the rows do not apply). */
export const EXTRA_KINDS: readonly Kind[] = ['bindery-threads'];

/** Translator threads of the `bindery-threads` column: BINDERY_BENCH_THREADS (2..256), default 2. */
export const BENCH_THREADS = benchThreads(process.env.BINDERY_BENCH_THREADS);

/** Parses BINDERY_BENCH_THREADS (more than one, or the column would only repeat `bindery`). */
export function benchThreads(text: string | undefined): number {
  if (text === undefined || text === '') return 2;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 2 || n > 256)
    throw new Error(`BINDERY_BENCH_THREADS=${text}: want a thread count from 2 to 256`);
  return n;
}

/** The upstream snapshot build-passt.sh builds. */
export const UPSTREAM_PASST = '2026_07_24';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
/** bindery as deployed: the compiled CLI (`npm run build` first). */
export const BINDERY_BIN = fileURLToPath(new URL('../bin/bindery.js', import.meta.url));

/** Which build of one setup runs, and its version; `unavailable` fails its whole column. */
export interface Peer {
  readonly kind: Kind;
  /** Column heading (names the version for pasta). */
  readonly label: string;
  /** The program run (undefined for veth). */
  readonly path: string | undefined;
  /** What the program says it is (`pasta --version`, package version, commit). */
  readonly version: string;
  readonly unavailable?: string;
}

/**
 * The setups to run: a comma-separated list of kinds in `env` (e.g. BINDERY_BENCH_TCP_SETUPS),
 * or all of them.
 *
 * @param env - The variable's value.
 * @param name - Its name, for the error.
 * @returns The kinds, in table order.
 */
export function selectKinds(env: string | undefined, name: string): Kind[] {
  if (env === undefined || env.trim() === '') return [...KINDS];
  const want = env.split(',').map((x) => x.trim());
  const bad = want.filter((x) => !(KINDS as readonly string[]).includes(x));
  if (bad.length > 0) {
    throw new Error(`${name}: unknown ${bad.join(', ')} (known: ${KINDS.join(', ')})`);
  }
  return KINDS.filter((k) => want.includes(k));
}

/** A command's first output line, or "unknown (why)". */
export function toolVersion(argv: string[]): string {
  try {
    const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: 'pipe' });
    return out.trim().split('\n')[0]!.trim();
  } catch (e) {
    return `unknown (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`;
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The directory upstream pasta is built into and reused from. */
export function upstreamPasstDir(): string {
  const env = process.env.BINDERY_BENCH_PASST_DIR;
  if (env !== undefined && env !== '') return resolve(env);
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'bindery-bench', `passt-${UPSTREAM_PASST}`);
}

function buildScript(): string | undefined {
  const env = process.env.BINDERY_BENCH_PASST_BUILD;
  if (env !== undefined && env !== '') return env;
  return [
    join(REPO_ROOT, '..', 'shared', 'peers', 'build-passt.sh'),
    '/work/shared/peers/build-passt.sh',
  ].find((p) => existsSync(p));
}

/**
 * Upstream pasta, built into the cache directory unless already there.
 *
 * @returns Its path, or why there is none.
 */
export function ensureUpstreamPasta(): { path: string } | { failed: string } {
  const dir = upstreamPasstDir();
  const pasta = join(dir, 'pasta');
  if (executable(pasta) && executable(join(dir, 'passt'))) return { path: pasta };
  const script = buildScript();
  if (script === undefined) {
    return { failed: 'no build-passt.sh (set BINDERY_BENCH_PASST_BUILD)' };
  }
  console.error(`  bench: building upstream pasta ${UPSTREAM_PASST} into ${dir} (once)`);
  const r = spawnSync('bash', [script, dir], { encoding: 'utf8', timeout: 600_000 });
  if (r.error !== undefined || r.status !== 0) {
    const why =
      r.error?.message ??
      (r.stderr.trim().split('\n').pop() || `exit ${r.status ?? r.signal ?? '?'}`);
    return { failed: `build-passt.sh failed: ${why}` };
  }
  return executable(pasta) ? { path: pasta } : { failed: `build left no ${pasta}` };
}

/** Debian's pasta says "unknown version": then its package's version names it. */
function debianPasta(): Peer {
  const path = process.env.BINDERY_BENCH_PASTA ?? '/usr/bin/pasta';
  if (!executable(path)) {
    return { kind: 'pasta', label: 'pasta (Debian)', path, version: '', unavailable: `no ${path}` };
  }
  const says = toolVersion([path, '--version']);
  const pkg = toolVersion(['dpkg-query', '-W', '-f', '${Version}', 'passt']);
  const git = /git(\d{8})/.exec(pkg)?.[1];
  const own = /^pasta (\S+)$/.exec(says)?.[1];
  const short = own ?? (git !== undefined ? `git${git}` : 'Debian');
  return {
    kind: 'pasta',
    label: `pasta ${short}`,
    path,
    version: `${path}: "${says}"; Debian package passt ${pkg}`,
  };
}

function upstreamPasta(): Peer {
  const got = ensureUpstreamPasta();
  if ('failed' in got) {
    return {
      kind: 'pasta-upstream',
      label: `pasta ${UPSTREAM_PASST}`,
      path: undefined,
      version: '',
      unavailable: got.failed,
    };
  }
  const says = toolVersion([got.path, '--version']);
  return {
    kind: 'pasta-upstream',
    label: `pasta ${/^pasta (\S+)$/.exec(says)?.[1] ?? UPSTREAM_PASST}`,
    path: got.path,
    version: `${got.path}: "${says}" (upstream snapshot, build-passt.sh)`,
  };
}

/**
 * Resolves every chosen setup's program and version (building upstream pasta if needed).
 *
 * bindery runs as deployed, the compiled CLI (`bin/bindery.js passt`, from dist/), in every
 * column; BINDERY_BENCH_BINDERY=src runs `srcEntry` instead (through tsx when it is a .ts
 * file; its loader thread adds to the RSS).
 *
 * @param kinds - The setups to run.
 * @param srcEntry - The entry BINDERY_BENCH_BINDERY=src runs.
 * @returns One peer per kind.
 */
export function resolvePeers(kinds: readonly Kind[], srcEntry: string): Map<Kind, Peer> {
  const commit = toolVersion(['git', '-C', REPO_ROOT, 'log', '-1', '--format=%h']);
  const main = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  const built = existsSync(main) ? statSync(main).mtime.toISOString() : undefined;
  const fromSrc = process.env.BINDERY_BENCH_BINDERY === 'src';
  /** Another build's CLI (e.g. a checkout of an older commit, for before/after runs). */
  const other = process.env.BINDERY_BENCH_BIN;
  const bindery = (kind: Kind, label: string, how: string): Peer => {
    if (fromSrc) {
      return {
        kind,
        label,
        path: srcEntry,
        version: `${srcEntry}${how} through tsx, checkout at ${commit}`,
      };
    }
    return {
      kind,
      label,
      path: other ?? BINDERY_BIN,
      version:
        other !== undefined
          ? `${other} passt${how} (BINDERY_BENCH_BIN)`
          : `bin/bindery.js passt${how}: dist/ compiled ${built ?? 'never'}, checkout at ${commit}`,
      ...(built === undefined && other === undefined
        ? { unavailable: 'no dist/cli/main.js (run `npm run build`)' }
        : {}),
    };
  };
  const out = new Map<Kind, Peer>();
  for (const kind of kinds) {
    if (kind === 'bindery') out.set(kind, bindery(kind, 'bindery', ''));
    else if (kind === 'bindery-no-offload') {
      out.set(kind, bindery(kind, 'bindery no-offload', ' --no-tap-offload'));
    } else if (kind === 'bindery-threads') {
      out.set(
        kind,
        bindery(kind, `bindery ${BENCH_THREADS} threads`, ` --threads ${BENCH_THREADS}`),
      );
    } else if (kind === 'pasta') out.set(kind, debianPasta());
    else if (kind === 'pasta-upstream') out.set(kind, upstreamPasta());
    else if (kind === 'slirp4netns') {
      const ok = executable('/usr/bin/slirp4netns');
      out.set(kind, {
        kind,
        label: 'slirp4netns',
        path: 'slirp4netns',
        version: toolVersion(['slirp4netns', '--version']),
        ...(ok ? {} : { unavailable: 'no /usr/bin/slirp4netns' }),
      });
    } else {
      out.set(kind, { kind, label: 'veth', path: undefined, version: 'kernel veth pair' });
    }
  }
  return out;
}

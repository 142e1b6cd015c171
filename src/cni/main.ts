// Entry of the bindery-cni executable: reads the CNI request (environment, stdin), runs the operation, prints the reply or the CNI error object.
import { realHost } from './host.js';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus } from './plugin.js';
import type { CniHost } from './plugin.js';
import {
  CniError,
  CniErrorCode,
  decodeStdin,
  errorReply,
  parseEnv,
  parseNetConf,
  versionReply,
} from './spec.js';
import type { BinderyNetConf } from './spec.js';

/** What the plugin prints on stdout and its exit status. */
export interface CniOutcome {
  readonly stdout: string;
  readonly code: 0 | 1;
}

/** Makes the host for a request (its log file comes from the configuration). */
export type HostFactory = (conf: BinderyNetConf | undefined) => CniHost;

/** The CNI_* variables of a request, for the transcript. */
function cniVars(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('CNI_') && v !== undefined) out[k] = v;
  return out;
}

/**
 * Runs one CNI request.
 * @param env - the process environment
 * @param stdin - what the runtime wrote on stdin
 * @param hostFor - the effects
 * @returns what to print and the exit status
 */
export async function runCni(
  env: Readonly<Record<string, string | undefined>>,
  stdin: string,
  hostFor: HostFactory,
): Promise<CniOutcome> {
  let version: string | undefined;
  let host: CniHost | undefined;
  try {
    const cenv = parseEnv(env);
    if (cenv.command === 'VERSION')
      return { stdout: JSON.stringify(versionReply()) + '\n', code: 0 };
    const decoded = decodeStdin(stdin);
    version = decoded.cniVersion;
    const conf = parseNetConf(decoded.conf, cenv.command);
    host = hostFor(conf);
    host.log({ msg: 'request', env: cniVars(env), config: decoded.conf });
    switch (cenv.command) {
      case 'ADD':
        return { stdout: JSON.stringify(await cmdAdd(cenv, conf, host)) + '\n', code: 0 };
      case 'DEL':
        await cmdDel(cenv, conf, host);
        break;
      case 'CHECK':
        await cmdCheck(cenv, conf, host);
        break;
      case 'GC':
        await cmdGc(conf, host);
        break;
      case 'STATUS':
        await cmdStatus(host);
        break;
    }
    return { stdout: '', code: 0 };
  } catch (e) {
    const err =
      e instanceof CniError
        ? e
        : new CniError(CniErrorCode.IoFailure, `bindery-cni: ${(e as Error).message ?? String(e)}`);
    const reply = errorReply(err, version);
    (host ?? hostFor(undefined)).log({ msg: 'error', reply });
    return { stdout: JSON.stringify(reply) + '\n', code: 1 };
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs the process's request; the exit status goes to process.exitCode. */
export async function main(): Promise<void> {
  let stdin = '';
  try {
    stdin = await readStdin();
  } catch {
    // an unreadable stdin decodes as no configuration (error 6) below
  }
  const out = await runCni(process.env, stdin, (conf) =>
    realHost(process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', conf?.logFile, () => new Date()),
  );
  process.stdout.write(out.stdout);
  process.exitCode = out.code;
}

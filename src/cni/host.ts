// The real effects of bindery-cni: namespaces by path through nsenter, the state files, PATH look-ups, a JSON log file.
import { appendFileSync, constants } from 'node:fs';
import { access, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { nsenterExec } from '../podnet/exec.js';
import type { AttachmentState, CniHost } from './plugin.js';

function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * The host bindery-cni runs on.
 * @param pathEnv - PATH to find tools on
 * @param logFile - where to append JSON log lines (none when undefined)
 * @param now - the clock for log lines
 * @returns the effects
 */
export function realHost(pathEnv: string, logFile: string | undefined, now: () => Date): CniHost {
  return {
    async netnsExists(path) {
      try {
        await stat(path);
        return true;
      } catch (e) {
        if (isMissing(e)) return false;
        throw e;
      }
    },
    inNetns: (path) => nsenterExec(path),
    async readState(dir, file) {
      let text: string;
      try {
        text = await readFile(join(dir, file), 'utf8');
      } catch (e) {
        if (isMissing(e)) return undefined;
        throw e;
      }
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        return undefined; // not a file bindery wrote completely: never act on it
      }
      const s = v as Partial<AttachmentState> | null;
      return s !== null && typeof s === 'object' && s.owner === 'bindery-cni'
        ? (s as AttachmentState)
        : undefined;
    },
    async writeState(dir, file, state) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const tmp = join(dir, `.${file}.${process.pid}.tmp`);
      await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
      await rename(tmp, join(dir, file));
    },
    async removeState(dir, file) {
      await rm(join(dir, file), { force: true });
    },
    async listState(dir) {
      try {
        return (await readdir(dir)).filter((f) => f.endsWith('.json') && !f.startsWith('.'));
      } catch (e) {
        if (isMissing(e)) return [];
        throw e;
      }
    },
    async hasTool(name) {
      for (const d of pathEnv.split(delimiter)) {
        if (d === '') continue;
        try {
          await access(join(d, name), constants.X_OK);
          return true;
        } catch {
          // next
        }
      }
      return false;
    },
    log(event) {
      const line = JSON.stringify({
        time: now().toISOString(),
        name: 'bindery-cni',
        pid: process.pid,
        ...event,
      });
      process.stderr.write(line + '\n');
      if (logFile === undefined) return;
      try {
        appendFileSync(logFile, line + '\n');
      } catch {
        // the log is a transcript, never a reason to fail the operation
      }
    },
  };
}

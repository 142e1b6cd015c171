// `bindery install-cni`'s work: copies bindery's self-contained runtime into a CNI bin dir and writes the `bindery-cni` launcher.
//
// Theory of operation. bindery-cni is a Node program, but a CNI plugin is exec'd by the
// container runtime on the node, where no Node.js (or a different one) may be installed. So the
// image carries a runtime directory (`/opt/bindery`): `node`, `lib/` with the C libraries it
// links (glibc with its dynamic loader, libstdc++, libgcc_s: copied from the build machine) and
// `app/` (package.json, bin/, dist/, proto/, the production node_modules, the native shim). The
// installer copies it to `<cni-bin>/bindery/<stamp>/` and writes `<cni-bin>/bindery-cni`, a
// /bin/sh launcher that runs the copied loader with `--library-path` on the copied node, so the
// node's own libraries are never used and nothing outside `<cni-bin>` changes. The launcher is
// written to a temporary name and renamed, so a runtime exec'ing `bindery-cni` meanwhile gets the
// old or the new one, never half of one; older stamps are removed afterwards (a plugin run of the
// old launcher that is still starting in that instant can fail once; the runtime retries pods).
import { randomBytes } from 'node:crypto';
import { access, chmod, cp, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { BinderyError, ErrorCode } from '../errors.js';

/** The runtime directory inside bindery's image. */
export const IMAGE_RUNTIME_DIR = '/opt/bindery';
/** The launcher's file name: the CNI `type` conflists use. */
export const CNI_PLUGIN_NAME = 'bindery-cni';
/** The directory beside the launcher that holds the copied runtimes. */
export const CNI_RUNTIME_SUBDIR = 'bindery';

/** What {@link installCni} needs. */
export interface InstallCniOptions {
  /** The runtime directory to copy (`node`, `lib/`, `app/`). */
  readonly from: string;
  /** The CNI bin dir (the host's `/opt/cni/bin`, mounted into the installer). */
  readonly to: string;
  /** bindery's version, part of the stamp. */
  readonly version: string;
}

/** What {@link installCni} did. */
export interface InstallCniResult {
  /** The launcher's path. */
  readonly launcher: string;
  /** The copied runtime's directory. */
  readonly runtime: string;
  /** The dynamic loader's file name in `lib/` (e.g. `ld-linux-x86-64.so.2`). */
  readonly loader: string;
  /** Older runtime stamps removed. */
  readonly removed: readonly string[];
}

/** The loader of glibc (`ld-linux-x86-64.so.2`, `ld-linux-aarch64.so.1`, …). */
const LOADER_RE = /^ld-linux[-\w.]*\.so\.\d+$/;

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The launcher's text: `$0`'s directory locates the runtime, so it works wherever the CNI bin
 * dir is mounted on the host.
 * @param stampDir - the runtime's directory relative to the launcher's (`bindery/<stamp>`)
 * @param loader - the loader's file name in `lib/`
 */
export function launcherScript(stampDir: string, loader: string): string {
  return [
    '#!/bin/sh',
    "# bindery-cni: bindery's CNI binding plugin, written by `bindery install-cni`. It runs the",
    '# Node runtime copied beside it with its own C libraries (through their dynamic loader), so',
    "# the node's own Node.js and libraries, if any, are never used.",
    'case "$0" in */*) here=${0%/*} ;; *) here=. ;; esac',
    `d="$here"/${shellQuote(stampDir)}`,
    `exec "$d/lib/"${shellQuote(loader)} --library-path "$d/lib" "$d/node" "$d/app/bin/bindery-cni.js" "$@"`,
    '',
  ].join('\n');
}

async function mustExist(path: string, what: string): Promise<void> {
  try {
    await access(path, constants.R_OK);
  } catch {
    throw new BinderyError(ErrorCode.Install, `install-cni: ${what} not found at ${path}`);
  }
}

/**
 * Installs bindery-cni into a CNI bin dir (see the file comment).
 * @param opts - runtime dir, CNI bin dir, version
 * @returns the launcher, the runtime dir and what was removed
 */
export async function installCni(opts: InstallCniOptions): Promise<InstallCniResult> {
  const { from, to, version } = opts;
  await mustExist(join(from, 'node'), 'the Node binary');
  await mustExist(join(from, 'app', 'bin', 'bindery-cni.js'), 'the bindery-cni entry point');
  let libs: string[];
  try {
    libs = await readdir(join(from, 'lib'));
  } catch {
    throw new BinderyError(ErrorCode.Install, `install-cni: no lib/ directory in ${from}`);
  }
  const loader = libs.find((f) => LOADER_RE.test(f));
  if (loader === undefined)
    throw new BinderyError(
      ErrorCode.Install,
      `install-cni: no dynamic loader (ld-linux*.so.N) in ${join(from, 'lib')}`,
    );
  try {
    await access(to, constants.W_OK);
  } catch {
    throw new BinderyError(ErrorCode.Install, `install-cni: cannot write the CNI bin dir ${to}`);
  }

  const stamp = `${version}-${randomBytes(4).toString('hex')}`;
  const base = join(to, CNI_RUNTIME_SUBDIR);
  const runtime = join(base, stamp);
  const partial = join(base, `.partial-${stamp}`);
  const tmpLauncher = join(to, `.${CNI_PLUGIN_NAME}.${stamp}`);
  const launcher = join(to, CNI_PLUGIN_NAME);
  try {
    await mkdir(base, { recursive: true });
    for (const part of ['node', 'lib', 'app'])
      await cp(join(from, part), join(partial, part), {
        recursive: true,
        dereference: false,
        verbatimSymlinks: true,
        preserveTimestamps: true,
      });
    await rename(partial, runtime);
    await writeFile(tmpLauncher, launcherScript(`${CNI_RUNTIME_SUBDIR}/${stamp}`, loader), {
      mode: 0o755,
    });
    await chmod(tmpLauncher, 0o755);
    await rename(tmpLauncher, launcher);
  } catch (e) {
    await rm(partial, { recursive: true, force: true });
    await rm(runtime, { recursive: true, force: true });
    await rm(tmpLauncher, { force: true });
    if (e instanceof BinderyError) throw e;
    throw new BinderyError(
      ErrorCode.Install,
      `install-cni: copying into ${to} failed: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const removed: string[] = [];
  for (const entry of await readdir(base)) {
    if (entry === stamp) continue;
    await rm(join(base, entry), { recursive: true, force: true });
    removed.push(entry);
  }
  return { launcher, runtime, loader, removed };
}

// `bindery validate`: loads manifest files, applies KubeVirt/Virtink defaulting and admission, prints one line per error.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { UsageError } from '../../errors.js';
import { loadManifests } from '../../api/load.js';
import { validateManifests } from '../../api/validate.js';
import {
  KUBEVIRT_VERSIONS,
  formatKubeVirtVersion,
  parseKubeVirtVersion,
  type KubeVirtVersion,
} from '../../api/kubevirt-config.js';
import type { Diagnostic, LoadedManifest } from '../../api/types.js';

/** Code of a file that cannot be read. */
const READ_CODE = 'BINDERY_ERR_INPUT';
/** Code of a `--kubevirt-cr` file without a KubeVirt CR. */
const NO_CR_CODE = 'BINDERY_LOAD_NO_CR';

/** One diagnostic as `FILE[:LINE]: PATH: [warning: ]MESSAGE [CODE]`. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line !== undefined ? `${d.file}:${d.line}` : d.file;
  const path = d.path === '' ? '(document)' : d.path;
  const sev = d.severity === 'warning' ? 'warning: ' : '';
  return `${where}: ${path}: ${sev}${d.message} [${d.code}]`;
}

async function loadFile(
  file: string,
): Promise<{ manifests: LoadedManifest[]; diagnostics: Diagnostic[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code;
    return {
      manifests: [],
      diagnostics: [
        {
          file,
          path: '',
          code: READ_CODE,
          message: `cannot read file: ${why ?? String(e)}`,
          severity: 'error',
        },
      ],
    };
  }
  const r = loadManifests(text, file);
  return { manifests: [...r.manifests], diagnostics: [...r.diagnostics] };
}

interface ValidateFlags {
  kubevirtVersion?: string;
  kubevirtCr?: string;
}

/** Adds `bindery validate FILE… [--kubevirt-version V] [--kubevirt-cr FILE]`. */
export function registerValidate(program: Command, io: CliIo): void {
  program
    .command('validate')
    .description(
      'check KubeVirt/Virtink VM manifests as the cluster would admit them (exit 1 on any error)',
    )
    .argument(
      '<file...>',
      'YAML or JSON files, several documents each (VMs, VMIs, KubeVirt CR, NADs)',
    )
    .option(
      '--kubevirt-version <version>',
      `KubeVirt release whose rules apply (v1.0–v1.9, default ${formatKubeVirtVersion(KUBEVIRT_VERSIONS[KUBEVIRT_VERSIONS.length - 1] ?? { major: 1, minor: 9 })})`,
    )
    .option('--kubevirt-cr <file>', 'the KubeVirt CR (feature gates, binding plugins)')
    .action(async (files: string[], flags: ValidateFlags) => {
      let version: KubeVirtVersion | undefined;
      if (flags.kubevirtVersion !== undefined) {
        version = parseKubeVirtVersion(flags.kubevirtVersion);
        if (!version)
          throw new UsageError(
            `--kubevirt-version: "${flags.kubevirtVersion}" is not a KubeVirt release bindery knows (v1.0 to v1.9)`,
          );
      }
      const diagnostics: Diagnostic[] = [];
      const manifests: LoadedManifest[] = [];
      if (flags.kubevirtCr !== undefined) {
        const r = await loadFile(flags.kubevirtCr);
        diagnostics.push(...r.diagnostics);
        const crs = r.manifests.filter((m) => m.type === 'kubevirt-cr');
        if (crs.length === 0 && r.diagnostics.length === 0)
          diagnostics.push({
            file: flags.kubevirtCr,
            path: '',
            code: NO_CR_CODE,
            message: 'no KubeVirt CR (kubevirt.io/v1 KubeVirt) in the --kubevirt-cr file',
            severity: 'error',
          });
        manifests.push(...r.manifests);
      }
      for (const file of files) {
        if (file === flags.kubevirtCr) continue;
        const r = await loadFile(file);
        diagnostics.push(...r.diagnostics);
        manifests.push(...r.manifests);
      }
      const result = validateManifests(manifests, {
        ...(version ? { kubevirtVersion: version } : {}),
        random: (n) => new Uint8Array(randomBytes(n)),
      });
      diagnostics.push(...result.diagnostics);
      const order = new Map<string, number>();
      [flags.kubevirtCr, ...files].forEach((f, i) => {
        if (f !== undefined && !order.has(f)) order.set(f, i);
      });
      diagnostics.sort(
        (a, b) =>
          (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || (a.line ?? 0) - (b.line ?? 0),
      );
      for (const d of diagnostics) io.out(formatDiagnostic(d) + '\n');
      const errors = diagnostics.filter((d) => d.severity === 'error').length;
      const warnings = diagnostics.length - errors;
      const checked = result.defaulted.length;
      if (errors > 0) {
        io.err(
          `bindery: ${errors} error${errors === 1 ? '' : 's'}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}\n`,
        );
        io.setExitCode?.(1);
      } else {
        io.err(
          `bindery: ${checked} manifest${checked === 1 ? '' : 's'} valid${warnings ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}\n`,
        );
        io.setExitCode?.(0);
      }
    });
}

// `bindery render`: what a cluster would run for a VM's network (pod mutation, domain XML, CH config, nft).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Option, type Command } from 'commander';
import { BinderyError, ErrorCode, UsageError } from '../../errors.js';
import type { CliIo } from '../main.js';
import { loadPlans } from '../plan-input.js';
import { renderArtefacts, type Artefact } from '../../render/artefacts.js';

interface RenderOpts {
  for: 'kubevirt' | 'virtink';
  out: string;
  kubevirtVersion?: string;
  kubevirtCr?: string;
  naming: 'hashed' | 'ordinal';
  mtu?: string;
  podIp?: string;
  networkStatus?: string;
  passtVhostUser?: boolean;
}

/**
 * Adds `bindery render FILE… --for kubevirt|virtink --out DIR|-` to the program.
 * @param program - the root command
 * @param io - where output goes
 */
export function registerRender(program: Command, io: CliIo): void {
  program
    .command('render')
    .description(
      'render what the cluster would run for each VM: pod mutation, libvirt interfaces or Cloud Hypervisor net config, nftables',
    )
    .argument(
      '<files...>',
      'manifests (YAML/JSON): VMs, the KubeVirt CR or a JSON patch of it, NADs',
    )
    .addOption(
      new Option('--for <platform>', 'control plane')
        .choices(['kubevirt', 'virtink'])
        .makeOptionMandatory(),
    )
    .requiredOption('--out <dir>', "output directory, or '-' for stdout")
    .option('--kubevirt-version <v>', 'KubeVirt release whose rules apply (v1.0–v1.9)')
    .option(
      '--kubevirt-cr <file>',
      'the KubeVirt CR, or a JSON patch of it (binding plugins, gates)',
    )
    .addOption(
      new Option('--naming <scheme>', 'KubeVirt secondary pod interface names')
        .choices(['hashed', 'ordinal'])
        .default('hashed'),
    )
    .option('--mtu <n>', 'pod link MTU for tap vNICs')
    .option('--pod-ip <addr>', "pod IPv4 address (Istio's output DNAT also matches it)")
    .option('--network-status <file>', 'Multus network-status JSON (SR-IOV/vDPA devices)')
    .option('--passt-vhost-user', "render passt vNICs as type='vhostuser' (libvirt >= 11.1)")
    .action(async (files: string[], opts: RenderOpts) => {
      await runRender(files, opts, io);
    });
}

async function runRender(files: string[], opts: RenderOpts, io: CliIo): Promise<void> {
  let mtu: number | undefined;
  if (opts.mtu !== undefined) {
    mtu = Number(opts.mtu);
    if (!/^\d+$/.test(opts.mtu) || mtu < 68 || mtu > 65535)
      throw new UsageError(`--mtu: "${opts.mtu}" is not an MTU (68–65535)`);
  }
  if (opts.podIp !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(opts.podIp))
    throw new UsageError(`--pod-ip: "${opts.podIp}" is not an IPv4 address`);
  const plans = await loadPlans(
    files,
    {
      for: opts.for,
      naming: opts.naming,
      command: 'render',
      nothingDone: 'nothing written',
      ...(opts.kubevirtVersion !== undefined ? { kubevirtVersion: opts.kubevirtVersion } : {}),
      ...(opts.kubevirtCr !== undefined ? { kubevirtCr: opts.kubevirtCr } : {}),
      ...(mtu !== undefined ? { mtu } : {}),
      ...(opts.podIp !== undefined ? { podIp: opts.podIp } : {}),
      ...(opts.networkStatus !== undefined ? { networkStatus: opts.networkStatus } : {}),
    },
    io,
  );

  // Render and write.
  const many = plans.length > 1;
  const outputs: Artefact[] = [];
  for (const { plan, file } of plans) {
    const r = renderArtefacts(plan, opts.passtVhostUser === true);
    for (const w of r.warnings)
      io.err(`${file}: ${plan.namespace}/${plan.vmName}: warning: ${w}\n`);
    const prefix = many ? `${plan.namespace}-${plan.vmName}/` : '';
    for (const a of r.artefacts) outputs.push({ name: prefix + a.name, content: a.content });
  }
  if (opts.out === '-') {
    for (const a of outputs) io.out(`--- ${a.name}\n${a.content}`);
    return;
  }
  try {
    for (const a of outputs) {
      const path = join(opts.out, a.name);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, a.content);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new BinderyError(ErrorCode.Input, `${opts.out}: cannot write (${code})`, { cause: e });
  }
  io.out(`rendered ${outputs.length} files to ${opts.out}\n`);
}

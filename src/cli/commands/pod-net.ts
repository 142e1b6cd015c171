// `bindery pod-net up|down`: plumb a VM's interfaces into a pod network namespace (bridges, taps, NAT, address servers) and take them out again.
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { UsageError } from '../../errors.js';
import type { CliIo } from '../main.js';
import { loadPlans, type LoadedPlan } from '../plan-input.js';
import { podNetDown, podNetUp, type InterfaceResult } from '../../podnet/index.js';
import { VFIO_DRIVER } from '../../podnet/devices.js';
import type { VmNetworkPlan } from '../../plan/types.js';
import { renderCloudHypervisor } from '../../render/cloud-hypervisor.js';
import { renderDomainNetwork } from '../../render/domain-xml.js';

interface UpOpts {
  netns: string;
  for?: 'kubevirt' | 'virtink';
  vm?: string;
  kubevirtCr?: string;
  kubevirtVersion?: string;
  networkStatus?: string;
  naming: 'hashed' | 'ordinal';
  stateDir?: string;
  resolvConf?: string;
  sysfsRoot?: string;
  devRoot?: string;
  json?: boolean;
}

interface DownOpts {
  netns: string;
  stateDir?: string;
  json?: boolean;
}

/** `--for` when not given: Virtink when any document is a Virtink object, else KubeVirt. */
export async function guessPlatform(files: readonly string[]): Promise<'kubevirt' | 'virtink'> {
  for (const f of files) {
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch {
      continue; // loadPlans reports it
    }
    for (const d of parseAllDocuments(text)) {
      if ('errors' in d && d.errors.length > 0) continue;
      const v: unknown = d.toJS();
      const api = v && typeof v === 'object' ? (v as { apiVersion?: unknown }).apiVersion : '';
      if (typeof api === 'string' && api.startsWith('virt.virtink.smartx.com/')) return 'virtink';
    }
  }
  return 'kubevirt';
}

function pickVm(plans: readonly LoadedPlan[], vm: string | undefined): LoadedPlan {
  const matches =
    vm === undefined
      ? plans
      : plans.filter((p) => p.plan.vmName === vm || `${p.plan.namespace}/${p.plan.vmName}` === vm);
  const names = plans.map((p) => `${p.plan.namespace}/${p.plan.vmName}`).join(', ');
  if (matches.length === 0) throw new UsageError(`--vm: no VM "${vm}" in the input (${names})`);
  if (matches.length > 1)
    throw new UsageError(
      vm === undefined
        ? `the input holds ${plans.length} VMs (${names}); pick one with --vm`
        : `--vm: "${vm}" is ambiguous (${names}); use namespace/name`,
    );
  return matches[0]!;
}

function describeInterface(i: InterfaceResult): string {
  if (i.skipped !== undefined) return `  ${i.name} (${i.binding}): skipped, ${i.skipped}\n`;
  if (i.pciAddress !== undefined)
    return `  ${i.name} (${i.binding}) on ${i.podInterface}: SR-IOV VF ${i.pciAddress} on ${VFIO_DRIVER}\n`;
  if (i.vdpaPath !== undefined)
    return `  ${i.name} (${i.binding}) on ${i.podInterface}: vDPA ${i.vdpaPath}\n`;
  const parts = [
    ...(i.bridge !== undefined ? [`bridge ${i.bridge}`] : []),
    ...(i.tap !== undefined ? [`tap ${i.tap}`] : []),
    ...(i.guestAddress !== undefined ? [`guest ${i.guestAddress}`] : []),
    ...(i.guestAddress6 !== undefined ? [`guest ${i.guestAddress6}`] : []),
    ...(i.guestMac !== undefined ? [`mac ${i.guestMac}`] : []),
    i.addressServer !== undefined
      ? `address server ${i.addressServerPid ?? '?'} on ${i.addressServer}`
      : 'no address server',
  ];
  return `  ${i.name} (${i.binding}) on ${i.podInterface}: ${parts.join(', ')}\n`;
}

/**
 * What the hypervisor is given for the plan (the `bindery render` pieces), for `up --json`: the
 * Cloud Hypervisor network config (Virtink) or the domain's `<devices>` XML (KubeVirt), e.g.
 * the VFIO device paths and vDPA nodes of the devices `up` prepared.
 */
function hypervisorConfig(plan: VmNetworkPlan): Record<string, unknown> {
  if (plan.platform === 'virtink') {
    const ch = renderCloudHypervisor(plan);
    return {
      cloudHypervisor: ch.config,
      ...(ch.warnings.length > 0 ? { warnings: ch.warnings } : {}),
    };
  }
  const d = renderDomainNetwork(plan);
  return {
    domainDevicesXml: d.devicesXml,
    ...(d.warnings.length > 0 ? { warnings: d.warnings } : {}),
  };
}

/**
 * Adds `bindery pod-net up FILE… --netns NS` and `bindery pod-net down --netns NS`.
 * @param program - the root command
 * @param io - where output goes
 */
export function registerPodNet(program: Command, io: CliIo): void {
  const podNet = program
    .command('pod-net')
    .description("plumb a VM's interfaces into a pod network namespace, or take them out");
  podNet
    .command('up')
    .description(
      'build the in-pod bridges, taps, NAT and address servers of one VM (needs root); a live setup is left alone',
    )
    .argument('<files...>', 'manifests (YAML/JSON): the VM, the KubeVirt CR or a patch, NADs')
    .requiredOption('--netns <ns>', 'the pod network namespace: a name (/run/netns/NAME) or a path')
    .addOption(
      new Option('--for <platform>', 'control plane (default: from the manifests)').choices([
        'kubevirt',
        'virtink',
      ]),
    )
    .option('--vm <name>', 'the VM to plumb when the files hold several (name or namespace/name)')
    .option('--kubevirt-cr <file>', 'the KubeVirt CR, or a JSON patch of it (binding plugins)')
    .option('--kubevirt-version <v>', 'KubeVirt release whose rules apply (v1.0–v1.9)')
    .option('--network-status <file>', 'Multus network-status JSON (SR-IOV/vDPA devices)')
    .addOption(
      new Option('--naming <scheme>', 'KubeVirt secondary pod interface names')
        .choices(['hashed', 'ordinal'])
        .default('hashed'),
    )
    .option('--state-dir <dir>', 'where pod-net keeps its state (default /run/bindery/pod-net)')
    .option(
      '--resolv-conf <file>',
      "the pod's resolv.conf (default /etc/netns/NAME/resolv.conf, else /etc/resolv.conf)",
    )
    .option('--sysfs-root <dir>', 'sysfs root for SR-IOV/vDPA devices (default /sys)')
    .option('--dev-root <dir>', '/dev root for SR-IOV/vDPA devices (default /dev)')
    .option('--json', 'print the result as JSON')
    .action(async (files: string[], opts: UpOpts) => {
      const platform = opts.for ?? (await guessPlatform(files));
      const plans = await loadPlans(
        files,
        {
          for: platform,
          naming: opts.naming,
          command: 'pod-net up',
          nothingDone: 'nothing changed',
          ...(opts.kubevirtCr !== undefined ? { kubevirtCr: opts.kubevirtCr } : {}),
          ...(opts.kubevirtVersion !== undefined ? { kubevirtVersion: opts.kubevirtVersion } : {}),
          ...(opts.networkStatus !== undefined ? { networkStatus: opts.networkStatus } : {}),
        },
        io,
      );
      const chosen = pickVm(plans, opts.vm);
      const r = await podNetUp({
        plan: chosen.plan,
        paths: chosen.paths,
        interfaceIndex: chosen.interfaceIndex,
        netns: opts.netns,
        ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir } : {}),
        ...(opts.resolvConf !== undefined ? { resolvConf: opts.resolvConf } : {}),
        ...(opts.sysfsRoot !== undefined ? { sysfsRoot: opts.sysfsRoot } : {}),
        ...(opts.devRoot !== undefined ? { devRoot: opts.devRoot } : {}),
      });
      for (const w of r.warnings) io.err(`bindery: warning: ${w}\n`);
      if (opts.json === true) {
        io.out(JSON.stringify({ ...r, hypervisor: hypervisorConfig(chosen.plan) }, null, 2) + '\n');
        return;
      }
      const vm = `${chosen.plan.namespace}/${chosen.plan.vmName}`;
      io.out(
        r.alreadyUp
          ? `pod-net: ${vm} already up in ${r.netns}\n`
          : `pod-net: ${vm} up in ${r.netns}\n`,
      );
      for (const i of r.interfaces) io.out(describeInterface(i));
    });
  podNet
    .command('down')
    .description('undo what `pod-net up` did in the namespace (stops its address servers)')
    .requiredOption('--netns <ns>', 'the pod network namespace: a name or a path')
    .option('--state-dir <dir>', 'where pod-net keeps its state (default /run/bindery/pod-net)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: DownOpts) => {
      const r = await podNetDown({
        netns: opts.netns,
        ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir } : {}),
      });
      for (const w of r.warnings) io.err(`bindery: warning: ${w}\n`);
      if (opts.json === true) io.out(JSON.stringify(r, null, 2) + '\n');
      else
        io.out(
          r.wasUp ? `pod-net: down in ${opts.netns}\n` : `pod-net: nothing up in ${opts.netns}\n`,
        );
    });
}

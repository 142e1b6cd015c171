// Reads manifests from YAML or JSON text (several documents per file) into typed objects plus located problems.
import { LineCounter, parseAllDocuments, isMap, isSeq, isScalar, isPair } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import {
  DecodeContext,
  LoadCode,
  any,
  bool,
  child,
  empty,
  index,
  int,
  isRecord,
  list,
  obj,
  quantity,
  record,
  str,
} from './decode.js';
import type { Decoder, Problem } from './decode.js';
import {
  API_VERSIONS,
  RESOURCE_NAME_ANNOTATION,
  type Diagnostic,
  type KubeVirtBindingPlugin,
  type KubeVirtCR,
  type KubeVirtInterface,
  type KubeVirtNetwork,
  type KubeVirtVirtualMachine,
  type KubeVirtVirtualMachineInstance,
  type KubeVirtVmiSpec,
  type LoadResult,
  type LoadedManifest,
  type Manifest,
  type NetworkAttachmentDefinition,
  type ObjectMeta,
  type SourceInfo,
  type VirtinkInterface,
  type VirtinkNetwork,
  type VirtinkVirtualMachine,
} from './types.js';

// ---------------------------------------------------------------------------------------------
// Decoders per kind

const stringMap: Decoder<Record<string, string>> = record(str);

const metadata = obj<ObjectMeta>(
  {
    name: str,
    generateName: str,
    namespace: str,
    labels: stringMap,
    annotations: stringMap,
  },
  {
    passthrough: [
      'uid',
      'resourceVersion',
      'generation',
      'creationTimestamp',
      'deletionTimestamp',
      'deletionGracePeriodSeconds',
      'finalizers',
      'ownerReferences',
      'managedFields',
      'selfLink',
    ],
  },
);

const kvPort = obj({ name: str, protocol: str, port: int }, { zero: { port: 0 } });
const kvPortRange = obj(
  { protocol: str, start: int, end: int },
  { zero: { protocol: '', start: 0, end: 0 } },
);
const kvDhcpOptions = obj({
  bootFileName: str,
  tftpServerName: str,
  ntpServers: list(str),
  privateOptions: list(obj({ option: int, value: str }, { zero: { option: 0, value: '' } })),
});

const kvInterface = obj<KubeVirtInterface>(
  {
    name: str,
    model: str,
    bridge: empty,
    masquerade: empty,
    sriov: empty,
    passtBinding: empty,
    slirp: empty,
    macvtap: empty,
    passt: empty,
    binding: obj({ name: str }, { zero: { name: '' } }),
    ports: list(kvPort),
    portRanges: list(kvPortRange),
    macAddress: str,
    bootOrder: int,
    pciAddress: str,
    dhcpOptions: kvDhcpOptions,
    tag: str,
    acpiIndex: int,
    state: str,
  },
  { zero: { name: '' } },
);

const kvNetwork = obj<KubeVirtNetwork>(
  {
    name: str,
    pod: obj({ vmNetworkCIDR: str, vmIPv6NetworkCIDR: str }),
    multus: obj({ networkName: str, default: bool }, { zero: { networkName: '' } }),
    resourceClaim: obj({ claimName: str, requestName: str }),
  },
  { zero: { name: '' } },
);

const kvDisk = obj(
  { name: str, bootOrder: int },
  {
    zero: { name: '' },
    passthrough: [
      'disk',
      'lun',
      'cdrom',
      'serial',
      'dedicatedIOThread',
      'cache',
      'io',
      'tag',
      'blockSize',
      'shareable',
      'errorPolicy',
    ],
  },
);

const kvDevices = obj(
  {
    interfaces: list(kvInterface),
    disks: list(kvDisk),
    autoattachPodInterface: bool,
    useVirtioTransitional: bool,
    networkInterfaceMultiqueue: bool,
  },
  {
    unknown: 'warning',
    passthrough: [
      'disableHotplug',
      'watchdog',
      'inputs',
      'autoattachGraphicsDevice',
      'autoattachSerialConsole',
      'logSerialConsole',
      'autoattachMemBalloon',
      'autoattachInputDevice',
      'autoattachVSOCK',
      'rng',
      'blockMultiQueue',
      'gpus',
      'downwardMetrics',
      'panicDevices',
      'filesystems',
      'hostDevices',
      'clientPassthrough',
      'sound',
      'tpm',
      'video',
    ],
  },
);

const kvDomain = obj(
  { devices: kvDevices },
  {
    zero: { devices: {} },
    unknown: 'warning',
    passthrough: [
      'resources',
      'cpu',
      'memory',
      'machine',
      'firmware',
      'clock',
      'features',
      'ioThreadsPolicy',
      'ioThreads',
      'chassis',
      'launchSecurity',
      'rebootPolicy',
    ],
  },
);

const kvProbe = obj(
  { httpGet: any, tcpSocket: any, exec: any, guestAgentPing: any },
  {
    passthrough: [
      'initialDelaySeconds',
      'timeoutSeconds',
      'periodSeconds',
      'successThreshold',
      'failureThreshold',
    ],
  },
);

const kvVmiSpec: Decoder<KubeVirtVmiSpec> = (v, path, cx) => {
  const spec = obj<KubeVirtVmiSpec>(
    {
      domain: kvDomain,
      networks: list(kvNetwork),
      readinessProbe: kvProbe,
      livenessProbe: kvProbe,
      hostname: str,
      subdomain: str,
    },
    {
      unknown: 'warning',
      required: ['domain'],
      passthrough: [
        'priorityClassName',
        'nodeSelector',
        'affinity',
        'schedulerName',
        'tolerations',
        'topologySpreadConstraints',
        'evictionStrategy',
        'startStrategy',
        'terminationGracePeriodSeconds',
        'volumes',
        'dnsPolicy',
        'dnsConfig',
        'accessCredentials',
        'architecture',
        'resourceClaims',
        'utilityVolumes',
      ],
    },
  )(v, path, cx);
  if (spec && !spec.domain) return { ...spec, domain: { devices: {} } };
  return spec;
};

const kubevirtVm = obj<KubeVirtVirtualMachine>(
  {
    apiVersion: str,
    kind: str,
    metadata,
    spec: obj(
      {
        running: bool,
        runStrategy: str,
        template: obj({ metadata, spec: kvVmiSpec }, { required: ['spec'] }),
      },
      {
        unknown: 'warning',
        required: ['template'],
        passthrough: ['instancetype', 'preference', 'dataVolumeTemplates', 'updateVolumesStrategy'],
      },
    ),
  },
  { required: ['spec'], passthrough: ['status'] },
);

const kubevirtVmi = obj<KubeVirtVirtualMachineInstance>(
  { apiVersion: str, kind: str, metadata, spec: kvVmiSpec },
  { required: ['spec'], passthrough: ['status'] },
);

const bindingPlugin = obj<KubeVirtBindingPlugin>({
  sidecarImage: str,
  networkAttachmentDefinition: str,
  domainAttachmentType: str,
  migration: obj({ method: str }),
  downwardAPI: str,
  computeResourceOverhead: obj({ requests: record(quantity), limits: record(quantity) }),
});

const kubevirtCR = obj<KubeVirtCR>(
  {
    apiVersion: str,
    kind: str,
    metadata,
    spec: obj(
      {
        imagePullPolicy: str,
        configuration: obj(
          {
            network: obj({
              defaultNetworkInterface: str,
              permitSlirpInterface: bool,
              permitBridgeInterfaceOnPodNetwork: bool,
              binding: record(bindingPlugin),
            }),
            developerConfiguration: obj(
              { featureGates: list(str), disabledFeatureGates: list(str) },
              {
                unknown: 'warning',
                passthrough: [
                  'pvcTolerateLessSpaceUpFrontPercentage',
                  'minimumReservePVCBytes',
                  'memoryOvercommit',
                  'nodeSelectors',
                  'useEmulation',
                  'cpuAllocationRatio',
                  'minimumClusterTSCFrequency',
                  'diskVerification',
                  'logVerbosity',
                  'clusterProfiler',
                ],
              },
            ),
          },
          { unknown: 'warning' },
        ),
      },
      { unknown: 'warning' },
    ),
  },
  { passthrough: ['status'] },
);

const nadRaw = obj<{
  apiVersion: string;
  kind: string;
  metadata?: ObjectMeta;
  spec?: { config?: string };
}>(
  { apiVersion: str, kind: str, metadata, spec: obj({ config: str }) },
  { passthrough: ['status'] },
);

const vtInterface = obj<VirtinkInterface>(
  {
    name: str,
    mac: str,
    bridge: empty,
    masquerade: obj({ cidr: str }),
    sriov: empty,
    vdpa: obj({ numQueues: int, iommu: bool }),
    vhostUser: empty,
  },
  { zero: { name: '' } },
);

const vtNetwork = obj<VirtinkNetwork>(
  {
    name: str,
    pod: empty,
    multus: obj({ networkName: str }, { zero: { networkName: '' } }),
  },
  { zero: { name: '' } },
);

const virtinkVm = obj<VirtinkVirtualMachine>(
  {
    apiVersion: str,
    kind: str,
    metadata,
    spec: obj(
      {
        instance: obj(
          {
            interfaces: list(vtInterface),
            cpu: obj(
              { sockets: int, coresPerSocket: int, dedicatedCPUPlacement: bool },
              { unknown: 'warning', passthrough: ['numaNodes'] },
            ),
            memory: obj(
              { size: quantity, hugepages: obj({ pageSize: quantity }) },
              { unknown: 'warning' },
            ),
          },
          { unknown: 'warning', passthrough: ['kernel', 'disks', 'fileSystems', 'gpus'] },
        ),
        networks: list(vtNetwork),
        runPolicy: str,
      },
      {
        unknown: 'warning',
        required: ['instance'],
        passthrough: [
          'nodeSelector',
          'affinity',
          'tolerations',
          'resources',
          'livenessProbe',
          'readinessProbe',
          'volumes',
        ],
      },
    ),
  },
  { required: ['spec'], passthrough: ['status'] },
);

// ---------------------------------------------------------------------------------------------
// Dispatch

const KIND_LIST =
  'KubeVirt VirtualMachine/VirtualMachineInstance/KubeVirt (kubevirt.io/v1), ' +
  'NetworkAttachmentDefinition (k8s.cni.cncf.io/v1), ' +
  'Virtink VirtualMachine (virt.virtink.smartx.com/v1alpha1), and v1 List';

const KUBEVIRT_GROUP_VERSIONS = new Set([API_VERSIONS.kubevirt, 'kubevirt.io/v1alpha3']);

function decodeNad(
  v: unknown,
  path: string,
  cx: DecodeContext,
): NetworkAttachmentDefinition | undefined {
  const raw = nadRaw(v, path, cx);
  if (!raw) return undefined;
  const meta = raw.metadata ?? {};
  const spec = raw.spec ?? {};
  let config: Record<string, unknown> | undefined;
  if (spec.config !== undefined && spec.config.trim() !== '') {
    try {
      const parsed: unknown = JSON.parse(spec.config);
      if (isRecord(parsed)) config = parsed;
      else
        cx.error(
          child(path, 'spec.config'),
          LoadCode.NadConfig,
          'CNI config must be a JSON object',
        );
    } catch (e) {
      const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
      cx.error(
        child(path, 'spec.config'),
        LoadCode.NadConfig,
        `CNI config is not valid JSON: ${msg}`,
      );
    }
  }
  const resourceName = meta.annotations?.[RESOURCE_NAME_ANNOTATION];
  return {
    apiVersion: raw.apiVersion,
    kind: 'NetworkAttachmentDefinition',
    metadata: meta,
    spec,
    namespace: meta.namespace || 'default',
    name: meta.name ?? '',
    ...(config ? { config } : {}),
    ...(resourceName !== undefined ? { resourceName } : {}),
  };
}

/** Decodes one object by apiVersion/kind; `List` items are decoded one by one. */
function dispatch(
  v: unknown,
  path: string,
  cx: DecodeContext,
  out: { manifest: Manifest; path: string }[],
): void {
  if (!isRecord(v)) {
    cx.error(
      path,
      LoadCode.Type,
      `expected an object with apiVersion and kind, got ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`,
    );
    return;
  }
  const apiVersion = v['apiVersion'];
  const kind = v['kind'];
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    cx.error(child(path, 'apiVersion'), LoadCode.Required, 'apiVersion not set');
    return;
  }
  if (typeof kind !== 'string' || kind === '') {
    cx.error(child(path, 'kind'), LoadCode.Required, 'kind not set');
    return;
  }
  const before = cx.problems.length;
  const ok = (): boolean => !cx.problems.slice(before).some((p) => p.severity === 'error');
  if (apiVersion === 'v1' && kind === 'List') {
    const items = v['items'];
    if (!Array.isArray(items)) {
      cx.error(child(path, 'items'), LoadCode.Type, 'expected array');
      return;
    }
    items.forEach((item, i) => dispatch(item, index(child(path, 'items'), i), cx, out));
    return;
  }
  if (KUBEVIRT_GROUP_VERSIONS.has(apiVersion) && kind === 'VirtualMachine') {
    const o = kubevirtVm(v, path, cx);
    if (o && ok())
      out.push({
        manifest: { type: 'kubevirt-vm', object: { ...o, kind, metadata: o.metadata ?? {} } },
        path,
      });
    return;
  }
  if (KUBEVIRT_GROUP_VERSIONS.has(apiVersion) && kind === 'VirtualMachineInstance') {
    const o = kubevirtVmi(v, path, cx);
    if (o && ok())
      out.push({
        manifest: { type: 'kubevirt-vmi', object: { ...o, kind, metadata: o.metadata ?? {} } },
        path,
      });
    return;
  }
  if (KUBEVIRT_GROUP_VERSIONS.has(apiVersion) && kind === 'KubeVirt') {
    const o = kubevirtCR(v, path, cx);
    if (o && ok())
      out.push({
        manifest: {
          type: 'kubevirt-cr',
          object: { ...o, kind, metadata: o.metadata ?? {}, spec: o.spec ?? {} },
        },
        path,
      });
    return;
  }
  if (apiVersion === API_VERSIONS.nad && kind === 'NetworkAttachmentDefinition') {
    const o = decodeNad(v, path, cx);
    if (o && ok()) out.push({ manifest: { type: 'nad', object: o }, path });
    return;
  }
  if (apiVersion === API_VERSIONS.virtink && kind === 'VirtualMachine') {
    const o = virtinkVm(v, path, cx);
    if (o && ok())
      out.push({
        manifest: { type: 'virtink-vm', object: { ...o, kind, metadata: o.metadata ?? {} } },
        path,
      });
    return;
  }
  cx.error(
    child(path, 'kind'),
    LoadCode.Kind,
    `unsupported kind "${kind}" in apiVersion "${apiVersion}"; bindery reads ${KIND_LIST}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Positions

/** Records the 1-based line of every field path under `node` (map keys always as `.key`). */
function collectLines(
  node: unknown,
  path: string,
  lc: LineCounter,
  lines: Map<string, number>,
): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = pair.key;
      if (!isScalar(key)) continue;
      const p = child(path, String(key.value));
      const off = key.range?.[0];
      if (off !== undefined) lines.set(p, lc.linePos(off).line);
      collectLines(pair.value, p, lc, lines);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const p = index(path, i);
      const off = (item as YamlNode | null)?.range?.[0];
      if (off !== undefined) lines.set(p, lc.linePos(off).line);
      collectLines(item, p, lc, lines);
    });
  }
}

/** The first map key under `node` that is a mapping or a sequence (`? {a: 1}`), if any. */
function collectionKey(node: unknown): YamlNode | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      if (isMap(pair.key) || isSeq(pair.key)) return pair.key as YamlNode;
      const inner = collectionKey(pair.value);
      if (inner !== undefined) return inner;
    }
  } else if (isSeq(node)) {
    for (const item of node.items) {
      const inner = collectionKey(item);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

/** `a[key].b` → `a.key.b` (map keys in brackets, as decoders write them, to the line map's form). */
function normalizePath(path: string): string {
  return path.replace(/\[([^\]]*[^\]0-9][^\]]*|)\]/g, (_m, k: string) => `.${k}`);
}

/**
 * The line of `path` in a document, or of its nearest ancestor that has one
 * (`a.b[2].c` → `a.b[2]` → `a.b` → `a`).
 */
export function lineOf(source: SourceInfo, path: string): number | undefined {
  let p = normalizePath(path);
  for (;;) {
    const l = source.lines.get(p);
    if (l !== undefined) return l;
    if (p === '') return source.line;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut <= 0 ? '' : p.slice(0, cut);
  }
}

// ---------------------------------------------------------------------------------------------
// go-yaml compatibility

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

/**
 * go-yaml (kubectl) does not check the indentation of a quoted scalar's continuation lines; the
 * YAML 1.2 parser here does, so the KubeVirt guide's NAD (`config: '{` … `  }'`) would not
 * parse. This indents such lines one column deeper than the line the scalar starts on, which
 * leaves the value unchanged (flow scalars fold leading white space) and keeps line numbers.
 */
export function relaxQuotedIndentation(text: string): string {
  const lines = text.split('\n');
  let quote: '"' | "'" | undefined;
  let parentIndent = 0;
  let blockIndent: number | undefined;
  for (let li = 0; li < lines.length; li++) {
    let line = lines[li] ?? '';
    if (blockIndent !== undefined) {
      if (line.trim() === '' || indentOf(line) > blockIndent) continue;
      blockIndent = undefined;
    }
    if (quote !== undefined && line.trim() !== '' && indentOf(line) <= parentIndent) {
      line = ' '.repeat(parentIndent + 1 - indentOf(line)) + line;
      lines[li] = line;
    }
    let prev = ''; // last non-space character outside quotes on this line
    for (let i = 0; i < line.length; i++) {
      const c = line[i] ?? '';
      if (quote === "'") {
        if (c === "'") {
          if (line[i + 1] === "'") i++;
          else quote = undefined;
        }
        continue;
      }
      if (quote === '"') {
        if (c === '\\') i++;
        else if (c === '"') quote = undefined;
        continue;
      }
      if (c === ' ' || c === '\t') continue;
      const atTokenStart =
        prev === '' ||
        prev === '[' ||
        prev === '{' ||
        prev === ',' ||
        ((prev === ':' || prev === '-' || prev === '?') && /\s/.test(line[i - 1] ?? ''));
      if (c === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) break;
      if ((c === "'" || c === '"') && atTokenStart) {
        quote = c;
        parentIndent = indentOf(line);
        prev = c;
        continue;
      }
      if (
        (c === '|' || c === '>') &&
        atTokenStart &&
        prev !== '' &&
        /^[|>][-+0-9]*\s*(#.*)?$/.test(line.slice(i))
      ) {
        blockIndent = indentOf(line);
        break;
      }
      prev = c;
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Entry point

function firstLine(s: string): string {
  const l = s.split('\n')[0]?.trim() ?? '';
  return l.length > 120 ? l.slice(0, 117) + '...' : l;
}

/**
 * Parses every document in `text` (YAML or JSON) and decodes the ones bindery knows.
 * A document with an error (syntax, type, unknown field, unknown kind) is left out of
 * `manifests`; every problem is in `diagnostics` with the file, the line when known and the
 * field path. Never throws.
 */
export function loadManifests(text: string, file: string): LoadResult {
  const manifests: LoadedManifest[] = [];
  const diagnostics: Diagnostic[] = [];
  const push = (p: Problem, line: number | undefined): void => {
    diagnostics.push({ ...p, file, ...(line !== undefined ? { line } : {}) });
  };
  let docs;
  let lc = new LineCounter();
  const parse = (t: string, counter: LineCounter): ReturnType<typeof parseAllDocuments> =>
    parseAllDocuments(t, {
      lineCounter: counter,
      prettyErrors: false,
      merge: true,
      uniqueKeys: true,
    });
  try {
    docs = parse(text, lc);
    if (Array.isArray(docs) && docs.some((d) => d.errors.length > 0)) {
      const relaxed = relaxQuotedIndentation(text);
      if (relaxed !== text) {
        const lc2 = new LineCounter();
        const docs2 = parse(relaxed, lc2);
        if (Array.isArray(docs2) && docs2.every((d) => d.errors.length === 0)) {
          docs = docs2;
          lc = lc2;
        }
      }
    }
  } catch (e) {
    push(
      {
        path: '',
        code: LoadCode.Syntax,
        message: firstLine(e instanceof Error ? e.message : String(e)),
        severity: 'error',
      },
      undefined,
    );
    return { manifests, diagnostics };
  }
  const list = Array.isArray(docs) ? docs : [];
  let seen = 0;
  list.forEach((doc, d) => {
    const startLine = doc.range?.[0] !== undefined ? lc.linePos(doc.range[0]).line : undefined;
    const docPath = '';
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const line = err.pos ? lc.linePos(err.pos[0]).line : startLine;
        push(
          {
            path: docPath,
            code: LoadCode.Syntax,
            message: firstLine(err.message),
            severity: 'error',
          },
          line,
        );
      }
      seen++;
      return;
    }
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return; // an empty document (e.g. a leading `---`)
    seen++;
    const badKey = collectionKey(doc.contents);
    if (badKey !== undefined) {
      // go-yaml (kubectl) refuses these too: a Kubernetes object's keys are strings.
      push(
        {
          path: docPath,
          code: LoadCode.Syntax,
          message: 'invalid map key: a mapping or sequence cannot be a key',
          severity: 'error',
        },
        badKey.range?.[0] !== undefined ? lc.linePos(badKey.range[0]).line : startLine,
      );
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      push(
        {
          path: docPath,
          code: LoadCode.Syntax,
          message: firstLine(e instanceof Error ? e.message : String(e)),
          severity: 'error',
        },
        startLine,
      );
      return;
    }
    const lines = new Map<string, number>();
    const contentLine =
      doc.contents.range?.[0] !== undefined ? lc.linePos(doc.contents.range[0]).line : startLine;
    if (contentLine !== undefined) lines.set('', contentLine);
    collectLines(doc.contents, '', lc, lines);
    const source: SourceInfo = {
      file,
      document: d,
      ...(contentLine !== undefined ? { line: contentLine } : {}),
      lines,
    };
    const cx = new DecodeContext();
    const found: { manifest: Manifest; path: string }[] = [];
    dispatch(value, '', cx, found);
    for (const p of cx.problems) push(p, lineOf(source, p.path));
    for (const f of found) {
      const itemLines =
        f.path === ''
          ? lines
          : new Map(
              [...lines]
                .filter(([k]) => k === f.path || k.startsWith(f.path + '.'))
                .map(([k, l]) => [k === f.path ? '' : k.slice(f.path.length + 1), l]),
            );
      const itemSource: SourceInfo =
        f.path === ''
          ? source
          : {
              file,
              document: d,
              ...(itemLines.get('') !== undefined ? { line: itemLines.get('') } : {}),
              lines: itemLines,
            };
      manifests.push({ ...f.manifest, source: itemSource } as LoadedManifest);
    }
  });
  if (seen === 0 && diagnostics.length === 0) {
    push(
      { path: '', code: LoadCode.Empty, message: 'no manifests in file', severity: 'error' },
      undefined,
    );
  }
  return { manifests, diagnostics };
}

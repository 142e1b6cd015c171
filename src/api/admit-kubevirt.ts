// KubeVirt admission: the VMI network rules of virt-api (facts-kubevirt §2) plus bindery's own checks, as field errors.
//
// Every rule, its code and its source. "§2 x.go" = facts-kubevirt.md §2, file x.go; rules marked
// (bindery) are checks KubeVirt does not make at admission and whose messages say so.
// Paths are relative to the VMI spec (`spec` for a VMI, `spec.template.spec` for a VM).
//
// | code (BINDERY_ADM_KV_…)         | rule                                                         | source |
// |---------------------------------|--------------------------------------------------------------|--------|
// | POD_NET_MULTIPLE                | more than one `pod` network                                  | §2 netsource.go |
// | MULTUS_DEFAULT_MULTIPLE         | more than one multus `default: true`                         | §2 netsource.go |
// | POD_AND_MULTUS_DEFAULT          | pod network together with a multus default                   | §2 netsource.go |
// | NET_SOURCE_NONE                 | network with no source                                       | §2 netsource.go |
// | NET_SOURCE_MULTIPLE             | network with more than one source                            | §2 netsource.go |
// | MULTUS_NAME_REQUIRED            | multus with empty networkName                                | §2 netsource.go |
// | STATE_UNSUPPORTED               | state not ""/up/down/absent                                  | §2 admit.go |
// | STATE_LINK_SRIOV                | up/down on SR-IOV                                            | §2 admit.go |
// | STATE_ABSENT_NOT_BRIDGE         | absent on a non-bridge interface                             | §2 admit.go |
// | STATE_ABSENT_DEFAULT_NET        | absent on the default network                                | §2 admit.go |
// | BINDING_COUNT                   | not exactly one of bridge/masquerade/sriov/passtBinding/binding | §2 binding.go |
// | MASQ_NOT_POD                    | masquerade on a non-pod network                              | §2 binding.go |
// | MASQ_RESERVED_MAC               | masquerade with MAC 02:00:00:00:00:00                        | §2 binding.go |
// | BRIDGE_POD_NOT_PERMITTED        | bridge on pod network, permitBridgeInterfaceOnPodNetwork=false | §2 binding.go |
// | BINDING_PLUGINS_GATE            | `binding` without NetworkBindingPlugins (v1.1–v1.4 only)     | §2 binding.go, Version caveats |
// | BINDING_UNREGISTERED            | (bindery) `binding.name` not in the KubeVirt CR              | §2 "No admission check…", netbinding.go message |
// | FIELD_UNAVAILABLE               | (bindery) binding <v1.1, passtBinding <v1.8, portRanges/resourceClaim <v1.9 | Version caveats, featuregate files |
// | PASST_BINDING_GATE              | passtBinding without the PasstBinding gate                   | §2 passt.go |
// | PASST_BINDING_NOT_POD           | passtBinding on a non-pod network                            | §2 passt.go |
// | PASST_GATE                      | old core passt without the Passt gate (<v1.3)                | §2 passt.go (v1.0–1.2) |
// | PASST_NOT_POD                   | old core passt on a non-pod network (<v1.3)                  | §2 passt.go (v1.0–1.2) |
// | PASST_SINGLE                    | old core passt not the only interface (<v1.3)                | §2 passt.go (v1.0.0) |
// | MACVTAP_GATE                    | macvtap without the Macvtap gate (<v1.3)                     | macvtap.go (v1.0–1.2) |
// | MACVTAP_NOT_MULTUS              | macvtap on a non-multus network (<v1.3)                      | macvtap.go (v1.0–1.2) |
// | SLIRP_NOT_POD                   | slirp on a non-pod network (<v1.3)                           | slirp.go (v1.0–1.2) |
// | SLIRP_NOT_PERMITTED             | slirp without permitSlirpInterface (<v1.3)                   | slirp.go (v1.0–1.2) |
// | NET_NAME_DUPLICATE              | duplicate network name                                       | §2 netiface.go |
// | DRA_GATE                        | resourceClaim network without NetworkDevicesWithDRA          | §2 validateNetworkDevicesWithDRA (dra.go) |
// | DRA_SRIOV_REQUIRED              | resourceClaim network whose interface is not SR-IOV          | dra.go |
// | DRA_CLAIM_NAME_REQUIRED         | resourceClaim without claimName                              | dra.go |
// | DRA_REQUEST_NAME_REQUIRED       | resourceClaim without requestName                            | dra.go |
// | DRA_CLAIM_NOT_FOUND             | claimName not in spec.resourceClaims                         | dra.go |
// | DRA_DUPLICATE                   | duplicate claimName/requestName                              | dra.go |
// | DRA_MULTUS_MIX                  | multus and resourceClaim networks together                   | dra.go |
// | NET_NO_INTERFACE                | network without an interface                                 | §2 netiface.go |
// | IFACE_NAME_DUPLICATE            | duplicate interface name                                     | §2 netiface.go |
// | IFACE_NO_NETWORK                | interface without a network                                  | §2 netiface.go |
// | IFACE_NAME_FORMAT               | interface name not ^[A-Za-z0-9-_]+$                          | §2 netiface.go |
// | MODEL_UNSUPPORTED               | model outside the list                                       | §2 netiface.go |
// | MAC_MALFORMED                   | MAC not parsable by net.ParseMAC                             | §2 netiface.go |
// | MAC_TOO_LONG                    | MAC longer than 6 bytes                                      | §2 netiface.go |
// | PCI_MALFORMED                   | PCI address malformed                                        | §2 netiface.go |
// | PORT_NAME_DUPLICATE             | duplicate port name (pod network only)                       | §2 netiface.go |
// | PORT_NAME_INVALID               | port name not an IANA_SVC_NAME (pod network only)            | §2 netiface.go |
// | PORT_REQUIRED                   | port 0 (pod network only)                                    | §2 netiface.go |
// | PORT_RANGE                      | port <0 or ≥65536 (pod network only)                         | §2 netiface.go |
// | PORT_PROTOCOL                   | protocol not ""/TCP/UDP (pod network only)                   | §2 netiface.go |
// | PORTRANGES_GATE                 | portRanges without PortRangesSpec                            | §2 netiface.go |
// | PORTS_AND_RANGES                | both ports and portRanges                                    | §2 netiface.go |
// | PORTRANGES_NOT_MASQ             | portRanges on a non-masquerade interface                     | §2 netiface.go |
// | PORTRANGES_MAX                  | more than 10 portRanges                                      | §2 netiface.go |
// | PORTRANGE_PROTOCOL              | portRange protocol not TCP/UDP ("" counts as TCP)            | §2 netiface.go |
// | PORTRANGE_START / PORTRANGE_END | start/end outside 0<x<65536                                  | §2 netiface.go |
// | PORTRANGE_ORDER                 | start > end                                                  | §2 netiface.go |
// | PORTRANGE_OVERLAP               | overlapping ranges of one protocol                           | §2 netiface.go |
// | DHCP_PRIVATE_DUPLICATE          | duplicate DHCP private options                               | §2 netiface.go |
// | DHCP_PRIVATE_RANGE              | private option outside 224–254                               | §2 netiface.go |
// | DHCP_NTP                        | NTP server not IPv4                                          | §2 netiface.go |
// | DISCONTINUED_SLIRP / _PASST / _MACVTAP | slirp/passt/macvtap on creation (v1.3+)               | §2 discontinued.go |
// | BOOT_ORDER_INVALID              | bootOrder < 1 (interfaces and disks)                         | §2 vmi-create-admitter.go |
// | BOOT_ORDER_DUPLICATE            | bootOrder shared by two devices                              | §2 vmi-create-admitter.go |
// | PROBE_NEEDS_POD_NETWORK         | httpGet/tcpSocket probe without a pod network                | §2 vmi-create-admitter.go |
// | ARRAY_LIMIT                     | more than 256 networks or interfaces (v1.0 only)             | §2 vmi-create-admitter.go "Historical" |
// | DEFAULT_BRIDGE_NOT_PERMITTED, DEFAULT_SLIRP, DEFAULT_IFACE_UNKNOWN | defaulting failures (defaults.ts) | §1 Defaults |
// | NOT_MIGRATABLE                  | VerifyVMIMigratable (not an admission rule; `kubevirtMigrationBlocker`) | §2 Migration gate |
//
// KubeVirt CR (`admitKubeVirtCR`, all bindery: "There is no KubeVirt-CR-level validation of the binding map"):
// | CR_DEFAULT_IFACE                | defaultNetworkInterface not bridge/masquerade/slirp          | §1 NetworkConfiguration |
// | CR_PERMIT_SLIRP_REMOVED         | permitSlirpInterface set on v1.3+                            | §1 NetworkConfiguration |
// | CR_BINDING_NAD_REF              | networkAttachmentDefinition not `name` or `ns/name`          | §1 InterfaceBindingPlugin |
// | CR_BINDING_ATTACHMENT_TYPE      | domainAttachmentType not tap/managedTap (managedTap v1.4+)   | §1 InterfaceBindingPlugin |
// | CR_BINDING_MIGRATION_METHOD     | migration.method not link-refresh                            | §1 InterfaceBindingMigration |
// | CR_BINDING_DOWNWARD_API         | downwardAPI not device-info                                  | §1 InterfaceBindingPlugin |
// | CR_BINDING_OVERHEAD             | computeResourceOverhead quantity malformed                   | §1, §3 computeResourceOverhead |
// | CR_BINDING_NO_VNIC              | neither sidecarImage nor domainAttachmentType                | §3 domainAttachmentType |
// | CR_GATE_GA (warning)            | a listed gate that is GA (always on) at this version         | Version caveats |
import { KUBEVIRT_MODELS } from './types.js';
import type {
  FieldError,
  KubeVirtCR,
  KubeVirtInterface,
  KubeVirtNetwork,
  KubeVirtVirtualMachine,
  KubeVirtVirtualMachineInstance,
  KubeVirtVmiSpec,
} from './types.js';
import {
  NETWORK_GATES,
  atLeast,
  formatKubeVirtVersion,
  gateEnabled,
  type KubeVirtClusterConfig,
  type KubeVirtVersion,
} from './kubevirt-config.js';
import {
  isPciAddress,
  isQuantity,
  isValidPortName,
  isDnsSubdomain,
  parseIPv4,
  parseMac,
} from './syntax.js';

const P = 'BINDERY_ADM_KV_';

/** Stable codes of KubeVirt admission errors. */
export const KubeVirtCode = {
  PodNetMultiple: `${P}POD_NET_MULTIPLE`,
  MultusDefaultMultiple: `${P}MULTUS_DEFAULT_MULTIPLE`,
  PodAndMultusDefault: `${P}POD_AND_MULTUS_DEFAULT`,
  NetSourceNone: `${P}NET_SOURCE_NONE`,
  NetSourceMultiple: `${P}NET_SOURCE_MULTIPLE`,
  MultusNameRequired: `${P}MULTUS_NAME_REQUIRED`,
  StateUnsupported: `${P}STATE_UNSUPPORTED`,
  StateLinkSriov: `${P}STATE_LINK_SRIOV`,
  StateAbsentNotBridge: `${P}STATE_ABSENT_NOT_BRIDGE`,
  StateAbsentDefaultNet: `${P}STATE_ABSENT_DEFAULT_NET`,
  BindingCount: `${P}BINDING_COUNT`,
  MasqNotPod: `${P}MASQ_NOT_POD`,
  MasqReservedMac: `${P}MASQ_RESERVED_MAC`,
  BridgePodNotPermitted: `${P}BRIDGE_POD_NOT_PERMITTED`,
  BindingPluginsGate: `${P}BINDING_PLUGINS_GATE`,
  BindingUnregistered: `${P}BINDING_UNREGISTERED`,
  FieldUnavailable: `${P}FIELD_UNAVAILABLE`,
  PasstBindingGate: `${P}PASST_BINDING_GATE`,
  PasstBindingNotPod: `${P}PASST_BINDING_NOT_POD`,
  PasstGate: `${P}PASST_GATE`,
  PasstNotPod: `${P}PASST_NOT_POD`,
  PasstSingle: `${P}PASST_SINGLE`,
  MacvtapGate: `${P}MACVTAP_GATE`,
  MacvtapNotMultus: `${P}MACVTAP_NOT_MULTUS`,
  SlirpNotPod: `${P}SLIRP_NOT_POD`,
  SlirpNotPermitted: `${P}SLIRP_NOT_PERMITTED`,
  NetNameDuplicate: `${P}NET_NAME_DUPLICATE`,
  DraGate: `${P}DRA_GATE`,
  DraSriovRequired: `${P}DRA_SRIOV_REQUIRED`,
  DraClaimNameRequired: `${P}DRA_CLAIM_NAME_REQUIRED`,
  DraRequestNameRequired: `${P}DRA_REQUEST_NAME_REQUIRED`,
  DraClaimNotFound: `${P}DRA_CLAIM_NOT_FOUND`,
  DraDuplicate: `${P}DRA_DUPLICATE`,
  DraMultusMix: `${P}DRA_MULTUS_MIX`,
  NetNoInterface: `${P}NET_NO_INTERFACE`,
  IfaceNameDuplicate: `${P}IFACE_NAME_DUPLICATE`,
  IfaceNoNetwork: `${P}IFACE_NO_NETWORK`,
  IfaceNameFormat: `${P}IFACE_NAME_FORMAT`,
  ModelUnsupported: `${P}MODEL_UNSUPPORTED`,
  MacMalformed: `${P}MAC_MALFORMED`,
  MacTooLong: `${P}MAC_TOO_LONG`,
  PciMalformed: `${P}PCI_MALFORMED`,
  PortNameDuplicate: `${P}PORT_NAME_DUPLICATE`,
  PortNameInvalid: `${P}PORT_NAME_INVALID`,
  PortRequired: `${P}PORT_REQUIRED`,
  PortRange: `${P}PORT_RANGE`,
  PortProtocol: `${P}PORT_PROTOCOL`,
  PortRangesGate: `${P}PORTRANGES_GATE`,
  PortsAndRanges: `${P}PORTS_AND_RANGES`,
  PortRangesNotMasq: `${P}PORTRANGES_NOT_MASQ`,
  PortRangesMax: `${P}PORTRANGES_MAX`,
  PortRangeProtocol: `${P}PORTRANGE_PROTOCOL`,
  PortRangeStart: `${P}PORTRANGE_START`,
  PortRangeEnd: `${P}PORTRANGE_END`,
  PortRangeOrder: `${P}PORTRANGE_ORDER`,
  PortRangeOverlap: `${P}PORTRANGE_OVERLAP`,
  DhcpPrivateDuplicate: `${P}DHCP_PRIVATE_DUPLICATE`,
  DhcpPrivateRange: `${P}DHCP_PRIVATE_RANGE`,
  DhcpNtp: `${P}DHCP_NTP`,
  DiscontinuedSlirp: `${P}DISCONTINUED_SLIRP`,
  DiscontinuedPasst: `${P}DISCONTINUED_PASST`,
  DiscontinuedMacvtap: `${P}DISCONTINUED_MACVTAP`,
  BootOrderInvalid: `${P}BOOT_ORDER_INVALID`,
  BootOrderDuplicate: `${P}BOOT_ORDER_DUPLICATE`,
  ProbeNeedsPodNetwork: `${P}PROBE_NEEDS_POD_NETWORK`,
  ArrayLimit: `${P}ARRAY_LIMIT`,
  NotMigratable: `${P}NOT_MIGRATABLE`,
  CrDefaultIface: `${P}CR_DEFAULT_IFACE`,
  CrPermitSlirpRemoved: `${P}CR_PERMIT_SLIRP_REMOVED`,
  CrBindingNadRef: `${P}CR_BINDING_NAD_REF`,
  CrBindingAttachmentType: `${P}CR_BINDING_ATTACHMENT_TYPE`,
  CrBindingMigrationMethod: `${P}CR_BINDING_MIGRATION_METHOD`,
  CrBindingDownwardApi: `${P}CR_BINDING_DOWNWARD_API`,
  CrBindingOverhead: `${P}CR_BINDING_OVERHEAD`,
  CrBindingNoVnic: `${P}CR_BINDING_NO_VNIC`,
  CrGateGa: `${P}CR_GATE_GA`,
} as const;

/** The MAC KubeVirt reserves for the in-pod masquerade bridge. */
export const RESERVED_BRIDGE_MAC = '02:00:00:00:00:00';

/** The VMI annotation that lets a bridge-on-pod-network VMI migrate. */
export const ALLOW_POD_BRIDGE_MIGRATION_ANNOTATION =
  'kubevirt.io/allow-pod-bridge-network-live-migration';

type Err = FieldError;

function netSourceCount(n: KubeVirtNetwork): number {
  return (
    (n.pod !== undefined ? 1 : 0) +
    (n.multus !== undefined ? 1 : 0) +
    (n.resourceClaim !== undefined ? 1 : 0)
  );
}

/** The VMI's default network: the pod network or the multus default. */
function defaultNetwork(networks: readonly KubeVirtNetwork[]): KubeVirtNetwork | undefined {
  return networks.find((n) => n.pod !== undefined || n.multus?.default === true);
}

function bindingCount(i: KubeVirtInterface, version: KubeVirtVersion): number {
  const core = [i.bridge, i.masquerade, i.sriov, i.passtBinding, i.binding];
  const old = atLeast(version, 1, 3) ? [] : [i.slirp, i.macvtap, i.passt];
  return [...core, ...old].filter((x) => x !== undefined).length;
}

/**
 * Validates a VMI spec (after defaulting) as virt-api does on creation: `Validator.Validate()`
 * and `ValidateCreation()` plus the VMI-level network rules, all errors at once. `prefix` is
 * the spec's path. Never throws.
 */
export function admitKubeVirtVmiSpec(
  spec: KubeVirtVmiSpec,
  config: KubeVirtClusterConfig,
  prefix = 'spec',
): FieldError[] {
  const errs: Err[] = [];
  const v = config.version;
  const vs = formatKubeVirtVersion(v);
  const at = (p: string): string => (prefix === '' ? p : `${prefix}.${p}`);
  const networks = spec.networks ?? [];
  const interfaces = spec.domain.devices.interfaces ?? [];
  const ifacePath = (i: number, f?: string): string =>
    at(`domain.devices.interfaces[${i}]${f ? '.' + f : ''}`);
  const netPath = (i: number, f?: string): string => at(`networks[${i}]${f ? '.' + f : ''}`);
  const netByName = new Map<string, KubeVirtNetwork>();
  for (const n of networks) if (!netByName.has(n.name)) netByName.set(n.name, n);

  // v1.0: array length limit
  if (!atLeast(v, 1, 1)) {
    if (networks.length > 256)
      errs.push({
        path: at('networks'),
        code: KubeVirtCode.ArrayLimit,
        message: `${at('networks')} list exceeds the 256 element limit in length`,
      });
    if (interfaces.length > 256)
      errs.push({
        path: at('domain.devices.interfaces'),
        code: KubeVirtCode.ArrayLimit,
        message: `${at('domain.devices.interfaces')} list exceeds the 256 element limit in length`,
      });
  }

  // 1. validateSinglePodNetwork
  const podNets = networks.filter((n) => n.pod !== undefined);
  const multusDefaults = networks.filter((n) => n.multus?.default === true);
  if (podNets.length > 1)
    errs.push({
      path: at('interfaces'),
      code: KubeVirtCode.PodNetMultiple,
      message: `more than one interface is connected to a pod network in ${at('interfaces')}`,
    });
  if (multusDefaults.length > 1)
    errs.push({
      path: at('networks'),
      code: KubeVirtCode.MultusDefaultMultiple,
      message: 'Multus CNI should only have one default network',
    });
  if (podNets.length > 0 && multusDefaults.length > 0)
    errs.push({
      path: at('networks'),
      code: KubeVirtCode.PodAndMultusDefault,
      message: 'Pod network cannot be defined when Multus default network is defined',
    });

  // 2. validateSingleNetworkSource; 3. validateMultusNetworkSource; field availability
  networks.forEach((n, i) => {
    const c = netSourceCount(n);
    if (c === 0)
      errs.push({
        path: netPath(i),
        code: KubeVirtCode.NetSourceNone,
        message: 'should have a network type',
      });
    else if (c > 1)
      errs.push({
        path: netPath(i),
        code: KubeVirtCode.NetSourceMultiple,
        message: 'should have only one network type',
      });
    if (n.multus && n.multus.networkName === '')
      errs.push({
        path: netPath(i),
        code: KubeVirtCode.MultusNameRequired,
        message: 'CNI delegating plugin must have a networkName',
      });
    if (n.resourceClaim && !atLeast(v, 1, 9))
      errs.push({
        path: netPath(i, 'resourceClaim'),
        code: KubeVirtCode.FieldUnavailable,
        message: `resourceClaim networks do not exist before KubeVirt v1.9 (validating for ${vs}) (bindery check; the field is unknown to this release)`,
      });
  });

  // 4. validateInterfaceStateValue
  const defNet = defaultNetwork(networks);
  interfaces.forEach((iface, i) => {
    const st = iface.state ?? '';
    if (st !== '' && st !== 'absent' && st !== 'up' && st !== 'down')
      errs.push({
        path: ifacePath(i, 'state'),
        code: KubeVirtCode.StateUnsupported,
        message: `logical ${iface.name} interface state value is unsupported: ${st}`,
      });
    if (iface.sriov && (st === 'up' || st === 'down'))
      errs.push({
        path: ifacePath(i, 'state'),
        code: KubeVirtCode.StateLinkSriov,
        message: `"${iface.name}" interface's state "${st}" is not supported for SR-IOV NICs`,
      });
    if (st === 'absent' && !iface.bridge)
      errs.push({
        path: ifacePath(i, 'state'),
        code: KubeVirtCode.StateAbsentNotBridge,
        message: `"${iface.name}" interface's state "${st}" is supported only for bridge binding`,
      });
    if (st === 'absent' && defNet && defNet.name === iface.name)
      errs.push({
        path: ifacePath(i, 'state'),
        code: KubeVirtCode.StateAbsentDefaultNet,
        message: `"${iface.name}" interface's state "${st}" is not supported on default networks`,
      });
  });

  // 5. validateInterfaceBinding (+ old core bindings before v1.3, + bindery checks)
  interfaces.forEach((iface, i) => {
    const net = netByName.get(iface.name);
    const onPod = net?.pod !== undefined;
    if (bindingCount(iface, v) !== 1)
      errs.push({
        path: ifacePath(i),
        code: KubeVirtCode.BindingCount,
        message: `logical ${iface.name} interface must have exactly one binding method or binding plugin`,
      });
    if (iface.masquerade && !onPod)
      errs.push({
        path: ifacePath(i, 'name'),
        code: KubeVirtCode.MasqNotPod,
        message: 'Masquerade interface only implemented with pod network',
      });
    if (iface.masquerade && iface.macAddress) {
      const m = parseMac(iface.macAddress);
      if ('bytes' in m && m.bytes.length === 6 && m.bytes.every((b, k) => b === (k === 0 ? 2 : 0)))
        errs.push({
          path: ifacePath(i, 'macAddress'),
          code: KubeVirtCode.MasqReservedMac,
          message:
            'The requested MAC address is reserved for the in-pod bridge. Please choose another one.',
        });
    }
    if (iface.bridge && onPod && !config.permitBridgeInterfaceOnPodNetwork)
      errs.push({
        path: ifacePath(i, 'name'),
        code: KubeVirtCode.BridgePodNotPermitted,
        message: 'Bridge on pod network configuration is not enabled under kubevirt-config',
      });
    if (iface.binding) {
      if (!atLeast(v, 1, 1)) {
        errs.push({
          path: ifacePath(i, 'binding'),
          code: KubeVirtCode.FieldUnavailable,
          message: `network binding plugins do not exist before KubeVirt v1.1 (validating for ${vs}) (bindery check; the field is unknown to this release)`,
        });
      } else {
        if (!gateEnabled(config, 'NetworkBindingPlugins'))
          errs.push({
            path: ifacePath(i, 'binding'),
            code: KubeVirtCode.BindingPluginsGate,
            message: 'Binding plugins feature gate is not enabled',
          });
        const name = iface.binding.name;
        if (!Object.hasOwn(config.bindings, name))
          errs.push({
            path: ifacePath(i, 'binding'),
            code: KubeVirtCode.BindingUnregistered,
            message: `couldn't find configuration for network binding: ${name} (bindery check; KubeVirt admits this and virt-controller fails later; register it under spec.configuration.network.binding of the KubeVirt CR${config.fromCR ? '' : ', none was given: use --kubevirt-cr'})`,
          });
      }
    }
    if (iface.passtBinding) {
      if (!atLeast(v, 1, 8)) {
        errs.push({
          path: ifacePath(i, 'passtBinding'),
          code: KubeVirtCode.FieldUnavailable,
          message: `the core passtBinding does not exist before KubeVirt v1.8 (validating for ${vs}) (bindery check; the field is unknown to this release)`,
        });
      } else {
        if (!gateEnabled(config, 'PasstBinding'))
          errs.push({
            path: ifacePath(i, 'name'),
            code: KubeVirtCode.PasstBindingGate,
            message: 'PasstBinding feature gate is not enabled',
          });
        if (!onPod)
          errs.push({
            path: ifacePath(i, 'name'),
            code: KubeVirtCode.PasstBindingNotPod,
            message: 'PasstBinding interface only implemented with pod network',
          });
      }
    }
    if (!atLeast(v, 1, 3)) {
      if (iface.passt) {
        if (!gateEnabled(config, 'Passt'))
          errs.push({
            path: ifacePath(i, 'name'),
            code: KubeVirtCode.PasstGate,
            message: 'Passt feature gate is not enabled',
          });
        if (!onPod)
          errs.push({
            path: ifacePath(i, 'name'),
            code: KubeVirtCode.PasstNotPod,
            message: 'Passt interface only implemented with pod network',
          });
        if (interfaces.length > 1)
          errs.push({
            path: ifacePath(i, 'name'),
            code: KubeVirtCode.PasstSingle,
            message: 'Passt interface is only supported as the single interface of the VMI',
          });
      }
      if (iface.macvtap) {
        if (!gateEnabled(config, 'Macvtap'))
          errs.push({
            path: ifacePath(i, 'name'),
            code: KubeVirtCode.MacvtapGate,
            message: 'Macvtap feature gate is not enabled',
          });
        if (net && !net.multus)
          errs.push({
            path: ifacePath(i, 'name'),
            code: KubeVirtCode.MacvtapNotMultus,
            message: 'Macvtap interface only implemented with Multus network',
          });
      }
      if (iface.slirp && net) {
        if (!net.pod)
          errs.push({
            path: ifacePath(i, 'name'),
            code: KubeVirtCode.SlirpNotPod,
            message: 'Slirp interface only implemented with pod network',
          });
        else if (!config.permitSlirpInterface)
          errs.push({
            path: ifacePath(i, 'name'),
            code: KubeVirtCode.SlirpNotPermitted,
            message: 'Slirp interface is not enabled in kubevirt-config',
          });
      }
    }
  });

  // 6. validateNetworkNameUnique
  const seenNets = new Set<string>();
  networks.forEach((n, i) => {
    if (seenNets.has(n.name))
      errs.push({
        path: netPath(i, 'name'),
        code: KubeVirtCode.NetNameDuplicate,
        message: `Network with name "${n.name}" already exists, every network must have a unique name`,
      });
    seenNets.add(n.name);
  });

  // 7. validateNetworkDevicesWithDRA
  if (atLeast(v, 1, 9) && networks.some((n) => n.resourceClaim !== undefined)) {
    if (!gateEnabled(config, 'NetworkDevicesWithDRA')) {
      errs.push({
        path: at('networks'),
        code: KubeVirtCode.DraGate,
        message: 'NetworkDevicesWithDRA feature gate is not enabled in kubevirt-config',
      });
    } else {
      const claims = resourceClaimNames(spec);
      const firstByKey = new Map<string, number>();
      networks.forEach((n, i) => {
        const c = n.resourceClaim;
        if (c?.claimName && c.requestName) {
          const k = `${c.claimName}/${c.requestName}`;
          if (!firstByKey.has(k)) firstByKey.set(k, i);
        }
      });
      networks.forEach((n, i) => {
        const c = n.resourceClaim;
        if (!c) return;
        const iface = interfaces.find((x) => x.name === n.name);
        if (iface && !iface.sriov)
          errs.push({
            path: at('domain.devices.interfaces'),
            code: KubeVirtCode.DraSriovRequired,
            message: `DRA network "${n.name}" requires an SR-IOV interface binding`,
          });
        if (!c.claimName)
          errs.push({
            path: netPath(i, 'resourceClaim.claimName'),
            code: KubeVirtCode.DraClaimNameRequired,
            message: 'claimName is required for DRA network',
          });
        if (!c.requestName)
          errs.push({
            path: netPath(i, 'resourceClaim.requestName'),
            code: KubeVirtCode.DraRequestNameRequired,
            message: 'requestName is required for DRA network',
          });
        if (!c.claimName || !c.requestName) return;
        if (!claims.has(c.claimName))
          errs.push({
            path: netPath(i, 'resourceClaim.claimName'),
            code: KubeVirtCode.DraClaimNotFound,
            message: `network references resourceClaim "${c.claimName}" which is not defined in spec.resourceClaims`,
          });
        const k = `${c.claimName}/${c.requestName}`;
        if (firstByKey.get(k) !== i)
          errs.push({
            path: netPath(i),
            code: KubeVirtCode.DraDuplicate,
            message: `duplicate claimName/requestName combination "${k}"`,
          });
      });
      if (networks.some((n) => n.multus !== undefined))
        errs.push({
          path: at('networks'),
          code: KubeVirtCode.DraMultusMix,
          message: 'mixing Multus and DRA resourceClaim networks in the same VMI is not supported',
        });
    }
  }

  // 8. validateNetworksAssignedToInterfaces
  const ifaceNames = new Set(interfaces.map((x) => x.name));
  networks.forEach((n, i) => {
    if (!ifaceNames.has(n.name))
      errs.push({
        path: netPath(i, 'name'),
        code: KubeVirtCode.NetNoInterface,
        message: `${netPath(i, 'name')} '${n.name}' not found.`,
      });
  });

  // 9. validateInterfaceNameUnique
  const seenIfaces = new Set<string>();
  interfaces.forEach((iface, i) => {
    if (seenIfaces.has(iface.name))
      errs.push({
        path: ifacePath(i, 'name'),
        code: KubeVirtCode.IfaceNameDuplicate,
        message: 'Only one interface can be connected to one specific network',
      });
    seenIfaces.add(iface.name);
  });

  // 10. validateInterfacesAssignedToNetworks
  interfaces.forEach((iface, i) => {
    if (!netByName.has(iface.name))
      errs.push({
        path: ifacePath(i, 'name'),
        code: KubeVirtCode.IfaceNoNetwork,
        message: `${ifacePath(i, 'name')} '${iface.name}' not found.`,
      });
  });

  // 11. validateInterfacesFields
  interfaces.forEach((iface, i) => {
    errs.push(...interfaceFieldErrors(iface, i, netByName.get(iface.name), config, ifacePath));
  });

  // ValidateCreation: discontinued bindings (v1.3+)
  if (atLeast(v, 1, 3)) {
    interfaces.forEach((iface, i) => {
      if (iface.slirp)
        errs.push({
          path: ifacePath(i, 'slirp'),
          code: KubeVirtCode.DiscontinuedSlirp,
          message: 'Slirp interface support has been discontinued since v1.3',
        });
      if (iface.passt)
        errs.push({
          path: ifacePath(i, 'passt'),
          code: KubeVirtCode.DiscontinuedPasst,
          message: 'Passt network binding has been discontinued since v1.3',
        });
      if (iface.macvtap)
        errs.push({
          path: ifacePath(i, 'macvtap'),
          code: KubeVirtCode.DiscontinuedMacvtap,
          message: 'Macvtap network binding has been discontinued since v1.3',
        });
    });
  }

  // vmi-create-admitter: boot order, probes
  errs.push(...bootOrderErrors(spec, at));
  const hasPodNetwork = networks.some((n) => n.pod !== undefined);
  for (const probeName of ['readinessProbe', 'livenessProbe'] as const) {
    const probe = spec[probeName];
    if (!probe || hasPodNetwork) continue;
    for (const handler of ['httpGet', 'tcpSocket'] as const) {
      if (probe[handler] !== undefined) {
        const p = at(`${probeName}.${handler}`);
        errs.push({
          path: p,
          code: KubeVirtCode.ProbeNeedsPodNetwork,
          message: `${p} is only allowed if the Pod Network is attached`,
        });
      }
    }
  }
  return errs;
}

function resourceClaimNames(spec: KubeVirtVmiSpec): Set<string> {
  const out = new Set<string>();
  const rc = spec.extra?.['resourceClaims'];
  if (Array.isArray(rc))
    for (const c of rc)
      if (typeof c === 'object' && c !== null && typeof (c as { name?: unknown }).name === 'string')
        out.add((c as { name: string }).name);
  return out;
}

function interfaceFieldErrors(
  iface: KubeVirtInterface,
  i: number,
  net: KubeVirtNetwork | undefined,
  config: KubeVirtClusterConfig,
  ifacePath: (i: number, f?: string) => string,
): Err[] {
  const errs: Err[] = [];
  const namePath = ifacePath(i, 'name');
  if (!/^[A-Za-z0-9\-_]+$/.test(iface.name))
    errs.push({
      path: namePath,
      code: KubeVirtCode.IfaceNameFormat,
      message:
        'Network interface name can only contain alphabetical characters, numbers, dashes (-) or underscores (_)',
    });
  if (iface.model && !(KUBEVIRT_MODELS as readonly string[]).includes(iface.model))
    errs.push({
      path: ifacePath(i, 'model'),
      code: KubeVirtCode.ModelUnsupported,
      message: `interface ${namePath} uses model ${iface.model} that is not supported.`,
    });
  if (iface.macAddress) {
    const m = parseMac(iface.macAddress);
    if ('error' in m)
      errs.push({
        path: ifacePath(i, 'macAddress'),
        code: KubeVirtCode.MacMalformed,
        message: `interface ${namePath} has malformed MAC address (${iface.macAddress}).`,
      });
    else if (m.bytes.length > 6)
      errs.push({
        path: ifacePath(i, 'macAddress'),
        code: KubeVirtCode.MacTooLong,
        message: `interface ${namePath} has MAC address (${iface.macAddress}) that is too long.`,
      });
  }
  if (iface.pciAddress && !isPciAddress(iface.pciAddress))
    errs.push({
      path: ifacePath(i, 'pciAddress'),
      code: KubeVirtCode.PciMalformed,
      message: `interface ${namePath} has malformed PCI address (${iface.pciAddress}).`,
    });

  const v = config.version;
  const onPod = net?.pod !== undefined;
  const ports = iface.ports;
  const ranges = atLeast(v, 1, 9) ? iface.portRanges : undefined;
  if (iface.portRanges && !atLeast(v, 1, 9))
    errs.push({
      path: ifacePath(i, 'portRanges'),
      code: KubeVirtCode.FieldUnavailable,
      message: `portRanges do not exist before KubeVirt v1.9 (validating for ${formatKubeVirtVersion(v)}) (bindery check; the field is unknown to this release)`,
    });
  if (ranges && !gateEnabled(config, 'PortRangesSpec'))
    errs.push({
      path: namePath,
      code: KubeVirtCode.PortRangesGate,
      message:
        'portRanges is specified on interface but the PortRangesSpec feature gate is not enabled',
    });
  if (onPod) {
    if (ports && ranges)
      errs.push({
        path: namePath,
        code: KubeVirtCode.PortsAndRanges,
        message: `Cannot define both ports and portRanges on interface ${namePath}`,
      });
    if (ports) {
      const names = new Set<string>();
      ports.forEach((p, j) => {
        const pp = `${ifacePath(i, 'ports')}[${j}]`;
        if (p.name) {
          if (names.has(p.name))
            errs.push({
              path: `${pp}.name`,
              code: KubeVirtCode.PortNameDuplicate,
              message: `Duplicate name of the port: ${p.name}`,
            });
          if (!isValidPortName(p.name))
            errs.push({
              path: `${pp}.name`,
              code: KubeVirtCode.PortNameInvalid,
              message: `Invalid name of the port: ${p.name}`,
            });
          names.add(p.name);
        }
        if (p.port === 0)
          errs.push({
            path: pp,
            code: KubeVirtCode.PortRequired,
            message: 'Port field is mandatory.',
          });
        if (p.port < 0 || p.port >= 65536)
          errs.push({
            path: pp,
            code: KubeVirtCode.PortRange,
            message: 'Port field must be in range 0 < x < 65536.',
          });
        if (p.protocol && p.protocol !== 'TCP' && p.protocol !== 'UDP')
          errs.push({
            path: `${pp}.protocol`,
            code: KubeVirtCode.PortProtocol,
            message: 'Unknown protocol, only TCP or UDP allowed',
          });
      });
    }
    if (ranges) {
      if (!iface.masquerade)
        errs.push({
          path: namePath,
          code: KubeVirtCode.PortRangesNotMasq,
          message: `portRanges are only supported on masquerade interfaces (${namePath})`,
        });
      if (ranges.length > 10)
        errs.push({
          path: ifacePath(i, 'portRanges'),
          code: KubeVirtCode.PortRangesMax,
          message: 'No more than 10 portRanges are allowed',
        });
      const byProto = new Map<string, { start: number; end: number }[]>();
      ranges.forEach((r, j) => {
        const rp = `${ifacePath(i, 'portRanges')}[${j}]`;
        let proto = r.protocol;
        if (proto !== 'TCP' && proto !== 'UDP') {
          if (proto === '') proto = 'TCP';
          else
            errs.push({
              path: `${rp}.protocol`,
              code: KubeVirtCode.PortRangeProtocol,
              message: 'Unknown protocol, only TCP or UDP allowed',
            });
        }
        if (r.start <= 0 || r.start >= 65536)
          errs.push({
            path: `${rp}.start`,
            code: KubeVirtCode.PortRangeStart,
            message: 'Start must be a valid port number, 0 < x < 65536',
          });
        if (r.end <= 0 || r.end >= 65536)
          errs.push({
            path: `${rp}.end`,
            code: KubeVirtCode.PortRangeEnd,
            message: 'End must be a valid port number, 0 < x < 65536',
          });
        if (r.start > r.end)
          errs.push({
            path: `${rp}.start`,
            code: KubeVirtCode.PortRangeOrder,
            message: 'Start must be less than or equal to end',
          });
        const list = byProto.get(proto) ?? [];
        list.push({ start: r.start, end: r.end });
        byProto.set(proto, list);
      });
      for (const [proto, list] of [...byProto].sort(([a], [b]) => a.localeCompare(b))) {
        for (let a = 0; a < list.length; a++)
          for (let b = a + 1; b < list.length; b++) {
            const x = list[a];
            const y = list[b];
            if (x && y && x.start <= y.end && y.start <= x.end)
              errs.push({
                path: ifacePath(i, 'portRanges'),
                code: KubeVirtCode.PortRangeOverlap,
                message: `${proto} portRanges [${x.start}-${x.end}] and [${y.start}-${y.end}] overlap`,
              });
          }
      }
    }
  }

  const dhcp = iface.dhcpOptions;
  if (dhcp) {
    const priv = dhcp.privateOptions ?? [];
    if (new Set(priv.map((o) => o.option)).size < priv.length)
      errs.push({
        path: ifacePath(i, 'dhcpOptions.privateOptions'),
        code: KubeVirtCode.DhcpPrivateDuplicate,
        message: 'Found Duplicates: you have provided duplicate DHCPPrivateOptions',
      });
    priv.forEach((o, j) => {
      if (!(o.option >= 224 && o.option <= 254))
        errs.push({
          path: `${ifacePath(i, 'dhcpOptions.privateOptions')}[${j}].option`,
          code: KubeVirtCode.DhcpPrivateRange,
          message: 'provided DHCPPrivateOptions are out of range, must be in range 224 to 254',
        });
    });
    (dhcp.ntpServers ?? []).forEach((s, j) => {
      if (!parseIPv4(s) && !isV4MappedV6(s))
        errs.push({
          path: `${ifacePath(i, 'dhcpOptions.ntpServers')}[${j}]`,
          code: KubeVirtCode.DhcpNtp,
          message: 'NTP servers must be a list of valid IPv4 addresses.',
        });
    });
  }
  return errs;
}

/** Go's `ParseIP(s).To4() != nil` also accepts `::ffff:a.b.c.d`. */
function isV4MappedV6(s: string): boolean {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  return m !== null && parseIPv4(m[1] ?? '') !== undefined;
}

function bootOrderErrors(spec: KubeVirtVmiSpec, at: (p: string) => string): Err[] {
  const errs: Err[] = [];
  const seen = new Map<number, string>();
  const check = (order: number | undefined, devicePath: string): void => {
    if (order === undefined) return;
    if (order < 1) {
      errs.push({
        path: `${devicePath}.bootOrder`,
        code: KubeVirtCode.BootOrderInvalid,
        message: `${devicePath} must have a boot order > 0, if supplied`,
      });
      return;
    }
    if (seen.has(order))
      errs.push({
        path: `${devicePath}.bootOrder`,
        code: KubeVirtCode.BootOrderDuplicate,
        message: `Boot order for ${devicePath}.bootOrder already set for a different device.`,
      });
    else seen.set(order, devicePath);
  };
  (spec.domain.devices.disks ?? []).forEach((d, i) =>
    check(d.bootOrder, at(`domain.devices.disks[${i}]`)),
  );
  (spec.domain.devices.interfaces ?? []).forEach((f, i) =>
    check(f.bootOrder, at(`domain.devices.interfaces[${i}]`)),
  );
  return errs;
}

/** Admission of a KubeVirt VirtualMachine (after defaulting): its template's VMI spec. */
export function admitKubeVirtVm(
  vm: KubeVirtVirtualMachine,
  config: KubeVirtClusterConfig,
): FieldError[] {
  return admitKubeVirtVmiSpec(vm.spec.template.spec, config, 'spec.template.spec');
}

/** Admission of a KubeVirt VirtualMachineInstance (after defaulting). */
export function admitKubeVirtVmi(
  vmi: KubeVirtVirtualMachineInstance,
  config: KubeVirtClusterConfig,
): FieldError[] {
  return admitKubeVirtVmiSpec(vmi.spec, config, 'spec');
}

/**
 * `VerifyVMIMigratable`: why the VMI cannot migrate, or undefined. Migratable pod-network
 * interfaces are masquerade, passtBinding, bridge with the allow annotation, and plugins whose
 * registration has `migration` (even empty). Not an admission rule; used for migration plans.
 */
export function kubevirtMigrationBlocker(
  spec: KubeVirtVmiSpec,
  annotations: Readonly<Record<string, string>>,
  config: KubeVirtClusterConfig,
  prefix = 'spec',
): FieldError | undefined {
  const networks = spec.networks ?? [];
  const pod = networks.find((n) => n.pod !== undefined);
  if (!pod) return undefined;
  const interfaces = spec.domain.devices.interfaces ?? [];
  const idx = interfaces.findIndex((i) => i.name === pod.name);
  const iface = interfaces[idx];
  if (!iface) return undefined;
  if (iface.masquerade || iface.passtBinding) return undefined;
  if (iface.bridge && annotations[ALLOW_POD_BRIDGE_MIGRATION_ANNOTATION] !== undefined)
    return undefined;
  if (iface.binding && config.bindings[iface.binding.name]?.migration !== undefined)
    return undefined;
  return {
    path: `${prefix}.domain.devices.interfaces[${idx}]`,
    code: KubeVirtCode.NotMigratable,
    message:
      'cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network',
  };
}

/**
 * bindery's checks of a KubeVirt CR's network configuration (KubeVirt validates none of the
 * binding map). `version` decides which attachment types exist. Never throws.
 */
export function admitKubeVirtCR(cr: KubeVirtCR, version: KubeVirtVersion): FieldError[] {
  const errs: Err[] = [];
  const base = 'spec.configuration.network';
  const bindery = '(bindery check; KubeVirt does not validate the KubeVirt CR binding map)';
  const net = cr.spec.configuration?.network;
  const dni = net?.defaultNetworkInterface;
  if (dni !== undefined && dni !== '' && !['bridge', 'masquerade', 'slirp'].includes(dni))
    errs.push({
      path: `${base}.defaultNetworkInterface`,
      code: KubeVirtCode.CrDefaultIface,
      message: `defaultNetworkInterface "${dni}" is not one of bridge, masquerade, slirp (bindery check; KubeVirt fails every VMI that needs the default interface)`,
    });
  if (net?.permitSlirpInterface !== undefined && atLeast(version, 1, 3))
    errs.push({
      path: `${base}.permitSlirpInterface`,
      code: KubeVirtCode.CrPermitSlirpRemoved,
      message: `permitSlirpInterface was removed in v1.3 (validating for ${formatKubeVirtVersion(version)}) (bindery check)`,
    });
  for (const [name, plugin] of Object.entries(net?.binding ?? {})) {
    const p = `${base}.binding[${name}]`;
    const nad = plugin.networkAttachmentDefinition;
    if (nad !== undefined && nad !== '') {
      const parts = nad.split('/');
      if (parts.length > 2 || parts.some((x) => !isDnsSubdomain(x)))
        errs.push({
          path: `${p}.networkAttachmentDefinition`,
          code: KubeVirtCode.CrBindingNadRef,
          message: `networkAttachmentDefinition "${nad}" is not "<name>" or "<namespace>/<name>" ${bindery}`,
        });
    }
    const dat = plugin.domainAttachmentType;
    if (dat !== undefined && dat !== '') {
      if (dat !== 'tap' && dat !== 'managedTap')
        errs.push({
          path: `${p}.domainAttachmentType`,
          code: KubeVirtCode.CrBindingAttachmentType,
          message: `domainAttachmentType "${dat}" is not one of tap, managedTap ${bindery}`,
        });
      else if (dat === 'managedTap' && !atLeast(version, 1, 4))
        errs.push({
          path: `${p}.domainAttachmentType`,
          code: KubeVirtCode.CrBindingAttachmentType,
          message: `domainAttachmentType managedTap exists from v1.4 (validating for ${formatKubeVirtVersion(version)}) ${bindery}`,
        });
    }
    const method = plugin.migration?.method;
    if (method !== undefined && method !== '' && method !== 'link-refresh')
      errs.push({
        path: `${p}.migration.method`,
        code: KubeVirtCode.CrBindingMigrationMethod,
        message: `migration method "${method}" is not link-refresh (the only method KubeVirt defines; use {} for none) ${bindery}`,
      });
    const dapi = plugin.downwardAPI;
    if (dapi !== undefined && dapi !== '' && dapi !== 'device-info')
      errs.push({
        path: `${p}.downwardAPI`,
        code: KubeVirtCode.CrBindingDownwardApi,
        message: `downwardAPI "${dapi}" is not device-info ${bindery}`,
      });
    const overhead = plugin.computeResourceOverhead;
    for (const kind of ['requests', 'limits'] as const) {
      for (const [res, q] of Object.entries(overhead?.[kind] ?? {})) {
        if (!isQuantity(q))
          errs.push({
            path: `${p}.computeResourceOverhead.${kind}[${res}]`,
            code: KubeVirtCode.CrBindingOverhead,
            message: `quantity "${q}" is malformed ${bindery}`,
          });
      }
    }
    if (!plugin.sidecarImage && !plugin.domainAttachmentType)
      errs.push({
        path: p,
        code: KubeVirtCode.CrBindingNoVnic,
        message: `binding plugin "${name}" has neither sidecarImage nor domainAttachmentType, so nothing would create its vNIC ${bindery}`,
      });
  }
  const gates = cr.spec.configuration?.developerConfiguration?.featureGates ?? [];
  gates.forEach((g, i) => {
    const info = NETWORK_GATES[g];
    if (info?.ga !== undefined && version.minor >= info.ga)
      errs.push({
        path: `spec.configuration.developerConfiguration.featureGates[${i}]`,
        code: KubeVirtCode.CrGateGa,
        message: `feature gate ${g} is GA since v1.${info.ga} and always on; listing it has no effect`,
        severity: 'warning',
      });
  });
  return errs;
}

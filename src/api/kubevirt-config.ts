// The KubeVirt cluster configuration admission sees: version, feature gates by version, network config.
import type { KubeVirtBindingPlugin, KubeVirtCR } from './types.js';

/** A KubeVirt minor release, e.g. `{major: 1, minor: 5}` for v1.5.x. */
export interface KubeVirtVersion {
  readonly major: number;
  readonly minor: number;
}

/** The releases the facts cover (v1.0 … v1.9). */
export const KUBEVIRT_VERSIONS: readonly KubeVirtVersion[] = Array.from({ length: 10 }, (_, i) => ({
  major: 1,
  minor: i,
}));

/** The newest release the facts describe, the default for `--kubevirt-version`. */
export const NEWEST_KUBEVIRT_VERSION: KubeVirtVersion = { major: 1, minor: 9 };

/** Parses `v1.5`, `1.5`, `v1.5.2`; undefined when malformed or outside v1.0–v1.9. */
export function parseKubeVirtVersion(s: string): KubeVirtVersion | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?$/.exec(s.trim());
  if (!m) return undefined;
  const v = { major: Number(m[1]), minor: Number(m[2]) };
  return KUBEVIRT_VERSIONS.some((k) => k.major === v.major && k.minor === v.minor) ? v : undefined;
}

/** `v1.5`. */
export function formatKubeVirtVersion(v: KubeVirtVersion): string {
  return `v${v.major}.${v.minor}`;
}

/** Whether `v` is at least `major.minor`. */
export function atLeast(v: KubeVirtVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

/** A network feature gate and the releases in which it exists and is GA. */
export interface GateInfo {
  readonly name: string;
  /** First minor release (1.x) with the gate. */
  readonly since: number;
  /** First minor release where the feature is GA (always on), if any. */
  readonly ga?: number;
  /** First minor release where the feature is discontinued, if any. */
  readonly discontinued?: number;
}

/**
 * The network feature gates admission depends on (facts-kubevirt "Version caveats", §1–2, §5;
 * Alpha/Beta gates are off unless listed, GA gates are always on).
 */
export const NETWORK_GATES: Readonly<Record<string, GateInfo>> = {
  NetworkBindingPlugins: { name: 'NetworkBindingPlugins', since: 1, ga: 5 },
  PasstBinding: { name: 'PasstBinding', since: 8 },
  PortRangesSpec: { name: 'PortRangesSpec', since: 9 },
  NetworkDevicesWithDRA: { name: 'NetworkDevicesWithDRA', since: 9 },
  Passt: { name: 'Passt', since: 0, discontinued: 3 },
  Macvtap: { name: 'Macvtap', since: 0, discontinued: 3 },
  PasstIPStackMigration: { name: 'PasstIPStackMigration', since: 6, discontinued: 8 },
};

/** The KubeVirt CR's network configuration with defaults applied. */
export interface KubeVirtClusterConfig {
  readonly version: KubeVirtVersion;
  /** Gates listed in `developerConfiguration.featureGates` (minus `disabledFeatureGates`). */
  readonly featureGates: ReadonlySet<string>;
  /** `bridge` unless the CR says otherwise. */
  readonly defaultNetworkInterface: string;
  /** Default true. */
  readonly permitBridgeInterfaceOnPodNetwork: boolean;
  /** Default false (removed in v1.3). */
  readonly permitSlirpInterface: boolean;
  /** Registered binding plugins by name. */
  readonly bindings: Readonly<Record<string, KubeVirtBindingPlugin>>;
  /** Pull policy of binding sidecars, default `IfNotPresent`. */
  readonly imagePullPolicy: string;
  /** Whether a KubeVirt CR was given at all. */
  readonly fromCR: boolean;
}

/** Resolves the configuration admission uses from a CR (or KubeVirt's defaults when none). */
export function kubevirtClusterConfig(
  cr: KubeVirtCR | undefined,
  version: KubeVirtVersion = NEWEST_KUBEVIRT_VERSION,
): KubeVirtClusterConfig {
  const net = cr?.spec.configuration?.network;
  const dev = cr?.spec.configuration?.developerConfiguration;
  const disabled = new Set(dev?.disabledFeatureGates ?? []);
  return {
    version,
    featureGates: new Set((dev?.featureGates ?? []).filter((g) => !disabled.has(g))),
    defaultNetworkInterface: net?.defaultNetworkInterface || 'bridge',
    permitBridgeInterfaceOnPodNetwork: net?.permitBridgeInterfaceOnPodNetwork ?? true,
    permitSlirpInterface: net?.permitSlirpInterface ?? false,
    bindings: net?.binding ?? {},
    imagePullPolicy: cr?.spec.imagePullPolicy || 'IfNotPresent',
    fromCR: cr !== undefined,
  };
}

/**
 * Whether a gate is in force: GA gates are always on from their GA release, discontinued
 * ones never after it, others only when listed.
 */
export function gateEnabled(config: KubeVirtClusterConfig, name: string): boolean {
  const info = NETWORK_GATES[name];
  const minor = config.version.minor;
  if (info) {
    if (minor < info.since) return false;
    if (info.discontinued !== undefined && minor >= info.discontinued) return false;
    if (info.ga !== undefined && minor >= info.ga) return true;
  }
  return config.featureGates.has(name);
}

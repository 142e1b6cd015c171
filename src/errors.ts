// Operational errors of bindery: one class, a stable machine-readable code, an optional cause.

/**
 * Every stable error code bindery raises. Codes never change meaning once released;
 * `docs/errors.md` lists them with an explanation.
 */
export const ErrorCode = {
  /** Command-line usage error (unknown option, malformed value). Exit code 2. */
  Usage: 'BINDERY_ERR_USAGE',
  /** A system call made through the native shim failed; `errno` names the reason. */
  Syscall: 'BINDERY_ERR_SYSCALL',
  /** The native shim could not be loaded (not built, wrong Node ABI). */
  NativeUnavailable: 'BINDERY_ERR_NATIVE_UNAVAILABLE',
  /** A guest link (stream socket, tap) failed or was closed unexpectedly. */
  Link: 'BINDERY_ERR_LINK',
  /** An input file (manifest, config) could not be read or parsed. */
  Input: 'BINDERY_ERR_INPUT',
  /** A lab/test-host operation failed (namespace, veth, command in a namespace). */
  Lab: 'BINDERY_ERR_LAB',
  /** Plumbing a pod network namespace (`bindery pod-net`) failed: a command, the state, a link. */
  PodNet: 'BINDERY_ERR_PODNET',
  /** The domain XML or the VMI JSON a hook sidecar was given is malformed or does not fit its binding. */
  HookInput: 'BINDERY_ERR_HOOK_INPUT',
  /** A server socket (e.g. the hook sidecar's unix socket) could not be created or bound. */
  Listen: 'BINDERY_ERR_LISTEN',
  /** Something took longer than its deadline. */
  Timeout: 'BINDERY_ERR_TIMEOUT',
  /** An SR-IOV/vDPA interface has no device in the pod's Multus network-status. */
  DeviceInfoMissing: 'BINDERY_ERR_DEVICE_INFO_MISSING',
  /** A host device is absent or unusable: the VF in sysfs, its VFIO group node, the vhost-vdpa node. */
  DeviceMissing: 'BINDERY_ERR_DEVICE_MISSING',
  /** A VF could not be bound to vfio-pci (or back to its previous driver), or has no IOMMU group. */
  DeviceBind: 'BINDERY_ERR_DEVICE_BIND',
  /** `bindery install-cni` could not install: the runtime to copy is incomplete, or the CNI bin dir is not writable. */
  Install: 'BINDERY_ERR_INSTALL',
  /** `bindery up`/`status`/`exec`/`down` failed: a namespace, a service, a binding, QEMU, the guest. */
  Up: 'BINDERY_ERR_UP',
  /** The bundled guest could not be built (kernel, busybox, a program missing) or its agent channel failed. */
  Guest: 'BINDERY_ERR_GUEST',
  /** A translator's control socket (-c/--conf-path) refused a request or could not be reached. */
  Control: 'BINDERY_ERR_CONTROL',
  /** `bindery migrate` refused a VM or a migration step failed (the source runs on), or a TCP flow hand-over (migrate.export/import, the repair helper) failed. */
  Migrate: 'BINDERY_ERR_MIGRATE',
  /** A packet capture (-p/--pcap, `capture.start`) could not start, or one is already running. */
  Capture: 'BINDERY_ERR_CAPTURE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error with a stable `code`; thrown by operations, never by codecs on guest input. */
export class BinderyError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BinderyError';
    this.code = code;
  }
}

/** A usage error: the CLI prints its message on one line and exits with status 2. */
export class UsageError extends BinderyError {
  constructor(message: string) {
    super(ErrorCode.Usage, message);
    this.name = 'UsageError';
  }
}

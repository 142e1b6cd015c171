// The KubeVirt hook sidecar server: gRPC (grpc-js) on a unix socket, Info and Callbacks v1alpha1–v1alpha3.
//
// Theory of operation (facts-kubevirt.md §4, facts-peers.md "KubeVirt hook sidecars"):
// - virt-launcher scans /var/run/kubevirt-hooks one level deep (each sidecar mounts its own
//   subPath there), dials every socket it finds, asks `kubevirt.hooks.info.Info/Info` and uses
//   the newest callback version offered. The server therefore serves Info plus the Callbacks
//   service of all three versions; the protocol is the .proto files in `proto/`, loaded at run
//   time with proto-loader (bytes fields arrive as Buffers).
// - OnDefineDomain is `onDefineDomain` of src/render/domain-hook.ts; its input errors become
//   gRPC INVALID_ARGUMENT with the message, anything unexpected INTERNAL. The server keeps
//   serving after either. PreCloudInitIso returns its input unchanged.
// - Shutdown (v1alpha3; virt-launcher calls it after QEMU exits) answers, then closes the
//   server: in-flight calls finish, the socket file is removed and `closed` resolves, after
//   which nothing of the server keeps the process alive. `stop()` (SIGTERM) does the same
//   with a deadline, then forces.
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { BinderyError, ErrorCode } from '../errors.js';
import { onDefineDomain, type HookAttachment } from '../render/domain-hook.js';

/** Where virt-launcher looks for hook sockets (each sidecar mounts a subdirectory of it here). */
export const DEFAULT_HOOKS_DIR = '/var/run/kubevirt-hooks';
/** The env var KubeVirt sets to the binding plugin's name in its sidecar container. */
export const BINDING_ENV = 'NETWORK_BINDING_PLUGIN_NAME';
/** The binding name when neither `--binding` nor the env var gives one (as KubeVirt's sidecar). */
export const DEFAULT_BINDING = 'passt';
/** The name Info reports. */
export const SIDECAR_NAME = 'bindery-network-binding';
/** Callback versions served, oldest first. */
export const HOOK_VERSIONS = ['v1alpha1', 'v1alpha2', 'v1alpha3'] as const;
/** Hook points announced, each at priority 0 (as KubeVirt's passt sidecar). */
export const HOOK_POINTS = ['OnDefineDomain', 'Shutdown'] as const;

/** The .proto files, shipped in the package beside `dist/` (and beside `src/`). */
export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
const PROTO_FILES = [
  'kubevirt/hooks/info/api_info.proto',
  ...HOOK_VERSIONS.map((v) => `kubevirt/hooks/${v}/api_${v}.proto`),
];

/** How the sidecar runs. */
export interface SidecarOptions {
  readonly socketDir: string;
  readonly socketName: string;
  readonly binding: string;
  readonly attachment: HookAttachment;
  readonly vhostUser: boolean;
  /** The name Info reports. */
  readonly name: string;
}

/** A running sidecar. */
export interface SidecarHandle {
  /** The socket path. */
  readonly socketPath: string;
  /** Resolves once the server is closed and the socket removed (after Shutdown or stop()). */
  readonly closed: Promise<void>;
  /** Closes the server (in-flight calls get `graceMs` to finish) and removes the socket. */
  stop(graceMs?: number): Promise<void>;
}

interface DefineParams {
  domainXML?: Buffer;
  vmi?: Buffer;
}
interface CloudInitParams {
  cloudInitNoCloudSource?: Buffer;
  vmi?: Buffer;
  cloudInitData?: Buffer;
}

type ServiceDef = grpc.ServiceDefinition;

function service(pkg: grpc.GrpcObject, path: string): ServiceDef {
  let cur: unknown = pkg;
  for (const p of path.split('.')) cur = (cur as Record<string, unknown>)[p];
  const svc = (cur as { service?: ServiceDef } | undefined)?.service;
  if (!svc) throw new Error(`proto: no service ${path}`);
  return svc;
}

/** Removes a stale socket left by an earlier run; anything else at the path is an error. */
async function clearSocket(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket())
    throw new BinderyError(
      ErrorCode.Listen,
      `${path} exists and is not a socket; not replacing it`,
    );
  await unlink(path);
}

/**
 * Starts the hook sidecar's gRPC server on `socketDir/socketName`.
 * @param opts - socket, binding and attachment
 * @param log - structured logger
 * @returns the running sidecar
 * @throws BinderyError when the socket cannot be bound
 */
export async function startSidecar(opts: SidecarOptions, log: Logger): Promise<SidecarHandle> {
  const def = protoLoader.loadSync(PROTO_FILES, {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(def);
  const socketPath = join(opts.socketDir, opts.socketName);
  try {
    await mkdir(opts.socketDir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new BinderyError(ErrorCode.Listen, `${opts.socketDir}: cannot create (${code})`, {
      cause: e,
    });
  }
  await clearSocket(socketPath);

  const server = new grpc.Server();
  let closing: Promise<void> | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const finish = async (): Promise<void> => {
    await unlink(socketPath).catch(() => {});
    log.info({ socket: socketPath }, 'sidecar stopped');
    resolveClosed();
  };
  const stop = (graceMs = 5000): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      const force = setTimeout(() => server.forceShutdown(), graceMs);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    }).then(finish);
    return closing;
  };

  server.addService(service(pkg, 'kubevirt.hooks.info.Info'), {
    Info: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>): void => {
      log.info({ authority: call.getHost() }, 'Info');
      cb(null, {
        name: opts.name,
        hookPoints: HOOK_POINTS.map((name) => ({ name, priority: 0 })),
        versions: [...HOOK_VERSIONS],
      });
    },
  });

  const onDefine = (
    version: string,
    call: grpc.ServerUnaryCall<DefineParams, unknown>,
    cb: grpc.sendUnaryData<unknown>,
  ): void => {
    const domain = (call.request.domainXML ?? Buffer.alloc(0)).toString('utf8');
    const vmi = (call.request.vmi ?? Buffer.alloc(0)).toString('utf8');
    try {
      const r = onDefineDomain(domain, vmi, opts);
      for (const n of r.notes) log.warn({ version }, n);
      log.info({ version, changes: r.changes }, 'OnDefineDomain');
      cb(null, { domainXML: Buffer.from(r.domainXml, 'utf8') });
    } catch (e) {
      const input = e instanceof BinderyError && e.code === ErrorCode.HookInput;
      const message = e instanceof Error ? e.message : String(e);
      log.error({ version, code: input ? ErrorCode.HookInput : undefined }, message);
      cb({
        code: input ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL,
        details: input ? message : `bindery sidecar: ${message}`,
      });
    }
  };
  const preCloudInit = (
    call: grpc.ServerUnaryCall<CloudInitParams, unknown>,
    cb: grpc.sendUnaryData<unknown>,
  ): void => {
    log.debug('PreCloudInitIso');
    cb(null, {
      cloudInitNoCloudSource: call.request.cloudInitNoCloudSource ?? Buffer.alloc(0),
      cloudInitData: call.request.cloudInitData ?? Buffer.alloc(0),
    });
  };
  for (const v of HOOK_VERSIONS) {
    const handlers: grpc.UntypedServiceImplementation = {
      OnDefineDomain: (
        call: grpc.ServerUnaryCall<DefineParams, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => onDefine(v, call, cb),
    };
    if (v !== 'v1alpha1') handlers['PreCloudInitIso'] = preCloudInit;
    if (v === 'v1alpha3')
      handlers['Shutdown'] = (
        _call: grpc.ServerUnaryCall<unknown, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        log.info('Shutdown');
        cb(null, {});
        // After the answer is on its way: tryShutdown lets this call complete.
        setImmediate(() => void stop());
      };
    server.addService(service(pkg, `kubevirt.hooks.${v}.Callbacks`), handlers);
  }

  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => {
      if (err)
        reject(
          new BinderyError(ErrorCode.Listen, `${socketPath}: cannot listen (${err.message})`, {
            cause: err,
          }),
        );
      else resolve();
    });
  });
  log.info(
    {
      socket: socketPath,
      attachment: opts.attachment,
      vhostUser: opts.vhostUser,
      versions: HOOK_VERSIONS,
    },
    'sidecar serving',
  );
  return { socketPath, closed, stop };
}

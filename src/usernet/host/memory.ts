// A deterministic in-memory kernel for the flow translators' unit tests: TCP, UDP and ping with no real sockets.
//
// Theory of operation. memoryHost() returns HostSockets whose three parts (memory-tcp.ts,
// memory-udp.ts, memory-ping.ts) share one MemoryKernel (memory-kernel.ts). The translator calls
// them like the native ones; the test plays the host's side through their extra methods (TCP
// servers and peers that write, half-close, reset, stop reading; clients dialling forwarded
// ports; UDP endpoints that answer or are absent, so that the sender gets ECONNREFUSED; ping
// hosts that reply or stay silent). Calls from the translator act at once on the kernel's state
// (queues, ports, errors); everything a real kernel reports later — a connect finishing, a
// datagram or reply arriving, ECONNREFUSED, readiness for the TCP pollers, a peer's callbacks —
// is queued and happens only when the test calls `host.kernel.flush()` (one step) or
// `await host.settle()` (steps and the translators' microtasks until quiet). So a test decides
// exactly when the host side moves, time stays the test's fake clock, and no test sleeps.
//
// Limits. One host, loopback-like: no routing, MTU, congestion, TCP timers or keepalive; UDP
// has no buffers; ping replies echo the request. Each part's header lists its own.
import type { HostSockets } from './index.js';
import { MemoryKernel } from './memory-kernel.js';
import { MemoryTcp, type MemoryTcpOptions } from './memory-tcp.js';
import { MemoryUdp } from './memory-udp.js';
import { MemoryPing } from './memory-ping.js';

export { MemoryKernel } from './memory-kernel.js';
export type { MemoryTcpOptions, TcpPeer, TcpServer } from './memory-tcp.js';
export type { UdpEndpoint, UdpDatagram } from './memory-udp.js';
export type { PingRequest } from './memory-ping.js';
export { MemoryTcp, MemoryUdp, MemoryPing };

/** HostSockets in memory, with the test's handles on the host side. */
export interface MemoryHost extends HostSockets {
  readonly kernel: MemoryKernel;
  readonly tcp: MemoryTcp;
  readonly udp: MemoryUdp;
  readonly ping: MemoryPing;
  /** Runs host-side work and the translators' microtasks until nothing is left. */
  settle(): Promise<number>;
}

/** A fresh in-memory kernel (see the theory of operation above). */
export function memoryHost(opts: { tcp?: MemoryTcpOptions } = {}): MemoryHost {
  const kernel = new MemoryKernel();
  return {
    kernel,
    tcp: new MemoryTcp(kernel, opts.tcp),
    udp: new MemoryUdp(kernel),
    ping: new MemoryPing(kernel),
    settle: () => kernel.settle(),
  };
}

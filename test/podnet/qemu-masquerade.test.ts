// pod-net's masquerade bindings with a real QEMU guest on their tap: Virtink (/30 default and a custom CIDR) and KubeVirt (/24 with declared ports, and all ports with IPv6 by RA and DHCPv6).
import { test } from 'node:test';
import { labSkipReason } from '../lab/lab.js';
import { qemuSkipReason } from '../lab/qemu.js';
import { runGuestCase } from './guest-case.js';

const skip = qemuSkipReason() ?? labSkipReason();

test(
  'Virtink masquerade (10.0.2.0/30): the guest leases 10.0.2.2, its traffic leaves as the pod, every port comes in',
  { skip, timeout: 420_000 },
  async (t) => {
    await runGuestCase(t, {
      fixture: 'podnet-virtink-masquerade.yaml',
      platform: 'virtink',
      address: '10.0.2.2',
      prefixLength: 30,
      router: '10.0.2.1',
      mac: '52:54:00:12:34:56',
      staticRoutes: false,
      inbound: { open: [80, 2222, 40000] },
    });
  },
);

test(
  'Virtink masquerade with cidr 10.10.0.0/29: the guest leases 10.10.0.2 behind 10.10.0.1',
  { skip, timeout: 420_000 },
  async (t) => {
    await runGuestCase(t, {
      fixture: 'podnet-virtink-masquerade-cidr.yaml',
      platform: 'virtink',
      address: '10.10.0.2',
      prefixLength: 29,
      router: '10.10.0.1',
      staticRoutes: false,
      inbound: { open: [8080] },
    });
  },
);

test(
  'KubeVirt masquerade with declared ports: only TCP 80 comes in',
  { skip, timeout: 420_000 },
  async (t) => {
    await runGuestCase(t, {
      fixture: 'podnet-kubevirt-masquerade.yaml',
      platform: 'kubevirt',
      address: '10.0.2.2',
      prefixLength: 24,
      router: '10.0.2.1',
      staticRoutes: false,
      inbound: { open: [80], closed: [2222] },
    });
  },
);

test(
  'KubeVirt masquerade, all ports, IPv6: RA and DHCPv6 give fd10:0:2::2 and the node is reached over both families',
  { skip, timeout: 420_000 },
  async (t) => {
    await runGuestCase(t, {
      fixture: 'podnet-kubevirt-masquerade-ipv6.yaml',
      platform: 'kubevirt',
      address: '10.0.2.2',
      prefixLength: 24,
      router: '10.0.2.1',
      staticRoutes: false,
      inbound: { open: [80, 2222, 40000] },
      ipv6: { address: 'fd10:0:2::2', inboundPort: 40001 },
    });
  },
);

// pod-net's bridge bindings with a real QEMU guest on their tap: KubeVirt (k6t-eth0, tap0, spec MAC; the address server restarted mid-way) and Virtink (br-eth0, tap-eth0, the pod's MAC).
import { test } from 'node:test';
import { labSkipReason } from '../lab/lab.js';
import { qemuSkipReason } from '../lab/qemu.js';
import { runGuestCase } from './guest-case.js';
import { NODE4, POD4, POD_MAC } from './rig.js';

const skip = qemuSkipReason() ?? labSkipReason();

test(
  'KubeVirt bridge: the guest leases the pod address and reaches the node; a restarted address server keeps it',
  { skip, timeout: 420_000 },
  async (t) => {
    await runGuestCase(t, {
      fixture: 'podnet-kubevirt-bridge.yaml',
      platform: 'kubevirt',
      address: POD4,
      prefixLength: 24,
      router: NODE4,
      mac: '02:42:ac:11:00:02',
      staticRoutes: true,
      renew: true,
    });
  },
);

test(
  'Virtink bridge: the guest, on the pod MAC, leases the pod address and reaches the node',
  { skip, timeout: 420_000 },
  async (t) => {
    await runGuestCase(t, {
      fixture: 'podnet-virtink-bridge.yaml',
      platform: 'virtink',
      address: POD4,
      prefixLength: 24,
      router: NODE4,
      mac: POD_MAC,
      staticRoutes: true,
    });
  },
);

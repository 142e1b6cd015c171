// pod-net's binding-plugin attachments with a real QEMU guest: domainAttachmentType tap (a tap mirrored to the pod link by tc) and managedTap (bridge plumbing).
import { test } from 'node:test';
import { labSkipReason } from '../lab/lab.js';
import { qemuSkipReason } from '../lab/qemu.js';
import { runGuestCase } from './guest-case.js';
import { NODE4, POD4 } from './rig.js';

const skip = qemuSkipReason() ?? labSkipReason();

test(
  'plugin tap: the guest on the mirrored tap leases the pod address and reaches the node',
  { skip, timeout: 420_000 },
  async (t) => {
    await runGuestCase(t, {
      fixture: 'podnet-kubevirt-tap.yaml',
      platform: 'kubevirt',
      kubevirtCr: true,
      address: POD4,
      prefixLength: 24,
      router: NODE4,
      staticRoutes: true,
    });
  },
);

test(
  'plugin managedTap: the guest on the bridged tap leases the pod address and reaches the node',
  { skip, timeout: 420_000 },
  async (t) => {
    await runGuestCase(t, {
      fixture: 'podnet-kubevirt-managedtap.yaml',
      platform: 'kubevirt',
      kubevirtCr: true,
      address: POD4,
      prefixLength: 24,
      router: NODE4,
      staticRoutes: true,
    });
  },
);

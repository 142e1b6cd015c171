// STUB of the guest's QEMU argv (the real one comes from the guest-image branch): same exports.

/** One guest NIC: a tap in QEMU's namespace or a passt stream socket. */
export type GuestNic =
  | { kind: 'tap'; ifname: string; mac: string; mtu?: number }
  | { kind: 'stream'; socketPath: string; mac: string; mtu?: number };

/** What the guest's QEMU is given. */
export interface GuestQemuOptions {
  kernel: string;
  initrd: string;
  memMb?: number;
  hostname: string;
  agentSocket: string;
  qmpSocket: string;
  serialLog: string;
  nics: GuestNic[];
  accel?: 'kvm' | 'tcg';
}

/**
 * Stub: the argv after `qemu-system-x86_64`.
 * @param o - the guest
 * @returns argv
 */
export function guestQemuArgs(o: GuestQemuOptions): string[] {
  const args = [
    '-accel',
    o.accel ?? 'tcg',
    '-m',
    String(o.memMb ?? 256),
    '-nographic',
    '-nodefaults',
    '-kernel',
    o.kernel,
    '-initrd',
    o.initrd,
    '-append',
    `console=ttyS0 hostname=${o.hostname}`,
    '-serial',
    `file:${o.serialLog}`,
    '-qmp',
    `unix:${o.qmpSocket},server=on,wait=off`,
  ];
  o.nics.forEach((n, i) => {
    const mtu = n.mtu !== undefined ? `,host_mtu=${n.mtu}` : '';
    args.push(
      '-netdev',
      n.kind === 'tap'
        ? `tap,id=n${i},ifname=${n.ifname},script=no,downscript=no,vhost=off`
        : `stream,id=n${i},server=off,addr.type=unix,addr.path=${n.socketPath}`,
      '-device',
      `virtio-net-pci,netdev=n${i},mac=${n.mac}${mtu}`,
    );
  });
  return args;
}

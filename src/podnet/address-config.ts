// The address server's configuration: what `bindery pod-net up` hands the DHCPv4/DHCPv6/RA daemon of one in-pod bridge or tap.
//
// Written as JSON by pod-net (src/podnet/) and read by the daemon (`bindery address-server
// --config FILE`). Plain data, no behaviour: both sides depend on this file only.

/** One IPv4 route handed to the guest by DHCP option 121 (RFC 3442). */
export interface AddressRoute4 {
  /** Destination as CIDR, `0.0.0.0/0` for the default route. */
  readonly dst: string;
  /** Next hop; `0.0.0.0` means on-link. */
  readonly via: string;
}

/** The IPv4 side: DHCPv4 for one guest address. */
export interface AddressServer4 {
  /** The guest's address (the pod IP for bridge, the second host of the CIDR for masquerade). */
  readonly address: string;
  /** Prefix length of the guest's subnet (option 1). */
  readonly prefixLength: number;
  /** Default gateway (option 3); absent: no router option. */
  readonly router?: string;
  /** The server identifier and reply source (option 54): an address on `device`. */
  readonly serverAddress: string;
  /** Classless static routes (option 121), in the order to send; empty: no option 121. */
  readonly routes: readonly AddressRoute4[];
  /** IPv4 DNS servers (option 6). */
  readonly dns: readonly string[];
}

/** The IPv6 side: router advertisements plus DHCPv6 (IA_NA) for one guest address. */
export interface AddressServer6 {
  /** The guest's address handed out in IA_NA. */
  readonly address: string;
  /** The on-link prefix advertised in the RA's prefix information (L=1, A=0), as CIDR. */
  readonly onLinkPrefix: string;
  /** The link-local address on `device` the RAs (and DHCPv6 replies) come from; the guest's default router. */
  readonly routerLinkLocal: string;
  /** IPv6 DNS servers (DHCPv6 option 23, RA RDNSS). */
  readonly dns: readonly string[];
}

/** Everything one address server needs. */
export interface AddressServerConfig {
  /** The pod network namespace, as a path (`/run/netns/NAME`, `/proc/PID/ns/net`). */
  readonly netns: string;
  /** The device the server listens on (the in-pod bridge, or the tap for `tap` bindings). */
  readonly device: string;
  /** The MAC replies come from (the device's MAC). */
  readonly serverMac: string;
  /** Serve only this client MAC (bridge, tap, managedTap); absent: serve any client (masquerade). */
  readonly clientMac?: string;
  /** MTU for option 26 and the RA MTU option; absent: not sent. */
  readonly mtu?: number;
  /** DNS search domains (option 119, DHCPv6 option 24, RA DNSSL). */
  readonly search: readonly string[];
  /** Host name for option 12; absent: not sent. */
  readonly hostname?: string;
  readonly v4?: AddressServer4;
  readonly v6?: AddressServer6;
  /** JSON lease store; leases survive a restart of the server. */
  readonly leaseFile: string;
  /** The daemon writes its pid here once it serves. */
  readonly pidFile: string;
  /** Log file (pino JSON lines); absent: stderr. */
  readonly logFile?: string;
}

// The addresses the guest is seen using, per family, as passt tracks them (tap.c addr_seen / addr_ll_seen): where inbound flows go.
//
// A guest need not take the address it is offered: a minimal image configures IPv6 by SLAAC
// alone (no DHCPv6 client), so its address is the RA's prefix plus an interface identifier of
// its own. Inbound flows go to the source address of the guest's latest IP packet of that
// family (unicast, not unspecified or loopback; for IPv6 a global one before a link-local one),
// and to the assigned address (DHCP/DHCPv6) until the guest has sent anything.
import { formatIpv4, formatIpv6 } from '../../wire/common.js';

function usable4(b: Uint8Array): boolean {
  return b[0] !== 0 && b[0] !== 127 && b[0]! < 224;
}

function linkLocal6(b: Uint8Array): boolean {
  return b[0] === 0xfe && (b[1]! & 0xc0) === 0x80;
}

function usable6(b: Uint8Array): boolean {
  if (b[0] === 0xff) return false; // multicast
  let zero = true;
  for (let i = 0; i < 15; i++) if (b[i] !== 0) zero = false;
  return !(zero && (b[15] === 0 || b[15] === 1)); // unspecified, loopback
}

function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The guest's addresses as seen in its frames, with the assigned ones as start values. */
export class GuestAddrs {
  private seen4: Uint8Array | undefined;
  private seen6: Uint8Array | undefined;
  private seenLl6: Uint8Array | undefined;
  private text4: string | undefined;
  private text6: string | undefined;
  private textLl6: string | undefined;
  /** Times a seen address changed (for counters and tests). */
  changes = 0;

  constructor(
    private readonly assigned4?: string,
    private readonly assigned6?: string,
  ) {}

  /** Notes the source address of one IP packet from the guest (cheap when unchanged). */
  seen(family: 4 | 6, src: Uint8Array): void {
    if (family === 4) {
      if (src.length !== 4 || !usable4(src) || same(this.seen4, src)) return;
      this.seen4 = src.slice();
      this.text4 = formatIpv4(src);
    } else {
      if (src.length !== 16 || !usable6(src)) return;
      if (linkLocal6(src)) {
        if (same(this.seenLl6, src)) return;
        this.seenLl6 = src.slice();
        this.textLl6 = formatIpv6(src);
      } else {
        if (same(this.seen6, src)) return;
        this.seen6 = src.slice();
        this.text6 = formatIpv6(src);
      }
    }
    this.changes++;
  }

  /** Where inbound flows of `family` go: seen, else assigned, else (IPv6) the link-local seen. */
  get(family: 4 | 6): string | undefined {
    if (family === 4) return this.text4 ?? this.assigned4;
    return this.text6 ?? this.assigned6 ?? this.textLl6;
  }

  /** The link-local IPv6 address the guest was seen using, if any. */
  get linkLocal6(): string | undefined {
    return this.textLl6;
  }
}

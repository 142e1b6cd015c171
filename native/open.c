/* bindery_native: the system-call sequences that open a tap, a ping socket, a device-bound UDP socket and a filtered packet socket. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bindery.h"

/* Room for "address ident/port N" in error details. */
#define STR_DETAIL 160

/* Parses a numeric address (IPv6 with optional %scope) and a port into a sockaddr. */
int bdy_parse_addr(int family, const char *addr, int port, struct sockaddr_storage *ss,
                   socklen_t *len, bdy_status *st) {
  memset(ss, 0, sizeof *ss);
  if (port < 0 || port > 65535) return bdy_fail(st, EINVAL, "inet_pton", addr);
  if (family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) return bdy_fail(st, EINVAL, "inet_pton", addr);
    *len = sizeof *sin;
    return 0;
  }
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons((uint16_t)port);
  char host[INET6_ADDRSTRLEN + IFNAMSIZ + 2];
  size_t alen = strlen(addr);
  if (alen >= sizeof host) return bdy_fail(st, EINVAL, "inet_pton", addr);
  memcpy(host, addr, alen + 1);
  char *scope = strchr(host, '%');
  if (scope != NULL) {
    *scope++ = '\0';
    char *end;
    unsigned long id = strtoul(scope, &end, 10);
    /* Numeric scope ids are taken as is; names are looked up in the calling thread's namespace. */
    if (*scope == '\0' || *end != '\0') id = if_nametoindex(scope);
    if (id == 0) return bdy_fail(st, EINVAL, "if_nametoindex", addr);
    sin6->sin6_scope_id = (uint32_t)id;
  }
  if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) return bdy_fail(st, EINVAL, "inet_pton", addr);
  *len = sizeof *sin6;
  return 0;
}

/* Reads the bound port (for ping sockets: the echo identifier) of `fd`. */
static int bound_port(int fd, int *port, bdy_status *st) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return bdy_fail(st, errno, "getsockname", NULL);
  *port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                   : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return 0;
}

/* Closes `fd` after a failure that is already recorded in the status; returns -1. */
static int close_fail(int fd) {
  close(fd);
  return -1;
}

/* Opens a tap device (IFF_TAP|IFF_NO_PI) in the current namespace, or one more queue of a multiqueue
 * one; optionally MTU and IFF_UP. */
int bdy_tap_open(void *arg, bdy_status *st) {
  bdy_tap_req *req = arg;
  size_t nlen = strlen(req->name);
  if (nlen >= IFNAMSIZ) return bdy_fail(st, EINVAL, "ioctl(TUNSETIFF)", req->name);

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return bdy_fail(st, errno, "open", "/dev/net/tun");

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (req->offload ? IFF_VNET_HDR : 0) |
                  (req->multi_queue ? IFF_MULTI_QUEUE : 0);
  memcpy(ifr.ifr_name, req->name, nlen);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    bdy_fail(st, errno, "ioctl(TUNSETIFF)", req->name);
    return close_fail(fd);
  }
  if (req->offload) {
    /* Every frame both ways is prefixed by a 10-byte struct virtio_net_hdr. With these offloads
     * the namespace's kernel hands us TCP/UDP with partial checksums (and TCP up to 64 KiB as one
     * TSO frame), and accepts ours the same way: nobody sums bytes that never leave the host. */
    int sz = BDY_VNET_HDR_LEN;
    unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
      bdy_fail(st, errno, "ioctl(TUNSETVNETHDRSZ)", req->name);
      return close_fail(fd);
    }
    if (ioctl(fd, TUNSETOFFLOAD, off) < 0) {
      bdy_fail(st, errno, "ioctl(TUNSETOFFLOAD)", req->name);
      return close_fail(fd);
    }
  }
  memcpy(req->out_name, ifr.ifr_name, IFNAMSIZ);
  req->out_name[IFNAMSIZ - 1] = '\0';

  if (req->mtu > 0 || req->up) {
    /* Interface ioctls need some socket of this namespace; it lives only for these two calls. */
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      bdy_fail(st, errno, "socket", req->out_name);
      return close_fail(fd);
    }
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, req->out_name, IFNAMSIZ);
    /* A persistent tap set up beforehand needs no change: skipping it lets a translator without
     * CAP_NET_ADMIN attach (the tap's owner set to its uid). */
    if (req->mtu > 0 && ioctl(s, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu == req->mtu) req->mtu = 0;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, req->out_name, IFNAMSIZ);
    if (req->mtu > 0) {
      ifr.ifr_mtu = req->mtu;
      if (ioctl(s, SIOCSIFMTU, &ifr) < 0) {
        bdy_fail(st, errno, "ioctl(SIOCSIFMTU)", req->out_name);
        close(s);
        return close_fail(fd);
      }
    }
    if (req->up) {
      const char *call = "ioctl(SIOCGIFFLAGS)";
      int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
      if (rc == 0 && !(ifr.ifr_flags & IFF_UP)) {
        call = "ioctl(SIOCSIFFLAGS)";
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
      }
      if (rc < 0) {
        bdy_fail(st, errno, call, req->out_name);
        close(s);
        return close_fail(fd);
      }
    }
    close(s);
  }
  req->fd = fd;
  return 0;
}

/* Opens an ICMP (or ICMPv6) ping datagram socket and binds it to (local, ident). */
int bdy_ping_open(void *arg, bdy_status *st) {
  bdy_ping_req *req = arg;
  int proto = req->family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
  int fd = socket(req->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) return bdy_fail(st, errno, "socket", req->family == AF_INET6 ? "icmpv6" : "icmp");

  /* Ping sockets start with SO_REUSEADDR on (INET_PROTOSW_REUSE), so two could bind the same
   * identifier and the newer would receive the other's replies. Clearing it makes the identifier
   * ours alone: binding one that is in use fails with EADDRINUSE, and so does a later bind of ours. */
  int zero = 0;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &zero, sizeof zero) < 0) {
    bdy_fail(st, errno, "setsockopt(SO_REUSEADDR)", NULL);
    return close_fail(fd);
  }
  struct sockaddr_storage ss;
  socklen_t len;
  const char *local = req->local != NULL ? req->local : (req->family == AF_INET6 ? "::" : "0.0.0.0");
  if (bdy_parse_addr(req->family, local, req->ident, &ss, &len, st) < 0) return close_fail(fd);
  /* Binding with identifier 0 makes the kernel pick a free one now rather than on first send. */
  if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
    char what[STR_DETAIL];
    snprintf(what, sizeof what, "%s ident %d", local, req->ident);
    bdy_fail(st, errno, "bind", what);
    return close_fail(fd);
  }
  if (bound_port(fd, &req->port, st) < 0) return close_fail(fd);
  req->fd = fd;
  return 0;
}

/* Opens a UDP socket for a DHCP-style server: reuse, broadcast, bound to a device and a port. */
int bdy_udp_open(void *arg, bdy_status *st) {
  bdy_udp_req *req = arg;
  int fd = socket(req->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return bdy_fail(st, errno, "socket", "udp");

  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
    bdy_fail(st, errno, "setsockopt(SO_REUSEADDR)", NULL);
    return close_fail(fd);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0) {
    bdy_fail(st, errno, "setsockopt(SO_BROADCAST)", NULL);
    return close_fail(fd);
  }
  size_t dlen = strlen(req->device);
  if (dlen == 0 || dlen >= IFNAMSIZ) {
    bdy_fail(st, EINVAL, "setsockopt(SO_BINDTODEVICE)", req->device);
    return close_fail(fd);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, req->device, (socklen_t)dlen + 1) < 0) {
    bdy_fail(st, errno, "setsockopt(SO_BINDTODEVICE)", req->device);
    return close_fail(fd);
  }
  struct sockaddr_storage ss;
  socklen_t len;
  if (bdy_parse_addr(req->family, req->addr, req->port, &ss, &len, st) < 0) return close_fail(fd);
  if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
    char what[STR_DETAIL];
    snprintf(what, sizeof what, "%s port %d", req->addr, req->port);
    bdy_fail(st, errno, "bind", what);
    return close_fail(fd);
  }
  if (bound_port(fd, &req->bound_port, st) < 0) return close_fail(fd);
  req->fd = fd;
  return 0;
}

/*
 * The classic BPF program of a packet socket for an address server (DHCPv4, DHCPv6, RA): it
 * keeps only Ethernet frames carrying
 *   - IPv4 UDP to port 67 (first fragments only; the header length is read from IHL),
 *   - IPv6 UDP to port 547, or IPv6 ICMPv6 type 133 (router solicitation).
 * The IPv6 next header is read directly from the fixed header: a packet with extension headers
 * before its UDP/ICMPv6 header is not passed (DHCPv6 and RS clients send none). Offsets count
 * from the Ethernet header (SOCK_RAW); VLAN-tagged frames are not passed.
 */
static struct sock_filter address_server_filter[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),               /* ethertype */
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 1, 0),    /* IPv4 → 3 */
    /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd, 7, 15),   /* IPv6 → 10, else reject */
    /* 3 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),               /* IPv4 protocol */
    /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 13),       /* UDP, else reject */
    /* 5 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),               /* flags + fragment offset */
    /* 6 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 11, 0),  /* a later fragment: reject */
    /* 7 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),              /* X = IPv4 header length */
    /* 8 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),               /* UDP destination port */
    /* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 67, 7, 8),        /* 67 → accept, else reject */
    /* 10 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20),              /* IPv6 next header */
    /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 2),       /* UDP → 12, else 14 */
    /* 12 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 56),              /* UDP destination port */
    /* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 547, 3, 4),      /* 547 → accept, else reject */
    /* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 0, 3),       /* ICMPv6 → 15, else reject */
    /* 15 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 54),              /* ICMPv6 type */
    /* 16 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 133, 0, 1),      /* RS → accept, else reject */
    /* 17 */ BPF_STMT(BPF_RET | BPF_K, 0x40000),                  /* accept: the whole frame */
    /* 18 */ BPF_STMT(BPF_RET | BPF_K, 0),                        /* reject */
};

/*
 * Opens an AF_PACKET SOCK_RAW socket for an address server on `device`: created with protocol 0
 * (it receives nothing yet), the filter attached, then bound to ETH_P_ALL on the device's
 * ifindex, so no unfiltered frame is ever queued.
 */
int bdy_packet_open(void *arg, bdy_status *st) {
  bdy_packet_req *req = arg;
  size_t dlen = strlen(req->device);
  if (dlen == 0 || dlen >= IFNAMSIZ) return bdy_fail(st, EINVAL, "if_nametoindex", req->device);
  unsigned ifindex = if_nametoindex(req->device);
  if (ifindex == 0) return bdy_fail(st, errno, "if_nametoindex", req->device);
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return bdy_fail(st, errno, "socket", "packet");
  struct sock_fprog prog = {
      .len = sizeof address_server_filter / sizeof address_server_filter[0],
      .filter = address_server_filter,
  };
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    bdy_fail(st, errno, "setsockopt(SO_ATTACH_FILTER)", req->device);
    return close_fail(fd);
  }
  /* Per-frame status (TP_STATUS_CSUMNOTREADY for frames with partial checksums). */
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) {
    bdy_fail(st, errno, "setsockopt(PACKET_AUXDATA)", req->device);
    return close_fail(fd);
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    bdy_fail(st, errno, "bind", req->device);
    return close_fail(fd);
  }
  req->ifindex = (int)ifindex;
  req->fd = fd;
  return 0;
}

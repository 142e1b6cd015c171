/* bindery_native: the system-call sequences that open a tap, a ping socket and a device-bound UDP socket. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

/* Opens a tap device (IFF_TAP|IFF_NO_PI) in the current namespace; optionally MTU and IFF_UP. */
int bdy_tap_open(void *arg, bdy_status *st) {
  bdy_tap_req *req = arg;
  size_t nlen = strlen(req->name);
  if (nlen >= IFNAMSIZ) return bdy_fail(st, EINVAL, "ioctl(TUNSETIFF)", req->name);

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return bdy_fail(st, errno, "open", "/dev/net/tun");

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (req->offload ? IFF_VNET_HDR : 0);
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
      if (rc == 0) {
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

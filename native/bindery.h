/* bindery_native: declarations shared by the syscall part (netns.c, open.c) and the N-API glue. */
#ifndef BINDERY_NATIVE_H
#define BINDERY_NATIVE_H

#include <net/if.h>
#include <stddef.h>
#include <sys/socket.h>

/* Outcome of a sequence of system calls: errno and the call that failed (err == 0: success). */
typedef struct {
  int err;
  const char *syscall; /* static string, e.g. "open" or "ioctl(TUNSETIFF)" */
  char detail[160];    /* what it was applied to, e.g. "/run/netns/x" (may be empty) */
} bdy_status;

/* Records a failure in `st` and returns -1 (so callers can `return bdy_fail(...)`). */
int bdy_fail(bdy_status *st, int err, const char *syscall, const char *detail);

/* Work to run inside a network namespace; returns 0 or -1 with `st` filled. */
typedef int (*bdy_netns_fn)(void *arg, bdy_status *st);

/*
 * Runs fn(arg) inside network namespace `netns` (a name under /run/netns, or an absolute path) on
 * a short-lived thread, so the calling thread keeps its namespace; netns NULL/"": runs it here.
 */
int bdy_run_in_netns(const char *netns, bdy_netns_fn fn, void *arg, bdy_status *st);

/*
 * Parses a numeric IPv4/IPv6 address (IPv6 may carry "%scope", numeric or an interface name) and a
 * port into `ss`; family is AF_INET or AF_INET6. Returns 0, or -1 with st = EINVAL.
 */
int bdy_parse_addr(int family, const char *addr, int port, struct sockaddr_storage *ss,
                   socklen_t *len, bdy_status *st);

/* Length of the virtio_net_hdr that prefixes frames of an offloading tap. */
#define BDY_VNET_HDR_LEN 10

/* Request/result of bdy_tap_open (run inside the namespace). */
typedef struct {
  const char *name;          /* requested name ("" lets the kernel pick tapN) */
  int mtu;                   /* 0: leave as is */
  int up;                    /* bring the link up */
  int offload;               /* IFF_VNET_HDR + checksum/TSO offloads (frames carry a virtio_net_hdr) */
  int multi_queue;           /* IFF_MULTI_QUEUE: the first open creates the device, later ones add a queue */
  char out_name[IFNAMSIZ];   /* name the kernel gave the device */
  int fd;                    /* result: the tap fd (O_NONBLOCK|O_CLOEXEC) */
} bdy_tap_req;

/* Opens /dev/net/tun as an IFF_TAP|IFF_NO_PI device (optionally IFF_VNET_HDR with checksum and TSO
 * offloads), optionally sets its MTU and brings it up. */
int bdy_tap_open(void *req, bdy_status *st);

/* Request/result of bdy_ping_open. */
typedef struct {
  int family;        /* AF_INET or AF_INET6 */
  int ident;         /* echo identifier to bind (0: the kernel picks one) */
  const char *local; /* local address to bind, NULL: any */
  int fd;            /* result */
  int port;          /* result: the bound identifier */
} bdy_ping_req;

/* Opens an ICMP/ICMPv6 "ping" datagram socket bound to (local, ident). */
int bdy_ping_open(void *req, bdy_status *st);

/* Request/result of bdy_udp_open. */
typedef struct {
  const char *device; /* interface for SO_BINDTODEVICE */
  const char *addr;   /* local address; its syntax picks the family */
  int family;         /* AF_INET or AF_INET6, derived from addr by the caller */
  int port;           /* local port */
  int fd;             /* result */
  int bound_port;     /* result: getsockname port */
} bdy_udp_req;

/* Opens a UDP socket with SO_REUSEADDR, SO_BROADCAST and SO_BINDTODEVICE, bound to (addr, port). */
int bdy_udp_open(void *req, bdy_status *st);

/* Request/result of bdy_packet_open. */
typedef struct {
  const char *device; /* interface to bind to */
  int fd;             /* result */
  int ifindex;        /* result: the device's ifindex */
} bdy_packet_req;

/* Opens an AF_PACKET SOCK_RAW socket on `device` filtered to DHCPv4/DHCPv6 requests and router
 * solicitations (the address server's traffic; see the filter in open.c). */
int bdy_packet_open(void *req, bdy_status *st);

#endif

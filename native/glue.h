/* bindery_native: N-API argument and error helpers shared by the shim's source files (defined in bindery.c). */
#ifndef BINDERY_GLUE_H
#define BINDERY_GLUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include <node_api.h>

#include "bindery.h"

/* Longest string argument (namespace path, device, address). */
#define STR_MAX 512

/* Throws an Error describing the last failed napi call, unless an exception is already pending. */
void throw_napi(napi_env env);

/* Evaluates a napi call; on failure throws (if nothing is pending yet) and returns NULL. */
#define CHECK(env, call)                                                                           \
  do {                                                                                             \
    if ((call) != napi_ok) {                                                                       \
      throw_napi(env);                                                                             \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

/* The JS error for errno `err` from `syscall` (a SyscallError once setErrorClass ran). */
napi_value make_error(napi_env env, int err, const char *syscall, const char *detail);
/* Throws the error recorded in `st`; returns NULL for the caller to return. */
napi_value throw_status(napi_env env, const bdy_status *st);
/* Throws the error for errno `err` from `syscall`; returns NULL. */
napi_value throw_errno(napi_env env, int err, const char *syscall, const char *detail);
/* Reads a string argument into buf (STR_MAX bytes); null/undefined gives "" if optional. */
bool get_string(napi_env env, napi_value v, char *buf, bool optional, const char *what);
/* Reads an int32 argument. */
bool get_int(napi_env env, napi_value v, int *out, const char *what);
/* The bytes of a Uint8Array argument, or false after throwing a TypeError. */
bool get_bytes(napi_env env, napi_value v, const uint8_t **data, size_t *len);
/* Returns [a, b] as a JS array. */
napi_value pair(napi_env env, napi_value a, napi_value b);

/* Shared helpers defined in util.c. */

/* Returns v as a JS number (NULL after throwing if that fails). */
napi_value num(napi_env env, int64_t v);
/* Reads a uint32 argument, or false after throwing a TypeError with `what`. */
bool get_u32(napi_env env, napi_value v, uint32_t *out, const char *what);
/* The data pointer and length of a Uint32Array argument, or false after throwing a TypeError. */
bool get_u32s(napi_env env, napi_value v, uint32_t **data, size_t *len);
/*
 * Wraps `data` (which owns `fd`) in an external tagged `tag`, finalised by `fin`. If the external
 * cannot be made, closes fd, frees data, throws, returns NULL. If tagging fails the finaliser owns
 * data: calls drop(data) (when not NULL) to close it early, throws, returns NULL.
 */
napi_value tagged_new(napi_env env, void *data, int fd, napi_finalize fin,
                      const napi_type_tag *tag, void (*drop)(void *));
/* The data behind an external tagged `tag`, or NULL after throwing a TypeError with `what`. */
void *tagged_get(napi_env env, napi_value v, const napi_type_tag *tag, const char *what);

/* One entry of a file's export table. */
typedef struct {
  const char *name;
  napi_callback fn;
} bdy_export;
/* Sets each of fns[0..n) as a function property of exports; false after throwing. */
bool define_exports(napi_env env, napi_value exports, const bdy_export *fns, size_t n);
/* define_exports over a whole static array. */
#define DEFINE_EXPORTS(env, exports, fns) define_exports(env, exports, fns, sizeof fns / sizeof fns[0])

/* The fd of a TCP socket handle argument (tcp.c): true when open; false with *r set to
 * num(ebadf) when closed, or NULL after throwing when not a socket handle. */
bool bdy_tcp_arg_fd(napi_env env, napi_value v, int *fd, napi_value *r, int64_t ebadf);
/*
 * Reads the (sock, family 4|6, addr, port) arguments of tcpConnect/tcpBind (tcp.c): true with the
 * open fd and the address; false with *r what to return (NULL after throwing, EBADF for a closed
 * handle, the errno of an address that does not parse).
 */
bool bdy_tcp_addr_args(napi_env env, napi_value *argv, int *fd, struct sockaddr_storage *ss,
                       socklen_t *sl, napi_value *r);

/* The fd of a TCP socket handle (tcp.c): >= 0 open, -1 closed, -2 not a socket handle (thrown). */
int bdy_tcp_fd(napi_env env, napi_value v);

/* Wraps a fresh fd in a TCP socket handle (tcp.c); on failure closes it, throws, returns NULL. */
napi_value bdy_tcp_wrap(napi_env env, int fd);

/* Registers the all-ports forwarding functions of fwd.c on `exports`; false after throwing. */
bool bdy_fwd_exports(napi_env env, napi_value exports);

/* Registers the batched UDP socket functions of udp.c on `exports`; false after throwing. */
bool bdy_udp_exports(napi_env env, napi_value exports);

/* Registers the TCP socket functions of tcp.c on `exports`; false after throwing. */
bool bdy_tcp_exports(napi_env env, napi_value exports);
/* Registers the TCP_REPAIR and repair-helper functions of repair.c; false after throwing. */
bool bdy_repair_exports(napi_env env, napi_value exports);

/* Registers the vhost-user syscalls of vhost.c on `exports`; false after throwing. */
bool bdy_vhost_exports(napi_env env, napi_value exports);

#endif

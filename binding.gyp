{
  "targets": [
    {
      "target_name": "bindery_native",
      "sources": ["native/bindery.c", "native/netns.c", "native/open.c", "native/tcp.c", "native/repair.c", "native/vhost.c", "native/fwd.c", "native/udp.c", "native/util.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-O2", "-std=gnu11"]
    }
  ]
}

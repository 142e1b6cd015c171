{
  "targets": [
    {
      "target_name": "bindery_native",
      "sources": ["native/bindery.c"],
      "cflags": ["-Wall", "-Wextra", "-O2", "-std=gnu11"]
    }
  ]
}

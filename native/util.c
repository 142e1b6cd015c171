/* bindery_native: small N-API helpers the shim's source files share (numbers, typed arrays, tagged handles, export tables). */
#include <stdlib.h>
#include <unistd.h>

#include "glue.h"

napi_value num(napi_env env, int64_t v) {
  napi_value r;
  CHECK(env, napi_create_int64(env, v, &r));
  return r;
}

bool get_u32(napi_env env, napi_value v, uint32_t *out, const char *what) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return false;
  }
  return true;
}

bool get_u32s(napi_env env, napi_value v, uint32_t **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok ||
      type != napi_uint32_array) {
    napi_throw_type_error(env, NULL, "expected a Uint32Array");
    return false;
  }
  *data = p;
  return true;
}

napi_value tagged_new(napi_env env, void *data, int fd, napi_finalize fin,
                      const napi_type_tag *tag, void (*drop)(void *)) {
  napi_value ext;
  if (napi_create_external(env, data, fin, NULL, &ext) != napi_ok) {
    close(fd);
    free(data);
    throw_napi(env);
    return NULL;
  }
  /* From here the finaliser owns data (and closes the fd if nobody else does). */
  if (napi_type_tag_object(env, ext, tag) != napi_ok) {
    if (drop != NULL) drop(data);
    throw_napi(env);
    return NULL;
  }
  return ext;
}

void *tagged_get(napi_env env, napi_value v, const napi_type_tag *tag, const char *what) {
  bool ok = false;
  void *p = NULL;
  if (napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok ||
      napi_get_value_external(env, v, &p) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  return p;
}

bool define_exports(napi_env env, napi_value exports, const bdy_export *fns, size_t n) {
  for (size_t i = 0; i < n; i++) {
    napi_value fn;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, fn) != napi_ok) {
      throw_napi(env);
      return false;
    }
  }
  return true;
}

// Argument checks and errors for the native bridge (see common.h).
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

static void vformat(char *buf, size_t cap, const char *fmt, va_list ap) {
  vsnprintf(buf, cap, fmt, ap);
}

static napi_value throw_with(napi_env env, napi_status (*thrower)(napi_env, const char *, const char *),
                             const char *code, const char *msg) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) thrower(env, code, msg);
  return NULL;
}

napi_value vqn_throw_errno(napi_env env, int err, const char *fmt, ...) {
  char what[512], msg[700];
  va_list ap;
  va_start(ap, fmt);
  vformat(what, sizeof what, fmt, ap);
  va_end(ap);
  // On Unix, libuv's error codes are the negated errno values, so uv_err_name names them.
  const char *name = uv_err_name(-err);
  snprintf(msg, sizeof msg, "%s: %s (%s)", what, name, strerror(err));
  return throw_with(env, napi_throw_error, name, msg);
}

napi_value vqn_throw_range(napi_env env, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vformat(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return throw_with(env, napi_throw_range_error, "ERR_OUT_OF_RANGE", msg);
}

napi_value vqn_throw_type(napi_env env, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vformat(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return throw_with(env, napi_throw_type_error, "ERR_INVALID_ARG_TYPE", msg);
}

napi_value vqn_throw_code(napi_env env, const char *code, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vformat(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return throw_with(env, napi_throw_error, code, msg);
}

void vqn_napi_failed(napi_env env, const char *call) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  vqn_throw_code(env, "ERR_NAPI", "native bridge: %s failed (%s)", call,
                 info && info->error_message ? info->error_message : "unknown Node-API error");
}

bool vqn_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, napi_value *self,
              const char *fn) {
  size_t argc = want;
  VQN_CALL(env, napi_get_cb_info(env, info, &argc, argv, self, NULL), false);
  if (argc < want) {
    vqn_throw_type(env, "%s: expected %zu arguments, got %zu", fn, want, argc);
    return false;
  }
  return true;
}

static const char *type_name(napi_valuetype t) {
  switch (t) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: return "a number";
    case napi_string: return "a string";
    case napi_symbol: return "a symbol";
    case napi_object: return "an object";
    case napi_function: return "a function";
    case napi_external: return "an external";
    case napi_bigint: return "a bigint";
  }
  return "something else";
}

bool vqn_int(napi_env env, napi_value v, const char *fn, const char *what, int64_t min, int64_t max,
             int64_t *out) {
  napi_valuetype t;
  VQN_CALL(env, napi_typeof(env, v, &t), false);
  if (t != napi_number) {
    vqn_throw_type(env, "%s: %s must be a number, got %s", fn, what, type_name(t));
    return false;
  }
  double d;
  VQN_CALL(env, napi_get_value_double(env, v, &d), false);
  if (!isfinite(d) || d != floor(d)) {
    vqn_throw_range(env, "%s: %s must be a whole number, got %g", fn, what, d);
    return false;
  }
  if (d < (double)min || d > (double)max) {
    vqn_throw_range(env, "%s: %s %.0f is out of range [%lld, %lld]", fn, what, d, (long long)min,
                    (long long)max);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool vqn_u64(napi_env env, napi_value v, const char *fn, const char *what, uint64_t *out) {
  napi_valuetype t;
  VQN_CALL(env, napi_typeof(env, v, &t), false);
  if (t == napi_bigint) {
    int sign = 0;
    size_t words = 1;
    uint64_t word = 0;
    VQN_CALL(env, napi_get_value_bigint_words(env, v, &sign, &words, &word), false);
    if (sign != 0 || words > 1) {
      vqn_throw_range(env, "%s: %s must be a bigint in [0, 2^64 - 1]", fn, what);
      return false;
    }
    *out = words == 0 ? 0 : word;
    return true;
  }
  int64_t n;
  if (!vqn_int(env, v, fn, what, 0, VQN_MAX_SAFE_INT, &n)) return false;
  *out = (uint64_t)n;
  return true;
}

bool vqn_fd(napi_env env, napi_value v, const char *fn, int *out) {
  int64_t n;
  if (!vqn_int(env, v, fn, "fd", 0, INT32_MAX, &n)) return false;
  *out = (int)n;
  return true;
}

bool vqn_string(napi_env env, napi_value v, const char *fn, const char *what, char *buf, size_t cap) {
  napi_valuetype t;
  VQN_CALL(env, napi_typeof(env, v, &t), false);
  if (t != napi_string) {
    vqn_throw_type(env, "%s: %s must be a string, got %s", fn, what, type_name(t));
    return false;
  }
  size_t len = 0;
  VQN_CALL(env, napi_get_value_string_utf8(env, v, NULL, 0, &len), false);
  if (len + 1 > cap) {
    vqn_throw_code(env, "ENAMETOOLONG", "%s: %s is %zu bytes long, at most %zu allowed", fn, what, len,
                   cap - 1);
    return false;
  }
  VQN_CALL(env, napi_get_value_string_utf8(env, v, buf, cap, &len), false);
  if (strlen(buf) != len) {
    vqn_throw_range(env, "%s: %s contains a NUL character", fn, what);
    return false;
  }
  return true;
}

bool vqn_function(napi_env env, napi_value v, const char *fn, const char *what) {
  napi_valuetype t;
  VQN_CALL(env, napi_typeof(env, v, &t), false);
  if (t != napi_function) {
    vqn_throw_type(env, "%s: %s must be a function, got %s", fn, what, type_name(t));
    return false;
  }
  return true;
}

napi_value vqn_number(napi_env env, double n) {
  napi_value v;
  VQN_CALL(env, napi_create_double(env, n, &v), NULL);
  return v;
}

napi_value vqn_bool(napi_env env, bool b) {
  napi_value v;
  VQN_CALL(env, napi_get_boolean(env, b, &v), NULL);
  return v;
}

napi_value vqn_undefined(napi_env env) {
  napi_value v;
  VQN_CALL(env, napi_get_undefined(env, &v), NULL);
  return v;
}

napi_value vqn_null(napi_env env) {
  napi_value v;
  VQN_CALL(env, napi_get_null(env, &v), NULL);
  return v;
}

bool vqn_set(napi_env env, napi_value obj, const char *name, napi_value v) {
  if (v == NULL) return false;
  VQN_CALL(env, napi_set_named_property(env, obj, name, v), false);
  return true;
}

bool vqn_export(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  VQN_CALL(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn), false);
  return vqn_set(env, exports, name, fn);
}

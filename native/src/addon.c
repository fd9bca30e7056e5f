/*
 * Sonde native addon: a thin N-API layer over libbpf. Mechanism only: open, configure,
 * load, attach and destroy BPF objects, read/update maps, drain ring buffers in batches.
 * No parsing, no policy, no config here (see src/native/ in TypeScript).
 */
#include "common.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sched.h>

__thread struct sonde_env *tl_env;

struct sonde_env *sonde_env_get(napi_env env)
{
	void *data = NULL;

	if (napi_get_instance_data(env, &data) != napi_ok)
		return NULL;
	return data;
}

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	struct sonde_env *st = tl_env; /* libbpf is only called from JS entry points, on this thread */
	char buf[4096];
	int n;
	napi_value fn, argv[2], global, result;
	napi_handle_scope scope;

	if (!st || (level == LIBBPF_DEBUG && st->log_level < LIBBPF_DEBUG))
		return 0; /* the chatty level: skip formatting */
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n <= 0)
		return 0;
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = 0;
	if (level == LIBBPF_WARN)
		sonde_capture_libbpf_message(buf);
	if ((int)level > st->log_level || !st->logger || st->closing)
		return 0;
	if (napi_open_handle_scope(st->env, &scope) != napi_ok)
		return 0;
	if (napi_get_reference_value(st->env, st->logger, &fn) == napi_ok && fn) {
		napi_create_int32(st->env, level, &argv[0]);
		napi_create_string_utf8(st->env, buf, n, &argv[1]);
		napi_get_global(st->env, &global);
		napi_call_function(st->env, global, fn, 2, argv, &result);
	}
	napi_close_handle_scope(st->env, scope);
	return 0;
}

napi_value sonde_undefined(napi_env env)
{
	napi_value u;
	napi_get_undefined(env, &u);
	return u;
}

bool sonde_arg_string(napi_env env, napi_value v, const char *what, char **out)
{
	napi_valuetype t;
	size_t len;
	char msg[128];

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
		snprintf(msg, sizeof(msg), "%s must be a string", what);
		sonde_throw_type(env, msg);
		return false;
	}
	napi_get_value_string_utf8(env, v, NULL, 0, &len);
	*out = malloc(len + 1);
	napi_get_value_string_utf8(env, v, *out, len + 1, &len);
	return true;
}

bool sonde_arg_u32(napi_env env, napi_value v, const char *what, uint32_t *out)
{
	napi_valuetype t;
	double d;
	char msg[128];

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &d) != napi_ok ||
	    d < 0 || d > 4294967295.0 || d != (double)(uint32_t)d) {
		snprintf(msg, sizeof(msg), "%s must be an integer in [0, 2^32)", what);
		sonde_throw_type(env, msg);
		return false;
	}
	*out = (uint32_t)d;
	return true;
}

bool sonde_arg_bool(napi_env env, napi_value v, const char *what, bool *out)
{
	napi_valuetype t;
	char msg[128];

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean) {
		snprintf(msg, sizeof(msg), "%s must be a boolean", what);
		sonde_throw_type(env, msg);
		return false;
	}
	napi_get_value_bool(env, v, out);
	return true;
}

bool sonde_arg_buffer(napi_env env, napi_value v, const char *what, void **data, size_t *len)
{
	bool is;
	char msg[128];

	if (napi_is_buffer(env, v, &is) != napi_ok || !is) {
		snprintf(msg, sizeof(msg), "%s must be a Buffer", what);
		sonde_throw_type(env, msg);
		return false;
	}
	napi_get_buffer_info(env, v, data, len);
	return true;
}

napi_status sonde_export(napi_env env, napi_value exports, const char *name, napi_callback cb)
{
	napi_value fn;
	napi_status s = napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);

	if (s != napi_ok)
		return s;
	return napi_set_named_property(env, exports, name, fn);
}

/* init(ErrorClass, logger(level, message)) */
static napi_value js_init(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	napi_valuetype t0, t1;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 2 || napi_typeof(env, argv[0], &t0) != napi_ok || t0 != napi_function ||
	    napi_typeof(env, argv[1], &t1) != napi_ok || t1 != napi_function)
		return sonde_throw_type(env, "init(errorClass, logger) needs two functions");
	struct sonde_env *st = sonde_env_get(env);
	if (st->error_ctor)
		napi_delete_reference(env, st->error_ctor);
	napi_create_reference(env, argv[0], 1, &st->error_ctor);
	if (st->logger)
		napi_delete_reference(env, st->logger);
	napi_create_reference(env, argv[1], 1, &st->logger);
	return sonde_undefined(env);
}

/* setLogLevel(level): 0 = warn, 1 = info, 2 = debug (libbpf_print_level) */
static napi_value js_set_log_level(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	uint32_t level;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || !sonde_arg_u32(env, argv[0], "level", &level))
		return argc < 1 ? sonde_throw_type(env, "level must be an integer in [0, 2^32)") : NULL;
	if (level > LIBBPF_DEBUG)
		return sonde_throw_type(env, "level must be 0 (warn), 1 (info) or 2 (debug)");
	sonde_env_get(env)->log_level = level;
	return sonde_undefined(env);
}

static napi_value js_libbpf_version(napi_env env, napi_callback_info info)
{
	napi_value v;
	napi_create_string_utf8(env, libbpf_version_string(), NAPI_AUTO_LENGTH, &v);
	return v;
}

static napi_value js_num_possible_cpus(napi_env env, napi_callback_info info)
{
	napi_value v;
	int n = libbpf_num_possible_cpus();

	if (n < 0)
		return sonde_throw(env, "libbpf_num_possible_cpus", n, NULL, NULL, NULL);
	napi_create_int32(env, n, &v);
	return v;
}

/* probeProgType(name) / probeMapType(name): libbpf feature probes by libbpf's type names */
static napi_value probe_type(napi_env env, napi_callback_info info, bool map)
{
	size_t argc = 1;
	napi_value argv[1], result;
	char *name = NULL;
	int i, r = -ENOENT;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || !sonde_arg_string(env, argv[0], "type name", &name))
		return argc < 1 ? sonde_throw_type(env, "type name must be a string") : NULL;
	for (i = 1; i < 256; i++) {
		const char *s = map ? libbpf_bpf_map_type_str(i) : libbpf_bpf_prog_type_str(i);
		if (s && strcmp(s, name) == 0) {
			r = map ? libbpf_probe_bpf_map_type(i, NULL) : libbpf_probe_bpf_prog_type(i, NULL);
			break;
		}
	}
	free(name);
	if (i == 256)
		return sonde_throw_type(env, "unknown BPF type name");
	if (r < 0)
		return sonde_throw(env, map ? "libbpf_probe_bpf_map_type" : "libbpf_probe_bpf_prog_type", r, NULL,
				   NULL, NULL);
	napi_get_boolean(env, r == 1, &result);
	return result;
}

static napi_value js_probe_prog_type(napi_env env, napi_callback_info info) { return probe_type(env, info, false); }
static napi_value js_probe_map_type(napi_env env, napi_callback_info info) { return probe_type(env, info, true); }

static napi_value rlim_value(napi_env env, rlim_t v)
{
	napi_value r;
	if (v == RLIM_INFINITY)
		napi_create_double(env, (double)INFINITY, &r);
	else
		napi_create_double(env, (double)v, &r);
	return r;
}

/* getMemlockLimit(): { soft, hard } in bytes (Infinity = unlimited) */
static napi_value js_get_memlock(napi_env env, napi_callback_info info)
{
	struct rlimit rl;
	napi_value o;

	if (getrlimit(RLIMIT_MEMLOCK, &rl))
		return sonde_throw(env, "getrlimit", errno, NULL, NULL, NULL);
	napi_create_object(env, &o);
	napi_set_named_property(env, o, "soft", rlim_value(env, rl.rlim_cur));
	napi_set_named_property(env, o, "hard", rlim_value(env, rl.rlim_max));
	return o;
}

/* setMemlockLimit(bytes | Infinity): sets soft and hard limit */
static napi_value js_set_memlock(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	double d;
	struct rlimit rl;
	napi_valuetype t;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_number)
		return sonde_throw_type(env, "limit must be a number of bytes or Infinity");
	napi_get_value_double(env, argv[0], &d);
	if (!(d >= 0))
		return sonde_throw_type(env, "limit must be a number of bytes or Infinity");
	rl.rlim_cur = rl.rlim_max = d == (double)INFINITY ? RLIM_INFINITY : (rlim_t)d;
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return sonde_throw(env, "setrlimit", errno, NULL, NULL, NULL);
	return sonde_undefined(env);
}

/* getSchedPolicy(tid): the thread's scheduling policy (SCHED_OTHER 0, SCHED_BATCH 3, SCHED_IDLE 5, …) */
static napi_value js_get_sched(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], r;
	int32_t tid;
	int policy;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || napi_get_value_int32(env, argv[0], &tid) != napi_ok || tid < 0)
		return sonde_throw_type(env, "tid must be a non-negative integer");
	policy = sched_getscheduler(tid);
	if (policy < 0)
		return sonde_throw(env, "sched_getscheduler", errno, NULL, NULL, NULL);
	napi_create_int32(env, policy & ~SCHED_RESET_ON_FORK, &r);
	return r;
}

/* setSchedPolicy(tid, policy): one of the non-real-time policies (priority 0); the nice value is kept */
static napi_value js_set_sched(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	int32_t tid, policy;
	struct sched_param sp = { .sched_priority = 0 };

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 2 || napi_get_value_int32(env, argv[0], &tid) != napi_ok || tid < 0)
		return sonde_throw_type(env, "tid must be a non-negative integer");
	if (napi_get_value_int32(env, argv[1], &policy) != napi_ok ||
	    (policy != SCHED_OTHER && policy != SCHED_BATCH && policy != SCHED_IDLE))
		return sonde_throw_type(env, "policy must be SCHED_OTHER (0), SCHED_BATCH (3) or SCHED_IDLE (5)");
	if (sched_setscheduler(tid, policy, &sp))
		return sonde_throw(env, "sched_setscheduler", errno, NULL, NULL, NULL);
	return sonde_undefined(env);
}

/* On environment teardown destroy every object, link and reader: nothing stays attached. */
static void cleanup_hook(void *arg)
{
	struct sonde_env *st = arg;
	struct sonde_obj *o;

	st->closing = true; /* no calls into JS from here on */
	for (o = st->objects; o; o = o->next)
		sonde_object_destroy(o);
	if (tl_env == st)
		tl_env = NULL;
	/* st and the object shells stay allocated: externals may still be finalized later */
}

static void set_print(void) { libbpf_set_print(print_fn); }

NAPI_MODULE_INIT()
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sonde_env *st = calloc(1, sizeof(*st));

	/* libbpf_set_print is process-global and not thread-safe: set it once */
	pthread_once(&once, set_print);
	st->env = env;
	st->log_level = LIBBPF_WARN;
	tl_env = st;
	napi_set_instance_data(env, st, NULL, NULL);
	napi_add_env_cleanup_hook(env, cleanup_hook, st);
	sonde_export(env, exports, "init", js_init);
	sonde_export(env, exports, "setLogLevel", js_set_log_level);
	sonde_export(env, exports, "libbpfVersion", js_libbpf_version);
	sonde_export(env, exports, "numPossibleCpus", js_num_possible_cpus);
	sonde_export(env, exports, "probeProgType", js_probe_prog_type);
	sonde_export(env, exports, "probeMapType", js_probe_map_type);
	sonde_export(env, exports, "getMemlockLimit", js_get_memlock);
	sonde_export(env, exports, "setMemlockLimit", js_set_memlock);
	sonde_export(env, exports, "getSchedPolicy", js_get_sched);
	sonde_export(env, exports, "setSchedPolicy", js_set_sched);
	sonde_object_register(env, exports);
	sonde_map_register(env, exports);
	sonde_ring_register(env, exports);
	sonde_netlink_register(env, exports);
	sonde_layouts_register(env, exports);
	return exports;
}

/* Map access by (object, map name): lookup, update, delete, iterate. Per-CPU values are
 * returned as possible_cpus slots of round_up(value_size, 8) bytes, as the kernel lays them out. */
#include "common.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(n)                                                                                                    \
	size_t argc = n;                                                                                           \
	napi_value argv[n];                                                                                        \
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);                                                      \
	for (size_t _i = argc; _i < n; _i++)                                                                       \
		napi_get_undefined(env, &argv[_i]);

static bool is_percpu(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
	       t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

static size_t value_bytes(struct bpf_map *m)
{
	size_t vs = bpf_map__value_size(m);

	if (is_percpu(bpf_map__type(m)))
		return ((vs + 7) & ~(size_t)7) * (size_t)libbpf_num_possible_cpus();
	return vs;
}

struct map_arg {
	struct sonde_obj *o;
	struct bpf_map *m;
	int fd;
};

static bool get_map(napi_env env, napi_value h, napi_value name, struct map_arg *a)
{
	a->o = sonde_arg_obj(env, h);
	if (!a->o || !(a->m = sonde_arg_map(env, a->o, name)))
		return false;
	a->fd = bpf_map__fd(a->m);
	if (!a->o->loaded || a->fd < 0) {
		sonde_throw(env, "bpf_map__fd", EBADF, a->o->name, bpf_map__name(a->m), NULL);
		return false;
	}
	return true;
}

static bool key_arg(napi_env env, struct map_arg *a, napi_value v, void **key)
{
	size_t len;

	if (bpf_map__key_size(a->m) == 0) { /* queue/stack/ringbuf: no key */
		*key = NULL;
		return true;
	}
	if (!sonde_arg_buffer(env, v, "key", key, &len))
		return false;
	if (len != bpf_map__key_size(a->m)) {
		sonde_throw_type(env, "key length differs from the map's key size");
		return false;
	}
	return true;
}

/* mapLookup(h, map, key): Buffer | null */
static napi_value js_lookup(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct map_arg a;
	void *key, *val;
	napi_value buf, nul;
	size_t vb;

	if (!get_map(env, argv[0], argv[1], &a) || !key_arg(env, &a, argv[2], &key))
		return NULL;
	vb = value_bytes(a.m);
	napi_create_buffer(env, vb, &val, &buf);
	if (bpf_map_lookup_elem(a.fd, key, val)) {
		if (errno == ENOENT) {
			napi_get_null(env, &nul);
			return nul;
		}
		return sonde_throw(env, "bpf_map_lookup_elem", errno, a.o->name, bpf_map__name(a.m), NULL);
	}
	return buf;
}

/* mapUpdate(h, map, key, value, flags = BPF_ANY) */
static napi_value js_update(napi_env env, napi_callback_info info)
{
	ARGS(5);
	struct map_arg a;
	void *key, *val;
	size_t len;
	uint32_t flags = BPF_ANY;
	napi_valuetype t;

	if (!get_map(env, argv[0], argv[1], &a) || !key_arg(env, &a, argv[2], &key) ||
	    !sonde_arg_buffer(env, argv[3], "value", &val, &len))
		return NULL;
	if (len != value_bytes(a.m))
		return sonde_throw_type(env, "value length differs from the map's value size (per-CPU: all slots)");
	napi_typeof(env, argv[4], &t);
	if (t != napi_undefined && !sonde_arg_u32(env, argv[4], "flags", &flags))
		return NULL;
	if (bpf_map_update_elem(a.fd, key, val, flags))
		return sonde_throw(env, "bpf_map_update_elem", errno, a.o->name, bpf_map__name(a.m), NULL);
	return sonde_undefined(env);
}

/* mapDelete(h, map, key): boolean (false if absent) */
static napi_value js_delete(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct map_arg a;
	void *key;
	napi_value r;

	if (!get_map(env, argv[0], argv[1], &a) || !key_arg(env, &a, argv[2], &key))
		return NULL;
	if (bpf_map_delete_elem(a.fd, key)) {
		if (errno != ENOENT)
			return sonde_throw(env, "bpf_map_delete_elem", errno, a.o->name, bpf_map__name(a.m), NULL);
		napi_get_boolean(env, false, &r);
		return r;
	}
	napi_get_boolean(env, true, &r);
	return r;
}

/* mapEntries(h, map, limit?): { count, keys: Buffer, values: Buffer } (packed, key_size / value bytes each) */
static napi_value js_entries(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct map_arg a;
	uint32_t limit = UINT32_MAX, count = 0, cap;
	size_t ks, vb;
	char *keys = NULL, *vals = NULL, *prev = NULL;
	napi_value result, kb, vbuf, cnt;
	napi_valuetype t;
	void *kdata, *vdata;
	int err = 0;

	if (!get_map(env, argv[0], argv[1], &a))
		return NULL;
	napi_typeof(env, argv[2], &t);
	if (t != napi_undefined && !sonde_arg_u32(env, argv[2], "limit", &limit))
		return NULL;
	ks = bpf_map__key_size(a.m);
	vb = value_bytes(a.m);
	if (ks == 0)
		return sonde_throw(env, "bpf_map_get_next_key", EINVAL, a.o->name, bpf_map__name(a.m), NULL);
	cap = bpf_map__max_entries(a.m);
	if (cap > limit)
		cap = limit;
	keys = malloc(ks * (cap ? cap : 1));
	vals = malloc(vb * (cap ? cap : 1));
	while (count < cap) {
		char *k = keys + (size_t)count * ks;
		if (bpf_map_get_next_key(a.fd, prev, k)) {
			if (errno != ENOENT)
				err = errno;
			break;
		}
		if (bpf_map_lookup_elem(a.fd, k, vals + (size_t)count * vb)) {
			if (errno == ENOENT) { /* deleted meanwhile: keep walking from it */
				prev = k;
				continue;
			}
			err = errno;
			break;
		}
		prev = k;
		count++;
	}
	if (err) {
		free(keys);
		free(vals);
		return sonde_throw(env, "bpf_map_get_next_key", err, a.o->name, bpf_map__name(a.m), NULL);
	}
	napi_create_buffer_copy(env, (size_t)count * ks, keys, &kdata, &kb);
	napi_create_buffer_copy(env, (size_t)count * vb, vals, &vdata, &vbuf);
	free(keys);
	free(vals);
	napi_create_object(env, &result);
	napi_create_uint32(env, count, &cnt);
	napi_set_named_property(env, result, "count", cnt);
	napi_set_named_property(env, result, "keys", kb);
	napi_set_named_property(env, result, "values", vbuf);
	return result;
}

void sonde_map_register(napi_env env, napi_value exports)
{
	sonde_export(env, exports, "mapLookup", js_lookup);
	sonde_export(env, exports, "mapUpdate", js_update);
	sonde_export(env, exports, "mapDelete", js_delete);
	sonde_export(env, exports, "mapEntries", js_entries);
}

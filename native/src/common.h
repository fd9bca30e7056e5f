/* Shared declarations of the Sonde native addon: mechanism only (libbpf wrappers), no policy. */
#ifndef SONDE_NATIVE_COMMON_H
#define SONDE_NATIVE_COMMON_H

#include <node_api.h>
#include <uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>

#define SONDE_OBJ_MAGIC 0x534f424aU  /* "SOBJ" */
#define SONDE_LINK_MAGIC 0x534c4e4bU /* "SLNK" */
#define SONDE_RING_MAGIC 0x5352494eU /* "SRIN" */

struct sonde_ring;
struct sonde_link;

struct sonde_obj {
	uint32_t magic;
	bool destroyed;
	bool loaded;
	struct bpf_object *obj;
	char *name;
	void *mem;        /* copy of the ELF bytes when opened from a Buffer */
	char *log_buf;    /* verifier log during load */
	size_t log_size;
	struct sonde_link *links;
	struct sonde_ring *rings;
	struct sonde_obj *next;
};

struct sonde_link {
	uint32_t magic;
	bool destroyed;
	struct bpf_link *link;
	struct sonde_obj *owner;
	char *program;
	struct sonde_link *next; /* in owner->links */
};

/*
 * Per-environment state. Node runs each environment (main thread, every worker) on its own
 * thread, so the current one is also kept thread-local for libbpf's print callback, which
 * gets no context argument.
 */
struct sonde_env {
	napi_env env;
	napi_ref error_ctor; /* the JS class errors are thrown as (init) */
	napi_ref logger;     /* (level, message) => void (init) */
	int log_level;       /* libbpf_print_level forwarded to JS */
	bool closing;        /* environment teardown: no calls into JS */
	struct sonde_obj *objects;
};

/* addon.c */
struct sonde_env *sonde_env_get(napi_env env);
extern __thread struct sonde_env *tl_env;
napi_status sonde_export(napi_env env, napi_value exports, const char *name, napi_callback cb);

/* errors.c: throw the JS error class received at init */
napi_value sonde_throw(napi_env env, const char *op, int err, const char *object, const char *program,
		       const char *verifier_log);
napi_value sonde_throw_type(napi_env env, const char *msg);


/* argument helpers: return false after throwing a TypeError */
bool sonde_arg_string(napi_env env, napi_value v, const char *what, char **out);
bool sonde_arg_u32(napi_env env, napi_value v, const char *what, uint32_t *out);
bool sonde_arg_bool(napi_env env, napi_value v, const char *what, bool *out);
bool sonde_arg_buffer(napi_env env, napi_value v, const char *what, void **data, size_t *len);
struct sonde_obj *sonde_arg_obj(napi_env env, napi_value v);
struct bpf_map *sonde_arg_map(napi_env env, struct sonde_obj *o, napi_value v);
struct bpf_program *sonde_arg_prog(napi_env env, struct sonde_obj *o, napi_value v);
napi_value sonde_undefined(napi_env env);

/* object.c */
void sonde_object_register(napi_env env, napi_value exports);
void sonde_object_destroy(struct sonde_obj *o);
void sonde_capture_libbpf_message(const char *msg);

/* map.c */
void sonde_map_register(napi_env env, napi_value exports);

/* ring.c */
void sonde_ring_register(napi_env env, napi_value exports);
void sonde_ring_destroy(struct sonde_ring *r);
struct sonde_ring *sonde_ring_next(struct sonde_ring *r);

/* netlink.c */
void sonde_netlink_register(napi_env env, napi_value exports);

/* layouts.c */
void sonde_layouts_register(napi_env env, napi_value exports);

#endif

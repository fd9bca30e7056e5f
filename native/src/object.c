/* BPF objects: open (path or bytes) -> rodata/autoload/max_entries/map reuse -> load -> attach -> destroy. */
#include "common.h"
#include <bpf/btf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VERIFIER_LOG_SIZE (16u << 20) /* malloc'd at load, touched only as far as the log goes */

static const napi_type_tag OBJ_TAG = {0x5d1e0b7a1c2e4f01ULL, 0x9a3b6c4d2e1f0a01ULL};
static const napi_type_tag LINK_TAG = {0x5d1e0b7a1c2e4f02ULL, 0x9a3b6c4d2e1f0a02ULL};

#define ARGS(n)                                                                                                    \
	size_t argc = n;                                                                                           \
	napi_value argv[n];                                                                                        \
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);                                                      \
	for (size_t _i = argc; _i < n; _i++)                                                                       \
		napi_get_undefined(env, &argv[_i]);

static void *unwrap(napi_env env, napi_value v, const napi_type_tag *tag, uint32_t magic, const char *what)
{
	bool ok = false;
	void *p = NULL;
	char msg[96];
	napi_valuetype t;

	if (napi_typeof(env, v, &t) == napi_ok && t == napi_external &&
	    napi_check_object_type_tag(env, v, tag, &ok) == napi_ok && ok &&
	    napi_get_value_external(env, v, &p) == napi_ok && p && *(uint32_t *)p == magic)
		return p;
	snprintf(msg, sizeof(msg), "expected a %s handle", what);
	sonde_throw_type(env, msg);
	return NULL;
}

struct sonde_obj *sonde_arg_obj(napi_env env, napi_value v)
{
	struct sonde_obj *o = unwrap(env, v, &OBJ_TAG, SONDE_OBJ_MAGIC, "BPF object");

	if (o && o->destroyed) {
		sonde_throw(env, "sonde_object", EBADF, o->name, NULL, NULL);
		return NULL;
	}
	return o;
}

struct bpf_map *sonde_arg_map(napi_env env, struct sonde_obj *o, napi_value v)
{
	char *name;
	struct bpf_map *m;

	if (!sonde_arg_string(env, v, "map name", &name))
		return NULL;
	m = bpf_object__find_map_by_name(o->obj, name);
	if (!m)
		sonde_throw(env, "bpf_object__find_map_by_name", ENOENT, o->name, name, NULL);
	free(name);
	return m;
}

struct bpf_program *sonde_arg_prog(napi_env env, struct sonde_obj *o, napi_value v)
{
	char *name;
	struct bpf_program *p;

	if (!sonde_arg_string(env, v, "program name", &name))
		return NULL;
	p = bpf_object__find_program_by_name(o->obj, name);
	if (!p)
		sonde_throw(env, "bpf_object__find_program_by_name", ENOENT, o->name, name, NULL);
	free(name);
	return p;
}

static void destroy_link(struct sonde_link *l)
{
	if (l->destroyed)
		return;
	l->destroyed = true;
	bpf_link__destroy(l->link);
	l->link = NULL;
}

void sonde_object_destroy(struct sonde_obj *o)
{
	struct sonde_link *l;
	struct sonde_ring *r;

	if (o->destroyed)
		return;
	o->destroyed = true;
	for (r = o->rings; r; r = sonde_ring_next(r))
		sonde_ring_destroy(r);
	for (l = o->links; l; l = l->next)
		destroy_link(l);
	bpf_object__close(o->obj);
	o->obj = NULL;
	free(o->mem);
	o->mem = NULL;
	free(o->log_buf);
	o->log_buf = NULL;
	/* the shell stays allocated: JS handles may still point at it (they then get EBADF) */
}

static napi_value make_handle(napi_env env, void *p, const napi_type_tag *tag)
{
	napi_value h;

	napi_create_external(env, p, NULL, NULL, &h);
	napi_type_tag_object(env, h, tag);
	return h;
}

/* objectOpen(source: string | Buffer, opts?: { name?: string, btfCustomPath?: string }) */
static napi_value js_open(napi_env env, napi_callback_info info)
{
	ARGS(2);
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	napi_valuetype t;
	struct sonde_obj *o;
	char *path = NULL, *name = NULL, *btf_path = NULL;
	void *data = NULL;
	size_t len = 0;
	bool is_buf = false;
	int err;

	if (napi_typeof(env, argv[0], &t) != napi_ok)
		return NULL;
	if (t == napi_string) {
		if (!sonde_arg_string(env, argv[0], "source", &path))
			return NULL;
	} else if (napi_is_buffer(env, argv[0], &is_buf) == napi_ok && is_buf) {
		napi_get_buffer_info(env, argv[0], &data, &len);
		if (len == 0)
			return sonde_throw_type(env, "source Buffer is empty");
	} else {
		return sonde_throw_type(env, "source must be a path string or a Buffer");
	}
	if (napi_typeof(env, argv[1], &t) != napi_ok)
		return NULL;
	if (t == napi_object) {
		napi_value v;
		bool has;
		napi_valuetype vt;

		if (napi_has_named_property(env, argv[1], "name", &has) == napi_ok && has) {
			napi_get_named_property(env, argv[1], "name", &v);
			if (napi_typeof(env, v, &vt) == napi_ok && vt != napi_undefined &&
			    !sonde_arg_string(env, v, "opts.name", &name))
				goto fail_args;
		}
		if (napi_has_named_property(env, argv[1], "btfCustomPath", &has) == napi_ok && has) {
			napi_get_named_property(env, argv[1], "btfCustomPath", &v);
			if (napi_typeof(env, v, &vt) == napi_ok && vt != napi_undefined &&
			    !sonde_arg_string(env, v, "opts.btfCustomPath", &btf_path))
				goto fail_args;
		}
	} else if (t != napi_undefined) {
		sonde_throw_type(env, "opts must be an object");
		goto fail_args;
	}

	o = calloc(1, sizeof(*o));
	o->magic = SONDE_OBJ_MAGIC;
	opts.object_name = name;
	opts.btf_custom_path = btf_path;
	if (path) {
		o->obj = bpf_object__open_file(path, &opts);
	} else {
		/* libbpf reads the ELF in place until load: keep our own copy */
		o->mem = malloc(len);
		memcpy(o->mem, data, len);
		o->obj = bpf_object__open_mem(o->mem, len, &opts);
	}
	err = o->obj ? 0 : -errno;
	if (err) {
		sonde_throw(env, path ? "bpf_object__open_file" : "bpf_object__open_mem", err, name ? name : path,
			    NULL, NULL);
		free(o->mem);
		free(o);
		goto fail_args;
	}
	o->name = strdup(bpf_object__name(o->obj));
	{
		struct sonde_env *st = sonde_env_get(env);
		o->next = st->objects;
		st->objects = o;
	}
	free(path);
	free(name);
	free(btf_path);
	return make_handle(env, o, &OBJ_TAG);

fail_args:
	free(path);
	free(name);
	free(btf_path);
	return NULL;
}

static napi_value js_name(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct sonde_obj *o = sonde_arg_obj(env, argv[0]);
	napi_value v;

	if (!o)
		return NULL;
	napi_create_string_utf8(env, o->name, NAPI_AUTO_LENGTH, &v);
	return v;
}

static void set_u32(napi_env env, napi_value o, const char *k, uint32_t val)
{
	napi_value v;
	napi_create_uint32(env, val, &v);
	napi_set_named_property(env, o, k, v);
}

static void set_int(napi_env env, napi_value o, const char *k, int val)
{
	napi_value v;
	napi_create_int32(env, val, &v);
	napi_set_named_property(env, o, k, v);
}

static void set_str(napi_env env, napi_value o, const char *k, const char *s)
{
	napi_value v;
	napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, o, k, v);
}

static void set_bool(napi_env env, napi_value o, const char *k, bool b)
{
	napi_value v;
	napi_get_boolean(env, b, &v);
	napi_set_named_property(env, o, k, v);
}

static uint32_t fd_id(int fd, bool prog)
{
	if (fd < 0)
		return 0;
	if (prog) {
		struct bpf_prog_info pi = {};
		uint32_t len = sizeof(pi);
		return bpf_prog_get_info_by_fd(fd, &pi, &len) ? 0 : pi.id;
	} else {
		struct bpf_map_info mi = {};
		uint32_t len = sizeof(mi);
		return bpf_map_get_info_by_fd(fd, &mi, &len) ? 0 : mi.id;
	}
}

/* objectPrograms(h): [{ name, section, type, autoload, fd, id }] */
static napi_value js_programs(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct sonde_obj *o = sonde_arg_obj(env, argv[0]);
	struct bpf_program *p;
	napi_value arr, e;
	uint32_t i = 0;

	if (!o)
		return NULL;
	napi_create_array(env, &arr);
	bpf_object__for_each_program(p, o->obj) {
		napi_create_object(env, &e);
		set_str(env, e, "name", bpf_program__name(p));
		set_str(env, e, "section", bpf_program__section_name(p));
		set_str(env, e, "type", libbpf_bpf_prog_type_str(bpf_program__type(p)));
		set_bool(env, e, "autoload", bpf_program__autoload(p));
		set_int(env, e, "fd", o->loaded ? bpf_program__fd(p) : -1);
		set_u32(env, e, "id", o->loaded ? fd_id(bpf_program__fd(p), true) : 0);
		napi_set_element(env, arr, i++, e);
	}
	return arr;
}

/* objectMaps(h): [{ name, type, keySize, valueSize, maxEntries, fd, id }] */
static napi_value js_maps(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct sonde_obj *o = sonde_arg_obj(env, argv[0]);
	struct bpf_map *m;
	napi_value arr, e;
	uint32_t i = 0;

	if (!o)
		return NULL;
	napi_create_array(env, &arr);
	bpf_object__for_each_map(m, o->obj) {
		napi_create_object(env, &e);
		set_str(env, e, "name", bpf_map__name(m));
		set_str(env, e, "type", libbpf_bpf_map_type_str(bpf_map__type(m)));
		set_u32(env, e, "keySize", bpf_map__key_size(m));
		set_u32(env, e, "valueSize", bpf_map__value_size(m));
		set_u32(env, e, "maxEntries", bpf_map__max_entries(m));
		set_int(env, e, "fd", o->loaded ? bpf_map__fd(m) : -1);
		set_u32(env, e, "id", o->loaded ? fd_id(bpf_map__fd(m), false) : 0);
		napi_set_element(env, arr, i++, e);
	}
	return arr;
}

static struct bpf_map *rodata_map(struct sonde_obj *o)
{
	struct bpf_map *m;
	size_t n;

	bpf_object__for_each_map(m, o->obj) {
		const char *name = bpf_map__name(m);
		n = strlen(name);
		if (bpf_map__is_internal(m) && n >= 7 && strcmp(name + n - 7, ".rodata") == 0)
			return m;
	}
	return NULL;
}

/* Calls cb for every variable of the .rodata datasec; stops when cb returns true. */
static bool each_rodata_var(struct sonde_obj *o, bool (*cb)(void *, const char *, uint32_t, uint32_t), void *ctx)
{
	struct btf *btf = bpf_object__btf(o->obj);
	const struct btf_type *sec;
	const struct btf_var_secinfo *vsi;
	int id, i;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0)
		return false;
	sec = btf__type_by_id(btf, id);
	vsi = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vsi++) {
		const struct btf_type *var = btf__type_by_id(btf, vsi->type);
		if (cb(ctx, btf__name_by_offset(btf, var->name_off), vsi->offset, vsi->size))
			return true;
	}
	return false;
}

struct vars_ctx {
	napi_env env;
	napi_value arr;
	uint32_t i;
};

static bool add_var(void *c, const char *name, uint32_t off, uint32_t size)
{
	struct vars_ctx *vc = c;
	napi_value e;

	napi_create_object(vc->env, &e);
	set_str(vc->env, e, "name", name);
	set_u32(vc->env, e, "offset", off);
	set_u32(vc->env, e, "size", size);
	napi_set_element(vc->env, vc->arr, vc->i++, e);
	return false;
}

/* objectRodataVars(h): [{ name, offset, size }] of the `const volatile` variables */
static napi_value js_rodata_vars(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct sonde_obj *o = sonde_arg_obj(env, argv[0]);
	struct vars_ctx vc = {env, NULL, 0};

	if (!o)
		return NULL;
	napi_create_array(env, &vc.arr);
	each_rodata_var(o, add_var, &vc);
	return vc.arr;
}

struct find_ctx {
	const char *name;
	uint32_t off, size;
};

static bool find_var(void *c, const char *name, uint32_t off, uint32_t size)
{
	struct find_ctx *fc = c;

	if (strcmp(fc->name, name))
		return false;
	fc->off = off;
	fc->size = size;
	return true;
}

/* objectSetRodata(h, name, value: Buffer): value.length must equal the variable's size */
static napi_value js_set_rodata(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct sonde_obj *o = sonde_arg_obj(env, argv[0]);
	struct find_ctx fc = {};
	struct bpf_map *m;
	char *name = NULL;
	void *data, *init;
	size_t len, size;

	if (!o || !sonde_arg_string(env, argv[1], "variable name", &name))
		return NULL;
	if (!sonde_arg_buffer(env, argv[2], "value", &data, &len))
		goto out;
	if (o->loaded) {
		sonde_throw(env, "bpf_map__initial_value", EBUSY, o->name, name, NULL);
		goto out;
	}
	fc.name = name;
	m = rodata_map(o);
	if (!m || !each_rodata_var(o, find_var, &fc)) {
		sonde_throw(env, "btf__find_by_name_kind", ENOENT, o->name, name, NULL);
		goto out;
	}
	if (len != fc.size) {
		sonde_throw_type(env, "value length differs from the variable's size");
		goto out;
	}
	init = bpf_map__initial_value(m, &size);
	if (!init || fc.off + fc.size > size) {
		sonde_throw(env, "bpf_map__initial_value", EINVAL, o->name, name, NULL);
		goto out;
	}
	memcpy((char *)init + fc.off, data, len);
out:
	free(name);
	return sonde_undefined(env);
}

/* objectSetAutoload(h, program, autoload) */
static napi_value js_set_autoload(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct sonde_obj *o = sonde_arg_obj(env, argv[0]);
	struct bpf_program *p;
	bool b;
	int err;

	if (!o || !(p = sonde_arg_prog(env, o, argv[1])) || !sonde_arg_bool(env, argv[2], "autoload", &b))
		return NULL;
	err = bpf_program__set_autoload(p, b);
	if (err)
		return sonde_throw(env, "bpf_program__set_autoload", err, o->name, bpf_program__name(p), NULL);
	return sonde_undefined(env);
}

/* objectSetMaxEntries(h, map, n) */
static napi_value js_set_max_entries(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct sonde_obj *o = sonde_arg_obj(env, argv[0]);
	struct bpf_map *m;
	uint32_t n;
	int err;

	if (!o || !(m = sonde_arg_map(env, o, argv[1])) || !sonde_arg_u32(env, argv[2], "maxEntries", &n))
		return NULL;
	err = bpf_map__set_max_entries(m, n);
	if (err)
		return sonde_throw(env, "bpf_map__set_max_entries", err, o->name, bpf_map__name(m), NULL);
	return sonde_undefined(env);
}

/* objectReuseMap(h, map, otherH, otherMap): before load, use the other (loaded) object's map */
static napi_value js_reuse_map(napi_env env, napi_callback_info info)
{
	ARGS(4);
	struct sonde_obj *o = sonde_arg_obj(env, argv[0]), *other;
	struct bpf_map *m, *om;
	int err;

	if (!o || !(m = sonde_arg_map(env, o, argv[1])) || !(other = sonde_arg_obj(env, argv[2])) ||
	    !(om = sonde_arg_map(env, other, argv[3])))
		return NULL;
	if (!other->loaded)
		return sonde_throw(env, "bpf_map__reuse_fd", EBADF, other->name, bpf_map__name(om), NULL);
	err = bpf_map__reuse_fd(m, bpf_map__fd(om));
	if (err)
		return sonde_throw(env, "bpf_map__reuse_fd", err, o->name, bpf_map__name(m), NULL);
	return sonde_undefined(env);
}

/* libbpf names the failing program in a warning; remember it during load */
static __thread char g_failed_prog[128];
static __thread bool g_capture;

void sonde_capture_libbpf_message(const char *msg)
{
	const char *p, *q;

	if (!g_capture || g_failed_prog[0] || strncmp(msg, "libbpf: prog '", 14) != 0)
		return;
	if (!strstr(msg, "failed"))
		return;
	p = msg + 14;
	q = strchr(p, '\'');
	if (!q || (size_t)(q - p) >= sizeof(g_failed_prog))
		return;
	memcpy(g_failed_prog, p, q - p);
	g_failed_prog[q - p] = 0;
}

/* objectLoad(h): on failure the error carries verifierLog and the failing program */
static napi_value js_load(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct sonde_obj *o = sonde_arg_obj(env, argv[0]);
	int err;

	if (!o)
		return NULL;
	if (o->loaded)
		return sonde_throw(env, "bpf_object__load", EALREADY, o->name, NULL, NULL);
	o->log_size = VERIFIER_LOG_SIZE;
	o->log_buf = malloc(o->log_size);
	o->log_buf[0] = 0;
	/* one object-level buffer: libbpf retries a failing program with log_level 1 into it */
	{
		struct bpf_program *p;
		bpf_object__for_each_program(p, o->obj) bpf_program__set_log_buf(p, o->log_buf, o->log_size);
	}
	g_failed_prog[0] = 0;
	g_capture = true;
	err = bpf_object__load(o->obj);
	g_capture = false;
	if (err) {
		sonde_throw(env, "bpf_object__load", err, o->name, g_failed_prog[0] ? g_failed_prog : NULL, o->log_buf);
		free(o->log_buf);
		o->log_buf = NULL;
		return NULL;
	}
	{
		struct bpf_program *p;
		bpf_object__for_each_program(p, o->obj) bpf_program__set_log_buf(p, NULL, 0);
	}
	free(o->log_buf);
	o->log_buf = NULL;
	free(o->mem); /* the ELF is no longer read after load */
	o->mem = NULL;
	o->loaded = true;
	return sonde_undefined(env);
}

static napi_value new_link(napi_env env, struct sonde_obj *o, struct bpf_program *p, struct bpf_link *bl)
{
	struct sonde_link *l = calloc(1, sizeof(*l));

	l->magic = SONDE_LINK_MAGIC;
	l->link = bl;
	l->owner = o;
	l->program = strdup(bpf_program__name(p));
	l->next = o->links;
	o->links = l;
	return make_handle(env, l, &LINK_TAG);
}

/* objectAttach(h, program): attach by SEC() name (tp_btf, tracepoint, uprobe with target, ...) */
static napi_value js_attach(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct sonde_obj *o = sonde_arg_obj(env, argv[0]);
	struct bpf_program *p;
	struct bpf_link *bl;

	if (!o || !(p = sonde_arg_prog(env, o, argv[1])))
		return NULL;
	if (!o->loaded || bpf_program__fd(p) < 0)
		return sonde_throw(env, "bpf_program__attach", EBADF, o->name, bpf_program__name(p), NULL);
	bl = bpf_program__attach(p);
	if (!bl)
		return sonde_throw(env, "bpf_program__attach", errno, o->name, bpf_program__name(p), NULL);
	return new_link(env, o, p, bl);
}

/* objectAttachCgroup(h, program, cgroupPath) */
static napi_value js_attach_cgroup(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct sonde_obj *o = sonde_arg_obj(env, argv[0]);
	struct bpf_program *p;
	struct bpf_link *bl;
	char *path;
	int fd, err;

	if (!o || !(p = sonde_arg_prog(env, o, argv[1])) || !sonde_arg_string(env, argv[2], "cgroup path", &path))
		return NULL;
	if (!o->loaded || bpf_program__fd(p) < 0) {
		free(path);
		return sonde_throw(env, "bpf_program__attach_cgroup", EBADF, o->name, bpf_program__name(p), NULL);
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		sonde_throw(env, "open", err, o->name, path, NULL);
		free(path);
		return NULL;
	}
	free(path);
	bl = bpf_program__attach_cgroup(p, fd);
	err = bl ? 0 : errno;
	close(fd);
	if (!bl)
		return sonde_throw(env, "bpf_program__attach_cgroup", err, o->name, bpf_program__name(p), NULL);
	return new_link(env, o, p, bl);
}

static struct sonde_link *arg_link(napi_env env, napi_value v)
{
	return unwrap(env, v, &LINK_TAG, SONDE_LINK_MAGIC, "BPF link");
}

/* linkDestroy(link): idempotent */
static napi_value js_link_destroy(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct sonde_link *l = arg_link(env, argv[0]);

	if (!l)
		return NULL;
	destroy_link(l);
	return sonde_undefined(env);
}

/* linkInfo(link): { program, id, destroyed } */
static napi_value js_link_info(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct sonde_link *l = arg_link(env, argv[0]);
	napi_value o;
	uint32_t id = 0;

	if (!l)
		return NULL;
	if (!l->destroyed && l->link) {
		struct bpf_link_info li = {};
		uint32_t len = sizeof(li);
		int fd = bpf_link__fd(l->link);
		if (fd >= 0 && !bpf_link_get_info_by_fd(fd, &li, &len))
			id = li.id;
	}
	napi_create_object(env, &o);
	set_str(env, o, "program", l->program);
	set_u32(env, o, "id", id);
	set_bool(env, o, "destroyed", l->destroyed);
	return o;
}

/* objectDestroy(h): detaches every link, closes readers and the object; idempotent */
static napi_value js_destroy(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct sonde_obj *o = unwrap(env, argv[0], &OBJ_TAG, SONDE_OBJ_MAGIC, "BPF object");

	if (!o)
		return NULL;
	sonde_object_destroy(o);
	return sonde_undefined(env);
}

void sonde_object_register(napi_env env, napi_value exports)
{
	sonde_export(env, exports, "objectOpen", js_open);
	sonde_export(env, exports, "objectName", js_name);
	sonde_export(env, exports, "objectPrograms", js_programs);
	sonde_export(env, exports, "objectMaps", js_maps);
	sonde_export(env, exports, "objectRodataVars", js_rodata_vars);
	sonde_export(env, exports, "objectSetRodata", js_set_rodata);
	sonde_export(env, exports, "objectSetAutoload", js_set_autoload);
	sonde_export(env, exports, "objectSetMaxEntries", js_set_max_entries);
	sonde_export(env, exports, "objectReuseMap", js_reuse_map);
	sonde_export(env, exports, "objectLoad", js_load);
	sonde_export(env, exports, "objectAttach", js_attach);
	sonde_export(env, exports, "objectAttachCgroup", js_attach_cgroup);
	sonde_export(env, exports, "objectDestroy", js_destroy);
	sonde_export(env, exports, "linkDestroy", js_link_destroy);
	sonde_export(env, exports, "linkInfo", js_link_info);
}

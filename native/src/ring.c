/*
 * Ring-buffer reader: Sonde's own consumer over the mmapped BPF ring buffer (not libbpf's
 * ring_buffer__consume, which in 1.1 never returns while producers outpace it, and which
 * calls back once per record). A drain copies whole committed records, in the kernel's
 * record format, into ONE reused Buffer, bounded by the Buffer's size:
 *
 *   record := u32 len_flags | u32 pg_off | data[len] | zero..7 pad bytes   (8-byte aligned)
 *   len = len_flags & 0x3fffffff; BPF_RINGBUF_DISCARD_BIT (1 << 30) marks a discarded record
 *
 * and JS gets one call per drain: onBatch(bytes, records). Drains run on the libuv loop,
 * from a timer (producers submit with BPF_RB_NO_WAKEUP) and from the kernel's forced
 * wakeups when the backlog crosses the high watermark. Those are watched edge-triggered:
 * the ring fd sits in a private epoll set with EPOLLET, and uv_poll watches that set.
 * (A level-triggered watch of the ring fd, which is readable whenever any byte is
 * pending, turned the loop into a busy poll under sustained load: bench/ringbuf.mjs.)
 */
#include "common.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/bpf.h>

static const napi_type_tag RING_TAG = {0x5d1e0b7a1c2e4f03ULL, 0x9a3b6c4d2e1f0a03ULL};

struct sonde_ring {
	uint32_t magic;
	bool destroyed;
	bool started;
	bool handles_init;
	bool in_drain;
	struct sonde_obj *owner;
	struct sonde_ring *next;
	char *map_name;
	int map_fd;
	int epfd; /* private epoll set: the ring fd, EPOLLIN | EPOLLET */
	size_t page_size;
	uint64_t size; /* data area: max_entries, a power of two */
	unsigned long *consumer_pos;
	unsigned long *producer_pos;
	uint8_t *data;
	uint8_t *out;
	size_t out_cap;
	napi_env env;
	napi_ref buf_ref;
	napi_ref cb_ref;
	napi_async_context actx;
	uv_poll_t poll;
	uv_timer_t timer;
	uint32_t max_batches; /* drains per wakeup/tick before yielding to the loop */
	uint64_t drains, records, bytes, oversize, last_records;
};

#define ARGS(n)                                                                                                    \
	size_t argc = n;                                                                                           \
	napi_value argv[n];                                                                                        \
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);                                                      \
	for (size_t _i = argc; _i < n; _i++)                                                                       \
		napi_get_undefined(env, &argv[_i]);

struct sonde_ring *sonde_ring_next(struct sonde_ring *r) { return r->next; }

/* Copies committed records into r->out; returns the bytes copied (0: nothing ready). */
static size_t drain_once(struct sonde_ring *r, size_t budget)
{
	uint64_t cons, prod, start;
	uint64_t mask = r->size - 1;
	uint64_t n = 0;

	if (budget > r->out_cap)
		budget = r->out_cap;
	cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
	start = cons;
	while (cons < prod) {
		uint32_t *hdr = (uint32_t *)(r->data + (cons & mask));
		uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
		uint64_t rec;

		if (len & BPF_RINGBUF_BUSY_BIT)
			break; /* reserved, not yet committed: records after it wait too */
		rec = ((uint64_t)(len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT)) + BPF_RINGBUF_HDR_SZ + 7) &
		      ~7ULL;
		if (cons - start + rec > budget) {
			if (cons == start && rec > r->out_cap) {
				/* larger than the whole output buffer: drop it, count it */
				cons += rec;
				start = cons;
				r->oversize++;
				__atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
				continue;
			}
			break;
		}
		if (!(len & BPF_RINGBUF_DISCARD_BIT))
			n++;
		cons += rec;
	}
	if (cons == start)
		return 0;
	/* the data area is mapped twice back to back, so any span up to `size` is contiguous */
	memcpy(r->out, r->data + (start & mask), cons - start);
	__atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
	r->drains++;
	r->records += n;
	r->bytes += cons - start;
	r->last_records = n;
	return cons - start;
}

static void stop_handles(struct sonde_ring *r)
{
	if (!r->started)
		return;
	r->started = false;
	uv_poll_stop(&r->poll);
	uv_timer_stop(&r->timer);
}

/* Drains up to max_batches times, one JS call per non-empty drain. */
static void drain_to_js(struct sonde_ring *r)
{
	napi_env env = r->env;
	napi_handle_scope scope;
	uint32_t i;

	if (r->in_drain || r->destroyed || !r->started)
		return;
	r->in_drain = true;
	for (i = 0; i < r->max_batches && r->started && !r->destroyed; i++) {
		size_t bytes = drain_once(r, r->out_cap);
		napi_value fn, recv, argv[2], result;
		napi_status s;

		if (!bytes)
			break;
		napi_open_handle_scope(env, &scope);
		napi_get_reference_value(env, r->cb_ref, &fn);
		napi_get_global(env, &recv); /* MakeCallback needs an object receiver */
		napi_create_double(env, (double)bytes, &argv[0]);
		napi_create_double(env, (double)r->last_records, &argv[1]);
		s = napi_make_callback(env, r->actx, recv, fn, 2, argv, &result);
		bool pending = false;
		napi_is_exception_pending(env, &pending);
		if (s != napi_ok || pending) {
			napi_value err;
			napi_get_and_clear_last_exception(env, &err);
			napi_fatal_exception(env, err); /* -> process 'uncaughtException' */
		}
		napi_close_handle_scope(env, scope);
	}
	r->in_drain = false;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct sonde_ring *r = h->data;
	struct epoll_event ev;

	/* consume the edge (EPOLLET) so the set is quiet until the next forced wakeup;
	 * in level-triggered mode (no timer) it stays readable while data is pending */
	epoll_wait(r->epfd, &ev, 1, 0);
	drain_to_js(r);
}
static void on_timer(uv_timer_t *h) { drain_to_js(h->data); }
static void on_close(uv_handle_t *h) { /* the ring shell is never freed: nothing to do */ }

void sonde_ring_destroy(struct sonde_ring *r)
{
	if (r->destroyed)
		return;
	stop_handles(r);
	r->destroyed = true;
	if (r->handles_init) {
		uv_close((uv_handle_t *)&r->poll, on_close);
		uv_close((uv_handle_t *)&r->timer, on_close);
		r->handles_init = false;
	}
	if (r->epfd >= 0)
		close(r->epfd);
	r->epfd = -1;
	if (r->consumer_pos)
		munmap(r->consumer_pos, r->page_size);
	if (r->producer_pos)
		munmap(r->producer_pos, r->page_size + 2 * r->size);
	r->consumer_pos = r->producer_pos = NULL;
	r->data = NULL;
	r->out = NULL; /* the Buffer itself belongs to JS (r->buf_ref) */
}

static struct sonde_ring *arg_ring(napi_env env, napi_value v)
{
	bool ok = false;
	void *p = NULL;
	napi_valuetype t;
	struct sonde_ring *r;

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
	    napi_check_object_type_tag(env, v, &RING_TAG, &ok) != napi_ok || !ok ||
	    napi_get_value_external(env, v, &p) != napi_ok || !p || *(uint32_t *)p != SONDE_RING_MAGIC) {
		sonde_throw_type(env, "expected a ring reader handle");
		return NULL;
	}
	r = p;
	if (r->destroyed) {
		sonde_throw(env, "sonde_ring", EBADF, r->owner->name, r->map_name, NULL);
		return NULL;
	}
	return r;
}

/* ringOpen(h, map, bufferBytes): reader over a loaded BPF_MAP_TYPE_RINGBUF map */
static napi_value js_open(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct sonde_obj *o = sonde_arg_obj(env, argv[0]);
	struct bpf_map *m;
	struct sonde_ring *r;
	uint32_t cap;
	void *cons, *prod, *bufdata;
	napi_value buf, handle;
	int fd;
	size_t page = sysconf(_SC_PAGESIZE);
	uint64_t size;

	if (!o || !(m = sonde_arg_map(env, o, argv[1])) || !sonde_arg_u32(env, argv[2], "bufferBytes", &cap))
		return NULL;
	if (bpf_map__type(m) != BPF_MAP_TYPE_RINGBUF)
		return sonde_throw(env, "ring_open", EINVAL, o->name, bpf_map__name(m), NULL);
	fd = bpf_map__fd(m);
	if (!o->loaded || fd < 0)
		return sonde_throw(env, "bpf_map__fd", EBADF, o->name, bpf_map__name(m), NULL);
	size = bpf_map__max_entries(m);
	if (cap < 4096)
		return sonde_throw_type(env, "bufferBytes must be at least 4096");
	if (cap > size)
		cap = size; /* a drain never spans more than the ring */
	cons = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (cons == MAP_FAILED)
		return sonde_throw(env, "mmap", errno, o->name, bpf_map__name(m), NULL);
	prod = mmap(NULL, page + 2 * size, PROT_READ, MAP_SHARED, fd, page);
	if (prod == MAP_FAILED) {
		int err = errno;
		munmap(cons, page);
		return sonde_throw(env, "mmap", err, o->name, bpf_map__name(m), NULL);
	}
	if (napi_create_buffer(env, cap, &bufdata, &buf) != napi_ok) {
		munmap(cons, page);
		munmap(prod, page + 2 * size);
		return NULL;
	}
	{
		struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
		int epfd = epoll_create1(EPOLL_CLOEXEC), err;
		if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			err = errno;
			if (epfd >= 0)
				close(epfd);
			munmap(cons, page);
			munmap(prod, page + 2 * size);
			return sonde_throw(env, "epoll_ctl", err, o->name, bpf_map__name(m), NULL);
		}
		r = calloc(1, sizeof(*r));
		r->epfd = epfd;
	}
	r->magic = SONDE_RING_MAGIC;
	r->owner = o;
	r->map_name = strdup(bpf_map__name(m));
	r->map_fd = fd;
	r->page_size = page;
	r->size = size;
	r->consumer_pos = cons;
	r->producer_pos = prod;
	r->data = (uint8_t *)prod + page;
	r->out = bufdata;
	r->out_cap = cap;
	r->env = env;
	r->max_batches = 16;
	napi_create_reference(env, buf, 1, &r->buf_ref);
	r->next = o->rings;
	o->rings = r;
	napi_create_external(env, r, NULL, NULL, &handle);
	napi_type_tag_object(env, handle, &RING_TAG);
	return handle;
}

/* ringBuffer(r): the reused Buffer every drain writes into */
static napi_value js_buffer(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct sonde_ring *r = arg_ring(env, argv[0]);
	napi_value buf;

	if (!r)
		return NULL;
	napi_get_reference_value(env, r->buf_ref, &buf);
	return buf;
}

/* ringDrain(r, maxBytes?): one synchronous drain into the Buffer; returns bytes written */
static napi_value js_drain(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct sonde_ring *r = arg_ring(env, argv[0]);
	uint32_t budget = UINT32_MAX;
	napi_valuetype t;
	napi_value v;

	if (!r)
		return NULL;
	napi_typeof(env, argv[1], &t);
	if (t != napi_undefined && !sonde_arg_u32(env, argv[1], "maxBytes", &budget))
		return NULL;
	if (r->in_drain)
		return sonde_throw(env, "ring_drain", EBUSY, r->owner->name, r->map_name, NULL);
	r->last_records = 0;
	napi_create_double(env, (double)drain_once(r, budget), &v);
	return v;
}

/* ringStart(r, onBatch(bytes, records), intervalMs, { watchFd = true, maxBatches = 16, keepAlive = false }) */
static napi_value js_start(napi_env env, napi_callback_info info)
{
	ARGS(4);
	struct sonde_ring *r = arg_ring(env, argv[0]);
	napi_valuetype t;
	uint32_t interval, max_batches = 16;
	bool watch = true, keep_alive = false;
	napi_value name;
	uv_loop_t *loop;
	int err;

	if (!r)
		return NULL;
	if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function)
		return sonde_throw_type(env, "onBatch must be a function");
	if (!sonde_arg_u32(env, argv[2], "intervalMs", &interval))
		return NULL;
	napi_typeof(env, argv[3], &t);
	if (t == napi_object) {
		napi_value v;
		bool has;
		if (napi_has_named_property(env, argv[3], "watchFd", &has) == napi_ok && has) {
			napi_get_named_property(env, argv[3], "watchFd", &v);
			if (!sonde_arg_bool(env, v, "watchFd", &watch))
				return NULL;
		}
		if (napi_has_named_property(env, argv[3], "keepAlive", &has) == napi_ok && has) {
			napi_get_named_property(env, argv[3], "keepAlive", &v);
			if (!sonde_arg_bool(env, v, "keepAlive", &keep_alive))
				return NULL;
		}
		if (napi_has_named_property(env, argv[3], "maxBatches", &has) == napi_ok && has) {
			napi_get_named_property(env, argv[3], "maxBatches", &v);
			if (!sonde_arg_u32(env, v, "maxBatches", &max_batches))
				return NULL;
			if (max_batches == 0)
				return sonde_throw_type(env, "maxBatches must be at least 1");
		}
	} else if (t != napi_undefined) {
		return sonde_throw_type(env, "options must be an object");
	}
	if (r->started)
		return sonde_throw(env, "ring_start", EALREADY, r->owner->name, r->map_name, NULL);
	if (napi_get_uv_event_loop(env, &loop) != napi_ok)
		return NULL;
	if (!r->handles_init) {
		uv_poll_init(loop, &r->poll, r->epfd);
		uv_timer_init(loop, &r->timer);
		r->poll.data = r;
		r->timer.data = r;
		napi_create_string_utf8(env, "sonde:ring", NAPI_AUTO_LENGTH, &name);
		napi_async_init(env, NULL, name, &r->actx);
		r->handles_init = true;
	}
	if (r->cb_ref)
		napi_delete_reference(env, r->cb_ref);
	napi_create_reference(env, argv[1], 1, &r->cb_ref);
	r->max_batches = max_batches;
	r->started = true;
	{
		/* edge-triggered when a timer backs it up; without a timer a missed edge would
		 * stall the reader forever, so fall back to level-triggered (libbpf's semantics) */
		struct epoll_event ev = {.events = EPOLLIN | (interval > 0 ? EPOLLET : 0)};
		if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, r->map_fd, &ev) < 0)
			return sonde_throw(env, "epoll_ctl", errno, r->owner->name, r->map_name, NULL);
	}
	if (watch && (err = uv_poll_start(&r->poll, UV_READABLE, on_poll)) < 0) {
		r->started = false;
		return sonde_throw(env, "uv_poll_start", -err, r->owner->name, r->map_name, NULL);
	}
	if (interval > 0)
		uv_timer_start(&r->timer, on_timer, interval, interval);
	if (!keep_alive) {
		uv_unref((uv_handle_t *)&r->poll);
		uv_unref((uv_handle_t *)&r->timer);
	} else {
		uv_ref((uv_handle_t *)&r->poll);
		uv_ref((uv_handle_t *)&r->timer);
	}
	return sonde_undefined(env);
}

/* ringStop(r): stops the timer and fd watch; idempotent; records stay in the ring */
static napi_value js_stop(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct sonde_ring *r = arg_ring(env, argv[0]);

	if (!r)
		return NULL;
	stop_handles(r);
	return sonde_undefined(env);
}

/* ringClose(r): stop and unmap; idempotent */
static napi_value js_close(napi_env env, napi_callback_info info)
{
	ARGS(1);
	bool ok = false;
	void *p = NULL;
	struct sonde_ring *r;

	if (napi_check_object_type_tag(env, argv[0], &RING_TAG, &ok) != napi_ok || !ok ||
	    napi_get_value_external(env, argv[0], &p) != napi_ok || !p)
		return sonde_throw_type(env, "expected a ring reader handle");
	r = p;
	sonde_ring_destroy(r);
	if (r->cb_ref) {
		napi_delete_reference(env, r->cb_ref);
		r->cb_ref = NULL;
	}
	return sonde_undefined(env);
}

/* ringStats(r): { drains, records, bytes, oversize, pending, lastRecords, size } */
static napi_value js_stats(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct sonde_ring *r = arg_ring(env, argv[0]);
	napi_value o, v;
	uint64_t cons, prod;

	if (!r)
		return NULL;
	cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
	napi_create_object(env, &o);
#define SET(k, x)                                                                                                  \
	napi_create_double(env, (double)(x), &v);                                                                  \
	napi_set_named_property(env, o, k, v);
	SET("drains", r->drains);
	SET("records", r->records);
	SET("bytes", r->bytes);
	SET("oversize", r->oversize);
	SET("pending", prod - cons);
	SET("lastRecords", r->last_records);
	SET("size", r->size);
#undef SET
	return o;
}

void sonde_ring_register(napi_env env, napi_value exports)
{
	sonde_export(env, exports, "ringOpen", js_open);
	sonde_export(env, exports, "ringBuffer", js_buffer);
	sonde_export(env, exports, "ringDrain", js_drain);
	sonde_export(env, exports, "ringStart", js_start);
	sonde_export(env, exports, "ringStop", js_stop);
	sonde_export(env, exports, "ringClose", js_close);
	sonde_export(env, exports, "ringStats", js_stats);
}

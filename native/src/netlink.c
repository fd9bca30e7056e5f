/*
 * Raw netlink sockets: open (optionally inside another network namespace), one request /
 * reply exchange, close. Mechanism only: TypeScript builds the request (nfnetlink conntrack
 * IPCTNL_MSG_CT_GET, sock_diag SOCK_DIAG_BY_FAMILY, ...) and parses the reply; here the only
 * knowledge of the format is nlmsghdr framing, to know when the kernel's answer is complete.
 *
 *   netlinkOpen(protocol, netnsPath?) -> handle   socket(AF_NETLINK, SOCK_RAW, protocol);
 *                                                  created inside netnsPath's namespace when given
 *                                                  (setns on this thread and back: a socket keeps
 *                                                  the namespace it was created in)
 *   netlinkRequest(handle, request, timeoutMs) -> Buffer   sends `request` (one or more nlmsghdr)
 *                                                  in one sendto and returns the reply datagrams whose
 *                                                  sequence number is in [first message's seq, last
 *                                                  message's seq], concatenated; it ends on the last
 *                                                  message's NLMSG_DONE / NLMSG_ERROR (dumps) or its
 *                                                  first reply (gets). A batch of gets with consecutive
 *                                                  seqs thus costs one round trip: the kernel handles the
 *                                                  messages in order, so the last one's reply comes last
 *                                                  (the caller keeps a batch's replies within the socket's
 *                                                  receive buffer)
 *   netlinkClose(handle)
 */
#include "common.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>

#define SONDE_NL_MAGIC 0x534e4c4bU /* "SNLK" */
#define NL_MAX_REPLY (64u << 20)

static const napi_type_tag NL_TAG = {0x5d1e0b7a1c2e4f05ULL, 0x9a3b6c4d2e1f0a05ULL};

struct sonde_nl {
	uint32_t magic;
	int fd;
	int protocol;
};

#define ARGS(n)                                                                                                    \
	size_t argc = n;                                                                                           \
	napi_value argv[n];                                                                                        \
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);                                                      \
	for (size_t _i = argc; _i < n; _i++)                                                                       \
		napi_get_undefined(env, &argv[_i]);

static void nl_finalize(napi_env env, void *data, void *hint)
{
	struct sonde_nl *s = data;

	if (s->fd >= 0)
		close(s->fd);
	s->magic = 0;
	free(s);
}

static struct sonde_nl *arg_nl(napi_env env, napi_value v)
{
	bool ok = false;
	void *p = NULL;
	napi_valuetype t;
	struct sonde_nl *s;

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
	    napi_check_object_type_tag(env, v, &NL_TAG, &ok) != napi_ok || !ok ||
	    napi_get_value_external(env, v, &p) != napi_ok || !p || ((struct sonde_nl *)p)->magic != SONDE_NL_MAGIC) {
		sonde_throw_type(env, "expected a netlink socket handle");
		return NULL;
	}
	s = p;
	if (s->fd < 0) {
		sonde_throw(env, "netlink", EBADF, NULL, NULL, NULL);
		return NULL;
	}
	return s;
}

static int open_in_netns(int protocol, const char *netns_path, int *err_out, const char **op)
{
	int self = -1, target = -1, fd = -1, err = 0;

	if (netns_path) {
		*op = "open(netns)";
		self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self < 0) {
			*err_out = errno;
			return -1;
		}
		target = open(netns_path, O_RDONLY | O_CLOEXEC);
		if (target < 0) {
			err = errno;
			goto out;
		}
		*op = "setns";
		if (setns(target, CLONE_NEWNET)) {
			err = errno;
			goto out;
		}
	}
	*op = "socket(AF_NETLINK)";
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
	if (fd < 0)
		err = errno;
	if (netns_path && setns(self, CLONE_NEWNET)) {
		/* cannot happen with a valid fd of our own namespace; never leave the thread elsewhere */
		abort();
	}
	if (fd >= 0) {
		struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
		int one = 1;

		*op = "bind(AF_NETLINK)";
		setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
		setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
out:
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	*err_out = err;
	return fd;
}

/* netlinkOpen(protocol, netnsPath?) */
static napi_value js_open(napi_env env, napi_callback_info info)
{
	ARGS(2);
	uint32_t protocol;
	char *path = NULL;
	napi_valuetype t;
	const char *op = "socket(AF_NETLINK)";
	int err = 0, fd;
	struct sonde_nl *s;
	napi_value h;

	if (!sonde_arg_u32(env, argv[0], "protocol", &protocol))
		return NULL;
	napi_typeof(env, argv[1], &t);
	if (t != napi_undefined && t != napi_null && !sonde_arg_string(env, argv[1], "netnsPath", &path))
		return NULL;
	fd = open_in_netns((int)protocol, path, &err, &op);
	free(path);
	if (fd < 0)
		return sonde_throw(env, op, err, NULL, NULL, NULL);
	s = calloc(1, sizeof(*s));
	s->magic = SONDE_NL_MAGIC;
	s->fd = fd;
	s->protocol = (int)protocol;
	napi_create_external(env, s, nl_finalize, NULL, &h);
	napi_type_tag_object(env, h, &NL_TAG);
	return h;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* netlinkRequest(handle, request, timeoutMs) */
static napi_value js_request(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct sonde_nl *s = arg_nl(env, argv[0]);
	void *req;
	size_t req_len, len = 0, cap = 0;
	uint32_t timeout_ms, seq = 0, first_seq, pid;
	bool dump, done = false;
	char *out = NULL;
	const struct nlmsghdr *last;
	struct sockaddr_nl local;
	socklen_t slen = sizeof(local);
	int64_t deadline;
	napi_value result;

	if (!s || !sonde_arg_buffer(env, argv[1], "request", &req, &req_len) ||
	    !sonde_arg_u32(env, argv[2], "timeoutMs", &timeout_ms))
		return NULL;
	if (req_len < NLMSG_HDRLEN)
		return sonde_throw_type(env, "request must hold at least one nlmsghdr");
	/* the last message of the request decides what ends the reply; replies to the messages
	 * before it (a batch) are kept too */
	{
		const struct nlmsghdr *h = req;
		size_t left = req_len;

		last = h;
		first_seq = h->nlmsg_seq;
		while (NLMSG_OK(h, left)) {
			last = h;
			h = NLMSG_NEXT(h, left);
		}
	}
	seq = last->nlmsg_seq;
	dump = (last->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	if (getsockname(s->fd, (struct sockaddr *)&local, &slen))
		return sonde_throw(env, "getsockname", errno, NULL, NULL, NULL);
	pid = local.nl_pid;

	{
		struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};

		if (sendto(s->fd, req, req_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
			return sonde_throw(env, "sendto(netlink)", errno, NULL, NULL, NULL);
	}
	deadline = now_ms() + timeout_ms;
	while (!done) {
		struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t n;
		int avail = 0;

		if (left < 0)
			left = 0;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(out);
			return sonde_throw(env, "poll(netlink)", n == 0 ? ETIMEDOUT : errno, NULL, NULL, NULL);
		}
		/* size of the next datagram */
		n = recv(s->fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			free(out);
			return sonde_throw(env, "recv(netlink)", errno, NULL, NULL, NULL);
		}
		avail = (int)n;
		if (len + (size_t)avail > NL_MAX_REPLY) {
			free(out);
			return sonde_throw(env, "recv(netlink)", EMSGSIZE, NULL, NULL, NULL);
		}
		if (len + (size_t)avail > cap) {
			cap = (len + (size_t)avail) * 2;
			out = realloc(out, cap);
		}
		n = recv(s->fd, out + len, (size_t)avail, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			free(out);
			return sonde_throw(env, "recv(netlink)", errno, NULL, NULL, NULL);
		}
		{
			const struct nlmsghdr *h = (const struct nlmsghdr *)(out + len);
			size_t left2 = (size_t)n;
			bool mine = false;

			while (NLMSG_OK(h, left2)) {
				/* unsigned distance: a batch's seqs may wrap around */
				if (h->nlmsg_seq - first_seq <= seq - first_seq &&
				    (h->nlmsg_pid == pid || h->nlmsg_pid == 0)) {
					mine = true;
					if (h->nlmsg_seq == seq &&
					    (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR || !dump))
						done = true;
				}
				h = NLMSG_NEXT(h, left2);
			}
			if (mine)
				len += (size_t)n; /* stale replies to an earlier, timed-out request are dropped */
		}
	}
	{
		void *data;

		napi_create_buffer_copy(env, len, out ? out : "", &data, &result);
	}
	free(out);
	return result;
}

/* netlinkClose(handle): idempotent */
static napi_value js_close(napi_env env, napi_callback_info info)
{
	ARGS(1);
	bool ok = false;
	void *p = NULL;
	napi_valuetype t;

	if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external ||
	    napi_check_object_type_tag(env, argv[0], &NL_TAG, &ok) != napi_ok || !ok ||
	    napi_get_value_external(env, argv[0], &p) != napi_ok || !p)
		return sonde_throw_type(env, "expected a netlink socket handle");
	struct sonde_nl *s = p;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	return sonde_undefined(env);
}

void sonde_netlink_register(napi_env env, napi_value exports)
{
	sonde_export(env, exports, "netlinkOpen", js_open);
	sonde_export(env, exports, "netlinkRequest", js_request);
	sonde_export(env, exports, "netlinkClose", js_close);
}

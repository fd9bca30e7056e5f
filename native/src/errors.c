/* Errors: one JS class (received at init) with code, errno, op, object, program, verifierLog. */
#include "common.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char *libbpf_code(int e)
{
	switch (e) {
	case LIBBPF_ERRNO__LIBELF: return "LIBBPF_ERRNO__LIBELF";
	case LIBBPF_ERRNO__FORMAT: return "LIBBPF_ERRNO__FORMAT";
	case LIBBPF_ERRNO__KVERSION: return "LIBBPF_ERRNO__KVERSION";
	case LIBBPF_ERRNO__ENDIAN: return "LIBBPF_ERRNO__ENDIAN";
	case LIBBPF_ERRNO__INTERNAL: return "LIBBPF_ERRNO__INTERNAL";
	case LIBBPF_ERRNO__RELOC: return "LIBBPF_ERRNO__RELOC";
	case LIBBPF_ERRNO__LOAD: return "LIBBPF_ERRNO__LOAD";
	case LIBBPF_ERRNO__VERIFY: return "LIBBPF_ERRNO__VERIFY";
	case LIBBPF_ERRNO__PROG2BIG: return "LIBBPF_ERRNO__PROG2BIG";
	case LIBBPF_ERRNO__KVER: return "LIBBPF_ERRNO__KVER";
	case LIBBPF_ERRNO__PROGTYPE: return "LIBBPF_ERRNO__PROGTYPE";
	case LIBBPF_ERRNO__WRNGPID: return "LIBBPF_ERRNO__WRNGPID";
	case LIBBPF_ERRNO__INVSEQ: return "LIBBPF_ERRNO__INVSEQ";
	case LIBBPF_ERRNO__NLPARSE: return "LIBBPF_ERRNO__NLPARSE";
	default: return NULL;
	}
}

static void set_str(napi_env env, napi_value obj, const char *key, const char *val)
{
	napi_value v;
	if (!val)
		return;
	if (napi_create_string_utf8(env, val, NAPI_AUTO_LENGTH, &v) == napi_ok)
		napi_set_named_property(env, obj, key, v);
}

/* err: a positive or negative errno / libbpf error code. Always returns NULL. */
napi_value sonde_throw(napi_env env, const char *op, int err, const char *object, const char *program,
		       const char *verifier_log)
{
	char msg[512], detail[256];
	const char *code;
	napi_value ctor, argv[1], error, errno_v;

	if (err < 0)
		err = -err;
	if (err == 0)
		err = EINVAL;
	code = err >= LIBBPF_ERRNO__LIBELF ? libbpf_code(err) : strerrorname_np(err);
	if (!code)
		code = "EUNKNOWN";
	libbpf_strerror(err, detail, sizeof(detail));
	snprintf(msg, sizeof(msg), "%s failed%s%s%s%s: %s (%s)", op, object ? " for " : "", object ? object : "",
		 program ? "/" : "", program ? program : "", detail, code);

	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &argv[0]);
	struct sonde_env *st = sonde_env_get(env);

	if (st && st->error_ctor && napi_get_reference_value(env, st->error_ctor, &ctor) == napi_ok && ctor) {
		if (napi_new_instance(env, ctor, 1, argv, &error) != napi_ok)
			return NULL; /* the constructor threw: that exception is pending */
	} else {
		napi_create_error(env, NULL, argv[0], &error);
	}
	set_str(env, error, "code", code);
	napi_create_int32(env, err, &errno_v);
	napi_set_named_property(env, error, "errno", errno_v);
	set_str(env, error, "op", op);
	set_str(env, error, "object", object);
	set_str(env, error, "program", program);
	if (verifier_log && verifier_log[0])
		set_str(env, error, "verifierLog", verifier_log);
	napi_throw(env, error);
	return NULL;
}

napi_value sonde_throw_type(napi_env env, const char *msg)
{
	napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
	return NULL;
}

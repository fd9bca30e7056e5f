// Typed errors for the BPF layer. The addon throws NativeError (given to it at init) with
// { code, errno, op, object, program, verifierLog }; toBpfError() maps that onto the classes
// callers branch on: PermissionError, NotSupportedError, VerifierError, or BpfError.
import type { NativeErrorFields } from './binding.js';

/** The class the addon instantiates for every failure (see native/src/errors.c). */
export class NativeError extends Error implements NativeErrorFields {
  code = 'EUNKNOWN';
  errno = 0;
  op = '';
  object?: string;
  program?: string;
  verifierLog?: string;
  constructor(message: string) {
    super(message);
    this.name = 'NativeError';
  }
}

export interface BpfErrorFields {
  code: string;
  errno: number;
  op: string;
  object?: string;
  program?: string;
  /** what to do about it, for humans */
  remedy?: string;
  cause?: unknown;
}

export class BpfError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly op: string;
  readonly object?: string;
  readonly program?: string;
  readonly remedy?: string;
  constructor(message: string, fields: BpfErrorFields) {
    super(fields.remedy ? `${message}; ${fields.remedy}` : message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'BpfError';
    this.code = fields.code;
    this.errno = fields.errno;
    this.op = fields.op;
    this.object = fields.object;
    this.program = fields.program;
    this.remedy = fields.remedy;
  }
}

export const PERMISSION_REMEDY =
  'Sonde needs root, or CAP_BPF+CAP_PERFMON (plus CAP_NET_ADMIN for cgroup/socket programs, CAP_SYS_RESOURCE on kernels < 5.11): ' +
  'run as root, or grant them, e.g. `setcap cap_bpf,cap_perfmon,cap_net_admin,cap_sys_resource+ep "$(command -v node)"` ' +
  'or securityContext.capabilities.add in Kubernetes';

export class PermissionError extends BpfError {
  constructor(message: string, fields: Omit<BpfErrorFields, 'remedy'> & { remedy?: string }) {
    super(message, { ...fields, remedy: fields.remedy ?? PERMISSION_REMEDY });
    this.name = 'PermissionError';
  }
}

export class NotSupportedError extends BpfError {
  /** the missing kernel feature, e.g. 'BTF', 'tracefs', 'tp_btf/inet_sock_set_state' */
  readonly feature: string;
  constructor(message: string, fields: BpfErrorFields & { feature: string }) {
    super(message, fields);
    this.name = 'NotSupportedError';
    this.feature = fields.feature;
  }
}

export class VerifierError extends BpfError {
  /** the kernel verifier's log for the rejected program */
  readonly verifierLog: string;
  constructor(message: string, fields: BpfErrorFields & { verifierLog: string }) {
    super(message, fields);
    this.name = 'VerifierError';
    this.verifierLog = fields.verifierLog;
  }
}

const NOT_SUPPORTED = new Set(['ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'ENOENT', 'ESRCH', 'EINVAL']);

export interface ErrorContext {
  /** the BTF path override given to open(), if any */
  btfCustomPath?: string;
}

/** Maps a NativeError onto the typed hierarchy; anything else is returned unchanged. */
export function toBpfError(err: unknown, ctx: ErrorContext = {}): unknown {
  if (!(err instanceof NativeError)) return err;
  const fields: BpfErrorFields = {
    code: err.code, errno: err.errno, op: err.op, object: err.object, program: err.program, cause: err,
  };
  const msg = err.message;
  if (err.op === 'bpf_object__load' && err.verifierLog) {
    return new VerifierError(msg, { ...fields, verifierLog: err.verifierLog });
  }
  if (err.code === 'EPERM' || (err.code === 'EACCES' && !err.op.startsWith('open'))) {
    return new PermissionError(msg, fields);
  }
  if (err.op === 'bpf_object__load' && ctx.btfCustomPath !== undefined && (err.code === 'ENOENT' || err.code.startsWith('LIBBPF_ERRNO'))) {
    return new NotSupportedError(msg, {
      ...fields, feature: 'BTF',
      remedy: `kernel BTF could not be read from ${ctx.btfCustomPath}: point btfCustomPath at a valid BTF file (e.g. from btfhub) or use a kernel with CONFIG_DEBUG_INFO_BTF=y`,
    });
  }
  if (err.op === 'bpf_object__load' && err.code === 'ENOENT' && err.program === undefined) {
    return new NotSupportedError(msg, {
      ...fields, feature: 'BTF',
      remedy: 'no kernel BTF: use a kernel built with CONFIG_DEBUG_INFO_BTF=y (/sys/kernel/btf/vmlinux) or pass btfCustomPath',
    });
  }
  if (err.op === 'bpf_program__attach' && NOT_SUPPORTED.has(err.code)) {
    const tracepoint = err.code === 'ENOENT' && !!err.program;
    return new NotSupportedError(msg, {
      ...fields, feature: err.program ?? 'attach',
      remedy: tracepoint
        ? 'the attach point does not exist on this kernel, or tracefs is not mounted (classic tracepoints): mount -t tracefs nodev /sys/kernel/tracing'
        : undefined,
    });
  }
  if ((err.op === 'bpf_object__load' || err.op.startsWith('libbpf_probe')) && (err.code === 'ENOTSUP' || err.code === 'EOPNOTSUPP' || err.code === 'ENOSYS')) {
    return new NotSupportedError(msg, { ...fields, feature: err.program ?? err.op });
  }
  return new BpfError(msg, fields);
}

/** Runs fn, rethrowing native failures as typed errors. */
export function mapErrors<T>(fn: () => T, ctx?: ErrorContext): T {
  try {
    return fn();
  } catch (e) {
    throw toBpfError(e, ctx);
  }
}

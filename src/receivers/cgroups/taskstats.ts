// Per-process delays from the kernel's taskstats interface (the generic netlink family "TASKSTATS"), as
// coroot-node-agent reads them: TASKSTATS_CMD_GET with TASKSTATS_CMD_ATTR_TGID asks for a whole process
// (thread group): the delays of its live threads plus those of its threads that already exited.
// References: include/uapi/linux/taskstats.h, Documentation/accounting/taskstats.rst and
// delay-accounting.rst, kernel/taskstats.c (fill_stats_for_tgid).
//
// Request: nlmsghdr(type = the family id) + genlmsghdr(TASKSTATS_CMD_GET) + TASKSTATS_CMD_ATTR_TGID (u32).
// Reply:   genlmsghdr(TASKSTATS_CMD_NEW) + [TASKSTATS_TYPE_NULL, alignment padding on some arches] +
//          TASKSTATS_TYPE_AGGR_TGID { TASKSTATS_TYPE_TGID (u32), TASKSTATS_TYPE_STATS (struct taskstats) },
//          or NLMSG_ERROR (ESRCH: no such process; EPERM: the sender lacks CAP_NET_ADMIN).
// struct taskstats grows at its end with each TASKSTATS_VERSION; the fields read here are version 1's.
//
// Requests are sent in batches (one sendto, one reply pass per BATCH processes: ~3 µs per process here
// instead of ~7 µs for one round trip each); a batch's replies stay well within the default socket
// receive buffer (~2.3 KiB of buffer each).
import { constants } from 'node:os';
import type { NativeBinding } from '../../native/binding.js';
import { buildGenlMessage, genlAttrs, genlCommand, resolveFamily } from '../../native/genetlink.js';
import { ENUMS, STRUCTS } from '../../native/layouts.generated.js';
import type { NlMessage } from '../../native/netlink.js';
import { errorOf, NetlinkSocket, parseAttrs } from '../../native/netlink.js';

/** TASKSTATS_GENL_NAME in linux/taskstats.h (a string: not in the generated numeric layouts). */
export const TASKSTATS_FAMILY = 'TASKSTATS';
/** Processes per request batch. */
export const TASKSTATS_BATCH = 32;

/** One process's cumulative delays, as the kernel reports them. */
export interface TaskDelays {
  tgid: number;
  /** TASKSTATS_VERSION of the kernel's struct */
  version: number;
  /** Time spent runnable, waiting for a CPU (the scheduler's run_delay), ns. */
  cpuDelayNs: number;
  /** Times the process's threads got a CPU: 0 for a running process means the kernel reported nothing. */
  cpuCount: number;
  /** Time spent waiting for synchronous block I/O to complete, ns (needs delay accounting on). */
  blkioDelayNs: number;
  blkioCount: number;
}

/** A process's delays, or the errno the kernel answered for it (ESRCH: it exited). */
export type TaskstatsResult = TaskDelays | number;

/** What the cgroups receiver needs from taskstats (the seam tests replace). */
export interface TaskstatsSource {
  /** Delays of each process in `pids`, keyed by pid. Never throws: a failure is an errno per pid. */
  query(pids: readonly number[]): Map<number, TaskstatsResult>;
  close(): void;
}

/** TASKSTATS_CMD_GET for one process (thread group). */
export function tgidRequest(family: number, tgid: number, seq: number): Buffer {
  const tg = Buffer.alloc(4);
  tg.writeUInt32LE(tgid >>> 0);
  return buildGenlMessage(family, ENUMS.TASKSTATS_CMD_GET, ENUMS.TASKSTATS_GENL_VERSION, seq, [{ type: ENUMS.TASKSTATS_CMD_ATTR_TGID, data: tg }]);
}

const SEQ_OFFSET = STRUCTS.nlmsghdr.fields.nlmsg_seq.offset;

/**
 * One request holding a TASKSTATS_CMD_GET per process, with consecutive sequence numbers from `firstSeq`
 * (the i-th process is asked with `firstSeq + i`): copies of one encoded message, patched.
 */
export function tgidBatchRequest(family: number, tgids: readonly number[], firstSeq: number): Buffer {
  const one = tgidRequest(family, 0, 0);
  const out = Buffer.allocUnsafe(one.length * tgids.length);
  for (let i = 0; i < tgids.length; i++) {
    const off = i * one.length;
    one.copy(out, off);
    out.writeUInt32LE((firstSeq + i) >>> 0, off + SEQ_OFFSET);
    out.writeUInt32LE(tgids[i] >>> 0, off + one.length - 4); // the TGID attribute's value ends the message
  }
  return out;
}

/** The delays in a TASKSTATS_CMD_NEW reply for a thread group; undefined when it is not one. */
export function parseTgidReply(m: NlMessage): TaskDelays | undefined {
  if (genlCommand(m) !== ENUMS.TASKSTATS_CMD_NEW) return undefined;
  const aggr = genlAttrs(m).get(ENUMS.TASKSTATS_TYPE_AGGR_TGID);
  if (!aggr) return undefined;
  const inner = parseAttrs(aggr);
  const tgid = inner.get(ENUMS.TASKSTATS_TYPE_TGID);
  const st = inner.get(ENUMS.TASKSTATS_TYPE_STATS);
  if (!tgid || tgid.length < 4 || !st || st.length < ENUMS.TASKSTATS_BLKIO_DELAY_TOTAL_OFFSET + 8) return undefined;
  const u64 = (off: number): number => Number(st.readBigUInt64LE(off));
  return {
    tgid: tgid.readUInt32LE(0),
    version: st.readUInt16LE(ENUMS.TASKSTATS_VERSION_OFFSET),
    cpuDelayNs: u64(ENUMS.TASKSTATS_CPU_DELAY_TOTAL_OFFSET),
    cpuCount: u64(ENUMS.TASKSTATS_CPU_COUNT_OFFSET),
    blkioDelayNs: u64(ENUMS.TASKSTATS_BLKIO_DELAY_TOTAL_OFFSET),
    blkioCount: u64(ENUMS.TASKSTATS_BLKIO_COUNT_OFFSET),
  };
}

/**
 * The replies to a batch sent with `tgidBatchRequest(family, tgids, firstSeq)`, by pid: the delays, or the
 * errno of the kernel's error message; a process without any answer gets EPROTO.
 */
export function parseBatchReply(msgs: readonly NlMessage[], tgids: readonly number[], firstSeq: number, into = new Map<number, TaskstatsResult>()): Map<number, TaskstatsResult> {
  const answered = new Array<boolean>(tgids.length).fill(false);
  for (const m of msgs) {
    const i = (m.seq - firstSeq) >>> 0;
    if (i >= tgids.length || answered[i]) continue;
    if (m.type === ENUMS.NLMSG_ERROR) {
      const errno = errorOf(m);
      if (errno === 0) continue; // an ACK
      into.set(tgids[i], errno);
      answered[i] = true;
      continue;
    }
    const d = parseTgidReply(m);
    if (d && d.tgid === tgids[i]) {
      into.set(tgids[i], d);
      answered[i] = true;
    }
  }
  for (let i = 0; i < tgids.length; i++) if (!answered[i]) into.set(tgids[i], constants.errno.EPROTO);
  return into;
}

/** Why taskstats cannot be used at all. */
export class TaskstatsUnavailableError extends Error {
  readonly errno: number;
  constructor(message: string, errno: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'TaskstatsUnavailableError';
    this.errno = errno;
  }
}

const errnoOf = (e: unknown): number => {
  const x = e as { errno?: number; code?: string };
  if (typeof x.errno === 'number' && x.errno > 0) return x.errno;
  const n = x.code !== undefined ? (constants.errno as Record<string, number>)[x.code] : undefined;
  return n ?? constants.errno.EIO;
};

/** The real thing: one NETLINK_GENERIC socket, the TASKSTATS family id resolved once. */
export class TaskstatsClient implements TaskstatsSource {
  readonly #sock: NetlinkSocket;
  readonly #family: number;
  readonly #timeoutMs: number;

  private constructor(sock: NetlinkSocket, family: number, timeoutMs: number) {
    this.#sock = sock;
    this.#family = family;
    this.#timeoutMs = timeoutMs;
  }

  /** Opens the socket and resolves the family; throws TaskstatsUnavailableError (ENOENT: no taskstats here). */
  static open(native: NativeBinding, timeoutMs = 1000): TaskstatsClient {
    let sock: NetlinkSocket;
    try {
      sock = new NetlinkSocket(native, ENUMS.NETLINK_GENERIC);
    } catch (e) {
      throw new TaskstatsUnavailableError(`cannot open a generic netlink socket: ${(e as Error).message}`, errnoOf(e), e);
    }
    try {
      const r = resolveFamily(sock, TASKSTATS_FAMILY, timeoutMs);
      if ('errno' in r) throw new TaskstatsUnavailableError(`generic netlink family ${TASKSTATS_FAMILY} not found (errno ${r.errno})`, r.errno);
      return new TaskstatsClient(sock, r.id, timeoutMs);
    } catch (e) {
      sock.close();
      if (e instanceof TaskstatsUnavailableError) throw e;
      throw new TaskstatsUnavailableError(`cannot resolve the ${TASKSTATS_FAMILY} family: ${(e as Error).message}`, errnoOf(e), e);
    }
  }

  query(pids: readonly number[]): Map<number, TaskstatsResult> {
    const out = new Map<number, TaskstatsResult>();
    for (let i = 0; i < pids.length; i += TASKSTATS_BATCH) {
      const batch = pids.slice(i, i + TASKSTATS_BATCH);
      const first = this.#sock.nextSeq();
      for (let k = 1; k < batch.length; k++) this.#sock.nextSeq();
      try {
        parseBatchReply(this.#sock.request(tgidBatchRequest(this.#family, batch, first), this.#timeoutMs), batch, first, out);
      } catch (e) {
        const errno = errnoOf(e); // the exchange itself failed (timeout, ENOBUFS): every process of the batch
        for (const p of batch) out.set(p, errno);
      }
    }
    return out;
  }

  close(): void {
    this.#sock.close();
  }
}

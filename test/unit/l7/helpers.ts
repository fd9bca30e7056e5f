import type { HrTime } from '@opentelemetry/api';
import type { WallClock } from '../../../src/receivers/ebpf/l7/clock.js';
import type { ConnInfo, L7Event } from '../../../src/receivers/ebpf/l7/conn.js';
import { connKeys } from '../../../src/receivers/ebpf/l7/conn.js';
import type { L7Record, Role } from '../../../src/receivers/ebpf/l7/types.js';

/** Wall = 1.7e9 s + monotonic. */
export const FAKE_CLOCK: WallClock = {
  toHrTime: (ns: number): HrTime => [1_700_000_000 + Math.floor(ns / 1e9), ns % 1e9],
  nowMonoNs: () => 0,
};

export const HOST = { hostname: 'node-a', machineId: 'm1', arch: 'x64' };

let nextId = 1;

export function conn(role: Role, pid: number, local: string, remote: string, extra: Partial<ConnInfo> = {}): ConnInfo {
  const [lip, lport] = local.split(':');
  const [rip, rport] = remote.split(':');
  return { id: nextId++, pid, role, localIp: lip, localPort: Number(lport), remoteIp: rip, remotePort: Number(rport), cgroupPath: `/system.slice/app-${pid}.service`, fromStart: true, ...extra };
}

export interface EvInit {
  start: number;
  end: number;
  reqTid?: number;
  respTid?: number;
  ordinal?: number;
  method?: string;
  path?: string;
  status?: number;
  traceparent?: string;
  tracestate?: string;
  incomplete?: boolean;
  inboundInFlight?: number;
  peerLocal?: boolean;
}

export function httpRecord(i: EvInit): L7Record {
  const status = i.status ?? 200;
  const attributes: Record<string, string | number | boolean> = { 'http.request.method': i.method ?? 'GET', 'url.path': i.path ?? '/', 'url.scheme': 'http' };
  if (!i.incomplete) attributes['http.response.status_code'] = status;
  const failed = !i.incomplete && status >= 400;
  return {
    protocol: 'http', startNs: i.start, endNs: i.end, name: i.method ?? 'GET', attributes,
    status: i.incomplete ? 'unknown' : failed ? 'error' : 'ok',
    errorType: failed ? String(status) : undefined,
    statusLabel: i.incomplete ? 'unknown' : String(status),
    requestSize: 100, responseSize: i.incomplete ? -1 : 200,
    traceparent: i.traceparent, tracestate: i.tracestate,
    incomplete: i.incomplete || undefined,
    clientFault: failed && status < 500 ? true : undefined,
  };
}

export function event(c: ConnInfo, i: EvInit): L7Event {
  return { record: httpRecord(i), conn: c, keys: connKeys(c), reqTid: i.reqTid ?? 0, respTid: i.respTid ?? 0, ordinal: i.ordinal ?? -1, inboundInFlight: i.inboundInFlight, peerLocal: i.peerLocal };
}

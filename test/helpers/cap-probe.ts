// One privileged operation of the agent, run as a child process under a given capability set by
// test/e2e/deploy-capabilities.test.ts: `node dist/test/helpers/cap-probe.js <action> [arg]`.
// Prints one JSON line {action, ok, detail}; ok=false carries the errno the kernel returned.
import { closeSync, openSync, readFileSync, readdirSync, readlinkSync, statfsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { spawnSync } from 'node:child_process';
import { BpfObject, NetlinkSocket, errorOf, loadNative } from '../../src/native/index.js';
import { TaskstatsClient } from '../../src/receivers/cgroups/taskstats.js';
import { conntrackGetRequest } from '../../src/receivers/ebpf/net/conntrack.js';
import { attachL7Object, configureL7Object, hasSendmsgTracepoint } from '../../src/receivers/ebpf/probes/l7/capture.js';
import { L7_PARSERS } from '../../src/receivers/ebpf/probes/l7/probe.js';
import { sockDiagRequest } from '../../src/receivers/ebpf/net/discovery.js';
import { bpfObjectPath } from './paths.js';

const NETLINK_SOCK_DIAG = 4;
const NETLINK_NETFILTER = 12;
const ENOENT = 2;
const EPERM = 1;

async function run(action: string, arg: string | undefined): Promise<string> {
  switch (action) {
    case 'caps':
      return readFileSync('/proc/self/status', 'utf8').split('\n').filter((l) => /^(Cap(Eff|Bnd)|NoNewPrivs|Uid)/.test(l)).join('; ');
    case 'tracing':
    case 'tcp':
    case 'memlock': {
      const o = BpfObject.open(loadNative(), bpfObjectPath(action === 'tracing' ? 'process' : 'tcp'));
      try {
        o.setRodata('targ_self_tgid', process.pid);
        o.load();
        o.attachAll();
      } finally {
        o.destroy();
      }
      return 'loaded and attached';
    }
    case 'l7': {
      // the l7 probe as the receiver starts it: the tcp object (its connection table is shared), then
      // the l7 object's tracing programs and its cgroup_skb pair on the cgroup v2 root (arg)
      const native = loadNative();
      const tcp = BpfObject.open(native, bpfObjectPath('tcp'));
      const l7 = BpfObject.open(native, bpfObjectPath('l7'));
      try {
        tcp.setRodata('targ_self_tgid', process.pid);
        tcp.load();
        configureL7Object(l7, tcp, { captureBytes: 256, detectTries: 4, selfPid: process.pid, protocols: L7_PARSERS.map((p) => p.name) }, { sendmsgTracepoint: hasSendmsgTracepoint() });
        l7.load();
        const links = attachL7Object(l7, arg!);
        for (const l of links) l.destroy();
        return `${links.length} links (tracing + cgroup_skb on ${arg})`;
      } finally {
        l7.destroy();
        tcp.destroy();
      }
    }
    case 'cgroup_skb': {
      const o = BpfObject.open(loadNative(), bpfObjectPath('test_cgroup_count'));
      try {
        o.load();
        o.attachCgroup('sonde_test_egress', arg!).destroy();
      } finally {
        o.destroy();
      }
      return `attached to ${arg}`;
    }
    case 'conntrack': {
      const s = new NetlinkSocket(loadNative(), NETLINK_NETFILTER);
      try {
        const lo = new Uint8Array([127, 0, 0, 1]);
        const errs = s.request(conntrackGetRequest({ family: 2, saddr: lo, daddr: lo, sport: 1, dport: 2 }, s.nextSeq()), 2000).map(errorOf);
        if (errs.includes(EPERM)) throw Object.assign(new Error('conntrack GET answered EPERM'), { code: 'EPERM' });
        return errs.includes(ENOENT) ? 'answered (no such entry)' : `answered ${errs.join(',')}`;
      } finally {
        s.close();
      }
    }
    case 'taskstats': {
      // the cgroups receiver's query: the family id (no capability), then TASKSTATS_CMD_GET for ourselves
      const c = TaskstatsClient.open(loadNative());
      try {
        const r = c.query([process.pid]).get(process.pid);
        if (r === EPERM) throw Object.assign(new Error('TASKSTATS_CMD_GET answered EPERM'), { code: 'EPERM' });
        if (typeof r !== 'object') throw new Error(`TASKSTATS_CMD_GET answered errno ${r}`);
        return `cpu_count ${r.cpuCount}, cpu_delay_total ${r.cpuDelayNs} ns`;
      } finally {
        c.close();
      }
    }
    case 'task_delayacct': {
      // write the current value back: the permission check without changing the setting
      const path = '/proc/sys/kernel/task_delayacct';
      const v = readFileSync(path, 'utf8').trim();
      writeFileSync(path, v);
      return `wrote ${v} back`;
    }
    case 'sock_diag':
    case 'setns': {
      const s = new NetlinkSocket(loadNative(), NETLINK_SOCK_DIAG, action === 'setns' ? arg : undefined);
      try {
        return `${s.request(sockDiagRequest(2, 0xfff, s.nextSeq()), 2000).length} messages`;
      } finally {
        s.close();
      }
    }
    case 'proc_fd':
    case 'proc_fd_other_uid': {
      const links = readdirSync(`/proc/${arg}/fd`).map((fd) => readlinkSync(`/proc/${arg}/fd/${fd}`));
      return `${links.filter((l) => l.startsWith('socket:')).length} socket(s) of pid ${arg}`;
    }
    case 'proc_ns': {
      closeSync(openSync(`/proc/${arg}/ns/net`, 'r'));
      return readlinkSync(`/proc/${arg}/ns/net`);
    }
    case 'disk_usage': {
      // what the cgroups receiver does per mount namespace: the namespace link, the mount table, statfs through the process's root
      const ns = readlinkSync(`/proc/${arg}/ns/mnt`);
      const mounts = readFileSync(`/proc/${arg}/mountinfo`, 'utf8').split('\n').filter(Boolean).length;
      const s = statfsSync(`/proc/${arg}/root/`);
      return `${ns}: ${mounts} mounts, / has ${s.blocks} blocks of ${s.bsize} B`;
    }
    case 'proc_read': {
      for (const f of [`/proc/${arg}/cgroup`, `/proc/${arg}/net/tcp`, '/proc/stat', '/proc/diskstats', '/proc/net/dev']) readFileSync(f);
      const cg = readdirSync('/sys/fs/cgroup');
      return `read /proc and ${cg.length} entries of /sys/fs/cgroup`;
    }
    case 'btf':
      return `${readFileSync('/sys/kernel/btf/vmlinux').length} bytes`;
    case 'runtime_socket':
      return await new Promise((resolve, reject) => {
        const c = connect(arg!);
        c.on('connect', () => { c.destroy(); resolve('connected'); });
        c.on('error', reject);
      });
    case 'mount_tracefs': {
      // run inside a private mount namespace created by the caller before dropping capabilities
      const r = spawnSync('mount', ['-t', 'tracefs', 'nodev', arg!], { encoding: 'utf8' });
      if (r.status !== 0) throw Object.assign(new Error(r.stderr.trim()), { code: 'EPERM' });
      spawnSync('umount', [arg!]);
      return 'mounted';
    }
    default:
      throw new Error(`unknown action ${action}`);
  }
}

const [action, arg] = process.argv.slice(2);
try {
  console.log(JSON.stringify({ action, ok: true, detail: await run(action, arg) }));
} catch (e) {
  const err = e as Error & { code?: string };
  console.log(JSON.stringify({ action, ok: false, code: err.code ?? '', detail: err.message.split('\n')[0].slice(0, 300) }));
}

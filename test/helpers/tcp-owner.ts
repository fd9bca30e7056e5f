// Which process owns a TCP connection: /proc/net/tcp{,6} gives the socket inode for a (local, remote)
// port pair, /proc/*/fd links give the process holding it. What the eBPF receiver learns from the kernel,
// done by hand so tests can attribute requests from a real container process to its pid.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

function inodeOf(localPort: number, remotePort: number): string | undefined {
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10) continue;
      const lp = parseInt(c[1].split(':')[1], 16);
      const rp = parseInt(c[2].split(':')[1], 16);
      if (lp === localPort && rp === remotePort) return c[9];
    }
  }
  return undefined;
}

/** The pid whose fd table holds the socket with local port `localPort` connected to `remotePort`. */
export function pidOfTcpSocket(localPort: number, remotePort: number): number | undefined {
  const inode = inodeOf(localPort, remotePort);
  if (!inode || inode === '0') return undefined;
  const target = `socket:[${inode}]`;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${p}/fd/${fd}`) === target) return Number(p);
      } catch { /* closed meanwhile */ }
    }
  }
  return undefined;
}

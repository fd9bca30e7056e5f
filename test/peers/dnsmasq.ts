// dnsmasq (Debian dnsmasq-base) as an authoritative-only DNS server on loopback: no upstream
// servers, no /etc/hosts, no /etc/resolv.conf, so nothing is ever forwarded off the machine.
import { join } from 'node:path';
import { LOOPBACK, dnsResolver, freePort, readinessName } from './proc.js';
import type { DnsPeer } from './proc.js';
import { startServer } from './server.js';

export interface DnsmasqOptions {
  /** name -> IPv4 (`--address=/name/ip`: the name and all its subdomains). Default { 'test.local': '10.1.2.3' }. */
  records?: Record<string, string>;
  args?: string[];
}

export type DnsmasqPeer = DnsPeer;

export async function startDnsmasq(opts: DnsmasqOptions = {}): Promise<DnsmasqPeer> {
  const records = opts.records ?? { 'test.local': '10.1.2.3' };
  const first = readinessName('dnsmasq', records);
  let port = 0;
  const server = await startServer('dnsmasq', async (dir) => {
    port = await freePort({ udp: true });
    return {
      spawn: () => ({
        cmd: 'dnsmasq',
        args: ['--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--no-poll',
          `--listen-address=${LOOPBACK}`, '--bind-interfaces', `--port=${port}`, '--user=root',
          `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--log-queries', '--log-facility=-',
          ...Object.entries(records).map(([name, ip]) => `--address=/${name}/${ip}`), ...(opts.args ?? [])],
      }),
      ready: async () => (await dnsResolver(port).resolve4(first)).length > 0,
    };
  });
  return Object.assign(server.handle(), { port, records, resolver: () => dnsResolver(port) });
}

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** How to reach and authenticate to the Kubernetes API server. */
export interface ClusterConfig {
  /** https://host:port (no trailing slash). */
  readonly server: string;
  readonly ca?: Buffer;
  readonly token?: string;
  /** Re-read on every request (rotated service-account tokens). */
  readonly tokenFile?: string;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly insecureSkipTlsVerify?: boolean;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * In-cluster config, as client-go's rest.InClusterConfig: KUBERNETES_SERVICE_HOST/PORT from the
 * environment, the service account's token (re-read on each request: kubelet rotates it) and CA bundle.
 */
export function inClusterConfig(env: NodeJS.ProcessEnv = process.env, saDir = SERVICE_ACCOUNT_DIR): ClusterConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error('in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (is the agent running in a pod?)');
  const tokenFile = join(saDir, 'token');
  readFileSync(tokenFile); // fail early with a clear error
  const h = host.includes(':') ? `[${host}]` : host;
  return { server: `https://${h}:${port}`, tokenFile, ca: readFileSync(join(saDir, 'ca.crt')) };
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: Array<{ name: string; context: { cluster: string; user?: string; namespace?: string } }>;
  clusters?: Array<{ name: string; cluster: { server: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean } }>;
  users?: Array<{ name: string; user: { token?: string; tokenFile?: string; 'client-certificate'?: string; 'client-certificate-data'?: string; 'client-key'?: string; 'client-key-data'?: string; exec?: unknown; 'auth-provider'?: unknown; username?: string } }>;
}

/** The kubeconfig path client-go would use: $KUBECONFIG (first entry), else ~/.kube/config. */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const k = env.KUBECONFIG?.split(':').find((p) => p !== '');
  return k ?? join(homedir(), '.kube', 'config');
}

/**
 * A kubeconfig file's context (the current one unless named): server, CA (file or inline data), and bearer
 * token or client certificate. exec/auth-provider plugins are not supported (they run programs).
 */
export function kubeconfigConfig(path: string, context?: string): ClusterConfig {
  const doc = parseYaml(readFileSync(path, 'utf8')) as KubeconfigFile;
  const base = dirname(path);
  const rel = (p: string) => (isAbsolute(p) ? p : join(base, p));
  const ctxName = context || doc['current-context'];
  const ctx = doc.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new Error(`kubeconfig ${path}: context ${JSON.stringify(ctxName)} not found`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`kubeconfig ${path}: cluster ${JSON.stringify(ctx.cluster)} not found or has no server`);
  const user = ctx.user ? doc.users?.find((u) => u.name === ctx.user)?.user ?? {} : {};
  if (user.exec || user['auth-provider']) throw new Error(`kubeconfig ${path}: user ${JSON.stringify(ctx.user)} uses an exec/auth-provider plugin, which Sonde does not run; use a token or client certificate`);
  const b64 = (s: string) => Buffer.from(s, 'base64');
  const ca = cluster['certificate-authority-data'] ? b64(cluster['certificate-authority-data']) : cluster['certificate-authority'] ? readFileSync(rel(cluster['certificate-authority'])) : undefined;
  const cert = user['client-certificate-data'] ? b64(user['client-certificate-data']) : user['client-certificate'] ? readFileSync(rel(user['client-certificate'])) : undefined;
  const key = user['client-key-data'] ? b64(user['client-key-data']) : user['client-key'] ? readFileSync(rel(user['client-key'])) : undefined;
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ...(ca ? { ca } : {}),
    ...(user.token ? { token: user.token } : {}),
    ...(user.tokenFile ? { tokenFile: rel(user.tokenFile) } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(cluster['insecure-skip-tls-verify'] ? { insecureSkipTlsVerify: true } : {}),
  };
}

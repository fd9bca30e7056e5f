// Helm and kubeconform for the deploy tests, built from their Go modules (test/tools/k8s/go.mod, from the
// Go module proxy) and cached outside the repo keyed by go.mod + go.sum + the Go version, like the
// otelcol peer. Kubernetes schemas are generated offline from the OpenAPI spec inside the
// k8s.io/kubernetes module and CRD files inside the prometheus-operator module (test/tools/k8s/
// schema-sources.json), in kubeconform's standalone-strict layout; nothing is fetched from GitHub.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './paths.js';

export const TOOLS_DIR = join(ROOT, 'test', 'tools', 'k8s');
export const CHART_DIR = join(ROOT, 'deploy', 'helm', 'sonde');
export const MANIFEST = join(ROOT, 'deploy', 'kubernetes', 'sonde.yaml');
/** How deploy/kubernetes/sonde.yaml is made from the chart: default values plus the Namespace object. */
export const MANIFEST_ARGS = ['--namespace', 'sonde', '--set', 'namespace.create=true'] as const;

export function goBinary(): string {
  if (process.env.GO !== undefined && process.env.GO !== '') return process.env.GO;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(join(dir, 'go'))) return join(dir, 'go');
  }
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('k8s tools: no `go` in PATH or /usr/local/go/bin (set $GO)');
}

function cacheRoot(): string {
  const x = process.env.XDG_CACHE_HOME;
  return join(x !== undefined && x !== '' ? x : join(homedir(), '.cache'), 'sonde');
}

/** `module vX.Y.Z` of a requirement in test/tools/k8s/go.mod. */
function requiredVersion(mod: string): string {
  const m = new RegExp(`^\\s*${mod.replace(/\./g, '\\.')} (v\\S+)`, 'm').exec(readFileSync(join(TOOLS_DIR, 'go.mod'), 'utf8'));
  if (!m) throw new Error(`k8s tools: ${mod} is not required in ${TOOLS_DIR}/go.mod`);
  return m[1];
}

export interface K8sTools {
  helm: string;
  kubeconform: string;
  /** The Kubernetes minor version Helm reports by default (from the client-go it is built with). */
  kubeVersion: string;
  built: boolean;
}

let toolsOnce: K8sTools | undefined;

/**
 * The helm and kubeconform binaries, building them on a cache miss (about two minutes on 2 cores; a hit
 * costs a `go env`). Helm gets the ldflags its Makefile sets, so `.Capabilities.KubeVersion` is the
 * client-go version it links rather than 1.20.
 */
export function buildK8sTools(): K8sTools {
  if (toolsOnce) return toolsOnce;
  const go = goBinary();
  const goEnv = execFileSync(go, ['env', 'GOVERSION', 'GOOS', 'GOARCH'], { encoding: 'utf8' }).trim();
  const helmVersion = requiredVersion('helm.sh/helm/v3');
  const clientGo = requiredVersion('k8s.io/client-go'); // v0.37.0 → Kubernetes 1.37
  const minor = /^v0\.(\d+)\./.exec(clientGo)?.[1];
  if (minor === undefined) throw new Error(`k8s tools: unexpected client-go version ${clientGo}`);
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum']) hash.update(`${f}\0`).update(readFileSync(join(TOOLS_DIR, f))).update('\0');
  hash.update(goEnv);
  const dir = join(cacheRoot(), `k8s-tools-${hash.digest('hex').slice(0, 16)}`);
  const helm = join(dir, 'helm');
  const kubeconform = join(dir, 'kubeconform');
  const kubeVersion = `1.${minor}.0`;
  if (existsSync(helm) && existsSync(kubeconform)) return (toolsOnce = { helm, kubeconform, kubeVersion, built: false });
  mkdirSync(dir, { recursive: true });
  const ldHelm = [
    '-w', '-s',
    `-X helm.sh/helm/v3/internal/version.version=${helmVersion}`,
    ...['pkg/lint/rules', 'pkg/chartutil'].flatMap((p) => [
      `-X helm.sh/helm/v3/${p}.k8sVersionMajor=1`, `-X helm.sh/helm/v3/${p}.k8sVersionMinor=${minor}`,
    ]),
  ].join(' ');
  const build = (pkg: string, out: string, ldflags: string) => {
    const tmp = `${out}.tmp-${process.pid}`;
    const r = spawnSync(go, ['build', '-trimpath', '-buildvcs=false', '-mod=readonly', '-ldflags', ldflags, '-o', tmp, pkg], {
      cwd: TOOLS_DIR, encoding: 'utf8', timeout: 30 * 60_000, env: { ...process.env, CGO_ENABLED: '0' },
    });
    if (r.status !== 0) throw new Error(`k8s tools: go build ${pkg} failed (${r.status}): ${r.stderr || String(r.error)}`);
    renameSync(tmp, out); // atomic: concurrent builders both end with a complete binary
  };
  build('helm.sh/helm/v3/cmd/helm', helm, ldHelm);
  build('github.com/yannh/kubeconform/cmd/kubeconform', kubeconform, '-w -s');
  return (toolsOnce = { helm, kubeconform, kubeVersion, built: true });
}

// ---------------------------------------------------------------------------------------------------
// Schemas

interface SchemaSources {
  kubernetes: { module: string; version: string; sum: string; swagger: string };
  crds: Array<{ module: string; version: string; sum: string; files: string[] }>;
}

/** `go mod download` of one pinned module; returns its directory in the module cache. */
function goModDir(module: string, version: string, sum: string): string {
  const r = spawnSync(goBinary(), ['mod', 'download', '-json', `${module}@${version}`], {
    cwd: cacheRoot(), encoding: 'utf8', timeout: 10 * 60_000, env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'on' },
  });
  const info = JSON.parse(r.stdout || '{}') as { Dir?: string; Sum?: string; Error?: string };
  if (r.status !== 0 || info.Dir === undefined) throw new Error(`k8s schemas: go mod download ${module}@${version} failed: ${info.Error ?? r.stderr}`);
  if (info.Sum !== sum) throw new Error(`k8s schemas: ${module}@${version} has sum ${info.Sum}, pinned ${sum}`);
  return info.Dir;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Strict: objects with declared properties reject unknown ones (kubeconform's `-strict` schemas). */
function strictify(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(strictify);
  if (!isObj(s)) return s;
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    // property names are data, not schema keywords: recurse into their schemas only
    out[k] = k === 'properties' && isObj(v) ? Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, strictify(ps)])) : strictify(v);
  }
  if (isObj(out.properties) && out.additionalProperties === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    out.additionalProperties = false;
  }
  return out;
}

function refsOf(s: unknown, acc: Set<string>): void {
  if (Array.isArray(s)) for (const x of s) refsOf(x, acc);
  else if (isObj(s)) {
    for (const [k, v] of Object.entries(s)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/definitions/')) acc.add(v.slice('#/definitions/'.length));
      else refsOf(v, acc);
    }
  }
}

/** kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json` for a group/version/kind. */
export function schemaFileName(group: string, version: string, kind: string): string {
  return `${kind.toLowerCase()}-${group === '' ? '' : `${group.split('.')[0].toLowerCase()}-`}${version.toLowerCase()}.json`;
}

const GENERATOR_VERSION = '1';

/** A directory of standalone strict schemas, one file per kind, generated once per source pin set. */
export function k8sSchemaDir(): string {
  const sourcesText = readFileSync(join(TOOLS_DIR, 'schema-sources.json'), 'utf8');
  const src = JSON.parse(sourcesText) as SchemaSources;
  const key = createHash('sha256').update(sourcesText).update(GENERATOR_VERSION).digest('hex').slice(0, 16);
  const dir = join(cacheRoot(), `k8s-schemas-${src.kubernetes.version}-${key}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  mkdirSync(cacheRoot(), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });

  // Built-in kinds from swagger.json: definitions closed over their $refs.
  const k8sDir = goModDir(src.kubernetes.module, src.kubernetes.version, src.kubernetes.sum);
  const spec = JSON.parse(readFileSync(join(k8sDir, src.kubernetes.swagger), 'utf8')) as { definitions: Record<string, Json> };
  const defs: Record<string, unknown> = {};
  for (const [name, d] of Object.entries(spec.definitions)) defs[name] = strictify(d);
  // int-or-string and quantities are written as either in YAML (openapi2jsonschema does the same)
  defs['io.k8s.apimachinery.pkg.util.intstr.IntOrString'] = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
  defs['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { oneOf: [{ type: 'string' }, { type: 'number' }] };
  let count = 0;
  for (const [name, d] of Object.entries(spec.definitions)) {
    const gvks = d['x-kubernetes-group-version-kind'] as Array<{ group: string; version: string; kind: string }> | undefined;
    if (!gvks) continue;
    const closure = new Set<string>();
    const todo = [name];
    while (todo.length > 0) {
      const n = todo.pop()!;
      if (closure.has(n)) continue;
      closure.add(n);
      const found = new Set<string>();
      refsOf(defs[n], found);
      for (const f of found) if (!closure.has(f)) todo.push(f);
    }
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      ...(defs[name] as Json),
      definitions: Object.fromEntries([...closure].sort().map((n) => [n, defs[n]])),
    };
    for (const g of gvks) {
      writeFileSync(join(tmp, schemaFileName(g.group, g.version, g.kind)), JSON.stringify(schema));
      count++;
    }
  }

  // Custom resources from CRD manifests.
  for (const c of src.crds) {
    const cdir = goModDir(c.module, c.version, c.sum);
    for (const f of c.files) {
      for (const doc of parseAllDocuments(readFileSync(join(cdir, f), 'utf8'))) {
        const crd = doc.toJS() as { spec?: { group: string; names: { kind: string }; versions: Array<{ name: string; schema?: { openAPIV3Schema?: Json } }> } };
        if (!crd?.spec) continue;
        for (const v of crd.spec.versions) {
          const s = v.schema?.openAPIV3Schema;
          if (!s) continue;
          writeFileSync(join(tmp, schemaFileName(crd.spec.group, v.name, crd.spec.names.kind)), JSON.stringify({
            $schema: 'http://json-schema.org/draft-07/schema#', ...(strictify(s) as Json),
          }));
          count++;
        }
      }
    }
  }
  writeFileSync(join(tmp, '.complete'), `${count} schemas\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

// ---------------------------------------------------------------------------------------------------
// Helm and kubeconform runs

export interface TemplateOptions {
  release?: string;
  /** extra `helm template` arguments: --namespace, --set, -f … */
  args?: readonly string[];
}

export function helmTemplate(tools: K8sTools, opts: TemplateOptions = {}): string {
  const r = spawnSync(tools.helm, ['template', opts.release ?? 'sonde', CHART_DIR, ...(opts.args ?? [])], {
    encoding: 'utf8', env: { ...process.env, HELM_CACHE_HOME: join(cacheRoot(), 'helm'), HELM_CONFIG_HOME: join(cacheRoot(), 'helm'), HELM_DATA_HOME: join(cacheRoot(), 'helm') },
  });
  if (r.status !== 0) throw new Error(`helm template failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function helmLint(tools: K8sTools, args: readonly string[] = []): { ok: boolean; output: string } {
  const r = spawnSync(tools.helm, ['lint', '--strict', CHART_DIR, ...args], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/** The objects of a multi-document YAML stream (empty documents dropped). */
export function objects(manifest: string): Json[] {
  return parseAllDocuments(manifest).map((d) => d.toJS() as Json | null).filter((o): o is Json => isObj(o));
}

export interface KubeconformResult {
  ok: boolean;
  valid: number;
  problems: string[];
  raw: string;
}

export function kubeconform(tools: K8sTools, schemaDir: string, manifest: string): KubeconformResult {
  const r = spawnSync(tools.kubeconform, [
    '-strict', '-summary', '-output', 'json',
    '-schema-location', `${schemaDir}/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
    '-',
  ], { input: manifest, encoding: 'utf8' });
  const out = JSON.parse(r.stdout || '{}') as {
    resources?: Array<{ kind: string; name: string; status: string; msg: string; validationErrors?: Array<{ path: string; msg: string }> }>;
    summary?: { valid: number };
  };
  const problems = (out.resources ?? [])
    .filter((x) => x.status !== 'statusValid')
    .map((x) => `${x.kind}/${x.name}: ${x.status} ${x.msg} ${(x.validationErrors ?? []).map((e) => `${e.path}: ${e.msg}`).join('; ')}`);
  return { ok: r.status === 0 && problems.length === 0, valid: out.summary?.valid ?? 0, problems, raw: `${r.stdout}${r.stderr}` };
}

/** The expected content of deploy/kubernetes/sonde.yaml. */
export function manifestText(tools: K8sTools): string {
  return [
    '# Sonde as a plain Kubernetes manifest: `kubectl apply -f deploy/kubernetes/sonde.yaml`.',
    '# Generated from deploy/helm/sonde with its default values (namespace `sonde`, namespace.create=true)',
    '# by `npm run deploy:manifest`; do not edit by hand (a test compares it with the chart).',
    helmTemplate(tools, { args: MANIFEST_ARGS }).replace(/^---\n/, ''),
  ].join('\n');
}

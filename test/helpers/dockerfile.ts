// A small Dockerfile reader and a static checker with hadolint-style rules (no container engine runs
// here). The reader handles parser directives, comments, line continuations, ARG substitution in FROM,
// stages, flags (--from, --chown) and the JSON (exec) form; the pod emulation in the e2e tests uses it
// to take ENTRYPOINT/CMD/ENV/WORKDIR/USER from the final stage.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Instruction {
  /** upper-case keyword */
  cmd: string;
  /** the arguments as written (continuations joined with a space), flags included */
  raw: string;
  /** --name=value flags at the start of the arguments */
  flags: Record<string, string>;
  /** the arguments after the flags */
  rest: string;
  /** the exec (JSON array) form, when it is one */
  json?: string[];
  line: number;
  /** comment lines directly above */
  comments: string[];
}

export interface Stage {
  name?: string;
  /** FROM's image after ARG substitution */
  image: string;
  index: number;
  instructions: Instruction[];
}

export interface Dockerfile {
  directives: Record<string, string>;
  /** ARGs before the first FROM, with their defaults */
  globalArgs: Record<string, string>;
  stages: Stage[];
  all: Instruction[];
}

const KNOWN = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL', 'MAINTAINER']);

export function substitute(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a: string | undefined, def: string | undefined, b: string | undefined) => {
    const name = a ?? b!;
    return vars[name] !== undefined && vars[name] !== '' ? vars[name] : def ?? m;
  });
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split('\n');
  const directives: Record<string, string> = {};
  let i = 0;
  // parser directives: `# key=value` lines before anything else
  for (; i < lines.length; i++) {
    const m = /^#\s*([a-z]+)\s*=\s*(\S+)\s*$/i.exec(lines[i]);
    if (!m) break;
    directives[m[1].toLowerCase()] = m[2];
  }
  const all: Instruction[] = [];
  let comments: string[] = [];
  while (i < lines.length) {
    const line = lines[i];
    const t = line.trim();
    if (t === '') { comments = []; i++; continue; }
    if (t.startsWith('#')) { comments.push(t.replace(/^#\s?/, '')); i++; continue; }
    const start = i + 1;
    let body = line;
    // continuation: a trailing backslash; comment lines inside are dropped (as BuildKit does)
    while (/\\\s*$/.test(body) && i + 1 < lines.length) {
      body = body.replace(/\\\s*$/, ' ');
      i++;
      while (i < lines.length && lines[i].trim().startsWith('#')) i++;
      if (i < lines.length) body += lines[i].trim();
    }
    i++;
    const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(body)!;
    const cmd = m[1].toUpperCase();
    const raw = m[2].replace(/\s+/g, ' ').trim();
    const flags: Record<string, string> = {};
    let rest = raw;
    if (cmd !== 'RUN' || /^--/.test(rest)) {
      let f: RegExpExecArray | null;
      while ((f = /^--([a-z-]+)(?:=(\S+))?\s*/.exec(rest)) !== null) {
        flags[f[1]] = f[2] ?? 'true';
        rest = rest.slice(f[0].length);
      }
    }
    // HEALTHCHECK's own command follows CMD
    const forJson = cmd === 'HEALTHCHECK' ? rest.replace(/^CMD\s+/i, '') : rest;
    let json: string[] | undefined;
    if (forJson.startsWith('[')) {
      try {
        const v = JSON.parse(forJson) as unknown;
        if (Array.isArray(v) && v.every((x) => typeof x === 'string')) json = v as string[];
      } catch { /* shell form that happens to start with [ */ }
    }
    all.push({ cmd, raw, flags, rest, json, line: start, comments });
    comments = [];
  }
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of all) {
    if (ins.cmd === 'ARG' && stages.length === 0) {
      const [k, ...v] = ins.rest.split('=');
      globalArgs[k.trim()] = v.join('=').trim();
    } else if (ins.cmd === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.rest);
      stages.push({ image: substitute(m?.[1] ?? ins.rest, globalArgs), name: m?.[2]?.toLowerCase(), index: stages.length, instructions: [ins] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { directives, globalArgs, stages, all };
}

export const finalStage = (d: Dockerfile): Stage => d.stages.at(-1)!;
export const last = (s: Stage, cmd: string): Instruction | undefined => s.instructions.filter((x) => x.cmd === cmd).at(-1);

/** The final stage's runtime contract: what a container of the image runs. */
export interface ImageContract {
  entrypoint: string[];
  cmd: string[];
  env: Record<string, string>;
  workdir: string;
  user: string;
  expose: number[];
}

export function imageContract(d: Dockerfile): ImageContract {
  const s = finalStage(d);
  const env: Record<string, string> = {};
  for (const x of s.instructions.filter((y) => y.cmd === 'ENV')) {
    for (const m of x.rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  }
  return {
    entrypoint: last(s, 'ENTRYPOINT')?.json ?? [],
    cmd: last(s, 'CMD')?.json ?? [],
    env,
    workdir: last(s, 'WORKDIR')?.rest ?? '/',
    user: last(s, 'USER')?.rest ?? '0',
    expose: s.instructions.filter((y) => y.cmd === 'EXPOSE').flatMap((y) => y.rest.split(/\s+/)).map((p) => Number(p.split('/')[0])),
  };
}

// ---------------------------------------------------------------------------------------------------
// .dockerignore (Docker's rules: patterns relative to the context root, `**`, `!` exceptions, last match wins)

export function dockerignoreMatcher(text: string): (path: string) => boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const p = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
    let re = '';
    for (let k = 0; k < p.length; k++) {
      const c = p[k];
      if (c === '*' && p[k + 1] === '*') { re += '.*'; k++; if (p[k + 1] === '/') k++; }
      else if (c === '*') re += '[^/]*';
      else if (c === '?') re += '[^/]';
      else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    // a pattern matching a directory excludes everything below it
    return { negate, re: new RegExp(`^${re}(/.*)?$`) };
  });
  return (path: string) => {
    let excluded = false;
    for (const r of rules) if (r.re.test(path)) excluded = !r.negate;
    return excluded;
  };
}

// ---------------------------------------------------------------------------------------------------
// Rules

export interface Finding {
  rule: string;
  line: number;
  message: string;
}

export interface LintContext {
  /** the build context (repository root), for COPY sources and .dockerignore */
  contextDir?: string;
  /** packages the final stage may install */
  runtimePackages?: readonly string[];
}

const BUILD_TOOLS = /\b(gcc|g\+\+|clang|llvm|make|cmake|python3?|node-gyp|bpftool|build-essential|[a-z0-9.+-]+-dev)\b/;
const SECRET_NAME = /(TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|PRIVATE_?KEY)/i;

/** apt-get install's package arguments in a RUN. */
export function aptPackages(run: string): string[] {
  const out: string[] = [];
  for (const seg of run.split(/&&|;|\|\|/)) {
    const m = /\bapt-get\s+(?:-\S+\s+)*install\b(.*)$/.exec(seg.trim());
    if (m) out.push(...m[1].trim().split(/\s+/).filter((w) => w !== '' && !w.startsWith('-')));
  }
  return out;
}

export function lintDockerfile(text: string, ctx: LintContext = {}): Finding[] {
  const d = parseDockerfile(text);
  const f: Finding[] = [];
  const add = (rule: string, line: number, message: string) => f.push({ rule, line, message });
  if (d.directives.syntax === undefined) add('SD001', 1, 'no `# syntax=` directive: the frontend version is whatever the builder has');
  for (const ins of d.all) if (!KNOWN.has(ins.cmd)) add('SD002', ins.line, `unknown instruction ${ins.cmd}`);
  if (d.stages.length === 0) { add('SD003', 1, 'no FROM'); return f; }
  if (d.all.findIndex((x) => x.cmd === 'FROM') > d.all.findIndex((x) => x.cmd !== 'ARG')) add('SD003', 1, 'only ARG may precede the first FROM');

  const names = new Set<string>();
  for (const s of d.stages) {
    const from = s.instructions[0];
    // DL3006/DL3007 and stricter: an exact version (x.y.z) or a digest, never latest or a floating tag
    const img = s.image;
    if (!img.includes('@sha256:')) {
      const tag = /:([^/:@]+)$/.exec(img)?.[1];
      if (tag === undefined) add('DL3006', from.line, `${img}: no tag`);
      else if (tag === 'latest') add('DL3007', from.line, `${img}: latest`);
      else if (!/^v?\d+\.\d+/.test(tag)) add('SD010', from.line, `${img}: floating tag (pin a version, x.y[.z], or a digest)`);
    }
    if (/\$/.test(img)) add('SD011', from.line, `${img}: unresolved variable`);
    if (s.name !== undefined) {
      if (names.has(s.name)) add('DL3024', from.line, `stage name ${s.name} reused`);
      names.add(s.name);
    }
    let shellPipefail = false;
    for (const ins of s.instructions.slice(1)) {
      if (ins.cmd === 'SHELL' && ins.json?.includes('pipefail')) shellPipefail = true;
      if (ins.cmd === 'WORKDIR' && !ins.rest.startsWith('/') && !ins.rest.startsWith('$')) add('DL3000', ins.line, 'WORKDIR must be absolute');
      if (ins.cmd === 'MAINTAINER') add('DL4000', ins.line, 'MAINTAINER is deprecated');
      if (ins.cmd === 'ADD') add('DL3020', ins.line, /https?:\/\//.test(ins.rest) ? 'ADD of a URL: fetch with a checksum in RUN, or COPY' : 'use COPY, not ADD');
      if (['CMD', 'ENTRYPOINT'].includes(ins.cmd) && !ins.json) add('DL3025', ins.line, `${ins.cmd} in shell form: use the exec (JSON) form so signals reach the agent`);
      if (ins.cmd === 'HEALTHCHECK' && ins.rest.toUpperCase() !== 'NONE' && !ins.json) add('DL3025', ins.line, 'HEALTHCHECK CMD in shell form');
      if (['ARG', 'ENV'].includes(ins.cmd)) {
        for (const m of ins.rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=?/g)) if (SECRET_NAME.test(m[1])) add('SD020', ins.line, `${ins.cmd} ${m[1]}: secrets in image metadata`);
      }
      if (ins.cmd === 'COPY' && ins.flags.from !== undefined) {
        const ref = ins.flags.from.toLowerCase();
        const known = d.stages.slice(0, s.index).some((x) => x.name === ref || String(x.index) === ref);
        if (!known) add('DL3022', ins.line, `COPY --from=${ins.flags.from}: not an earlier stage`);
        if (ref === s.name) add('DL3023', ins.line, 'COPY --from its own stage');
      }
      if (ins.cmd !== 'RUN') continue;
      const run = ins.rest;
      if (/(^|[;&|]\s*)cd\s/.test(run)) add('DL3003', ins.line, 'cd in RUN: use WORKDIR');
      if (/\bapt\s+(install|update|upgrade|get)\b/.test(run)) add('DL3027', ins.line, 'use apt-get, not apt');
      if (/\bapt-get\s+(\S+\s+)*(upgrade|dist-upgrade)\b/.test(run)) add('DL3005', ins.line, 'apt-get upgrade in an image build');
      if (/\bapt-get\s+(?:-\S+\s+)*install\b/.test(run)) {
        if (!/\binstall\b[^&;]*\s-(y|-yes|qq?y)\b/.test(run)) add('DL3014', ins.line, 'apt-get install without -y');
        if (!/--no-install-recommends\b/.test(run)) add('DL3015', ins.line, 'apt-get install without --no-install-recommends');
        if (!/\bapt-get\s+(?:-\S+\s+)*update\b/.test(run)) add('SD030', ins.line, 'apt-get install without apt-get update in the same RUN (stale package lists)');
        if (!/rm -rf[^&;]*\/var\/lib\/apt\/lists/.test(run)) add('DL3009', ins.line, 'apt lists not removed in the same RUN');
        const pkgs = aptPackages(run);
        if (pkgs.join(' ') !== [...pkgs].sort().join(' ')) add('SD031', ins.line, `apt-get install packages not sorted: ${pkgs.join(' ')}`);
      }
      if (/\bnpm\s+(i|install)\b/.test(run)) add('SD032', ins.line, 'npm install: use npm ci (the lock file decides)');
      if (/\b(curl|wget)\b/.test(run)) add('SD033', ins.line, 'downloads in RUN: only package managers with lock files/checksums fetch');
      if (/\|/.test(run.replace(/\|\|/g, '')) && !shellPipefail) add('DL4006', ins.line, 'pipe in RUN without SHELL ["/bin/bash", "-o", "pipefail", "-c"]');
    }
  }

  // The final stage: the runtime image.
  const fin = finalStage(d);
  const user = last(fin, 'USER');
  if (!user) add('SD040', fin.instructions[0].line, 'final stage sets no USER: make the (root or not) decision explicit');
  else if (/^(0|root)(:|$)/.test(user.rest) && !user.comments.some((c) => /root|uid 0/i.test(c))) add('DL3002', user.line, 'final USER is root without a comment saying why');
  if (!last(fin, 'HEALTHCHECK')) add('SD041', fin.instructions[0].line, 'final stage has no HEALTHCHECK (or HEALTHCHECK NONE)');
  if (!last(fin, 'ENTRYPOINT') && !last(fin, 'CMD')) add('SD042', fin.instructions[0].line, 'final stage has neither ENTRYPOINT nor CMD');
  for (const ins of fin.instructions) {
    if (ins.cmd === 'RUN') {
      const pkgs = aptPackages(ins.rest);
      for (const p of pkgs) {
        if (BUILD_TOOLS.test(p)) add('SD043', ins.line, `runtime stage installs the build tool ${p}`);
        else if (ctx.runtimePackages && !ctx.runtimePackages.includes(p)) add('SD044', ins.line, `runtime stage installs ${p}, which the agent does not link`);
      }
      if (/\b(npm|npx|yarn|make|gcc|node-gyp|tsc)\s/.test(ins.rest.replace(/rm -rf[^&;]*/g, ''))) add('SD045', ins.line, 'runtime stage runs a build or package tool');
    }
    if (['COPY', 'ADD'].includes(ins.cmd) && ins.flags.chown === undefined) add('SD046', ins.line, `${ins.cmd} in the runtime stage without --chown: ownership comes from the build`);
  }

  // COPY sources from the context exist and are not excluded by .dockerignore.
  if (ctx.contextDir) {
    const ignoreFile = join(ctx.contextDir, '.dockerignore');
    if (!existsSync(ignoreFile)) add('SD050', 1, 'no .dockerignore: the whole checkout (node_modules, .git, build output) is sent as context');
    const ignored = dockerignoreMatcher(existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8') : '');
    for (const must of ['.git', 'node_modules', 'dist', 'build', 'native/build']) {
      if (!ignored(must)) add('SD051', 1, `.dockerignore does not exclude ${must}`);
    }
    for (const ins of d.all.filter((x) => x.cmd === 'COPY' && x.flags.from === undefined)) {
      const parts = ins.json ?? ins.rest.split(/\s+/);
      for (const src of parts.slice(0, -1)) {
        const rel = src.replace(/^\.\/?/, '').replace(/\/+$/, '');
        if (rel === '') continue; // the whole context
        if (!existsSync(join(ctx.contextDir, rel))) add('SD052', ins.line, `COPY source ${src} does not exist in the context`);
        else if (ignored(rel)) add('SD053', ins.line, `COPY source ${src} is excluded by .dockerignore`);
      }
    }
  }
  return f;
}

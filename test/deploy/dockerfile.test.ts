// Static checks of deploy/docker/Dockerfile (no container engine runs here): hadolint-style rules
// (test/helpers/dockerfile.ts), each shown to fire on a bad example, plus cross-checks against the rest
// of the repository: the chart's contract (ENTRYPOINT/CMD/ports), the build script's tool list, the
// libraries the native addon links, .dockerignore and the base image versions.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { ROOT } from '../helpers/paths.js';
import { aptPackages, dockerignoreMatcher, finalStage, imageContract, lintDockerfile, parseDockerfile } from '../helpers/dockerfile.js';

const DOCKERFILE = join(ROOT, 'deploy', 'docker', 'Dockerfile');
const text = readFileSync(DOCKERFILE, 'utf8');
const df = parseDockerfile(text);
/** What the final stage may install: the shared libraries the addon links that the base lacks. */
const RUNTIME_PACKAGES = ['libelf1'];

describe('deploy/docker/Dockerfile', () => {
  test('passes every rule', () => {
    const findings = lintDockerfile(text, { contextDir: ROOT, runtimePackages: RUNTIME_PACKAGES });
    assert.deepEqual(findings, []);
  });

  test('three stages: cargo fetch of libbpf, build, runtime', () => {
    assert.deepEqual(df.stages.map((s) => s.name), ['libbpf-src', 'build', 'runtime']);
    assert.match(df.stages[0].image, /^rust:\d+\.\d+\.\d+-slim-bookworm$/);
    assert.match(df.stages[1].image, /^node:20\.\d+\.\d+-bookworm-slim$/);
    assert.equal(df.stages[2].image, df.stages[1].image, 'build and runtime share the base: the addon is built against the same glibc and Node ABI');
    // Rust ≥ 1.68 reads the Cargo.lock (build-libbpf.sh); Node satisfies package.json engines
    const rust = /rust:(\d+)\.(\d+)/.exec(df.stages[0].image)!;
    assert.ok(Number(rust[1]) > 1 || Number(rust[2]) >= 68);
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const [maj, min] = /node:(\d+)\.(\d+)/.exec(df.stages[1].image)!.slice(1).map(Number);
    const [emaj, emin] = /(\d+)\.(\d+)/.exec(engines)!.slice(1).map(Number);
    assert.ok(maj > emaj || (maj === emaj && min >= emin), `${df.stages[1].image} satisfies engines ${engines}`);
  });

  test('the runtime contract is the chart\'s: ENTRYPOINT + CMD, ports, uid 0', () => {
    const c = imageContract(df);
    assert.deepEqual(c.entrypoint, ['node', '/opt/sonde/bin/sonde.js']);
    const values = parse(readFileSync(join(ROOT, 'deploy', 'helm', 'sonde', 'values.yaml'), 'utf8')) as { ports: { metrics: number; telemetry: number } };
    const ds = readFileSync(join(ROOT, 'deploy', 'helm', 'sonde', 'templates', 'daemonset.yaml'), 'utf8');
    const args = /args: \[(.*)\]/.exec(ds)![1].split(',').map((x) => x.trim());
    assert.deepEqual(c.cmd, args, 'the DaemonSet spells out the image CMD');
    assert.deepEqual(c.expose.sort(), [values.ports.metrics, values.ports.telemetry].sort());
    assert.equal(c.user, '0:0');
    assert.equal(c.env.NODE_ENV, 'production');
  });

  test('the build stage installs every tool deploy/docker/build.sh needs; the runtime stage only the linked libraries', () => {
    const needs = /^# Needs: (.*)\.$/m.exec(readFileSync(join(ROOT, 'deploy', 'docker', 'build.sh'), 'utf8'))![1]
      .split(/,\s*/).map((x) => x.trim()).filter((x) => !/^node|npm/.test(x));
    const build = df.stages[1].instructions.filter((i) => i.cmd === 'RUN').flatMap((i) => aptPackages(i.rest));
    for (const n of needs) assert.ok(build.includes(n), `build stage installs ${n}`);
    // -l<lib> in binding.gyp → the Debian runtime package that ships it
    const gyp = readFileSync(join(ROOT, 'native', 'binding.gyp'), 'utf8');
    const libs = [...gyp.matchAll(/"-l([a-z0-9]+)"/g)].map((m) => m[1]).sort();
    assert.deepEqual(libs, ['elf', 'z']);
    const runtime = finalStage(df).instructions.filter((i) => i.cmd === 'RUN').flatMap((i) => aptPackages(i.rest));
    assert.deepEqual(runtime, ['libelf1']);
    // zlib1g: dpkg pre-depends on it, so every Debian base (bookworm-slim included) has it (checked here)
    const q = spawnSync('dpkg-query', ['-W', '-f', '${Pre-Depends}', 'dpkg'], { encoding: 'utf8' });
    if (q.status === 0) assert.match(q.stdout, /\bzlib1g\b/);
  });

  test('the image\'s default config validates', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'sonde.js'), 'validate', '--config', join(ROOT, 'deploy', 'docker', 'config.yaml')], {
      encoding: 'utf8', env: { PATH: process.env.PATH },
    });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  test('.dockerignore: matcher semantics, and the sources the build needs are in the context', () => {
    const m = dockerignoreMatcher('.git\n**/node_modules\nbuild\n*.log\n!keep.log\n');
    assert.ok(m('.git/config') && m('node_modules') && m('native/node_modules/x') && m('build/bpf/tcp.bpf.o') && m('a.log'));
    assert.ok(!m('keep.log') && !m('bpf/build.c') && !m('src/build/x'));
    const ignored = dockerignoreMatcher(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
    for (const need of ['package.json', 'package-lock.json', 'tsconfig.json', 'src/cli.ts', 'bin/sonde.js', 'bpf/Makefile', 'bpf/probes', 'bpf/vmlinux', 'native/binding.gyp', 'native/src', 'native/scripts/build-libbpf.sh', 'native/deps/libbpf-src/Cargo.lock', 'deploy/docker/build.sh', 'deploy/docker/prune.mjs']) {
      assert.ok(!ignored(need), `${need} is in the build context`);
    }
  });

  // Each rule fires on a bad example (hadolint's DLxxxx numbers where one exists).
  const base = '# syntax=docker/dockerfile:1\nFROM debian:12.5 AS build\nRUN true\nFROM debian:12.5\n# runs as root: needs capabilities\nUSER 0\nHEALTHCHECK NONE\nCMD ["true"]\n';
  const cases: Array<[string, string]> = [
    ['DL3007', base.replace('FROM debian:12.5\n#', 'FROM debian:latest\n#')],
    ['DL3006', base.replace('FROM debian:12.5\n#', 'FROM debian\n#')],
    ['SD010', base.replace('FROM debian:12.5\n#', 'FROM node:20-slim\n#')],
    ['SD001', base.replace('# syntax=docker/dockerfile:1\n', '')],
    ['DL3020', base.replace('RUN true', 'ADD https://example.com/x.tgz /x')],
    ['DL3025', base.replace('CMD ["true"]', 'CMD true')],
    ['DL3014', base.replace('RUN true', 'RUN apt-get update && apt-get install --no-install-recommends curl && rm -rf /var/lib/apt/lists/*')],
    ['DL3015', base.replace('RUN true', 'RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*')],
    ['DL3009', base.replace('RUN true', 'RUN apt-get update && apt-get install -y --no-install-recommends curl')],
    ['SD030', base.replace('RUN true', 'RUN apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*')],
    ['SD031', base.replace('RUN true', 'RUN apt-get update && apt-get install -y --no-install-recommends zlib1g-dev clang && rm -rf /var/lib/apt/lists/*')],
    ['DL3027', base.replace('RUN true', 'RUN apt install -y curl')],
    ['DL3003', base.replace('RUN true', 'RUN cd /src && make')],
    ['DL4006', base.replace('RUN true', 'RUN ls | wc -l')],
    ['SD032', base.replace('RUN true', 'RUN npm install')],
    ['SD033', base.replace('RUN true', 'RUN curl -fsSL https://example.com/install.sh')],
    ['SD020', base.replace('RUN true', 'ARG NPM_TOKEN')],
    ['DL3022', base.replace('HEALTHCHECK NONE', 'COPY --from=nope --chown=0:0 /a /a\nHEALTHCHECK NONE')],
    ['DL3002', base.replace('# runs as root: needs capabilities\n', '')],
    ['SD040', base.replace('USER 0\n', '')],
    ['SD041', base.replace('HEALTHCHECK NONE\n', '')],
    ['SD043', base.replace('USER 0', 'RUN apt-get update && apt-get install -y --no-install-recommends gcc && rm -rf /var/lib/apt/lists/*\nUSER 0')],
    ['SD044', base.replace('USER 0', 'RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\nUSER 0')],
    ['SD045', base.replace('USER 0', 'RUN npm ci\nUSER 0')],
    ['SD046', base.replace('USER 0', 'COPY --from=build /a /a\nUSER 0')],
    ['DL3000', base.replace('RUN true', 'WORKDIR src')],
  ];
  for (const [rule, bad] of cases) {
    test(`rule ${rule} fires`, () => {
      const rules = lintDockerfile(bad, { runtimePackages: RUNTIME_PACKAGES }).map((x) => x.rule);
      assert.ok(rules.includes(rule), `${rule} expected, got ${rules.join(',') || 'nothing'}`);
    });
  }
  test('the bad-example base itself is clean', () => {
    assert.deepEqual(lintDockerfile(base, { runtimePackages: RUNTIME_PACKAGES }), []);
  });
});

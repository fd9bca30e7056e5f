#!/usr/bin/env node
// Records real HTTP/1.x conversations on loopback into test/fixtures/l7/http1/ (see its README.md).
//   npx tsc -p tsconfig.json && node scripts/record-http1-fixtures.mjs [name-prefix ...]
// With prefixes, only the fixtures whose names start with one of them are (re)written: tests index the
// chunks of the committed recordings, so re-recording one changes what its tests must expect.
// A recording TCP proxy sits between a real client (curl, wrk, Node's http client, a raw socket) and a
// real server (nginx via test/peers, a Node http server). Every `data` event the proxy reads is one
// chunk: the bytes as the kernel delivered them to a reader, so segment/write boundaries are real.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const outDir = join(root, 'test/fixtures/l7/http1');
const { startNginx } = await import(join(root, 'dist/test/peers/index.js'));

mkdirSync(outDir, { recursive: true });

/**
 * A proxy that records each connection as [{ dir, tsUs, bytes }]; times are µs since the connection's first
 * byte, or since `sharedT0` (process.hrtime.bigint()) when given, to put several proxies on one time line.
 */
async function recordingProxy(upstreamPort, sharedT0) {
  const conns = [];
  const server = net.createServer((client) => {
    const t0 = sharedT0 ?? process.hrtime.bigint();
    const chunks = [];
    conns.push(chunks);
    const up = net.connect(upstreamPort, '127.0.0.1');
    const rec = (dir) => (b) => chunks.push({ dir, tsUs: Number((process.hrtime.bigint() - t0) / 1000n), bytes: Buffer.from(b) });
    client.on('data', rec(0));
    up.on('data', rec(1));
    client.pipe(up);
    up.pipe(client);
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, conns, close: () => new Promise((r) => server.close(r)) };
}

const only = process.argv.slice(2);

function save(name, chunks, how) {
  if (only.length > 0 && !only.some((p) => name.startsWith(p))) return;
  const parts = [Buffer.from('SONDE-L7-FIXTURE 1\n')];
  for (const c of chunks) {
    const h = Buffer.alloc(9);
    h.writeUInt8(c.dir, 0);
    h.writeUInt32LE(c.tsUs, 1);
    h.writeUInt32LE(c.bytes.length, 5);
    parts.push(h, c.bytes);
  }
  writeFileSync(join(outDir, `${name}.bin`), Buffer.concat(parts));
  const esc = (b) => b.toString('latin1').replace(/[\x00-\x1f\x7f-\xff\\]/g, (ch) => (ch === '\n' ? '\\n\n   ' : ch === '\r' ? '\\r' : ch === '\\' ? '\\\\' : `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`));
  const txt = [`# ${name}: ${how}`, `# ${chunks.length} chunks; '>' client→server, '<' server→client, [t+µs, bytes]`, ''];
  for (const c of chunks) txt.push(`${c.dir === 0 ? '>' : '<'} [t+${c.tsUs}µs, ${c.bytes.length} B]`, `   ${esc(c.bytes)}`, '');
  writeFileSync(join(outDir, `${name}.txt`), txt.join('\n'));
  console.log(`${name}: ${chunks.length} chunks`);
}

const settle = () => new Promise((r) => setTimeout(r, 150));

// async: the recording proxy runs on this process's event loop
const execFileP = promisify(execFile);
async function run(cmd, args) {
  return (await execFileP(cmd, args, { encoding: 'utf8' })).stdout;
}

// ---------- nginx + curl / wrk ----------
const nginx = await startNginx({ locations: 'location = /users/42 { default_type application/json; return 200 "{\\"id\\":42}"; }' });
try {
  const curlVersion = (await run('curl', ['--version'])).split('\n')[0];
  const nginxVersion = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim();
  const cases = [
    ['curl-nginx-keepalive', ['/ok', '/notfound', '/chunked', '/users/42?token=secret&page=2', '/error'], [], 'curl, five URLs on one keep-alive connection'],
    ['curl-nginx-head', ['/ok'], ['-I'], 'curl -I (HEAD): Content-Length without a body'],
    ['curl-nginx-post', ['/ok'], ['--data-binary', `@${join(outDir, '.post-body')}`, '-H', 'Content-Type: application/octet-stream'], 'curl POST with a 3000-byte Content-Length body'],
    ['curl-nginx-http10', ['/ok'], ['-0'], 'curl -0 (HTTP/1.0 request)'],
  ];
  writeFileSync(join(outDir, '.post-body'), Buffer.alloc(3000, 0x61));
  for (const [name, paths, extra, how] of cases) {
    const p = await recordingProxy(nginx.port);
    await run('curl', ['-s', '-o', '/dev/null', ...extra, ...paths.map((x) => `http://127.0.0.1:${p.port}${x}`)]);
    await settle();
    await p.close();
    save(name, p.conns[0], `${how} (${curlVersion}; ${nginxVersion})`);
  }
  spawnSync('rm', ['-f', join(outDir, '.post-body')]);

  // wrk with HTTP pipelining: three requests per write, stops after 9 responses
  const lua = join(outDir, '.pipeline.lua');
  writeFileSync(lua, `
init = function(args)
  local r = {}
  r[1] = wrk.format("GET", "/ok")
  r[2] = wrk.format("GET", "/notfound")
  r[3] = wrk.format("GET", "/chunked")
  req = table.concat(r)
end
request = function() return req end
local n = 0
response = function(status, headers, body)
  n = n + 1
  if n >= 9 then wrk.thread:stop() end
end
`);
  const p = await recordingProxy(nginx.port);
  await run('wrk', ['-t1', '-c1', '-d2s', '-s', lua, `http://127.0.0.1:${p.port}`]);
  await settle();
  await p.close();
  spawnSync('rm', ['-f', lua]);
  const wrkVersion = spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] || 'wrk';
  // keep the conversation up to the 9th response (wrk may have written one more batch before stopping)
  console.log('wrk connections:', p.conns.map((c) => c.length));
  save('wrk-nginx-pipelined', p.conns.find((c) => c.length > 0) ?? [], `wrk -t1 -c1 with a pipelining script (3 requests per write: /ok, /notfound, /chunked) (${wrkVersion.trim()}; ${nginxVersion})`);
} finally {
  await nginx.stop();
}

// ---------- Node http client → Node http server ----------
const server = http.createServer((req, res) => {
  let body = 0;
  req.on('data', (d) => (body += d.length));
  req.on('end', () => {
    switch (req.url.split('?')[0]) {
      case '/users/123':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 10 });
        res.end('{"id":123}');
        break;
      case '/upload':
        res.writeHead(201, { 'content-type': 'text/plain' }); // no length: chunked on HTTP/1.1
        res.write(`got ${body} bytes\n`);
        res.end('done\n');
        break;
      case '/empty':
        res.writeHead(204);
        res.end();
        break;
      case '/cached':
        res.writeHead(304, { etag: '"v1"' });
        res.end();
        break;
      case '/fail':
        res.writeHead(500, { 'content-length': 5 });
        res.end('boom\n');
        break;
      case '/big':
        res.writeHead(200, { 'content-length': 20000 });
        res.end(Buffer.alloc(20000, 0x62));
        break;
      case '/stream':
        res.writeHead(200, { 'content-type': 'text/plain' }); // HTTP/1.0 client: EOF-delimited body
        res.write('part one\n');
        setTimeout(() => res.end('part two\n'), 20);
        break;
      default:
        res.writeHead(200, { 'content-length': 2 });
        res.end('ok');
    }
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
try {
  const p = await recordingProxy(server.address().port);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const call = (method, path, headers = {}, body) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: p.port, method, path, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    if (typeof body === 'function') body(req);
    else req.end(body);
  });
  await call('GET', '/users/123?session=abc', {
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    tracestate: 'congo=t61rcWkgMzE',
  });
  await call('POST', '/upload', {}, (req) => {
    req.write('a'.repeat(1500));
    setTimeout(() => req.end('b'.repeat(700)), 10);
  });
  await call('GET', '/empty');
  await call('GET', '/cached', { 'if-none-match': '"v1"' });
  await call('PUT', '/expect', { expect: '100-continue', 'content-length': 64 }, (req) => req.once('continue', () => req.end('x'.repeat(64))));
  await call('GET', '/fail');
  await call('GET', '/big');
  agent.destroy();
  await settle();

  // HTTP/1.0 from a raw socket: the response body is delimited by the connection closing
  await new Promise((resolve) => {
    const s = net.connect(p.port, '127.0.0.1', () => s.write('GET /stream HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: raw-socket/1.0\r\n\r\n'));
    s.resume();
    s.on('close', resolve);
  });
  await settle();
  await p.close();
  save('node-keepalive', p.conns[0], `Node ${process.version} http.Agent keepAlive → Node http server: traceparent, chunked request body, chunked response, 204, 304, 100-continue, 500, 20 kB body`);
  save('node-http10-eof', p.conns[1], `raw socket HTTP/1.0 request → Node ${process.version} http server: body delimited by close`);
} finally {
  server.close();
}

// ---------- a Node front server that calls a Node backend while handling each request ----------
// client → [proxy A] → front → [proxy B] → backend, one time line for both proxies: the front's outbound call
// happens inside its inbound request, which is what thread/in-flight linking must find.
{
  const backend = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ id: Number(req.url.split('/').pop()), items: [1, 2, 3] });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise((r) => backend.listen(0, '127.0.0.1', r));
  const t0 = process.hrtime.bigint();
  const pb = await recordingProxy(backend.address().port, t0);
  const backAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const front = http.createServer((req, res) => {
    req.resume();
    const id = req.url.split('/').pop();
    const call = http.request({ host: '127.0.0.1', port: pb.port, path: `/items/${id}`, agent: backAgent }, (r) => {
      let n = 0;
      r.on('data', (d) => (n += d.length));
      r.on('end', () => {
        const body = `order ${id}: ${n} bytes of items\n`;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    });
    call.end();
  });
  await new Promise((r) => front.listen(0, '127.0.0.1', r));
  const pa = await recordingProxy(front.address().port, t0);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (const [i, headers] of [[1, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }], [2, {}], [3, {}]]) {
    await new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: pa.port, path: `/orders/${i}`, agent, headers }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
  }
  agent.destroy();
  backAgent.destroy();
  await settle();
  await pa.close();
  await pb.close();
  front.close();
  backend.close();
  save('node-chain-front', pa.conns[0], `Node ${process.version} client → Node front server (3 requests, the first with a traceparent); times since the scenario start, shared with node-chain-backend`);
  save('node-chain-backend', pb.conns[0], `the Node front server → Node backend, one call per inbound request; times since the scenario start, shared with node-chain-front`);
}

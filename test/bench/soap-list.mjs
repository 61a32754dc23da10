// Benchmark of the SOAP source's list path: records/s and peak RSS for pages of 1,000 / 10,000 / 100,000
// records, Ferry's streaming client next to the bare `soap` (node-soap) client, in the same run, against the
// same local SOAP server (a separate process serving pre-rendered ListCases answers, so the server's cost is
// the same for both). Each measurement runs in a fresh process so peak RSS is its own.
//
//   npx tsc -b packages/soap && node test/bench/soap-list.mjs [--sizes 1000,10000,100000]
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reporter } from './report.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '..', '..');
const wsdl = join(repo, 'packages', 'soap', 'test', 'fixtures', 'wsdl', 'case-service.wsdl');
const self = fileURLToPath(import.meta.url);

function renderPage(count) {
  const parts = [
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>',
    '<ListCasesResponse xmlns="urn:ferry:test:cases:types"><ListCasesResult>',
  ];
  for (let i = 0; i < count; i += 1) {
    parts.push(
      `<Case><CaseId>C${String(i).padStart(7, '0')}</CaseId><Title>Regina v Defendant number ${i} &amp; others</Title>` +
        `<Status>${i % 2 ? 'OPEN' : 'CLOSED'}</Status><Court>Central Criminal Court</Court>` +
        `<ModifiedAt>2024-01-01T00:00:${String(i % 60).padStart(2, '0')}Z</ModifiedAt></Case>`,
    );
  }
  parts.push('</ListCasesResult></ListCasesResponse></soap:Body></soap:Envelope>');
  return Buffer.from(parts.join(''), 'utf8');
}

async function serve(sizes) {
  const pages = new Map(sizes.map((n) => [n, renderPage(n)]));
  const server = createServer((req, res) => {
    const size = Number(new URL(req.url, 'http://x').searchParams.get('size'));
    req.resume();
    req.on('end', () => {
      const body = pages.get(size);
      res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': body.length });
      res.end(body);
    });
  });
  // node-soap can spend longer than the default 5 s converting a page; keep its pooled socket open meanwhile.
  server.keepAliveTimeout = 600_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  process.stdout.write(
    `${JSON.stringify({ port: server.address().port, bytes: Object.fromEntries([...pages].map(([n, b]) => [n, b.length])) })}\n`,
  );
}

async function measure(kind, size, url, calls) {
  let call;
  if (kind === 'ferry') {
    const { SoapClient, soapConnectionSchema } = await import(
      join(repo, 'packages', 'soap', 'dist', 'index.js')
    );
    // No pacing: the bench compares the client's own speed with the bare node-soap client's, and the default
    // rate limit (10 calls/s, for fragile services) would cap it on small pages.
    const client = await SoapClient.open(
      soapConnectionSchema.parse({
        wsdl,
        port: 'CasePort11',
        endpoint: url,
        maxResponseBytes: 2 ** 31 - 1,
        rateLimit: { callsPerSecond: 0, concurrency: 1 },
      }),
    );
    call = async () => {
      let n = 0;
      // What the source does: records arrive in arrays of batchSize (1000) while the body streams.
      for await (const chunk of client.stream(
        'ListCases',
        { page: 1 },
        { recordPath: 'ListCasesResult.Case[]', chunkSize: 1000 },
      ))
        n += chunk.length;
      return n;
    };
  } else {
    const soap = await import('soap');
    const client = await soap.createClientAsync(wsdl, { endpoint: url });
    client.setEndpoint(url);
    call = async () => {
      const [result] = await client.ListCasesAsync({ page: 1 });
      return result.ListCasesResult.Case.length;
    };
  }
  // Baseline after the modules are loaded and the WSDL is read: growth past it is what a page costs.
  const rssBefore = process.memoryUsage().rss;
  const warm = await call();
  if (warm !== size) throw new Error(`${kind}: expected ${size} records, got ${warm}`);
  const started = process.hrtime.bigint();
  let records = 0;
  for (let i = 0; i < calls; i += 1) records += await call();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(
    `${JSON.stringify({ kind, size, records, seconds, rate: records / seconds, rssBefore, peakRss })}\n`,
  );
  process.exit(0);
}

function child(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [self, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve({ proc, result: JSON.parse(line) });
    });
    proc.on('exit', (code) => {
      if (!out.includes('\n')) reject(new Error(`${args.join(' ')} exited ${code}`));
    });
  });
}

async function main() {
  const sizesArg = process.argv.indexOf('--sizes');
  const sizes = (sizesArg === -1 ? '1000,10000,100000' : process.argv[sizesArg + 1]).split(',').map(Number);
  const { proc: server, result: info } = await child(['--serve', sizes.join(',')]);
  const mb = (b) => (b / 1024 / 1024).toFixed(1);
  console.log('SOAP list benchmark (records/s; peak RSS of a fresh process per measurement)');
  console.log('size     payload  client  records/s   peak RSS  RSS growth  growth/payload  peak/payload');
  try {
    for (const size of sizes) {
      const calls = Math.max(3, Math.round(300_000 / size));
      const url = `http://127.0.0.1:${info.port}/soap11?size=${size}`;
      const payload = info.bytes[size];
      const rows = {};
      for (const kind of ['soap', 'ferry']) {
        const { result } = await child(['--measure', kind, String(size), url, String(calls)]);
        rows[kind] = result;
        const growth = result.peakRss - result.rssBefore;
        console.log(
          `${String(size).padEnd(8)} ${mb(payload).padStart(6)}MB  ${kind.padEnd(6)} ${Math.round(result.rate).toString().padStart(10)} ` +
            `${mb(result.peakRss).padStart(8)}MB ${mb(growth).padStart(9)}MB ${(growth / payload).toFixed(2).padStart(14)} ${(result.peakRss / payload).toFixed(2).padStart(13)}`,
        );
      }
      console.log(
        `${''.padEnd(8)} ferry / soap records/s: ${(rows.ferry.rate / rows.soap.rate).toFixed(2)}x`,
      );
      const report = reporter(import.meta.url);
      report({
        name: `ferry list, pages of ${size}`,
        value: rows.ferry.rate,
        unit: 'records/s',
        baseline: { name: 'node-soap client', value: rows.soap.rate },
      });
      report({
        name: `ferry peak RSS, pages of ${size}`,
        value: rows.ferry.peakRss / 1048576,
        unit: 'MiB',
        baseline: { name: 'node-soap client', value: rows.soap.peakRss / 1048576 },
      });
    }
  } finally {
    server.kill();
  }
}

const mode = process.argv[2];
if (mode === '--serve') await serve(process.argv[3].split(',').map(Number));
else if (mode === '--measure')
  await measure(process.argv[3], Number(process.argv[4]), process.argv[5], Number(process.argv[6]));
else await main();

// Benchmark (issue 20): the read API's GET by id under 50 concurrent clients, against a bare fastify route
// reading the same SQLite row, and how many events the store applies per second while it serves.
//   - The store: N justice.offender entities written by EntityStore.apply itself (batches of 5,000, what a
//     consumer writes, so the rows are exactly apply's), in a child process; its rate is printed.
//   - ferry: the real buildApiServer over that store (auth none with acknowledgeUnauthenticated, the rate
//     limit raised out of reach but still run), in a child process of its own, as `ferry api` serves it;
//   - ferry-oauth2: the same with bearer JWTs (RS256) verified against a JWKS served on loopback by this
//     process, the token carrying the collection's scope;
//   - bare: a fastify app in a child process reading the same row with better-sqlite3 directly
//     (`SELECT data FROM ferry_api_entities WHERE type=? AND major=? AND id=?`, one prepared statement on a
//     read-only connection) and sending the stored JSON text as it is: the least a route can do (baseline).
// autocannon runs in this process (its own event loop) with 50 connections, each request for a random id
// across the whole store, the same seconds for every server, in interleaved rounds with the order rotated;
// medians of requests/s, p50 and p99 (from every 2xx response's time) and the server's CPU per request.
// Target: Ferry (auth none) ≥ 0.7× the bare route's requests/s.
// Then, per round, the store applies updates (batches of 1,000 random entities, each a newer sequence) in
// the ferry server's own process, as `ferry api` does, first with nothing served and then while autocannon
// loads it: events applied/s in both, and the read figures while applying.
//   node test/bench/api-read.mjs [entities=1000000] [seconds=10] [rounds=3] [--store <file>] [--profile <dir>]
// --store keeps the store in <file>: built when missing, reused as it is otherwise (its updates included),
// which saves the minute 1,000,000 entities take to write. --profile writes a V8 CPU profile of the ferry
// (auth none) server child into <dir> (node --cpu-prof).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadAverage, median, rotated, thousands } from './lib/measure.mjs';
import { reporter } from './report.mjs';

const root = join(import.meta.dirname, '..', '..');
const CONTRACTS = join(root, 'examples', 'justice-model', 'contracts');
const CONNECTIONS = 50;
const TYPE = 'justice.offender';
const SCOPE = 'offenders:v1:read';
const CONSUMER = 'bench';
const STREAM = '.ferry/events/justice.offender.v1.jsonl';
const ISSUER = 'https://login.example.test/realms/justice';
const AUDIENCE = 'justice-api';

/** The i-th offender's id, in the contract's pattern (`A1234BC`): unique for i below 6,760,000. */
const idOf = (i) => {
  const rest = Math.floor(i / 10_000);
  return `A${String(i % 10_000).padStart(4, '0')}${String.fromCharCode(65 + Math.floor(rest / 26), 65 + (rest % 26))}`;
};
const FAMILIES = ['SMITH', 'JONES', 'TAYLOR', 'BROWN', 'WILLIAMS', 'WILSON', 'JOHNSON', 'DAVIES', 'ROBINSON'];
const GIVEN = ['JOHN', 'DAVID', 'MICHAEL', 'SARAH', 'EMMA', 'JAMES', 'PETER'];
const PRISONS = ['LEI', 'MDI', 'BXI', 'WWI', 'HMI', 'PVI', 'LPI', 'NMI'];
const GENDERS = ['male', 'female', 'not-known'];
const pad = (n, width) => String(n).padStart(width, '0');

const CREATED = '2026-01-01T00:00:00.000Z';

/** A justice.offender 1.1.0 object as of `time`; an update (`moves` > 0) changes its prison. */
function offender(i, moves, time) {
  return {
    offenderId: idOf(i),
    name: { family: `${FAMILIES[i % FAMILIES.length]}${i % 1000}`, given: GIVEN[i % GIVEN.length] },
    dateOfBirth: `19${50 + (i % 50)}-${pad(1 + (i % 12), 2)}-${pad(1 + (i % 28), 2)}`,
    gender: GENDERS[i % GENDERS.length],
    location: { prisonId: PRISONS[(i + moves) % PRISONS.length] },
    active: i % 7 !== 0,
    lastModified: time,
  };
}

/** The canonical event a pipeline writes: a create (sequence below 10^7) or an update of entity `i`. */
function eventOf(i, eventId, sequence, time = CREATED) {
  const update = time !== CREATED;
  return {
    specversion: '1.0',
    id: eventId,
    source: '/ferry/prison-roll/offenders',
    type: `${TYPE}.${update ? 'updated' : 'created'}`,
    subject: idOf(i),
    time,
    datacontenttype: 'application/json',
    dataschema: 'urn:ferry:contract:justice.offender:1.1.0',
    data: offender(i, update ? sequence % 7 : 0, time),
    ferryop: update ? 'update' : 'create',
    // Zero-padded, so that their text order (how the store compares them) is their numeric order.
    sequence: pad(sequence, 20),
  };
}

// ── children ───────────────────────────────────────────────────────────────────────────────────────────

const api = () => import('../../packages/api/dist/index.js');

/** Answer the parent's requests `{ id, cmd, ... }` with `{ id, ...answer }`. */
function serveParent(handlers) {
  process.on('message', async (message) => {
    try {
      process.send({ id: message.id, ...(await handlers[message.cmd](message)) });
    } catch (error) {
      process.send({ id: message.id, error: String(error?.stack ?? error) });
    }
  });
}

const usage = () => {
  const cpu = process.cpuUsage();
  return { cpuMicros: cpu.user + cpu.system, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
};

async function buildStore(db, count) {
  if (existsSync(db)) {
    const { default: Database } = await import('better-sqlite3');
    const sqlite = new Database(db, { readonly: true });
    const { entities } = sqlite
      .prepare('SELECT count(*) AS entities FROM ferry_api_entities WHERE deleted = 0')
      .get();
    sqlite.close();
    return { entities };
  }
  const { EntityStore } = await api();
  const store = await EntityStore.open({ type: 'sqlite', path: db });
  const BATCH = 5000;
  const t0 = performance.now();
  let applied = 0;
  for (let from = 0; from < count; from += BATCH) {
    const events = [];
    for (let i = from; i < Math.min(count, from + BATCH); i += 1) events.push(eventOf(i, `c-${i}`, i));
    const result = await store.apply(CONSUMER, events, { [STREAM]: String(from + events.length) });
    applied += result.applied;
  }
  const seconds = (performance.now() - t0) / 1000;
  await store.close();
  return { entities: applied, seconds };
}

async function serveFerry(db, count, jwksUri) {
  const { apiConfigSchema, buildApiServer, collectionsOf, EntityStore } = await api();
  const { loadContractRepository } = await import('../../packages/contracts/dist/index.js');
  const { silentLogger } = await import('../../packages/core/dist/index.js');
  const config = apiConfigSchema.parse({
    api: 'justice',
    store: { type: 'sqlite', path: db },
    contracts: { repository: CONTRACTS },
    streams: [{ file: STREAM }],
    entities: [{ type: TYPE, filters: ['dateOfBirth', 'location.prisonId', 'active'] }],
    auth:
      jwksUri === undefined
        ? { mode: 'none', acknowledgeUnauthenticated: true }
        : { mode: 'oauth2', issuer: ISSUER, jwksUri, audience: AUDIENCE },
    // Out of reach of the load, but the plugin still counts every request, as it does in production.
    rateLimit: { requests: 1_000_000_000, windowSeconds: 60 },
  });
  const collections = collectionsOf(config, await loadContractRepository(CONTRACTS), 'api.yaml');
  const store = await EntityStore.open(config.store);
  // What `ferry api` keeps for the freshness headers: the store's positions, and each batch's as it applies.
  const freshness = { appliedAt: undefined, positions: await store.positions(CONSUMER) };
  const app = await buildApiServer({
    config,
    collections,
    store,
    logger: silentLogger(),
    freshness: () => freshness,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  // Above every sequence an earlier run gave (a reused store): each update is newer than the state.
  let sequence = Date.now() * 1000;
  serveParent({
    usage,
    // Updates of random entities, 1,000 a batch as the consumers apply them, for `seconds`.
    apply: async ({ seconds }) => {
      const t0 = performance.now();
      const until = t0 + seconds * 1000;
      let applied = 0;
      let batches = 0;
      while (performance.now() < until) {
        const events = [];
        const time = new Date().toISOString();
        for (let k = 0; k < 1000; k += 1) {
          sequence += 1;
          events.push(eventOf(Math.floor(Math.random() * count), `u-${sequence}`, sequence, time));
        }
        const position = String(sequence);
        const result = await store.apply(CONSUMER, events, { [STREAM]: position });
        if (result.applied !== events.length)
          throw new Error(`applied ${result.applied} of ${events.length}`);
        freshness.appliedAt = new Date().toISOString();
        freshness.positions[STREAM] = position;
        applied += result.applied;
        batches += 1;
        // A real consumer reads its next batch from a file or a socket, which lets requests in between
        // batches; this loop does no I/O, so it yields as that read would.
        await new Promise((done) => setImmediate(done));
      }
      return { applied, batches, seconds: (performance.now() - t0) / 1000 };
    },
    close: async () => {
      await app.close();
      await store.close();
      setImmediate(() => process.exit(0));
      return {};
    },
  });
  return app.server.address().port;
}

async function serveBare(db) {
  const { default: Fastify } = await import('fastify');
  const { default: Database } = await import('better-sqlite3');
  const sqlite = new Database(db, { readonly: true });
  sqlite.pragma('busy_timeout = 5000');
  const row = sqlite.prepare('SELECT data FROM ferry_api_entities WHERE type = ? AND major = ? AND id = ?');
  const app = Fastify({ logger: false });
  app.get('/v1/offenders/:id', (request, reply) => {
    const found = row.get(TYPE, 1, request.params.id);
    if (found === undefined || found.data === null) return reply.code(404).send({ status: 404 });
    return reply.type('application/json; charset=utf-8').send(found.data);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  serveParent({
    usage,
    close: async () => {
      await app.close();
      sqlite.close();
      setImmediate(() => process.exit(0));
      return {};
    },
  });
  return app.server.address().port;
}

// ── the bench ──────────────────────────────────────────────────────────────────────────────────────────

/** A child of this script, with `call(cmd, args)` answered over IPC. */
function child(role, db, args = [], execArgv = []) {
  const proc = fork(import.meta.filename, ['--child', role, db, ...args], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let next = 0;
  const pending = new Map();
  const first = new Promise((done, fail) => {
    proc.once('message', done);
    proc.once('exit', (code) => fail(new Error(`${role} child exited (${code}) before it was ready`)));
  });
  proc.on('message', (message) => {
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.error) waiting.fail(new Error(`${role}: ${message.error}`));
    else waiting.done(message);
  });
  proc.on('exit', (code) => {
    for (const waiting of pending.values()) waiting.fail(new Error(`${role} child exited (${code})`));
    pending.clear();
  });
  return {
    proc,
    first,
    call: (cmd, args = {}) =>
      new Promise((done, fail) => {
        next += 1;
        pending.set(next, { done, fail });
        proc.send({ id: next, cmd, ...args });
      }),
  };
}

/** A JWKS on loopback and a token it verifies, with the collection's scope. */
async function startIssuer() {
  const { exportJWK, generateKeyPair, SignJWT } = await import('jose');
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'RS256', use: 'sig' };
  const server = createServer((_request, response) =>
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const token = await new SignJWT({ scope: SCOPE, sub: 'bench-client' })
    .setProtectedHeader({ alg: 'RS256', kid: 'bench-1', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);
  return {
    jwksUri: `http://127.0.0.1:${server.address().port}/jwks.json`,
    token,
    close: () => server.close(),
  };
}

const percentile = (sorted, p) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** `seconds` of autocannon at CONNECTIONS connections on random ids; every answer must be a 200. */
async function load(autocannon, port, entities, seconds, headers = {}) {
  const times = [];
  const result = await new Promise((done, fail) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections: CONNECTIONS,
        duration: seconds,
        headers,
        requests: [
          {
            method: 'GET',
            setupRequest: (request) => {
              request.path = `/v1/offenders/${idOf(Math.floor(Math.random() * entities))}`;
              return request;
            },
          },
        ],
      },
      (error, r) => (error ? fail(error) : done(r)),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status === 200) times.push(ms);
    });
  });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0)
    throw new Error(
      `port ${port}: ${result.non2xx} non-2xx answers, ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  const sorted = Float64Array.from(times).sort();
  return {
    requests: result.requests.total,
    rate: result.requests.total / result.duration,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
  };
}

async function main() {
  const args = process.argv.slice(2);
  const option = (name) => {
    const at = args.indexOf(name);
    return at === -1 ? undefined : resolve(args.splice(at, 2)[1]);
  };
  const profileDir = option('--profile');
  const keep = option('--store');
  const entities = Number(args[0] ?? 1_000_000);
  const seconds = Number(args[1] ?? 10);
  const rounds = Number(args[2] ?? 3);
  if (!(entities >= 1 && entities <= 6_760_000)) throw new RangeError('entities: 1 to 6,760,000');
  const report = reporter(import.meta.url);
  const { default: autocannon } = await import('autocannon');
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-api-'));
  const db = keep ?? join(dir, 'api.db');
  const loadBefore = loadAverage();
  const children = [];
  const issuer = await startIssuer();
  try {
    const built = await child('build', db, [String(entities)]).first;
    if (built.entities !== entities)
      throw new Error(`the store at ${db} holds ${built.entities} entities, not ${entities}`);
    console.log(
      built.seconds === undefined
        ? `store: ${thousands(entities)} justice.offender entities, reused from ${db}`
        : `store: ${thousands(entities)} justice.offender entities written by EntityStore.apply (batches of 5,000) in ${built.seconds.toFixed(1)} s, ${thousands(entities / built.seconds)} events/s  load ${loadAverage()}`,
    );

    if (profileDir) mkdirSync(profileDir, { recursive: true });
    const servers = {
      ferry: child(
        'ferry',
        db,
        [String(entities)],
        profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
      ),
      bare: child('bare', db),
      'ferry-oauth2': child('ferry', db, [String(entities), issuer.jwksUri]),
    };
    children.push(...Object.values(servers));
    const ports = {};
    for (const [name, server] of Object.entries(servers)) ports[name] = (await server.first).port;
    const headers = { 'ferry-oauth2': { authorization: `Bearer ${issuer.token}` } };

    // The same entity from the real API and the bare route.
    const sample = idOf(Math.floor(entities / 2));
    const bodies = [];
    for (const name of Object.keys(servers)) {
      const response = await fetch(`http://127.0.0.1:${ports[name]}/v1/offenders/${sample}`, {
        headers: headers[name] ?? {},
      });
      if (response.status !== 200) throw new Error(`${name}: GET ${sample} answered ${response.status}`);
      bodies.push(JSON.stringify(await response.json()));
    }
    if (!bodies[0].includes(`"offenderId":"${sample}"`) || bodies.some((b) => b !== bodies[0]))
      throw new Error(`GET ${sample} answered ${bodies.join(' / ')}`);

    const names = Object.keys(servers);
    const width = Math.max(...names.map((n) => n.length));
    console.log(
      `GET /v1/offenders/{random id}, ${CONNECTIONS} connections (autocannon), ${seconds} s per server per round, ${rounds} interleaved rounds`,
    );
    // Warm-up: JIT, the JWKS fetched, SQLite's pages in the page cache.
    for (const name of names) await load(autocannon, ports[name], entities, 2, headers[name]);

    const seen = Object.fromEntries(names.map((n) => [n, []]));
    const measure = async (name, extra = async () => undefined) => {
      const before = await servers[name].call('usage');
      const [figures, other] = await Promise.all([
        load(autocannon, ports[name], entities, seconds, headers[name]),
        extra(),
      ]);
      const after = await servers[name].call('usage');
      return {
        ...figures,
        cpuPerRequest: (after.cpuMicros - before.cpuMicros) / figures.requests,
        rss: after.peakRssBytes,
        other,
      };
    };
    // The server's CPU per request, except while it applies too (that CPU is mostly the applying).
    const line = (label, f) =>
      `${label} ${thousands(f.rate).padStart(7)} req/s  p50 ${f.p50.toFixed(2).padStart(7)} ms  p99 ${f.p99.toFixed(2).padStart(7)} ms${f.cpuPerRequest === undefined ? '' : `  ${f.cpuPerRequest.toFixed(0).padStart(4)} µs CPU/req`}`;
    for (let round = 0; round < rounds; round += 1) {
      for (const name of rotated(names, round)) {
        const f = await measure(name);
        seen[name].push(f);
        console.log(`${line(`round ${round + 1} ${name.padEnd(width)}`, f)}  load ${loadAverage()}`);
      }
    }

    // Events applied/s in the ferry server's process: alone, then while serving the same load.
    const writes = { idle: [], serving: [], reads: [] };
    const rate = (r) => r.applied / r.seconds;
    for (let round = 0; round < rounds; round += 1) {
      const idle = await servers.ferry.call('apply', { seconds });
      const serving = await measure('ferry', () => servers.ferry.call('apply', { seconds }));
      writes.idle.push(rate(idle));
      writes.serving.push(rate(serving.other));
      writes.reads.push(serving);
      console.log(
        `round ${round + 1} applying: ${thousands(rate(idle)).padStart(6)} events/s alone, ${thousands(rate(serving.other)).padStart(6)} events/s while serving; ${line('reads meanwhile', { ...serving, cpuPerRequest: undefined })}  load ${loadAverage()}`,
      );
    }

    const of = (list, pick) => median(list.map(pick));
    const medianOf = (name) => ({
      rate: of(seen[name], (f) => f.rate),
      p50: of(seen[name], (f) => f.p50),
      p99: of(seen[name], (f) => f.p99),
      cpuPerRequest: of(seen[name], (f) => f.cpuPerRequest),
    });
    const m = Object.fromEntries(names.map((n) => [n, medianOf(n)]));
    const during = {
      rate: of(writes.reads, (f) => f.rate),
      p50: of(writes.reads, (f) => f.p50),
      p99: of(writes.reads, (f) => f.p99),
    };
    const peakRss = Math.max(...seen.ferry.map((f) => f.rss), ...writes.reads.map((f) => f.rss));
    console.log(
      `read API GET by id, ${thousands(entities)} entities, ${CONNECTIONS} connections, ${rounds} rounds of ${seconds} s (medians)`,
    );
    for (const name of names) console.log(line(`  ${name.padEnd(width + 18)}`, m[name]));
    console.log(line(`  ${'ferry while applying'.padEnd(width + 18)}`, during));
    const ratio = m.ferry.rate / m.bare.rate;
    const perRound = seen.ferry.map((f, i) => (f.rate / seen.bare[i].rate).toFixed(2)).join(', ');
    console.log(`  ferry / bare requests/s: ${ratio.toFixed(2)} (target ≥ 0.7); round by round ${perRound}`);
    console.log(
      `  server CPU per request, ferry / bare: ${(m.ferry.cpuPerRequest / m.bare.cpuPerRequest).toFixed(2)}`,
    );
    console.log(`  ferry-oauth2 / bare requests/s: ${(m['ferry-oauth2'].rate / m.bare.rate).toFixed(2)}`);
    console.log(
      `  events applied/s (batches of 1,000, in the server's process): ${thousands(median(writes.idle))} alone, ${thousands(median(writes.serving))} while serving`,
    );
    console.log(`  ferry server peak RSS ${(peakRss / 1048576).toFixed(0)} MiB`);
    console.log(`  load average: ${loadBefore} at start, ${loadAverage()} at end`);

    report({
      name: 'GET by id requests/s (auth none)',
      value: m.ferry.rate,
      unit: 'req/s',
      baseline: { name: 'bare fastify + better-sqlite3', value: m.bare.rate },
      target: '≥ 0.7',
    });
    report({
      name: 'GET by id p99 (auth none)',
      value: m.ferry.p99,
      unit: 'ms',
      baseline: { name: 'bare fastify + better-sqlite3', value: m.bare.p99 },
    });
    report({
      name: 'GET by id server CPU per request (auth none)',
      value: m.ferry.cpuPerRequest,
      unit: 'µs',
      baseline: { name: 'bare fastify + better-sqlite3', value: m.bare.cpuPerRequest },
    });
    report({
      name: 'GET by id requests/s (oauth2 bearer)',
      value: m['ferry-oauth2'].rate,
      unit: 'req/s',
      baseline: { name: 'bare fastify + better-sqlite3', value: m.bare.rate },
    });
    report({
      name: 'events applied/s while serving',
      value: median(writes.serving),
      unit: 'events/s',
      baseline: { name: 'applied with nothing served', value: median(writes.idle) },
    });
    report({
      name: 'GET by id requests/s while applying',
      value: during.rate,
      unit: 'req/s',
      baseline: { name: 'ferry, nothing applied', value: m.ferry.rate },
    });
  } finally {
    await Promise.allSettled(
      children.map(async (c) => {
        if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
        const exited = once(c.proc, 'exit');
        await c.call('close').catch(() => c.proc.kill());
        await exited;
      }),
    );
    issuer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const [, , , role, db, count, jwksUri] = process.argv;
  if (role === 'build') {
    process.send(await buildStore(db, Number(count)));
    process.disconnect();
  } else {
    const port = role === 'bare' ? await serveBare(db) : await serveFerry(db, Number(count), jwksUri);
    process.send({ port });
  }
} else {
  await main();
}

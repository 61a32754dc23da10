// Benchmark (issue 21): webhook deliveries per second from @ferry/webhooks' Dispatcher to a receiver on
// loopback, against a bare undici client posting the same bodies, in the same run.
//   - The receiver: node:http in a child process of its own (so it never shares an event loop with what is
//     measured), answering 204 to every POST once its body is read, counting requests and bytes. It does not
//     check signatures while measuring (that would dominate); before the rounds it checks a handful of
//     Ferry's requests with the official `standardwebhooks` package (and refuses one tampered body), and the
//     bare client's bodies are checked to be byte for byte Ferry's.
//   - ferry: a Dispatcher (the built packages/webhooks) with a loopback allow-list, default retry, timeouts
//     and breaker, each event enqueued in stream order and counted when its `done` says delivered: per event
//     the CloudEvent's JSON, a Standard Webhooks HMAC-SHA256 signature, order per subject, undici.
//   - bare: in the same process, undici `request` with an `Agent` of default settings posting
//     `JSON.stringify(event)` with Ferry's content type, counting 2xx answers: the least a client can do.
// Two cases: "1 subject" (every event of one subject, Ferry at concurrency 1; bare with 1 request in flight)
// and "50" (events round-robin over 500 subjects, Ferry at concurrency 50; bare with 50 in flight). Rounds
// interleave ferry and bare with their order rotated per round; medians of deliveries/s, of the parent's
// CPU per delivery (process.cpuUsage: the bench's own loop is in both), of p50/p99 HTTP latency (Ferry's from
// its observer's `attempt`, bare's timed around `request` and reading the answer), and of the receiver's CPU
// per request. Target: Ferry ≥ 0.7× bare's deliveries/s in both cases.
//   node test/bench/webhooks.mjs [events=20000] [rounds=3] [--profile <dir>]
// --profile: after the rounds, one more run of each (tool, case) under the V8 CPU profiler (node:inspector,
// so each profile holds that run alone), written to <dir> as .cpuprofile files and summarised in µs per
// delivery: by package, and the frames with the most time (self and inclusive).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { loadAverage, median, rotated, thousands } from './lib/measure.mjs';
import { reporter } from './report.mjs';

const root = join(import.meta.dirname, '..', '..');
const WEBHOOKS = join(root, 'packages', 'webhooks');
// What @ferry/webhooks itself resolves: its undici (the bare client must be the same library) and its
// devDependency standardwebhooks, wherever npm put them.
const fromWebhooks = createRequire(join(WEBHOOKS, 'package.json'));
const LOOPBACK = { allow: ['127.0.0.1/32'] };
/** Ferry's content type in structured mode (the subscription's default); bare sends the same. */
const CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
const SUBJECTS = 500;
const CASES = [
  { name: '1 subject', subjects: 1, concurrency: 1 },
  { name: `50 (${SUBJECTS} subjects)`, subjects: SUBJECTS, concurrency: 50 },
];
const CHECKED = 6;

// ── the events ─────────────────────────────────────────────────────────────────────────────────────────

/** The i-th offender's id, in the contract's pattern (`A1234BC`). */
const idOf = (i) => {
  const rest = Math.floor(i / 10_000);
  return `A${String(i % 10_000).padStart(4, '0')}${String.fromCharCode(65 + Math.floor(rest / 26), 65 + (rest % 26))}`;
};
const FAMILIES = ['SMITH', 'JONES', 'TAYLOR', 'BROWN', 'WILLIAMS', 'WILSON', 'JOHNSON', 'DAVIES', 'ROBINSON'];
const GIVEN = ['JOHN', 'DAVID', 'MICHAEL', 'SARAH', 'EMMA', 'JAMES', 'PETER'];
const PRISONS = ['LEI', 'MDI', 'BXI', 'WWI', 'HMI', 'PVI', 'LPI', 'NMI'];
const GENDERS = ['male', 'female', 'not-known'];
const pad = (n, width) => String(n).padStart(width, '0');
const EPOCH = Date.UTC(2026, 11, 1);

/** Event `i` of a stream over `subjects` offenders: an update of offender `i % subjects`, as a pipeline makes it. */
function eventOf(i, subjects) {
  const o = i % subjects;
  const time = new Date(EPOCH + i * 1000).toISOString();
  return {
    specversion: '1.0',
    id: `6f1c2a8e-${pad(subjects, 4)}-4a7b-9c1d-${pad(i, 12)}`,
    source: '/ferry/bench/offenders',
    type: 'justice.offender.updated',
    subject: idOf(o),
    time,
    datacontenttype: 'application/json',
    dataschema: 'urn:ferry:contract:justice.offender:1.0.0',
    data: {
      offenderId: idOf(o),
      name: { family: `${FAMILIES[o % FAMILIES.length]}${o % 1000}`, given: GIVEN[o % GIVEN.length] },
      dateOfBirth: `19${50 + (o % 50)}-${pad(1 + (o % 12), 2)}-${pad(1 + (o % 28), 2)}`,
      gender: GENDERS[o % GENDERS.length],
      location: {
        prisonId: PRISONS[(o + i) % PRISONS.length],
        cell: `${'ABCD'[i % 4]}-${1 + (i % 3)}-${pad(i % 300, 3)}`,
      },
      active: o % 7 !== 0,
      lastModified: time,
    },
    ferryorigin: `{"lsn":"0/${(0x16b3748 + i * 312).toString(16).toUpperCase()}","stream":"prison_roll.offenders","xid":${7_000 + i}}`,
    ferryop: 'update',
    sequence: pad(i, 20),
  };
}

/** Where a pipeline says an event came from (kept with a dead letter); the same object for every event. */
const ORIGIN = { stream: 'justice.offender', offset: 0 };

// ── the receiver (child) ───────────────────────────────────────────────────────────────────────────────

async function serveReceiver() {
  const { Webhook } = fromWebhooks('standardwebhooks');
  let requests = 0;
  let bytes = 0;
  /** While set, the next requests are kept (and, given a secret, checked): `{ left, webhook, kept }`. */
  let capture;
  const server = createServer((request, response) => {
    const chunks = capture === undefined ? undefined : [];
    request.on('data', (chunk) => {
      bytes += chunk.length;
      chunks?.push(chunk);
    });
    request.on('end', () => {
      requests += 1;
      if (chunks === undefined || capture === undefined || capture.left === 0) {
        response.writeHead(204).end();
        return;
      }
      capture.left -= 1;
      const body = Buffer.concat(chunks).toString('utf8');
      const kept = { headers: request.headers, body };
      if (capture.webhook !== undefined) {
        try {
          capture.webhook.verify(body, request.headers);
          kept.verified = true;
          // The check is not vacuous: the same signature over a body one byte longer is refused.
          try {
            capture.webhook.verify(`${body} `, request.headers);
            kept.tamperedAccepted = true;
          } catch {
            kept.tamperedAccepted = false;
          }
        } catch (error) {
          kept.verified = false;
          kept.error = String(error?.message ?? error);
        }
      }
      capture.kept.push(kept);
      // A signature that does not verify is refused, so Ferry would dead-letter the event.
      response.writeHead(kept.verified === false ? 401 : 204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.on('message', async (message) => {
    const answer = (reply) => process.send({ id: message.id, ...reply });
    try {
      if (message.cmd === 'usage') {
        const cpu = process.cpuUsage();
        answer({ requests, bytes, cpuMicros: cpu.user + cpu.system });
      } else if (message.cmd === 'capture') {
        capture = {
          left: message.count,
          webhook: message.secret === undefined ? undefined : new Webhook(message.secret),
          kept: [],
        };
        answer({});
      } else if (message.cmd === 'captured') {
        const kept = capture?.kept ?? [];
        capture = undefined;
        answer({ kept });
      } else if (message.cmd === 'close') {
        server.closeAllConnections();
        server.close();
        answer({});
        setImmediate(() => process.exit(0));
      }
    } catch (error) {
      answer({ error: String(error?.stack ?? error) });
    }
  });
  // A parent that dies (a broken pipe, ^C) must not leave the receiver behind.
  process.once('disconnect', () => process.exit(0));
  process.send({ port: server.address().port });
}

/** The receiver child, with `call(cmd, args)` answered over IPC. */
function receiverChild() {
  const proc = fork(import.meta.filename, ['--child', 'receiver'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let next = 0;
  const pending = new Map();
  const first = new Promise((done, fail) => {
    proc.once('message', done);
    proc.once('exit', (code) => fail(new Error(`receiver exited (${code}) before it was ready`)));
  });
  proc.on('message', (message) => {
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.error) waiting.fail(new Error(`receiver: ${message.error}`));
    else waiting.done(message);
  });
  proc.on('exit', (code) => {
    for (const waiting of pending.values()) waiting.fail(new Error(`receiver exited (${code})`));
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

// ── the two clients ────────────────────────────────────────────────────────────────────────────────────

/** Ferry: one Dispatcher for the run; every event enqueued in stream order, counted once delivered. */
async function runFerry(ferry, { url, secret, concurrency, events }) {
  const subscription = ferry.subscriptionSchema.parse({
    name: 'bench',
    url,
    events: ['*'],
    secrets: [secret],
    concurrency,
  });
  const latencies = new Float64Array(events.length);
  let timed = 0;
  const letters = [];
  const dispatcher = new ferry.Dispatcher({
    subscription,
    policy: LOOPBACK,
    deadLetters: async (dead) => {
      letters.push(...dead);
    },
    observer: {
      attempt: (_name, result) => {
        if (timed < latencies.length) latencies[timed++] = result.ms;
      },
    },
  });
  let delivered = 0;
  const others = [];
  const settle = (outcome) => {
    if (outcome.kind === 'delivered') delivered += 1;
    else others.push(outcome);
  };
  const failures = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const event of events) {
    const { done } = await dispatcher.enqueue(event, ORIGIN);
    done.then(settle, (error) => failures.push(error));
  }
  await dispatcher.idle();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await dispatcher.close();
  if (delivered !== events.length || failures.length > 0)
    throw new Error(
      `ferry delivered ${delivered} of ${events.length}: ${JSON.stringify(others.slice(0, 3))} ${letters[0]?.message ?? ''} ${failures[0] ?? ''}`,
    );
  return { delivered, seconds, cpuMicros: used.user + used.system, latencies: latencies.subarray(0, timed) };
}

/** Bare undici: `concurrency` loops, each posting the next event's JSON and counting 2xx answers. */
async function runBare(undici, { url, concurrency, events }) {
  const agent = new undici.Agent();
  const latencies = new Float64Array(events.length);
  const headers = { 'content-type': CONTENT_TYPE };
  let next = 0;
  let delivered = 0;
  const statuses = [];
  const loop = async () => {
    while (next < events.length) {
      const i = next++;
      const body = JSON.stringify(events[i]);
      const sent = performance.now();
      const response = await undici.request(url, { method: 'POST', headers, body, dispatcher: agent });
      await response.body.dump();
      latencies[i] = performance.now() - sent;
      if (response.statusCode >= 200 && response.statusCode < 300) delivered += 1;
      else statuses.push(response.statusCode);
    }
  };
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await agent.close();
  if (delivered !== events.length)
    throw new Error(`bare delivered ${delivered} of ${events.length}; answers ${statuses.slice(0, 5)}`);
  return { delivered, seconds, cpuMicros: used.user + used.system, latencies };
}

const percentile = (sorted, p) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

// ── the profile summary ────────────────────────────────────────────────────────────────────────────────

/** What a frame belongs to, by its script: Ferry's packages, a dependency, Node, or V8's own entries. */
function ownerOf(frame) {
  const url = frame.url;
  if (url === '')
    return frame.functionName.startsWith('(') ? frame.functionName : `(native) ${frame.functionName}`;
  if (url.includes('/packages/webhooks/')) return '@ferry/webhooks';
  if (url.includes('/packages/core/')) return '@ferry/core';
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency) return dependency[1];
  if (url.startsWith('node:')) return 'node';
  if (url.endsWith('/test/bench/webhooks.mjs')) return 'the bench';
  return url;
}

const frameName = (frame) =>
  `${frame.functionName || '(anonymous)'} ${frame.url === '' ? '' : `${frame.url.replace(/^.*\/(node_modules|packages)\//, '')}:${frame.lineNumber + 1}`}`.trim();

// Frames on nearly every stack, which say nothing about where the time goes.
const GENERIC = /^(\(root\)|\(program\)|runMicrotasks|processTicksAndRejections|processImmediate) /;

/**
 * Where a V8 CPU profile's busy time went, in µs per delivery (each sample weighed by its time delta): by
 * owner of the running frame, and the top frames by self and inclusive time.
 */
function summarise(profile, deliveries, top = 12) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const owners = new Map();
  const self = new Map();
  const inclusive = new Map();
  let busy = 0;
  let total = 0;
  const add = (map, key, us) => map.set(key, (map.get(key) ?? 0) + us);
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i + 1] ?? 0;
    total += us;
    const leaf = byId.get(id);
    if (leaf.callFrame.functionName === '(idle)') return;
    busy += us;
    add(owners, ownerOf(leaf.callFrame), us);
    add(self, frameName(leaf.callFrame), us);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const name = frameName(byId.get(at).callFrame);
      if (!seen.has(name)) add(inclusive, name, us);
      seen.add(name);
    }
  });
  const per = (us) => `${(us / deliveries).toFixed(1).padStart(6)} µs`;
  const rank = (map) =>
    [...map]
      .filter(([name]) => !GENERIC.test(`${name} `))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => `  ${per(us)} ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${name}`);
  return [
    `main thread busy ${per(busy).trim()} per delivery of ${per(total).trim()} (the rest idle; GC helper threads and the kernel are not in it)`,
    'by owner (self):',
    ...rank(owners),
    'top frames, self:',
    ...rank(self),
    'top frames, inclusive:',
    ...rank(inclusive),
  ];
}

// ── the bench ──────────────────────────────────────────────────────────────────────────────────────────

async function main() {
  const args = process.argv.slice(2);
  const at = args.indexOf('--profile');
  const profileDir = at === -1 ? undefined : resolve(args.splice(at, 2)[1]);
  const count = Number(args[0] ?? 20_000);
  const rounds = Number(args[1] ?? 3);
  if (!(Number.isInteger(count) && count >= 100)) throw new RangeError('events: a whole number ≥ 100');
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new RangeError('rounds: a whole number ≥ 1');
  const report = reporter(import.meta.url);
  const ferry = await import('../../packages/webhooks/dist/index.js');
  const undici = fromWebhooks('undici');
  const loadBefore = loadAverage();
  const receiver = receiverChild();
  try {
    const { port } = await receiver.first;
    const url = `http://127.0.0.1:${port}/hooks/ferry`;
    const secret = ferry.generateSecret();
    const streams = new Map(
      CASES.map((c) => [c, Array.from({ length: count }, (_, i) => eventOf(i, c.subjects))]),
    );
    const body = JSON.stringify(streams.get(CASES[0])[0]);
    console.log(
      `webhooks: ${thousands(count)} events per run (structured CloudEvents of ${body.length} bytes), ${rounds} interleaved rounds, receiver pid ${receiver.proc.pid} on ${url}  load ${loadAverage()}`,
    );

    // Real, signed deliveries: a few of Ferry's requests checked with the official library, and bare's
    // bodies the same bytes as Ferry's.
    const sample = streams.get(CASES[1]).slice(0, CHECKED);
    await receiver.call('capture', { count: CHECKED, secret });
    await runFerry(ferry, { url, secret, concurrency: 1, events: sample });
    const signed = (await receiver.call('captured')).kept;
    const wrong = signed.filter(
      (k, i) =>
        !k.verified ||
        k.tamperedAccepted ||
        k.headers['webhook-id'] !== sample[i].id ||
        k.headers['content-type'] !== CONTENT_TYPE ||
        JSON.parse(k.body).id !== sample[i].id,
    );
    if (signed.length !== CHECKED || wrong.length > 0)
      throw new Error(`Ferry's requests did not verify: ${JSON.stringify(wrong[0] ?? signed.length)}`);
    await receiver.call('capture', { count: CHECKED });
    await runBare(undici, { url, concurrency: 1, events: sample });
    const plain = (await receiver.call('captured')).kept;
    if (plain.length !== CHECKED || plain.some((k, i) => k.body !== signed[i].body))
      throw new Error('the bare client did not post the bytes Ferry posted');
    console.log(
      `checked: ${CHECKED} of Ferry's deliveries verified by standardwebhooks (webhook-signature ${signed[0].headers['webhook-signature'].slice(0, 16)}…; a tampered body refused), bare's bodies byte for byte the same`,
    );

    const tools = {
      ferry: (c, events) => runFerry(ferry, { url, secret, concurrency: c.concurrency, events }),
      bare: (c, events) => runBare(undici, { url, concurrency: c.concurrency, events }),
    };
    const names = Object.keys(tools);
    const measure = async (name, c, events) => {
      const before = await receiver.call('usage');
      const run = await tools[name](c, events);
      const after = await receiver.call('usage');
      if (after.requests - before.requests !== events.length)
        throw new Error(
          `${name}: the receiver got ${after.requests - before.requests} requests, not ${events.length}`,
        );
      const sorted = Float64Array.from(run.latencies).sort();
      return {
        rate: run.delivered / run.seconds,
        seconds: run.seconds,
        cpuPerDelivery: run.cpuMicros / run.delivered,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        receiverCpu: (after.cpuMicros - before.cpuMicros) / events.length,
      };
    };
    const line = (label, f) =>
      `${label} ${thousands(f.rate).padStart(7)} deliveries/s  ${f.cpuPerDelivery.toFixed(1).padStart(6)} µs CPU/delivery  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(6)} ms  receiver ${f.receiverCpu.toFixed(1).padStart(5)} µs CPU/req`;
    const width = Math.max(...CASES.map((c) => c.name.length)) + 6;

    // Warm-up: JIT, connections, both code paths.
    for (const c of CASES)
      for (const name of names) await tools[name](c, streams.get(c).slice(0, Math.min(2000, count)));

    const seen = new Map(CASES.map((c) => [c, Object.fromEntries(names.map((n) => [n, []]))]));
    for (let round = 0; round < rounds; round += 1) {
      for (const c of CASES) {
        for (const name of rotated(names, round)) {
          const f = await measure(name, c, streams.get(c));
          seen.get(c)[name].push(f);
          console.log(
            `${line(`round ${round + 1} ${`${c.name} ${name}`.padEnd(width)}`, f)}  (${f.seconds.toFixed(2)} s)  load ${loadAverage()}`,
          );
        }
      }
    }

    console.log(`webhook deliveries, ${thousands(count)} events per run, ${rounds} rounds (medians)`);
    for (const c of CASES) {
      const s = seen.get(c);
      const m = Object.fromEntries(
        names.map((n) => [
          n,
          Object.fromEntries(
            ['rate', 'cpuPerDelivery', 'p50', 'p99', 'receiverCpu'].map((k) => [
              k,
              median(s[n].map((f) => f[k])),
            ]),
          ),
        ]),
      );
      for (const n of names) console.log(line(`  ${`${c.name} ${n}`.padEnd(width)}`, m[n]));
      const ratio = m.ferry.rate / m.bare.rate;
      const perRound = s.ferry.map((f, i) => (f.rate / s.bare[i].rate).toFixed(2)).join(', ');
      console.log(
        `  ${c.name}: ferry / bare deliveries/s ${ratio.toFixed(2)} (target ≥ 0.7; rounds ${perRound}); CPU per delivery ${(m.ferry.cpuPerDelivery / m.bare.cpuPerDelivery).toFixed(2)}×`,
      );
      report({
        name: `deliveries/s, ${c.name}, concurrency ${c.concurrency}`,
        value: m.ferry.rate,
        unit: 'deliveries/s',
        baseline: { name: `bare undici, ${c.concurrency} in flight`, value: m.bare.rate },
        target: '≥ 0.7',
      });
      report({
        name: `client CPU per delivery, ${c.name}`,
        value: m.ferry.cpuPerDelivery,
        unit: 'µs',
        baseline: { name: `bare undici, ${c.concurrency} in flight`, value: m.bare.cpuPerDelivery },
      });
    }
    console.log(`  load average: ${loadBefore} at start, ${loadAverage()} at end`);

    if (profileDir) {
      mkdirSync(profileDir, { recursive: true });
      const session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      for (const c of CASES) {
        for (const name of names) {
          await session.post('Profiler.start');
          await tools[name](c, streams.get(c));
          const { profile } = await session.post('Profiler.stop');
          const file = join(profileDir, `webhooks-${name}-c${c.concurrency}.cpuprofile`);
          writeFileSync(file, JSON.stringify(profile));
          console.log(`profile of ${name}, ${c.name}: ${file}`);
          for (const l of summarise(profile, count)) console.log(`  ${l}`);
        }
      }
      session.disconnect();
    }
  } finally {
    if (receiver.proc.exitCode === null && receiver.proc.signalCode === null) {
      const exited = once(receiver.proc, 'exit');
      await receiver.call('close').catch(() => receiver.proc.kill());
      await exited;
    }
  }
}

if (process.argv[2] === '--child') await serveReceiver();
else await main();

// The ledger read for people: a migration's runs judged with today's notes, its gate and phase, the fields
// that differ most with samples, and its line in the inventory (replacing pipelines, topics, contracts,
// the consumer groups reading those topics from the broker, freshness). One builder for the CLI, the
// report page and the admin API, so they never disagree.
import { type LoadedPipeline, loadPipelineFile, type Registry } from '@ferry/core';
import { topicConsumers } from '@ferry/kafka';
import type { LoadedMigration } from './config.js';
import { explains, gateOf, judgeRun, phaseOf } from './gate.js';
import type { Ledger } from './ledger.js';
import type { Consumer, InventoryEntry, MigrationView, RunSummary, TopField } from './model.js';
import { shadowStart } from './shadow.js';

const SAMPLES_PER_FIELD = 5;
const TOP_FIELDS = 10;

export interface ViewOptions {
  now: Date;
  /** Ask the broker for the consumer groups of Kafka topics (the inventory); default true. */
  consumers?: boolean;
  registry: Registry;
}

/** The ledger's view of one migration now. */
export async function migrationView(
  loaded: LoadedMigration,
  ledger: Ledger,
  options: ViewOptions,
): Promise<MigrationView> {
  const { config } = loaded;
  const name = config.migration;
  const [recorded, notes, decisions, start] = await Promise.all([
    ledger.runs(name),
    ledger.notes(name),
    ledger.decisions(name),
    shadowStart(loaded, ledger),
  ]);
  const withMismatches = recorded.filter((r) => r.missing + r.extra + r.differing > 0).map((r) => r.slot);
  const mismatches = await ledger.mismatches(name, withMismatches);
  const runs = recorded.map((r) => judgeRun(r, mismatches.get(r.slot) ?? [], notes));
  const gate = gateOf(config, start, runs, options.now);
  const { phase, status } = phaseOf(runs, gate, decisions, options.now);

  const fields = new Map<string, TopField>();
  for (const run of runs)
    for (const [field, f] of Object.entries(run.fields)) {
      if (f.differing === 0) continue;
      const top = fields.get(field) ?? { field, column: f.column, differing: 0, samples: [] };
      top.differing += f.differing;
      fields.set(field, top);
    }
  // Samples from the newest runs first: what an operator is looking at today.
  for (const run of [...runs].reverse())
    for (const m of mismatches.get(run.slot) ?? [])
      for (const f of m.fields ?? []) {
        const top = fields.get(f.field);
        if (top === undefined || top.samples.length >= SAMPLES_PER_FIELD) continue;
        top.samples.push({
          slot: run.slot,
          key: m.key,
          reference: f.reference,
          stream: f.stream,
          explained: explains(notes, { key: m.key, kind: 'differs', fields: [f] }),
        });
      }
  const topFields = [...fields.values()].sort((a, b) => b.differing - a.differing).slice(0, TOP_FIELDS);
  const inventory = await inventoryEntry(loaded, runs, phase, status, options);
  return {
    name,
    ...(config.description === undefined ? {} : { description: config.description }),
    legacyJob: config.legacy.job,
    schedule: { cron: config.legacy.schedule.cron, timezone: config.legacy.schedule.timezone },
    phase,
    gate,
    runs,
    topFields,
    notes,
    inventory,
  };
}

async function inventoryEntry(
  loaded: LoadedMigration,
  runs: RunSummary[],
  phase: MigrationView['phase'],
  status: string,
  options: ViewOptions,
): Promise<InventoryEntry> {
  const { config } = loaded;
  const pipelines: LoadedPipeline[] = [];
  const problems: string[] = [];
  for (const file of config.stream.pipelines) {
    try {
      pipelines.push(await loadPipelineFile(file, options.registry));
    } catch (error) {
      problems.push(`${file}: ${(error as Error).message}`);
    }
  }
  const kafkaTopics = new Map<string, string[]>();
  const addTopic = (topic: string, brokers: string[]) => kafkaTopics.set(topic, brokers);
  const events = config.stream.events;
  const topics: string[] = [];
  if ('kafka' in events) addTopic(events.kafka.topic, events.kafka.brokers);
  else topics.push(`file ${events.file}`);
  for (const pipeline of pipelines) {
    if (pipeline.sink.type !== 'kafka') continue;
    const options = pipeline.sink.options as { topic?: string; brokers?: string[] };
    const major = pipeline.contract.version.split('.')[0] ?? '1';
    const topic = (options.topic ?? '{type}.v{major}')
      .replaceAll('{type}', pipeline.contract.type)
      .replaceAll('{major}', major);
    if (options.brokers !== undefined) addTopic(topic, options.brokers);
  }
  topics.unshift(...kafkaTopics.keys());
  let consumers: Consumer[] = [];
  let consumersError: string | undefined;
  if (options.consumers !== false && kafkaTopics.size > 0) {
    const byBrokers = new Map<string, string[]>();
    for (const [topic, brokers] of kafkaTopics) {
      const key = brokers.join(',');
      byBrokers.set(key, [...(byBrokers.get(key) ?? []), topic]);
    }
    try {
      for (const [brokers, list] of byBrokers) {
        const found = await topicConsumers({
          brokers: brokers.split(','),
          topics: list,
          clientId: 'ferry-inventory',
        });
        consumers.push(
          ...found.map((c) => ({
            group: c.group,
            state: c.state,
            members: c.members,
            topics: c.topics.map((t) => ({ topic: t.topic, lag: t.lag })),
          })),
        );
      }
    } catch (error) {
      consumers = [];
      consumersError = (error as Error).message;
    }
  }
  if (problems.length > 0) consumersError = [consumersError, ...problems].filter(Boolean).join('; ');
  const complete = runs.filter((r) => r.status === 'complete');
  const last = complete.at(-1);
  const lastEventTime = complete
    .map((r) => r.lastEventTime)
    .filter((t): t is string => t !== undefined)
    .sort()
    .at(-1);
  return {
    migration: config.migration,
    ...(config.description === undefined ? {} : { description: config.description }),
    legacyJob: config.legacy.job,
    schedule: `${config.legacy.schedule.cron} (${config.legacy.schedule.timezone})`,
    pipelines: pipelines.map((p) => p.name),
    topics,
    contracts: [...new Set(pipelines.map((p) => `${p.contract.type}@${p.contract.version}`))],
    consumers,
    ...(consumersError === undefined ? {} : { consumersError }),
    phase,
    status,
    freshness: {
      ...(last?.startedAt === undefined ? {} : { lastRun: last.startedAt }),
      ...(last === undefined ? {} : { lastCutoff: last.cutoff }),
      ...(lastEventTime === undefined ? {} : { lastEventTime }),
      ...(last === undefined ? {} : { ageMs: options.now.getTime() - Date.parse(last.cutoff) }),
    },
  };
}

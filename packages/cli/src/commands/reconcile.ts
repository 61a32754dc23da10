// `ferry reconcile`: the parity check a migration team runs before retiring a batch job: a reference table,
// query or file against the state built from a pipeline's events. Exit 1 when parity is below --threshold.
import { writeFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import type { FieldMapping } from '../internal/reconcile.js';
import { reconcileInWorker } from '../internal/reconcile-run.js';
import type { StreamSpec } from '../internal/reconcile-stream.js';
import { usage } from '../internal/reconcile-usage.js';
import type { CommandContext } from './context.js';

interface ReconcileFlags {
  reference: string;
  table?: string;
  query?: string;
  delimiter?: string;
  key: string;
  keySeparator: string;
  field: string[];
  events?: string;
  kafkaTopic?: string;
  brokers?: string;
  type?: string;
  threshold: string;
  samples: string;
  json: boolean;
  out?: string;
  timeoutMs: string;
  workDir?: string;
  pageSize: string;
}

export function registerReconcileCommands(program: Command, ctx: CommandContext): void {
  program
    .command('reconcile')
    .description(
      'Compare a reference (SQL table or query, CSV or JSON Lines file) with the state built from events (file event log or Kafka topic), key by key.',
    )
    .requiredOption(
      '--reference <where>',
      'sqlite:<path> | postgres://user@host:port/db | mysql://… | mariadb://… | <file>.csv | <file>.jsonl (password: FERRY_RECONCILE_PASSWORD)',
    )
    .option('--table <name>', 'reference table (SQL references; or --query)')
    .option('--query <sql>', 'reference query (SQL references; or --table)')
    .option('--delimiter <char>', 'CSV delimiter (default ,)')
    .requiredOption(
      '--key <columns>',
      'reference key column(s), comma-separated; joined they equal the event subject',
    )
    .option('--key-separator <text>', 'joins several key columns', '|')
    .option(
      '--field <field=column>',
      'compare canonical field (dotted path in the event data) with a reference column; repeat for each field',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--events <file>', 'file event log (.ferry/events/<topic>.jsonl)')
    .option('--kafka-topic <topic>', 'Kafka topic, read from the beginning with read_committed')
    .option('--brokers <list>', 'Kafka bootstrap brokers, comma-separated')
    .option(
      '--type <canonical type>',
      'only events of this canonical type (default: all but ferry.* notices)',
    )
    .option(
      '--threshold <ratio>',
      'lowest acceptable parity (matching keys / all keys); exit 1 below it',
      '1',
    )
    .option('--samples <n>', 'how many missing, extra and differing keys to name', '20')
    .option('--json', 'print the report as JSON instead of the summary', false)
    .option('--out <file>', 'also write the JSON report to this file')
    // The read now ends at the end offsets the topic had when it started, whatever the silences; the option
    // is still accepted so scripts written for the earlier reader keep working.
    .addOption(new Option('--idle-ms <ms>', 'no longer used').hideHelp())
    .option('--timeout-ms <ms>', 'Kafka: give up when the topic is not read within this', '300000')
    .option('--page-size <rows>', 'SQL references are read this many rows at a time, in key order', '5000')
    .option('--work-dir <dir>', 'where the on-disk comparison store goes (default the OS temp dir)')
    .addHelpText(
      'after',
      '\nThe last event per subject wins; a delete removes the subject. Values compare as trimmed text\n' +
        '(blank = null). Exit codes: 0 parity at or above the threshold, 1 below it or a failure, 2 usage.',
    )
    .action(async (flags: ReconcileFlags) => {
      const report = await reconcileInWorker({
        reference: (await import('../internal/reconcile-reference.js')).parseReference(flags.reference, {
          ...(flags.table === undefined ? {} : { table: flags.table }),
          ...(flags.query === undefined ? {} : { query: flags.query }),
          ...(flags.delimiter === undefined ? {} : { delimiter: flags.delimiter }),
          pageSize: number('--page-size', flags.pageSize),
          ...(process.env.FERRY_RECONCILE_PASSWORD === undefined
            ? {}
            : { password: process.env.FERRY_RECONCILE_PASSWORD }),
        }),
        key: flags.key
          .split(',')
          .map((k) => k.trim())
          .filter((k) => k !== ''),
        keySeparator: flags.keySeparator,
        fields: flags.field.map(parseField),
        stream: streamSpec(flags),
        ...(flags.type === undefined ? {} : { type: flags.type }),
        threshold: number('--threshold', flags.threshold),
        samples: number('--samples', flags.samples),
        ...(flags.workDir === undefined ? {} : { workDir: flags.workDir }),
      });
      const json = JSON.stringify(report, null, 2);
      if (flags.out !== undefined) await writeFile(flags.out, `${json}\n`);
      if (flags.json) ctx.io.out(json);
      else {
        const { formatReconcileSummary } = await import('../internal/reconcile.js');
        for (const line of formatReconcileSummary(report)) ctx.io.out(line);
      }
      ctx.setExit(report.ok ? 0 : 1);
    });
}

function parseField(text: string): FieldMapping {
  const at = text.indexOf('=');
  if (at <= 0 || at === text.length - 1) throw usage('--field', `'${text}' is not field=column`);
  return { field: text.slice(0, at).trim(), column: text.slice(at + 1).trim() };
}

function number(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw usage(flag, `'${text}' is not a number`);
  return value;
}

function streamSpec(flags: ReconcileFlags): StreamSpec {
  if ((flags.events === undefined) === (flags.kafkaTopic === undefined)) {
    throw usage('--events', 'give exactly one of --events or --kafka-topic');
  }
  if (flags.events !== undefined) return { kind: 'file', path: flags.events };
  if (flags.brokers === undefined) throw usage('--brokers', '--kafka-topic needs --brokers');
  return {
    kind: 'kafka',
    topic: flags.kafkaTopic!,
    brokers: flags.brokers.split(',').map((b) => b.trim()),
    timeoutMs: number('--timeout-ms', flags.timeoutMs),
  };
}

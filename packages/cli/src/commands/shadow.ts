// `ferry shadow run|status|explain|report`, `ferry cutover check|confirm|retire` and `ferry inventory`:
// the evidence a migration team needs before it retires a legacy batch job (docs/migration.md). Shadow runs
// compare each legacy run's output with the stream as of its cut-off and keep the result in the parity
// ledger; the gate opens after enough consecutive clean runs; the inventory says what is left to migrate.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '@ferry/core';
import { type Command, Option } from 'commander';
import { percent } from '../output.js';
import type { CommandContext } from './context.js';

/** A wrong option: exit code 2, like every other usage error. */
const usage = (path: string, message: string) => new ConfigError(undefined, [{ path, message }], 'USAGE');

interface ClockFlags {
  now?: string;
}

/** The fake clock of simulations and tests (`--now`), else the real one. */
function clock(flags: ClockFlags): Date {
  if (flags.now === undefined) return new Date();
  const at = new Date(flags.now);
  if (Number.isNaN(at.getTime())) throw usage('--now', `'${flags.now}' is not an ISO 8601 time`);
  return at;
}

async function open(file: string) {
  const [{ loadMigrationFile }, { Ledger }] = await Promise.all([
    import('../migration/config.js'),
    import('../migration/ledger.js'),
  ]);
  const loaded = await loadMigrationFile(file);
  const ledger = await Ledger.open(loaded.config.ledger);
  return { loaded, ledger };
}

async function view(file: string, ctx: CommandContext, now: Date, consumers = false) {
  const { migrationView } = await import('../migration/views.js');
  const { loaded, ledger } = await open(file);
  try {
    return { loaded, view: await migrationView(loaded, ledger, { now, consumers, registry: ctx.registry }) };
  } finally {
    await ledger.close();
  }
}

const nowOption = () =>
  new Option('--now <time>', 'judge at this moment instead of now (ISO 8601): simulations and tests');

export function registerShadowCommands(program: Command, ctx: CommandContext): void {
  const shadow = program
    .command('shadow')
    .description(
      'Shadow runs: compare each legacy batch run with the stream and keep the parity ledger (docs/migration.md).',
    );
  shadow
    .command('run')
    .description(
      'Compare every legacy run that is due and not yet in the ledger (its output against the stream as of its cut-off); without --now or --once, keep doing it at each run’s due time.',
    )
    .argument('<migration...>', 'migration YAML files')
    .addOption(nowOption())
    .option('--once', 'one pass, then exit', false)
    .option('--work-dir <dir>', 'where the comparison’s scratch store goes (default the OS temp dir)')
    .addOption(
      new Option('--log-level <level>', 'log level for the JSON logs on stderr')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default(process.env.FERRY_LOG_LEVEL ?? 'info'),
    )
    .action(
      async (files: string[], flags: ClockFlags & { once: boolean; workDir?: string; logLevel: string }) => {
        const [{ loadMigrationFile }, { ShadowRunner }, { createLogger }] = await Promise.all([
          import('../migration/config.js'),
          import('../migration/runner.js'),
          import('@ferry/core'),
        ]);
        const migrations = [];
        for (const file of files) migrations.push(await loadMigrationFile(file));
        const runner = new ShadowRunner(migrations, {
          logger: createLogger({ level: flags.logLevel }),
          ...(flags.workDir === undefined ? {} : { workDir: flags.workDir }),
          onRun: (migration, run) => ctx.io.out(runLine(migration, run)),
        });
        try {
          if (flags.now !== undefined || flags.once) {
            const { failed } = await runner.pass(clock(flags));
            if (failed.length > 0) ctx.setExit(1);
            return;
          }
          const stop = new AbortController();
          const onSignal = () => stop.abort();
          process.once('SIGINT', onSignal);
          process.once('SIGTERM', onSignal);
          try {
            await runner.run(stop.signal);
          } finally {
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
          }
        } finally {
          await runner.close();
        }
      },
    );
  shadow
    .command('status')
    .description('The ledger: every run with its parity and counts, the notes, the gate.')
    .argument('<migration>', 'the migration YAML file')
    .addOption(nowOption())
    .option('--json', 'print it as JSON', false)
    .action(async (file: string, flags: ClockFlags & { json: boolean }) => {
      const { view: v } = await view(file, ctx, clock(flags));
      if (flags.json) {
        ctx.io.out(
          JSON.stringify(
            {
              migration: v.name,
              phase: v.phase,
              status: v.inventory.status,
              gate: v.gate,
              runs: v.runs,
              notes: v.notes,
              topFields: v.topFields,
            },
            null,
            2,
          ),
        );
        return;
      }
      ctx.io.out(`${v.name}: ${v.inventory.status}; gate ${v.gate.open ? 'OPEN' : 'closed'}`);
      for (const run of v.runs) ctx.io.out(runLine(v.name, run));
      for (const note of v.notes)
        ctx.io.out(
          `note ${note.id} by ${note.author} at ${note.at}: ${[note.kind, note.key, note.field].filter(Boolean).join(' ') || 'every mismatch'}: ${note.reason}`,
        );
    });
  shadow
    .command('explain')
    .description(
      'Record an operator’s note explaining a known difference (an accepted mismatch): every run’s mismatches it matches count as explained.',
    )
    .argument('<migration>', 'the migration YAML file')
    .requiredOption('--reason <text>', 'why the difference is accepted')
    .option('--key <key>', 'only this key (default every key)')
    .option('--field <field>', 'only differences in this canonical field (default every field)')
    .addOption(
      new Option('--kind <kind>', 'only this kind of mismatch').choices(['missing', 'extra', 'differs']),
    )
    .option('--by <name>', 'who accepts it (default $USER)')
    .addOption(nowOption())
    .action(
      async (
        file: string,
        flags: ClockFlags & {
          reason: string;
          key?: string;
          field?: string;
          kind?: 'missing' | 'extra' | 'differs';
          by?: string;
        },
      ) => {
        const { loaded, ledger } = await open(file);
        try {
          const author = flags.by ?? process.env.USER ?? process.env.LOGNAME;
          if (author === undefined || author.trim() === '')
            throw usage('--by', 'say who accepts the difference');
          if (flags.field !== undefined && !(flags.field in loaded.config.fields))
            throw usage(
              '--field',
              `${flags.field} is not a mapped field (${Object.keys(loaded.config.fields).join(', ')})`,
            );
          const note = await ledger.addNote(loaded.config.migration, {
            ...(flags.key === undefined ? {} : { key: flags.key }),
            ...(flags.field === undefined ? {} : { field: flags.field }),
            ...(flags.kind === undefined ? {} : { kind: flags.kind }),
            reason: flags.reason,
            author,
            at: clock(flags).toISOString(),
          });
          ctx.io.out(`${loaded.config.migration}: note ${note.id} recorded by ${note.author} at ${note.at}`);
        } finally {
          await ledger.close();
        }
      },
    );
  shadow
    .command('report')
    .description(
      'Write the migration report: a self-contained HTML page (parity per run, the gate, top differing fields, the inventory) and, with --markdown, the same in Markdown.',
    )
    .argument('<migration...>', 'migration YAML files')
    .requiredOption('--out <file>', 'the HTML page to write')
    .option('--markdown <file>', 'also write Markdown')
    .option('--no-consumers', 'do not ask Kafka for consumer groups')
    .addOption(nowOption())
    .action(
      async (files: string[], flags: ClockFlags & { out: string; markdown?: string; consumers: boolean }) => {
        const now = clock(flags);
        const { renderReportHtml, renderReportMarkdown } = await import('../migration/report.js');
        const migrations = [];
        for (const file of files) migrations.push((await view(file, ctx, now, flags.consumers)).view);
        const report = { generatedAt: now.toISOString(), migrations };
        await mkdir(dirname(resolve(flags.out)), { recursive: true });
        await writeFile(flags.out, renderReportHtml(report));
        ctx.io.out(`report: ${flags.out}`);
        if (flags.markdown !== undefined) {
          await mkdir(dirname(resolve(flags.markdown)), { recursive: true });
          await writeFile(flags.markdown, renderReportMarkdown(report));
          ctx.io.out(`report: ${flags.markdown}`);
        }
      },
    );

  const cutover = program
    .command('cutover')
    .description('The cut-over gate: may the legacy batch job be switched off? (docs/migration.md)');
  cutover
    .command('check')
    .description(
      'Exit 0 only when the last gate.runs runs were all clean (parity at or above the threshold, every difference explained, none missed); else exit 1 and say why.',
    )
    .argument('<migration>', 'the migration YAML file')
    .addOption(nowOption())
    .option('--json', 'print the gate as JSON', false)
    .action(async (file: string, flags: ClockFlags & { json: boolean }) => {
      const { view: v } = await view(file, ctx, clock(flags));
      if (flags.json)
        ctx.io.out(JSON.stringify({ migration: v.name, phase: v.phase, gate: v.gate }, null, 2));
      else {
        ctx.io.out(
          `${v.name}: gate ${v.gate.open ? 'OPEN' : 'CLOSED'}: ${v.gate.cleanRuns} consecutive clean run${v.gate.cleanRuns === 1 ? '' : 's'} of ${v.gate.required} needed (${v.gate.cleanDays} day${v.gate.cleanDays === 1 ? '' : 's'}), threshold ${percent(v.gate.threshold)}`,
        );
        for (const reason of v.gate.reasons) ctx.io.out(`  - ${reason}`);
      }
      ctx.setExit(v.gate.open ? 0 : 1);
    });
  for (const [command, phase, what] of [
    [
      'confirm',
      'cut over',
      'Record that consumers now rely on the stream (the gate must be open unless --force).',
    ],
    ['retire', 'retired', 'Record that the legacy batch job is switched off.'],
  ] as const)
    cutover
      .command(command)
      .description(what)
      .argument('<migration>', 'the migration YAML file')
      .requiredOption('--by <name>', 'who decides')
      .option('--note <text>', 'why, or the change ticket')
      .option('--force', 'record it even though the gate is closed', false)
      .addOption(nowOption())
      .action(async (file: string, flags: ClockFlags & { by: string; note?: string; force: boolean }) => {
        const now = clock(flags);
        const { loaded, view: v } = await view(file, ctx, now);
        if (phase === 'cut over' && !v.gate.open && !flags.force) {
          ctx.io.err(`${v.name}: the gate is closed, nothing recorded:`);
          for (const reason of v.gate.reasons) ctx.io.err(`  - ${reason}`);
          ctx.setExit(1);
          return;
        }
        const ledger = await (await import('../migration/ledger.js')).Ledger.open(loaded.config.ledger);
        try {
          await ledger.addDecision(v.name, {
            phase,
            author: flags.by,
            at: now.toISOString(),
            ...(flags.note === undefined ? {} : { note: flags.note }),
          });
        } finally {
          await ledger.close();
        }
        ctx.io.out(`${v.name}: ${phase} at ${now.toISOString()} by ${flags.by}`);
      });

  program
    .command('inventory')
    .description(
      'Every batch job under migration: its replacing pipelines, topics, contracts, the consumer groups reading those topics (from the broker), shadow status and freshness.',
    )
    .argument('<migration...>', 'migration YAML files')
    .option('--json', 'print it as JSON', false)
    .option('--no-consumers', 'do not ask Kafka for consumer groups')
    .addOption(nowOption())
    .action(async (files: string[], flags: ClockFlags & { json: boolean; consumers: boolean }) => {
      const now = clock(flags);
      const entries = [];
      for (const file of files) entries.push((await view(file, ctx, now, flags.consumers)).view.inventory);
      if (flags.json) {
        ctx.io.out(JSON.stringify({ generatedAt: now.toISOString(), migrations: entries }, null, 2));
        return;
      }
      const { formatInventory } = await import('../migration/inventory-table.js');
      for (const line of formatInventory(entries, now)) ctx.io.out(line);
    });
}

function runLine(migration: string, run: import('../migration/model.js').RunSummary): string {
  if (run.status === 'missed') return `${migration} ${run.slot}: MISSED: ${run.reason ?? ''}`;
  return (
    `${migration} ${run.slot}: parity ${percent(run.parity)} (${run.matching} of ${run.keys} keys), ` +
    `missing ${run.missing}, extra ${run.extra}, differing ${run.differing}, unexplained ${run.unexplained}, ` +
    `${run.afterCutoff} events after the cut-off: ${run.clean ? 'clean' : 'NOT CLEAN'}`
  );
}

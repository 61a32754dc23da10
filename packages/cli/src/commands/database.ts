// `ferry database …`: set-up the database source needs and never does on its own: the trigger journal
// (install-triggers, uninstall-triggers) and the logical replication slot and publication (create-slot, drop-slot),
// and removing all of it (uninstall).
import type { DatabaseSourceConfig } from '@ferry/database';
import type { Command } from 'commander';
import { type CommandContext, openPipeline } from './context.js';

/** @ferry/database, imported when one of these commands runs: other commands start without typeorm. */
type DatabasePackage = typeof import('@ferry/database');

type Action = (
  database: DatabasePackage,
  config: DatabaseSourceConfig,
  baseDir: string,
  opts: Record<string, boolean>,
) => Promise<string[]>;

export function registerDatabaseCommands(program: Command, ctx: CommandContext): void {
  const database = program
    .command('database')
    .description('Set up what the database source needs: trigger journal, replication slot.');

  const command = (name: string, description: string, action: Action, flags: [string, string][] = []) => {
    const sub = database.command(name).description(description).argument('<pipeline>', 'pipeline YAML file');
    for (const [flag, help] of flags) sub.option(flag, help, false);
    sub.action(async (file: string, opts: Record<string, boolean>) => {
      const { pipeline } = await openPipeline(file, ctx);
      if (pipeline.source.type !== 'database') {
        ctx.io.err(`ferry: the source of ${file} is '${pipeline.source.type}', not 'database'`);
        ctx.setExit(2);
        return;
      }
      const db = await import('@ferry/database');
      const done = await action(
        db,
        // Validated at load; parsing again gives the options their type.
        db.databaseSourceConfigSchema.parse(pipeline.source.options),
        pipeline.baseDir,
        opts,
      );
      for (const line of done) ctx.io.out(line.replace(/\s+/g, ' ').trim());
      ctx.io.out(done.length === 0 ? `${name}: nothing to do` : `${name}: done`);
    });
  };

  command(
    'install-triggers',
    'Create the journal table and the insert/update/delete triggers of every captured table (mode trigger). Run it again after adding columns.',
    (db, config, baseDir) => db.installDatabaseTriggers(config, { baseDir }),
  );
  command(
    'uninstall-triggers',
    'Remove the triggers (mode trigger); --drop-journal removes the journal table too.',
    (db, config, baseDir, opts) =>
      db.uninstallDatabaseTriggers(config, { baseDir }, { dropJournal: opts.dropJournal === true }),
    [['--drop-journal', 'also drop the journal table and its rows']],
  );
  command(
    'create-slot',
    'Create the publication and the logical replication slot (mode logical).',
    (db, config, baseDir, opts) =>
      db.createDatabaseSlot(config, { baseDir }, { replicaIdentityFull: opts.replicaIdentityFull === true }),
    [
      [
        '--replica-identity-full',
        'set REPLICA IDENTITY FULL on the tables so updates and deletes carry before images',
      ],
    ],
  );
  command(
    'drop-slot',
    'Drop the replication slot so it stops holding WAL (mode logical); --drop-publication drops the publication too.',
    (db, config, baseDir, opts) =>
      db.dropDatabaseSlot(config, { baseDir }, { dropPublication: opts.dropPublication === true }),
    [['--drop-publication', 'also drop the publication']],
  );
  command(
    'uninstall',
    'Remove everything Ferry created in the database for this pipeline: slot, publication and the replica identities it set (put back as they were), or triggers, trigger function and journal (with its rows). Polling creates nothing.',
    (db, config, baseDir) => db.uninstallDatabase(config, { baseDir }),
  );
}

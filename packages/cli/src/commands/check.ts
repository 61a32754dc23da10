// `ferry check <pipeline.yaml>`: the read-only preflight. Each part of the pipeline whose factory declares
// `check` connects with the pipeline's own credentials, changes nothing and says what would stop a run or
// harm the legacy system; the CLI knows no connector, it prints one line per finding.
import { type FactoryContext, isFerryError, type LoadedPipeline, type PreflightFinding } from '@ferry/core';
import type { Command } from 'commander';
import { ExitCode } from '../output.js';
import { type CommandContext, openPipeline } from './context.js';

const PARTS = [
  ['source', 'sources'],
  ['sink', 'sinks'],
  ['deadLetters', 'deadLetters'],
  ['checkpoints', 'checkpoints'],
] as const;

/** One line per finding: severity, stream (or -), code, what is wrong, and the fix. */
export function formatFindingLine(part: string, finding: PreflightFinding): string {
  return `${finding.severity} ${part} ${finding.stream ?? '-'} ${finding.code}: ${finding.message} Fix: ${finding.fix}`;
}

async function checkPart(
  pipeline: LoadedPipeline,
  ctx: CommandContext,
  factoryContext: FactoryContext,
  part: (typeof PARTS)[number],
): Promise<PreflightFinding[] | undefined> {
  const [key, kind] = part;
  const component = pipeline[key];
  const factory = ctx.registry[kind].get(component.type);
  if (factory?.check === undefined) return undefined;
  try {
    // Validated at load; parsing again gives the factory its options with defaults applied.
    return await factory.check(factory.configSchema.parse(component.options), factoryContext);
  } catch (error) {
    // A check that cannot even connect is itself the problem to report (wrong password, no route).
    if (!isFerryError(error)) throw error;
    return [{ severity: 'error', code: error.code, message: error.message, fix: 'see docs/errors.md' }];
  }
}

export function registerCheckCommand(program: Command, ctx: CommandContext): void {
  program
    .command('check')
    .description(
      'Check, without changing anything, that the legacy system is ready for this pipeline: privileges, settings, set-up, and what would harm it. Exit 0 when nothing is wrong (warnings are printed), 1 with problems.',
    )
    .argument('<pipeline>', 'pipeline YAML file')
    .action(async (file: string) => {
      const { pipeline, factoryContext } = await openPipeline(file, ctx, 'fatal');
      let errors = 0;
      let warnings = 0;
      for (const part of PARTS) {
        const type = pipeline[part[0]].type;
        const findings = await checkPart(pipeline, ctx, factoryContext, part);
        if (findings === undefined) {
          ctx.io.out(`${part[0]} ${type}: no checks`);
          continue;
        }
        for (const finding of findings) {
          ctx.io.out(formatFindingLine(`${part[0]}:${type}`, finding));
          if (finding.severity === 'error') errors += 1;
          else warnings += 1;
        }
        if (findings.length === 0) ctx.io.out(`${part[0]} ${type}: ok`);
      }
      ctx.io.out(
        `${pipeline.file}: ${errors === 0 ? 'ready' : 'not ready'} (${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'})`,
      );
      if (errors > 0) ctx.setExit(ExitCode.failure);
    });
}

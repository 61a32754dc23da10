// `ferry validate` asks the source what its records carry (`discover()`) and checks a declarative field
// map against it: a `from:` naming a column the table does not have is a warning with its line, not a
// silent null at run time. Bounded in time, so validate stays fast when the source is slow or away.
import {
  type ConfigIssue,
  type FactoryContext,
  isFerryError,
  type LoadedPipeline,
  missingMappedColumns,
  parseConfigYaml,
  type Registry,
  readConfigFile,
} from '@ferry/core';

/** Sources given up on (too slow to list or to close): their connects may linger until their own timeout. */
let abandoned = 0;

/** True when a check stopped waiting for a source that is still connecting: the process may exit anyway. */
export function abandonedSources(): boolean {
  return abandoned > 0;
}

/** Seconds `ferry validate` waits for the source's discover() unless `--discover-timeout` says otherwise. */
export const DEFAULT_DISCOVER_TIMEOUT_SECONDS = 10;

export type ColumnCheck =
  /** The mapping's columns were compared with these streams; each missing one is a warning. */
  | { status: 'checked'; streams: string[]; warnings: ConfigIssue[] }
  /** It could have been checked but was not: the reason says why (unreachable, too slow, turned off). */
  | { status: 'not-checked'; reason: string }
  /** Nothing to check: the mapping is a module, or the source cannot say what its records carry. */
  | { status: 'not-applicable'; reason: string };

export async function checkMappedColumns(
  pipeline: LoadedPipeline,
  registry: Registry,
  context: FactoryContext,
  timeoutMs: number,
): Promise<ColumnCheck> {
  const spec = pipeline.raw.mapping;
  if (!('fields' in spec)) {
    return { status: 'not-applicable', reason: 'the mapping is a module; only a field map can be checked' };
  }
  if (timeoutMs <= 0) return { status: 'not-checked', reason: 'turned off (--discover-timeout 0)' };
  const type = pipeline.source.type;
  const factory = registry.sources.get(type);
  if (factory === undefined) return { status: 'not-applicable', reason: `no factory for ${type}` };
  let timer: NodeJS.Timeout | undefined;
  let source: Awaited<ReturnType<typeof factory.create>> | undefined;
  try {
    source = await factory.create(pipeline.source.options, context);
    if (source.discover === undefined) {
      return { status: 'not-applicable', reason: `the ${type} source cannot list its streams` };
    }
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    const streams = await Promise.race([source.discover(), late]);
    if (streams === 'late') {
      abandoned += 1;
      return {
        status: 'not-checked',
        reason: `the ${type} source did not list its streams within ${timeoutMs / 1000} s (--discover-timeout)`,
      };
    }
    const described = streams.filter((s) => s.recordFields === true && s.fields !== undefined);
    if (described.length === 0) {
      return {
        status: 'not-applicable',
        reason: `the ${type} source does not list the fields its records carry`,
      };
    }
    const missing = missingMappedColumns(spec, described);
    const { text } = await readConfigFile(pipeline.file);
    const document = parseConfigYaml(text, pipeline.file);
    return {
      status: 'checked',
      streams: described.map((s) => s.name),
      warnings: missing.map((m) => document.issue(m.path, m.message)),
    };
  } catch (error) {
    // Unreachable or refused: validate still passes, and says what kept it from checking.
    const said = isFerryError(error) ? `${error.code}: ${error.message}` : String(error);
    return {
      status: 'not-checked',
      reason: `the source could not be asked: ${pipeline.redactor.scrub(said)}`,
    };
  } finally {
    clearTimeout(timer);
    // A connect still under way may take its own timeout to give up; validate does not wait for it.
    const closing = source?.close().then(
      () => true,
      () => true,
    );
    // Given up on already (too slow to list): no second wait for it to close.
    if (closing && abandoned === 0) {
      const closed = await Promise.race([
        closing,
        new Promise<false>((r) => setTimeout(r, 1000, false).unref()),
      ]);
      if (!closed) abandoned += 1;
    }
  }
}

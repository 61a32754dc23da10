import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, createRegistry, type Factory, parsePipelineConfig, type Source } from '@ferry/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const tableSource: Factory<{ tables: { name: string; key: string[] }[]; password?: string }, Source> = {
  type: 'fake-db',
  description: 'test source',
  configSchema: z
    .object({
      tables: z.array(z.object({ name: z.string(), key: z.array(z.string()).min(1) }).strict()).min(1),
      password: z.string().optional(),
    })
    .strict(),
  create: () => {
    throw new Error('not used');
  },
  notes: () => ['cannot see deletes'],
};

function registry() {
  const r = createRegistry();
  r.sources.set(tableSource.type, tableSource);
  return r;
}

const valid = `pipeline: roll
source:
  type: fake-db
  tables:
    - name: A
      key: [ID]
mapping:
  subject: id
  fields:
    id: ID
contract:
  type: justice.offender
  version: 1.0.0
`;

async function configError(text: string, file = '/srv/pipelines/roll.yaml'): Promise<ConfigError> {
  const error = await parsePipelineConfig(text, file, registry()).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('pipeline files', () => {
  it('applies defaults: file sink, dead letters and checkpoints next to the pipeline file', async () => {
    const loaded = await parsePipelineConfig(valid, '/srv/pipelines/roll.yaml', registry());
    expect(loaded.name).toBe('roll');
    expect(loaded.sink).toEqual({
      type: 'file',
      options: { dir: '.ferry/events', topic: '{type}.v{major}' },
    });
    expect(loaded.checkpoints.type).toBe('file');
    expect(loaded.deadLetters.threshold).toEqual({ windowSize: 1000, maxRatio: 0.5, minRecords: 100 });
    expect(loaded.contract.schema).toBe('urn:ferry:contract:justice.offender:1.0.0');
    expect(loaded.notes).toEqual(['source (fake-db): cannot see deletes']);
  });

  it('names the file, the line, the path inside it and what was expected', async () => {
    const text = valid.replace(
      '    - name: A\n      key: [ID]',
      '    - name: A\n      key: [ID]\n    - name: B\n    - name: C\n      key: []',
    );
    const error = await configError(text);
    expect(error.issues.map((i) => i.path)).toEqual(['source.tables[1].key', 'source.tables[2].key']);
    expect(error.message).toContain('/srv/pipelines/roll.yaml:');
    expect(error.issues[0]!.line).toBe(7);
    expect(error.issues[1]!.line).toBe(9);
    expect(error.message).toMatch(/source\.tables\[1\]\.key: missing; expected array/);
    expect(error.retryable).toBe(false);
  });

  it('rejects unknown options and unknown component types, listing the known ones', async () => {
    const error = await configError(`${valid}sink:\n  type: kafak\n`);
    expect(error.issues[0]).toMatchObject({ path: 'sink.type' });
    expect(error.issues[0]!.message).toContain("unknown sink type 'kafak'; expected one of: file");
    const typo = await configError(valid.replace('pipeline: roll', 'pipeline: roll\npipline: x'));
    expect(typo.issues[0]!.message).toBe("unknown option 'pipline'; did you mean 'pipeline'?");
    const sink = await configError(`${valid}sink:\n  type: fiel\n`);
    expect(sink.issues[0]!.message).toBe(
      "unknown sink type 'fiel'; did you mean 'file'? expected one of: file",
    );
  });

  it('reports each unknown key at its own line and column, with the nearest key its object knows', async () => {
    // Indented inside `source`, after other keys: the parent's line (2) would send a person to the wrong place.
    const error = await configError(
      valid.replace('      key: [ID]', '      key: [ID]\n      nmae: B\n  passwrod: x'),
    );
    expect(error.issues).toEqual([
      {
        path: 'source.tables[0].nmae',
        line: 7,
        column: 7,
        message: "unknown option 'nmae'; did you mean 'name'?",
      },
      {
        path: 'source.passwrod',
        line: 8,
        column: 3,
        message: "unknown option 'passwrod'; did you mean 'password'?",
      },
    ]);
    expect(error.message).toContain(
      "/srv/pipelines/roll.yaml:8:3 source.passwrod: unknown option 'passwrod'",
    );
    // Nothing near: the keys that would be accepted there.
    const far = await configError(valid.replace('  tables:', '  zzz: 1\n  tables:'));
    expect(far.issues[0]).toMatchObject({
      path: 'source.zzz',
      line: 4,
      message: "unknown option 'zzz'; expected one of: password, tables",
    });
  });

  it('reports a misspelt key inside a union by the branch that was meant, once', async () => {
    // mapping is a field map or a module: `subjct` is the field map's `subject`, not two problems.
    const error = await configError(valid.replace('  subject: id', '  subjct: id'));
    expect(error.issues).toEqual([
      {
        path: 'mapping.subjct',
        line: 8,
        column: 3,
        message: "unknown option 'subjct'; did you mean 'subject'?",
      },
    ]);
    const field = await configError(valid.replace('    id: ID', '    id: { from: ID, requird: true }'));
    expect(field.issues).toEqual([
      expect.objectContaining({ path: 'mapping.fields.id.requird', line: 10, column: 21 }),
    ]);
    expect(field.issues[0]!.message).toBe("unknown option 'requird'; did you mean 'required'?");
  });

  it('suggests the nearest value of an enum', async () => {
    const error = await configError(valid.replace('    id: ID', '    id: { from: ID, type: integr }'));
    expect(error.issues[0]).toMatchObject({ path: 'mapping.fields.id.type', line: 10 });
    expect(error.issues[0]!.message).toMatch(/did you mean 'integer'\?$/);
  });

  it('reports YAML syntax errors with a line', async () => {
    const error = await configError('pipeline: [unclosed\n');
    expect(error.code).toBe('CONFIG_YAML_SYNTAX');
    expect(error.issues[0]!.line).toBeGreaterThanOrEqual(1);
  });

  it('reports a key indented deeper than the one above it at its own line, once', async () => {
    // The parser sees `fake-db` running onto line 4 and reports line 3, twice; the mistake is line 4.
    const error = await configError(valid.replace('  tables:', '   tables:'));
    expect(error.code).toBe('CONFIG_YAML_SYNTAX');
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ line: 4, column: 4 });
    expect(error.issues[0]!.message).toContain('indented deeper than the key on line 3');
    // A key without its colon is the line itself.
    const colon = await configError(valid.replace('  subject: id', '  subject id'));
    expect(colon.issues[0]).toMatchObject({ line: 8 });
    expect(colon.issues[0]!.message).toContain("is the ':' after a key missing on this line?");
    // An unclosed quote is reported where it opens, not where the parser gave up.
    const quote = await configError(valid.replace('  subject: id', '  subject: "id'));
    expect(quote.issues[0]).toMatchObject({ line: 8, column: 12 });
    expect(quote.issues[0]!.message).toContain('this "-quoted string is never closed');
    // Other syntax errors keep the parser's line: a tab used as indentation on line 4.
    const tab = await configError(valid.replace('  tables:', '\ttables:'));
    expect(tab.issues[0]).toMatchObject({ line: 4 });
  });

  it('says something sensible for options given in code, where there is no file', () => {
    const one = new ConfigError(undefined, [{ path: 'source.port', message: 'expected number' }]);
    expect(one.message).toBe('source.port: expected number');
    const two = new ConfigError(undefined, [
      { path: 'source.port', message: 'expected number' },
      { path: '', message: 'expected an object' },
    ]);
    expect(two.message).toBe('2 problems:\n  source.port: expected number\n  expected an object');
    expect(two.message).not.toContain('<config>');
  });

  it('resolves ${env:…} and ${file:…} secrets and registers them for redaction', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-config-'));
    await writeFile(join(dir, 'db.secret'), 's3cr3t-from-file\n');
    process.env.FERRY_TEST_PASSWORD = 'hunter2-env-secret';
    const text = valid.replace(
      '  tables:',
      '  password: "${env:FERRY_TEST_PASSWORD}/${file:db.secret}"\n  tables:',
    );
    const loaded = await parsePipelineConfig(text, join(dir, 'p.yaml'), registry());
    expect(loaded.source.options.password).toBe('hunter2-env-secret/s3cr3t-from-file');
    expect(loaded.secretPaths).toEqual(['source.password']);
    expect(loaded.redactor.scrub('login failed for hunter2-env-secret')).toBe('login failed for [REDACTED]');
    expect(JSON.stringify(loaded.redactor.scrubValue(loaded.raw))).not.toContain('s3cr3t');
  });

  it('lists the secrets too short to hide everywhere, and hides them where they stand as values', async () => {
    process.env.FERRY_TEST_SHORT = 'ferry';
    process.env.FERRY_TEST_LONG = 'correct-horse-battery';
    const text = valid
      .replace('  tables:', '  password: "${env:FERRY_TEST_SHORT}"\n  tables:')
      .replace('- name: A', '- name: "${env:FERRY_TEST_LONG}"');
    const loaded = await parsePipelineConfig(text, join(tmpdir(), 'p.yaml'), registry());
    expect(loaded.secretPaths).toEqual(['source.password', 'source.tables[0].name']);
    expect(loaded.weakSecretPaths).toEqual(['source.password']);
    const message = 'Run `ferry database create-slot` for /ferry/p/x: password=ferry rejected';
    expect(loaded.redactor.scrub(message)).toBe(
      'Run `ferry database create-slot` for /ferry/p/x: password=[REDACTED] rejected',
    );
    expect(loaded.redactor.scrub('user correct-horse-battery')).toBe('user [REDACTED]');
  });

  it('fails at start when a secret reference cannot be resolved, without printing any value', async () => {
    delete process.env.FERRY_TEST_MISSING;
    const error = await configError(
      valid.replace('  tables:', '  password: ${env:FERRY_TEST_MISSING}\n  tables:'),
    );
    expect(error.code).toBe('CONFIG_SECRET_UNRESOLVED');
    expect(error.issues[0]).toMatchObject({ path: 'source.password', line: 4 });
    expect(error.message).toContain('environment variable FERRY_TEST_MISSING is not set');
  });

  it('validates the contract type and version', async () => {
    const error = await configError(valid.replace('version: 1.0.0', 'version: v1'));
    expect(error.issues[0]).toMatchObject({ path: 'contract.version' });
    expect(error.issues[0]!.message).toContain('semantic version');
  });
});

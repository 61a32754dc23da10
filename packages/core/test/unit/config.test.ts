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
    expect(error.message).toMatch(/source\.tables\[1\]\.key: expected array/);
    expect(error.retryable).toBe(false);
  });

  it('rejects unknown options and unknown component types, listing the known ones', async () => {
    const error = await configError(`${valid}sink:\n  type: kafak\n`);
    expect(error.issues[0]).toMatchObject({ path: 'sink.type' });
    expect(error.issues[0]!.message).toContain("unknown sink type 'kafak'; expected one of: file");
    const typo = await configError(valid.replace('pipeline: roll', 'pipeline: roll\npipline: x'));
    expect(typo.issues[0]!.message).toBe("unknown option 'pipline'");
  });

  it('reports YAML syntax errors with a line', async () => {
    const error = await configError('pipeline: [unclosed\n');
    expect(error.code).toBe('CONFIG_YAML_SYNTAX');
    expect(error.issues[0]!.line).toBeGreaterThanOrEqual(1);
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

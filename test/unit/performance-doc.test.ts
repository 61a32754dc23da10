// Every figure docs/performance.md quotes says when and how it was measured. The page's convention: a
// paragraph starting "Measured YYYY-MM-DD with `node <script> <arguments>`" comes right before each table,
// and before any paragraph with figures unless an earlier table or paragraph of the same section has one
// (it then discusses those figures). Each date is a real day not in the future; each command names a
// script of this repository.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const page = readFileSync(join(root, 'docs', 'performance.md'), 'utf8');

interface Block {
  line: number;
  kind: 'heading' | 'table' | 'paragraph' | 'code';
  text: string;
}

function blocks(text: string): Block[] {
  const out: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const start = i;
    if (line.startsWith('```')) {
      while (i + 1 < lines.length && !lines[i + 1]!.startsWith('```')) i += 1;
      i += 1;
      out.push({ line: start + 1, kind: 'code', text: lines.slice(start, i + 1).join('\n') });
    } else if (line.startsWith('#')) {
      out.push({ line: start + 1, kind: 'heading', text: line });
    } else {
      const kind = line.startsWith('|') ? 'table' : 'paragraph';
      while (
        i + 1 < lines.length &&
        lines[i + 1]!.trim() !== '' &&
        lines[i + 1]!.startsWith('|') === (kind === 'table')
      )
        i += 1;
      out.push({ line: start + 1, kind, text: lines.slice(start, i + 1).join('\n') });
    }
  }
  return out;
}

// A figure: a number with a rate, time, size or ratio unit (what a benchmark prints).
const FIGURE =
  /\d[\d,.]*\s?(k\s)?(rows\/s|events\/s|changes\/s|rec\/s|\/s|ms\b|µs\b|s\b|MiB\b|MB\b|GiB\b|×|x\b)|\d[\d,.]*k\b/;
const MEASURED = /^Measured (\d{4}-\d{2}-\d{2})\b/;

/** What is wrong with a "Measured …" paragraph: a bad date, no command, or a command naming no script. */
function measuredProblems(block: Block, today: string): string[] {
  const problems: string[] = [];
  const text = block.text.replace(/\s+/g, ' ');
  for (const [date] of text.matchAll(/\b\d{4}-\d{2}-\d{2}\b/g)) {
    const parsed = new Date(`${date}T00:00:00Z`);
    if (Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== date) {
      problems.push(`docs/performance.md:${block.line}: ${date} is not a date`);
    } else if (date > today) problems.push(`docs/performance.md:${block.line}: ${date} is in the future`);
  }
  const commands = [...text.matchAll(/`((?:[A-Z_]+=\S+ )*node [^`]+)`/g)].map((m) => m[1]!);
  if (commands.length === 0) problems.push(`docs/performance.md:${block.line}: no \`node …\` command`);
  for (const command of commands) {
    const script = command
      .replace(/^(?:[A-Z_]+=\S+ )*node /, '')
      .split(' ')
      .find((word) => !word.startsWith('-'));
    if (!script || !/\.m?js$/.test(script) || !existsSync(join(root, script))) {
      problems.push(`docs/performance.md:${block.line}: \`${command}\` names no script of the repository`);
    }
  }
  return problems;
}

describe('docs/performance.md', () => {
  it('says for every table and figure the date and the command that measured it', () => {
    const today = new Date().toISOString().slice(0, 10);
    const problems: string[] = [];
    let measured = 0;
    let figures = 0;
    let section: string | undefined;
    let covered = false;
    let previous: Block | undefined;
    for (const block of blocks(page)) {
      const isMeasured = block.kind === 'paragraph' && MEASURED.test(block.text);
      if (block.kind === 'heading') {
        section = block.text;
        covered = false;
      } else if (isMeasured) {
        measured += 1;
        covered = true;
        problems.push(...measuredProblems(block, today));
      } else if (section?.startsWith('## ') && block.kind === 'table') {
        figures += 1;
        if (!(previous?.kind === 'paragraph' && MEASURED.test(previous.text))) {
          problems.push(
            `docs/performance.md:${block.line}: a table without a "Measured …" paragraph right before it`,
          );
        }
      } else if (section?.startsWith('## ') && block.kind === 'paragraph' && FIGURE.test(block.text)) {
        figures += 1;
        if (!covered) {
          problems.push(
            `docs/performance.md:${block.line}: figures with no "Measured …" paragraph before them`,
          );
        }
      }
      previous = block;
    }
    expect(measured).toBeGreaterThan(5);
    expect(figures).toBeGreaterThan(measured);
    expect(problems).toEqual([]);
  });
});

// Every file path the documentation names must exist, so that moving or renaming code cannot
// leave the docs pointing at nothing (issue 16, item 10). Checked: each `src/…`, `tests/…` and
// `bench/…` path written in README.md, docs/*.md and any README.md under src/ or tests/
// (globs such as tests/passes/autodiff/*.test.ts must match a file; brace lists such as
// src/ir/{half,bytes}.ts are expanded; placeholders with `<…>` or `…` are skipped), and in the
// src/ READMEs also each backticked `.ts` path, relative to the README's folder or to src/ (a
// bare file name, listed under its subfolder's entry, may be anywhere below the README). And
// every folder under src/ has a README.md (one paragraph on what it holds).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/fixtures.js';

/** README.md, docs/*.md, and the README.md files under src/ and tests/ (repo-relative). */
function documents(): string[] {
  const readmes = (dir: string): string[] =>
    fs.readdirSync(path.join(repoRoot, dir), { withFileTypes: true }).flatMap((e) => {
      const rel = `${dir}/${e.name}`;
      return e.isDirectory() ? readmes(rel) : e.name === 'README.md' ? [rel] : [];
    });
  const docs = fs.readdirSync(path.join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`);
  return ['README.md', ...docs, ...readmes('src'), ...readmes('tests')];
}

export interface PathMention {
  /** 1-based line of the document. */
  line: number;
  /** The path as written (trailing punctuation removed). */
  text: string;
  /** Folders (repo-relative) the path may be relative to: '' is the repository itself. */
  bases: string[];
  /** A bare file name: it may also be in any folder below the first base. */
  below?: boolean;
}

const PREFIXED = /(?<![\w./@-])((?:src|tests|bench)\/[\w./*{},-]*)/g;
const BACKTICKED_TS = /`([\w.-]+(?:\/[\w.-]+)*\.ts)`/g;

/** The paths a document names: prefixed ones everywhere, backticked relative `.ts` ones in src/ READMEs. */
export function pathMentions(doc: string, markdown: string): PathMention[] {
  const out: PathMention[] = [];
  const inSrc = doc.startsWith('src/');
  for (const [i, lineText] of markdown.split('\n').entries()) {
    for (const m of lineText.matchAll(PREFIXED)) {
      const text = m[1]!.replace(/[.,]+$/, '');
      const after = lineText[m.index + m[0].length] ?? '';
      if (after === '<' || after === '…' || text.endsWith('/…')) continue; // tests/<dir>, src/…
      out.push({ line: i + 1, text, bases: [''] });
    }
    if (!inSrc) continue;
    for (const m of lineText.matchAll(BACKTICKED_TS)) {
      const text = m[1]!;
      if (/^(src|tests|bench)\//.test(text) || text.endsWith('.d.ts')) continue; // checked above; declarations are generated
      out.push({ line: i + 1, text, bases: [path.posix.dirname(doc), 'src'], ...(text.includes('/') ? {} : { below: true }) });
    }
  }
  return out;
}

/** `a/{b,c}.ts` → `a/b.ts`, `a/c.ts` (no nesting). */
function expandBraces(p: string): string[] {
  const m = /\{([^{}]*)\}/.exec(p);
  if (!m) return [p];
  return m[1]!.split(',').flatMap((alt) => expandBraces(p.slice(0, m.index) + alt + p.slice(m.index + m[0].length)));
}

/** Whether a repo-relative path (possibly with `*` in its segments) names at least one file or folder. */
function exists(rel: string): boolean {
  const segments = rel.replace(/\/+$/, '').split('/');
  const walk = (dir: string, rest: string[]): boolean => {
    if (rest.length === 0) return true;
    const [seg, ...tail] = rest as [string, ...string[]];
    if (!seg.includes('*')) {
      const next = path.join(dir, seg);
      return fs.existsSync(next) && (tail.length === 0 || fs.statSync(next).isDirectory()) && walk(next, tail);
    }
    const re = new RegExp(`^${seg.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return false;
    return fs.readdirSync(dir).some((name) => re.test(name) && walk(path.join(dir, name), tail));
  };
  return walk(repoRoot, segments);
}

/** Whether a file of this name is anywhere below a repo-relative folder. */
function existsBelow(dir: string, name: string): boolean {
  const abs = path.join(repoRoot, dir);
  return fs.existsSync(abs) && fs.readdirSync(abs, { recursive: true, encoding: 'utf8' }).some((rel) => path.basename(rel) === name);
}

/** The mentions of a document that name nothing, as `doc:line path`. */
export function stalePaths(doc: string, markdown: string): string[] {
  const found = (m: PathMention, p: string): boolean => m.bases.some((base) => exists(base ? `${base}/${p}` : p)) || (m.below === true && existsBelow(m.bases[0]!, p));
  return pathMentions(doc, markdown)
    .filter((m) => !expandBraces(m.text).every((p) => found(m, p)))
    .map((m) => `${doc}:${m.line} ${m.text}`);
}

describe('paths named in the documentation', () => {
  it('finds stale paths, globs, brace lists and README-relative ones (the check itself)', () => {
    const md = [
      'The emitter (src/passes/emit.ts, `src/ir/names.ts`) and src/search/partition.ts.',
      'Tests: tests/passes/autodiff/*.test.ts, tests/passes/nothing/*.test.ts; leaves src/ir/{half,bytes}.ts, src/ir/{half,nope}.ts.',
      'Placeholders: tests/<dir>, src/…; not ours: dist/runtime/serve-main.js, lib/src/x.ts.',
      '`flow/maxflow.ts`, `ir/dtype.ts`, `trace.ts` (in profiler/), `flow/nope.ts` and `nope.ts`.',
    ].join('\n');
    expect(stalePaths('src/search/README.md', md)).toEqual([
      'src/search/README.md:1 src/search/partition.ts',
      'src/search/README.md:2 tests/passes/nothing/*.test.ts',
      'src/search/README.md:2 src/ir/{half,nope}.ts',
      'src/search/README.md:4 flow/nope.ts',
      'src/search/README.md:4 nope.ts',
    ]);
    // outside src/, backticked relative paths are not checked (docs/ name bundle files like `cloud/server.js` too)
    expect(stalePaths('docs/x.md', md)).toEqual(['docs/x.md:1 src/search/partition.ts', 'docs/x.md:2 tests/passes/nothing/*.test.ts', 'docs/x.md:2 src/ir/{half,nope}.ts']);
  });

  it('every folder under src/ has a README.md (src/ itself: the Layout of README.md)', () => {
    const folders = (dir: string): string[] =>
      fs.readdirSync(path.join(repoRoot, dir), { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => [`${dir}/${e.name}`, ...folders(`${dir}/${e.name}`)]);
    expect(folders('src').filter((d) => !fs.existsSync(path.join(repoRoot, d, 'README.md')))).toEqual([]);
  });

  for (const doc of documents()) {
    it(`${doc} names only paths that exist`, () => {
      expect(stalePaths(doc, fs.readFileSync(path.join(repoRoot, doc), 'utf8'))).toEqual([]);
    });
  }
});

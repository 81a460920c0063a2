// The Markdown and shell reading that tests/docs/examples.test.ts relies on.

import { describe, expect, it } from 'vitest';
import { codeBlocks, shellCommands, shellQuote, shellWords, shellWordsQuoted, splitAndList } from './blocks.js';

describe('codeBlocks', () => {
  it('finds fences of either kind with their language and first line', () => {
    const md = ['# t', '', '```sh', 'a', '```', 'text', '~~~~ts title', '```', 'b', '~~~~', '```', 'c', '```'].join('\n');
    expect(codeBlocks(md, 'f.md')).toEqual([
      { file: 'f.md', line: 3, lang: 'sh', text: 'a' },
      { file: 'f.md', line: 7, lang: 'ts', text: '```\nb' },
      { file: 'f.md', line: 11, lang: '', text: 'c' },
    ]);
  });

  it('refuses a block that is never closed', () => {
    expect(() => codeBlocks('```sh\na\n', 'f.md')).toThrow(/f\.md:1/);
  });
});

describe('shellCommands', () => {
  it('joins continued lines, drops comments and blank lines, keeps the comment and the starting line', () => {
    const block = { file: 'f.md', line: 10, lang: 'sh', text: ['# setup', 'a --x "#not" \\', '    --y 1   # exit 2', '', "b '#' c#d # note"].join('\n') };
    expect(shellCommands(block)).toEqual([
      { line: 12, text: 'a --x "#not" --y 1', comment: 'exit 2' },
      { line: 15, text: "b '#' c#d", comment: 'note' },
    ]);
  });
});

describe('shell words', () => {
  it('removes quotes, marks quoted words and quotes back what needs it', () => {
    expect(shellWords(`npx tsx b.ts --server-args "--a --b" --k 'x y'`)).toEqual(['npx', 'tsx', 'b.ts', '--server-args', '--a --b', '--k', 'x y']);
    expect(shellWordsQuoted(`--s "--m" --n`).map((w) => w.quoted)).toEqual([false, true, false]);
    expect(shellQuote('--runs')).toBe('--runs');
    expect(shellQuote('--a --b')).toBe(`'--a --b'`);
    expect(shellQuote(`it's`)).toBe(`'it'\\''s'`);
  });

  it('splits at top-level && only', () => {
    expect(splitAndList(`echo "a && b" > f && node s.js --port 1`)).toEqual(['echo "a && b" > f', 'node s.js --port 1']);
  });
});

// Reading the code blocks of a Markdown file, and the commands of a shell block: what
// tests/docs/examples.test.ts runs. Shell text is only split into words and commands here,
// never expanded: the commands themselves run in bash.

export interface CodeBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** First word of the info string ("" when the fence has none). */
  lang: string;
  text: string;
}

/** Every fenced code block (``` or ~~~, any length ≥ 3) of a Markdown text, in order. */
export function codeBlocks(markdown: string, file: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const body: string[] = [];
    let j = i + 1;
    const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    while (j < lines.length && !close.test(lines[j]!)) body.push(lines[j++]!);
    if (j === lines.length) throw new Error(`${file}:${i + 1}: code block is never closed`);
    blocks.push({ file, line: i + 1, lang: open[2]!.toLowerCase(), text: body.join('\n') });
    i = j;
  }
  return blocks;
}

export interface ShellCommand {
  /** 1-based line in the Markdown file where the command starts. */
  line: number;
  /** The command with continuation lines joined and the trailing comment removed. */
  text: string;
  /** The trailing comment without its `#` ("" when there is none). */
  comment: string;
}

/** Index of the comment's `#` in a line (outside quotes, at the start or after a space), or -1. */
function commentStart(line: string): number {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = '';
      else if (c === '\\' && quote === '"') i++;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '\\') i++;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return i;
  }
  return -1;
}

/** The commands of a shell block: one per logical line (`\` continues a line), blank lines and comment-only lines dropped. */
export function shellCommands(block: CodeBlock): ShellCommand[] {
  const lines = block.text.split('\n');
  const commands: ShellCommand[] = [];
  let parts: string[] = [];
  let comments: string[] = [];
  let start = 0;
  lines.forEach((raw, k) => {
    const at = commentStart(raw);
    const code = (at >= 0 ? raw.slice(0, at) : raw).trimEnd();
    if (at >= 0) comments.push(raw.slice(at + 1).trim());
    if (parts.length === 0) start = block.line + 1 + k;
    const continued = code.endsWith('\\');
    parts.push((continued ? code.slice(0, -1) : code).trim());
    if (continued) return;
    const text = parts.filter(Boolean).join(' ');
    if (text) commands.push({ line: start, text, comment: comments.join(' ') });
    parts = [];
    comments = [];
  });
  if (parts.length) throw new Error(`${block.file}:${start}: the block ends inside a continued line`);
  return commands;
}

export interface ShellWord {
  text: string;
  /** Whether any of it was written in quotes (then it is an argument's value, never a flag). */
  quoted: boolean;
}

/** A command's words with quotes removed — for commands without expansions, which is what the rewritten ones are. */
export function shellWordsQuoted(text: string): ShellWord[] {
  const words: ShellWord[] = [];
  let word: ShellWord | null = null;
  let quote = '';
  const add = (c: string, quoted = false): void => {
    word ??= { text: '', quoted: false };
    word.text += c;
    word.quoted ||= quoted;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = '';
      else if (c === '\\' && quote === '"' && i + 1 < text.length) add(text[++i]!, true);
      else add(c, true);
    } else if (/\s/.test(c)) {
      if (word) words.push(word);
      word = null;
    } else if (c === '"' || c === "'") {
      quote = c;
      add('', true);
    } else if (c === '\\' && i + 1 < text.length) add(text[++i]!);
    else add(c);
  }
  if (quote) throw new Error(`unterminated quote in: ${text}`);
  if (word) words.push(word);
  return words;
}

/** A command's words with quotes removed. */
export function shellWords(text: string): string[] {
  return shellWordsQuoted(text).map((w) => w.text);
}

/** One word written so that bash reads it back unchanged. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command split at its top-level `&&` (outside quotes). */
export function splitAndList(text: string): string[] {
  const parts: string[] = [];
  let quote = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '&' && text[i + 1] === '&') {
      parts.push(text.slice(from, i).trim());
      from = i + 2;
      i++;
    }
  }
  parts.push(text.slice(from).trim());
  return parts;
}

// A small parser for the protobuf text format (Triton's config.pbtxt) for tests: every field
// becomes a list of values (scalars, or nested messages as objects of the same shape).

export type PbValue = string | number | PbMessage;
export interface PbMessage {
  [field: string]: PbValue[];
}

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const re = /\s+|#[^\n]*|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[{}[\]:,;<>]|[A-Za-z_][A-Za-z0-9_.]*|[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)/y;
  let i = 0;
  while (i < text.length) {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) throw new Error(`pbtxt: unexpected character ${JSON.stringify(text[i])} at offset ${i}`);
    i = re.lastIndex;
    const t = m[0];
    if (/^\s/.test(t) || t.startsWith('#')) continue;
    tokens.push(t);
  }
  return tokens;
}

export function parsePbtxt(text: string): PbMessage {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const next = (): string => {
    const t = tokens[pos++];
    if (t === undefined) throw new Error('pbtxt: unexpected end');
    return t;
  };
  const scalar = (t: string): string | number => {
    if (t.startsWith('"') || t.startsWith("'")) return JSON.parse('"' + t.slice(1, -1).replace(/\\'/g, "'") + '"') as string;
    if (/^[-+]?(\d|\.\d)/.test(t)) return Number(t);
    if (/^[A-Za-z_]/.test(t)) return t; // enum value / identifier
    throw new Error(`pbtxt: expected a value, got ${t}`);
  };
  const message = (close: string | null): PbMessage => {
    const msg: PbMessage = {};
    for (;;) {
      const t = peek();
      if (t === undefined) {
        if (close) throw new Error(`pbtxt: missing ${close}`);
        return msg;
      }
      if (t === close) {
        pos++;
        return msg;
      }
      const name = next();
      if (!/^[A-Za-z_]/.test(name)) throw new Error(`pbtxt: expected a field name, got ${name}`);
      const list = (msg[name] ??= []);
      if (peek() === ':') pos++;
      const value = (): PbValue => {
        const v = next();
        if (v === '{') return message('}');
        if (v === '<') return message('>');
        return scalar(v);
      };
      if (peek() === '[') {
        pos++;
        while (peek() !== ']') {
          list.push(value());
          if (peek() === ',') pos++;
        }
        pos++;
      } else list.push(value());
      if (peek() === ',' || peek() === ';') pos++;
    }
  };
  return message(null);
}

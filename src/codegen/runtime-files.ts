// Copies of splitc's own run-time modules for a bundle: the import closure of an entry
// module (e.g. `runtime/client`), as JavaScript (and declarations) laid out under the
// bundle's `lib/` exactly as under `src/`, so relative imports keep working unchanged.
// Running from TypeScript sources (tsx, vitest) the modules are transpiled with the
// TypeScript compiler that ships with ts-morph; running from `dist/` the compiled files
// are copied. Reading files is not importing: codegen stays independent of runtime/.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Project, ts } from 'ts-morph';
import { SplitcError } from '../ir/errors.js';

export interface ModuleRoot {
  /** `src/` or `dist/`. */
  dir: string;
  ext: '.ts' | '.js';
}

/** Where splitc's modules are: `src/` when this module runs from TypeScript, else `dist/`. */
export function splitcModuleRoot(): ModuleRoot {
  const self = fileURLToPath(import.meta.url);
  return { dir: path.resolve(path.dirname(self), '..'), ext: self.endsWith('.ts') ? '.ts' : '.js' };
}

export interface RuntimeCopy {
  /** Bundle-relative path (`lib/runtime/client.js`) → file text. */
  files: Map<string, string>;
  /** Bare module specifiers the JavaScript imports (`node:http`, `onnxruntime-node`, …), sorted. */
  bareImports: string[];
}

const JS_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ES2022,
  removeComments: false,
  sourceMap: false,
  inlineSourceMap: false,
  newLine: ts.NewLineKind.LineFeed,
  verbatimModuleSyntax: false,
};

function specifiers(text: string): string[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map((f) => f.fileName);
}

function isRelative(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../');
}

function resolveRelative(from: string, spec: string, ext: '.ts' | '.js'): string {
  const base = path.resolve(path.dirname(from), spec);
  const candidates = ext === '.ts' ? [base.replace(/\.js$/, '.ts'), base, `${base}.ts`] : [base, `${base}.js`];
  for (const c of candidates) if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  throw new SplitcError('E_CODEGEN', `cannot find module '${spec}' imported by ${from}`, {
    hint: ext === '.js' ? 'rebuild splitc (npm run build) so dist/ is complete' : 'the splitc sources are incomplete',
  });
}

function stripSourceMapComment(js: string): string {
  return js.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
}

/**
 * The import closure of `entries` (root-relative paths without extension, e.g.
 * `runtime/client`), ready to be written under `lib/` of a bundle.
 * `declarations`: also emit `.d.ts` files (for the edge module's types).
 */
export function copyRuntimeModules(entries: string[], opts: { declarations: boolean; root?: ModuleRoot }): RuntimeCopy {
  const root = opts.root ?? splitcModuleRoot();
  // splitc's own files do not change while it runs: compile each closure once per process
  const key = JSON.stringify([root, entries, opts.declarations]);
  const hit = cache.get(key);
  if (hit) return { files: new Map(hit.files), bareImports: [...hit.bareImports] };
  const copy = collect(entries, opts.declarations, root);
  cache.set(key, copy);
  return { files: new Map(copy.files), bareImports: [...copy.bareImports] };
}

const cache = new Map<string, RuntimeCopy>();

function collect(entries: string[], declarations: boolean, root: ModuleRoot): RuntimeCopy {
  const rel = (abs: string): string => {
    const r = path.relative(root.dir, abs);
    if (r.startsWith('..') || path.isAbsolute(r)) throw new SplitcError('E_CODEGEN', `module ${abs} lies outside ${root.dir}`);
    return r.split(path.sep).join('/');
  };
  const outName = (abs: string, suffix: string): string => `lib/${rel(abs).replace(/\.(ts|js)$/, '')}${suffix}`;

  // JavaScript closure: follow the imports that remain after transpiling (type-only ones vanish).
  const js = new Map<string, string>();
  const bare = new Set<string>();
  const queue = entries.map((e) => resolveRelative(path.join(root.dir, `index${root.ext}`), `./${e}${root.ext}`, root.ext));
  const sources = new Map<string, string>();
  while (queue.length) {
    const file = queue.pop()!;
    if (js.has(file)) continue;
    const text = fs.readFileSync(file, 'utf8');
    sources.set(file, text);
    const out =
      root.ext === '.ts'
        ? ts.transpileModule(text, { compilerOptions: JS_OPTIONS, fileName: path.basename(file) }).outputText
        : stripSourceMapComment(text);
    js.set(file, out);
    for (const spec of specifiers(out)) {
      if (isRelative(spec)) queue.push(resolveRelative(file, spec, root.ext));
      else bare.add(spec);
    }
  }
  const files = new Map<string, string>();
  for (const [file, text] of js) files.set(outName(file, '.js'), text);

  if (declarations) {
    for (const [name, text] of declarationsFor([...js.keys()], root, sources)) files.set(outName(name, '.d.ts'), text);
  }
  return { files: new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), bareImports: [...bare].sort() };
}

/** `.d.ts` text for each file of the JavaScript closure and for the files their types refer to. */
function declarationsFor(jsFiles: string[], root: ModuleRoot, sources: Map<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  if (root.ext === '.js') {
    // dist/ has declarations next to the JavaScript; follow their imports too.
    const queue = [...jsFiles];
    while (queue.length) {
      const js = queue.pop()!;
      if (out.has(js)) continue;
      const dts = js.replace(/\.js$/, '.d.ts');
      if (!fs.existsSync(dts)) throw new SplitcError('E_CODEGEN', `missing declarations ${dts}`, { hint: 'rebuild splitc (npm run build)' });
      const text = stripSourceMapComment(fs.readFileSync(dts, 'utf8'));
      out.set(js, text);
      for (const spec of specifiers(text)) if (isRelative(spec)) queue.push(resolveRelative(js, spec, '.js'));
    }
    return out;
  }
  // Type closure over the TypeScript sources (type-only imports included), emitted in memory.
  const all = new Map(sources);
  const queue = [...jsFiles];
  const seen = new Set<string>();
  while (queue.length) {
    const f = queue.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const text = all.get(f) ?? fs.readFileSync(f, 'utf8');
    all.set(f, text);
    for (const spec of specifiers(text)) if (isRelative(spec)) queue.push(resolveRelative(f, spec, '.ts'));
  }
  const project = new Project({
    useInMemoryFileSystem: true,
    compilerOptions: {
      ...JS_OPTIONS,
      declaration: true,
      emitDeclarationOnly: true,
      strict: true,
      skipLibCheck: true,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      rootDir: '/src',
      outDir: '/out',
    },
  });
  for (const [f, text] of all) project.createSourceFile(`/src/${path.relative(root.dir, f).split(path.sep).join('/')}`, text);
  const emitted = project.emitToMemory({ emitOnlyDtsFiles: true });
  const byRel = new Map(emitted.getFiles().map((f) => [f.filePath.replace(/^\/out\//, '').replace(/\.d\.ts$/, ''), f.text]));
  for (const f of all.keys()) {
    const key = path.relative(root.dir, f).split(path.sep).join('/').replace(/\.ts$/, '');
    const text = byRel.get(key);
    if (text === undefined) throw new SplitcError('E_CODEGEN', `no declarations were emitted for ${f}`);
    out.set(f, text);
  }
  return out;
}

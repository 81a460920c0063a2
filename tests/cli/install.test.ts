// What a new user sees on install and first run: npm prints no warnings for this project,
// every dependency install script is reviewed in package.json's allowScripts (onnxruntime-node's
// is denied: its CPU binaries ship in the package, its script would fetch CUDA libraries), and
// the CLI writes nothing to stderr on a plain `--version`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, tmpDir } from '../helpers/fixtures.js';

interface LockPackage { hasInstallScript?: boolean }

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(path.join(repoRoot, file), 'utf8')) as T;
}

/** `esbuild@0.28.2` → `esbuild`, `@scope/pkg@1` → `@scope/pkg`; a name-only key stays as it is. */
function allowScriptsName(key: string): string {
  const at = key.lastIndexOf('@');
  return at > 0 ? key.slice(0, at) : key;
}

/**
 * npm as a user runs it in this checkout: the project's .npmrc and package.json count, while a
 * developer's own ~/.npmrc and the npm_config_* variables of an enclosing `npm test` do not.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  const userconfig = path.join(tmpDir('splitc-npmrc-'), 'npmrc');
  fs.writeFileSync(userconfig, '');
  env.NPM_CONFIG_USERCONFIG = userconfig;
  return env;
}

function npmWarnings(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /^npm warn/i.test(line));
}

describe('install and first run', () => {
  it('every dependency with an install script is reviewed in allowScripts; onnxruntime-node is denied', () => {
    const pkg = readJson<{ allowScripts?: Record<string, boolean> }>('package.json');
    const lock = readJson<{ packages: Record<string, LockPackage> }>('package-lock.json');
    const reviewed = new Set(Object.keys(pkg.allowScripts ?? {}).map(allowScriptsName));
    const withScripts = Object.entries(lock.packages)
      .filter(([, p]) => p.hasInstallScript)
      .map(([where]) => where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(withScripts).toContain('onnxruntime-node');
    expect(withScripts.filter((name) => !reviewed.has(name))).toEqual([]);
    expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
  });

  it('npm reads the project config without a warning (no unknown keys in .npmrc)', () => {
    const r = spawnSync('npm', ['pkg', 'get', 'name'], { cwd: repoRoot, encoding: 'utf8', env: npmEnv() });
    expect(r.status).toBe(0);
    expect(npmWarnings(r.stderr)).toEqual([]);
  });

  it('`npx splitc --version` and `node bin/splitc.js --version` write nothing to stderr', () => {
    const viaNode = spawnSync(process.execPath, [path.join(repoRoot, 'bin/splitc.js'), '--version'], { cwd: repoRoot, encoding: 'utf8' });
    expect(viaNode.status).toBe(0);
    expect(viaNode.stdout.trim()).toBe(readJson<{ version: string }>('package.json').version);
    expect(viaNode.stderr).toBe('');
    const viaNpx = spawnSync('npx', ['--no', '--', 'splitc', '--version'], { cwd: repoRoot, encoding: 'utf8', env: npmEnv() });
    expect(viaNpx.status).toBe(0);
    expect(viaNpx.stdout.trim()).toBe(readJson<{ version: string }>('package.json').version);
    expect(viaNpx.stderr).toBe('');
  });
});

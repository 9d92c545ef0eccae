// The core runs in the browser too: nothing reachable from the public entry point (src/index.ts)
// or from the simulator, nor the visualizer page (web/), may import a Node built-in. Only src/node.ts, the CLI and the tests may.
import { describe, expect, it } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE_BUILTIN = /^(node:|fs$|path$|os$|url$|worker_threads$|child_process$|crypto$|net$|util$|events$|stream$|buffer$)/;

/** Every module reachable from `entry` through static imports, with what each imports. */
function importGraph(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const todo = [resolve(root, entry)];
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]);
    seen.set(file, specs);
    for (const s of specs) {
      if (!s.startsWith('.')) continue;
      const target = resolve(dirname(file), s.replace(/\.js$/, '.ts'));
      if (!existsSync(target)) throw new Error(`${file} imports ${s}, which does not exist`);
      todo.push(target);
    }
  }
  return seen;
}

describe('browser-safe core', () => {
  it.each(['src/index.ts', 'sim/run.ts', 'sim/reference/index.ts', 'web/main.ts'])('%s reaches no Node built-in', (entry) => {
    const graph = importGraph(entry);
    expect(graph.size).toBeGreaterThan(entry === 'src/index.ts' ? 10 : 3);
    const offenders = [...graph].flatMap(([file, specs]) =>
      specs.filter((s) => NODE_BUILTIN.test(s)).map((s) => `${file.slice(root.length + 1)} imports ${s}`));
    expect(offenders).toEqual([]);
  });

  it('the check itself sees Node imports where they are allowed', () => {
    const graph = importGraph('src/node.ts');
    expect([...graph.values()].flat().some((s) => NODE_BUILTIN.test(s))).toBe(true);
  });
});

// Layers point one way: cli/ -> sim/ -> src/ -> assembly/, never backwards (README "Design").
// Walks what every .ts file under assembly/, src/, sim/, cli/ and web/ (the visualizer page) imports (static, side-effect and
// dynamic imports, and the compiled modules handed to worker threads through builtModule(...)),
// and lists every edge that breaks a rule; the CLI's own modules must form no cycle.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const rel = (file: string): string => relative(root, file).split(sep).join('/');

/** Every .ts file below `dir` (relative to the root), as absolute paths. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(resolve(root, dir));
  return out;
}

const IMPORT_PATTERNS = [
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g, // import ... from, export ... from
  /(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g, // import './x.js' (side effects)
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, // import('./x.js'), also in type positions
];
/** builtModule('sim/workers/nic-task.js'): a module, named from the package root, run on a worker. */
const BUILT_MODULE = /\bbuiltModule\(\s*['"]([^'"]+)['"]/g;

/** The file a relative specifier names: ./x.js -> x.ts (TypeScript), ./x -> x.ts or x/index.ts (AssemblyScript). */
function resolveSpec(from: string, spec: string): string {
  const base = resolve(from, spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts'), base]) {
    if (candidate.endsWith('.ts') && existsSync(candidate)) return candidate;
  }
  return base; // outside the tree or missing: still an edge, reported by where it points
}

/** What each file imports: relative specifiers resolved to files; bare ones (node:fs, ~lib/...) skipped. */
function importGraph(dirs: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of dirs.flatMap(tsFiles)) {
    const text = readFileSync(file, 'utf8');
    const targets = new Set<string>();
    for (const re of IMPORT_PATTERNS) {
      for (const [, spec] of text.matchAll(re)) if (spec.startsWith('.')) targets.add(resolveSpec(dirname(file), spec));
    }
    for (const [, path] of text.matchAll(BUILT_MODULE)) targets.add(resolveSpec(root, `./${path}`));
    graph.set(rel(file), [...targets].map(rel));
  }
  return graph;
}

const topDir = (path: string): string => path.split('/')[0];

/** Each layer and the top-level folders it must not import from. */
const FORBIDDEN: Record<string, readonly string[]> = {
  src: ['sim', 'cli', 'test', 'bench'],
  sim: ['cli', 'test', 'bench'],
  // The visualizer page runs in a browser: the library and the simulator only.
  web: ['cli', 'test', 'bench'],
};

/** Edges `a -> b` breaking the rules, one readable line each. */
function badEdges(graph: Map<string, string[]>): string[] {
  const bad: string[] = [];
  for (const [file, targets] of graph) {
    const layer = topDir(file);
    for (const t of targets) {
      if (layer === 'assembly' && topDir(t) !== 'assembly') bad.push(`${file} -> ${t} (assembly/ imports only assembly/)`);
      if (FORBIDDEN[layer]?.includes(topDir(t))) bad.push(`${file} -> ${t} (${layer}/ must not import ${topDir(t)}/)`);
    }
  }
  return bad;
}

/** Cycles among the files under `dir`: each back edge a depth-first walk meets, as `a -> b -> ... -> a`. */
function cyclesWithin(graph: Map<string, string[]>, dir: string): string[] {
  const inside = (f: string): boolean => f.startsWith(`${dir}/`);
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (!inside(t)) continue;
      if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].join(' -> '));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of [...graph.keys()].filter(inside).sort()) if (!state.has(f)) visit(f);
  return cycles;
}

describe('layers: cli -> sim -> src -> assembly, never backwards', () => {
  const graph = importGraph(['assembly', 'src', 'sim', 'cli', 'web']);

  it('the walk sees every layer and its imports', () => {
    for (const dir of ['assembly', 'src', 'sim', 'cli', 'web']) {
      expect([...graph.keys()].filter((f) => topDir(f) === dir).length, dir).toBeGreaterThan(3);
    }
    // Spot checks that each kind of reference is followed.
    expect(graph.get('cli/main.ts')).toContain('cli/sim/run.ts');
    expect(graph.get('sim/workers/plan.ts')).toContain('sim/workers/nic-task.ts');
    expect(graph.get('assembly/index.ts')?.some((t) => t.startsWith('assembly/'))).toBe(true);
  });

  it('no edge points backwards', () => {
    const bad = badEdges(graph);
    expect(bad, `imports against the layers:\n  ${bad.join('\n  ')}\n`).toEqual([]);
  });

  it('the CLI has no import cycle', () => {
    const cycles = cyclesWithin(graph, 'cli');
    expect(cycles, `import cycles in cli/:\n  ${cycles.join('\n  ')}\n`).toEqual([]);
  });

  it('the checks catch what they are for', () => {
    const planted = new Map<string, string[]>([
      ['src/virtqueue/factory.ts', ['sim/run.ts', 'src/virtqueue/batch.ts']],
      ['sim/run.ts', ['cli/main.ts', 'src/virtqueue/factory.ts']],
      ['assembly/index.ts', ['src/virtqueue/layout.ts']],
      ['cli/a.ts', ['cli/b.ts']],
      ['cli/b.ts', ['cli/a.ts', 'sim/run.ts']],
    ]);
    expect(badEdges(planted)).toEqual([
      'src/virtqueue/factory.ts -> sim/run.ts (src/ must not import sim/)',
      'sim/run.ts -> cli/main.ts (sim/ must not import cli/)',
      'assembly/index.ts -> src/virtqueue/layout.ts (assembly/ imports only assembly/)',
    ]);
    expect(cyclesWithin(planted, 'cli')).toEqual(['cli/a.ts -> cli/b.ts -> cli/a.ts']);
  });
});

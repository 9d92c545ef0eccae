// Where the compiled (plain JS) modules live: worker threads load dist/, whether the caller runs
// from dist/ itself or from the TypeScript sources (vitest). Node-only.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package root, from src/dataplane/ or dist/src/dataplane/. */
function root(): URL {
  return new URL(import.meta.url.includes('/dist/src/') ? '../../../' : '../../', import.meta.url);
}

/** href of dist/<path> (e.g. 'sim/workers/driver-task.js'); throws a clear Error if it is not built. */
export function builtModule(path: string): string {
  const url = new URL(`dist/${path}`, root());
  if (!existsSync(url)) {
    throw new Error(`${fileURLToPath(url)} is missing: worker threads run the compiled package; run \`npm run build:ts\` (\`npm test\` builds first)`);
  }
  return url.href;
}

#!/usr/bin/env node
// `virtqueue` command: the compiled CLI lives in dist/ (npm run build).
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
  process.stderr.write('virtqueue: dist/ is missing or incomplete: run `npm run build` first\n');
  process.exit(1);
}
process.exitCode = await cli.main(process.argv.slice(2));

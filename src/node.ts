// Node-only helpers: where the compiled engine lives on disk. Nothing on the engine's path
// imports this file, so the core stays browser-safe.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Engine } from './engine.js';

let cached: WebAssembly.Module | undefined;

/** Path of build/virtqueue.wasm, from src/ (vitest) or dist/src/ (compiled). */
export function engineWasmPath(): string {
  const here = fileURLToPath(import.meta.url);
  const up = here.includes('/dist/') ? '../../' : '../';
  return fileURLToPath(new URL(`${up}build/virtqueue.wasm`, import.meta.url));
}

/** The compiled engine module (compiled once per process). */
export function engineModule(): WebAssembly.Module {
  if (!cached) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(engineWasmPath());
    } catch (e) {
      throw new Error(`cannot read the engine at ${engineWasmPath()}: run \`npm run build\` (${(e as Error).message})`);
    }
    cached = new WebAssembly.Module(new Uint8Array(bytes) as Uint8Array<ArrayBuffer>);
  }
  return cached;
}

/** An engine instance over `memory`, loaded from disk. */
export function loadEngine(memory: WebAssembly.Memory): Engine {
  return Engine.instantiateSync(engineModule(), memory);
}

// Messages from a Dataplane worker to the main thread (browser-safe types).
export type WorkerMessage =
  | { type: 'ready'; worker: number }
  | { type: 'stopped'; worker: number; results: unknown[] }
  | { type: 'failed'; worker: number; task: string; message: string; stack: string; results: unknown[] };

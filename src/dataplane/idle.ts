// Idle modes of a Dataplane worker (browser-safe).
//   poll      busy polling: the worker never sleeps
//   adaptive  busy polling; after `spinPolls` polls in a row with no work, the worker arms its
//             tasks' notifications and sleeps on its doorbell until a producer rings it
export type IdleMode = 'poll' | 'adaptive';
export const IDLE_MODES: readonly IdleMode[] = ['poll', 'adaptive'];

export interface IdleOptions {
  mode: IdleMode;
  /** Empty polls before an adaptive worker sleeps (default 256). */
  spinPolls?: number;
}

export const DEFAULT_SPIN_POLLS = 256;
/** How long a worker whose tasks cannot be woken (no arm()) sleeps at most, in ms. */
export const UNARMED_SLEEP_MS = 1;

// What every command of the CLI shares: the error for a bad command line, where output goes, and
// the rules for reading flag values (node:util parseArgs, strict; one integer parser). Imports
// nothing of the CLI, so the commands and the dispatch can all use it without a cycle.
import { parseArgs } from 'node:util';

/** A bad command line: the message is one line, without the program name. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface CliIO {
  stdout(s: string): void;
  stderr(s: string): void;
  /** Whether stderr is a terminal (live progress goes there). */
  stderrIsTTY: boolean;
}

/** Carriage return and erase to the end of the line: redraws a live line in place. */
export const ERASE_LINE = '\r\x1b[K';

/** The first line of an error's message. */
export const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];

export type FlagValues = Record<string, string | boolean | undefined>;
export type FlagConfig = Record<string, { type: 'string' | 'boolean'; short?: string }>;

/** Strict parseArgs (unknown flags, missing values and positionals are errors) with its errors as UsageErrors. */
export function parseFlags(args: string[], options: FlagConfig): FlagValues {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as FlagValues;
  } catch (e) {
    // parseArgs' messages are one line already; make them read like ours.
    const msg = firstLine(e);
    throw new UsageError(msg.charAt(0).toLowerCase() + msg.slice(1));
  }
}

/** A flag's value when it was given as a string, else undefined. */
export const stringFlag = (values: FlagValues, name: string): string | undefined =>
  (typeof values[name] === 'string' ? values[name] as string : undefined);

/**
 * The CLI's one integer parser: decimal digits only (no sign, fraction or exponent), a safe
 * integer, and, when a range is given, min to max inclusive.
 */
export function wholeNumber(flag: string, v: string, range?: { min: number; max: number }): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} expects a whole number, got '${v}'`);
  const n = Number(v);
  if (range && (n < range.min || n > range.max)) throw new UsageError(`${flag} must be ${range.min} to ${range.max}, got ${n}`);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} expects a whole number, got '${v}'`);
  return n;
}

/** A value out of a fixed list. */
export const oneOf = <T extends string>(values: readonly T[]) => (flag: string, v: string): T => {
  if (!(values as readonly string[]).includes(v)) throw new UsageError(`${flag} must be one of ${values.join(', ')}, got '${v}'`);
  return v as T;
};

/** --duration's value: a positive number of seconds; undefined when the flag is absent. */
export function durationFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^(\d+\.?\d*|\.\d+)$/.test(v) || !(Number(v) > 0)) throw new UsageError(`--duration expects a positive number of seconds, got '${v}'`);
  return Number(v);
}

/**
 * Resolves with why a long-running command stops: `${duration} s elapsed` (no timer when
 * duration is undefined), SIGINT or SIGTERM, or whatever `also` passes to the `done` it is given
 * (e.g. a set-up that failed). The first reason wins; the signal handlers are removed.
 */
export function untilStopped(duration: number | undefined, also?: (done: (why: string) => void) => void): Promise<string> {
  return new Promise<string>((resolve) => {
    let settled = false;
    const timer = duration === undefined ? undefined : setTimeout(() => done(`${duration} s elapsed`), duration * 1000);
    const onSignal = (sig: NodeJS.Signals): void => done(sig);
    function done(why: string): void {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(why);
    }
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    also?.(done);
  });
}

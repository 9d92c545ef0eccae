// Waiting for callbacks in tests, with a deadline: a callback that never comes fails the test
// instead of hanging it.

/** Resolves with the first value passed to `done`, or rejects after `ms`. */
export function within<T>(ms: number, what: string, arm: (done: (v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    arm((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

/** The first `event` from `emitter` (its arguments), or a rejection after `ms`. */
export function nextEvent<A extends unknown[]>(emitter: { once(e: string, f: (...a: A) => void): unknown }, event: string, ms = 5_000): Promise<A> {
  return within<A>(ms, `'${event}' event`, (done) => emitter.once(event, (...a: A) => done(a)));
}

/** Resolves once `ready()` is true (checked every millisecond), or rejects after `ms`. */
export function until(ready: () => boolean, what: string, ms = 5_000): Promise<void> {
  return within<void>(ms, what, (done) => {
    const t = setInterval(() => {
      if (ready()) {
        clearInterval(t);
        done();
      }
    }, 1);
    setTimeout(() => clearInterval(t), ms).unref();
  });
}

/** Polls an asynchronous check (a page query) every 50 ms until it holds; throws naming `what` after `ms`. */
export async function untilAsync(ok: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

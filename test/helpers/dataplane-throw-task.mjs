// Dataplane task (test): polls `after` times, then throws an Error with `message`.
export function createTask(c) {
  let polls = 0;
  return {
    poll() {
      if (++polls >= c.after) throw new Error(c.message);
      return 1;
    },
    stop: () => ({ polls }),
  };
}

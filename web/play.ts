// Play mode's choice of the next operation, and how operations read in the history. Play runs the
// ordinary driver/device cycle: add a burst, notify, the device pops only when it was notified
// (so a dropped notification shows as a stall, as it would), pushes, the driver collects.
import type { StepOp } from '../sim/stepper/trace.js';
import type { StepSession } from '../sim/stepper/session.js';

export function nextPlayOp(s: StepSession, step: number, burst: number): StepOp | undefined {
  switch (step % 5) {
    case 0: return { op: 'add', n: burst };
    case 1: return { op: 'notify' };
    case 2: return s.notified ? { op: 'pop', n: burst } : undefined;
    case 3: return s.held.length ? { op: 'push', n: burst } : undefined;
    default: return { op: 'collect' };
  }
}

export function describeOp(op: StepOp): string {
  switch (op.op) {
    case 'add': return `driver add ${op.n}`;
    case 'notify': return 'notify';
    case 'pop': return `device pop ${op.n}`;
    case 'push': return `push used ${op.n}`;
    case 'collect': return 'driver collect';
    case 'drop-notify': return 'fault: drop the next notification';
    case 'delay': return `fault: delay held chains ${op.n} pushes`;
    case 'reorder': return 'fault: next push out of order';
    case 'corrupt': return `fault: corrupt ${op.what}`;
    case 'reset': return 'reset';
  }
}

// A progress line on a terminal: redrawn in place with a carriage return, erased at the end.
import type { SimProgress } from '../../sim/run.js';
import { ERASE_LINE } from '../common.js';
import { formatProgress } from './format.js';

export class ProgressLine {
  private shown = false;
  private readonly write: (s: string) => void;

  constructor(write: (s: string) => void) {
    this.write = write;
  }

  /** Redraws the line (bound, so it can be passed as a callback). */
  readonly update = (p: SimProgress): void => {
    this.write(ERASE_LINE + formatProgress(p));
    this.shown = true;
  };

  /** Erases the line, if one was drawn. */
  clear(): void {
    if (this.shown) this.write(ERASE_LINE);
    this.shown = false;
  }
}

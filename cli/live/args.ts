// `--viz PORT` and `--viz-rate HZ`, shared by `virtqueue sim` and `virtqueue vhost`.
import { LIVE_RATE_HZ, LIVE_RATE_MAX, LIVE_RATE_MIN } from '../../src/viz/stream.js';
import { UsageError, wholeNumber } from '../common.js';

export interface VizFlags {
  /** --viz PORT: serve the live visualizer on 127.0.0.1:PORT (0: any free port). */
  viz?: number;
  /** --viz-rate HZ: live frames a second (LIVE_RATE_MIN to LIVE_RATE_MAX; LIVE_RATE_HZ when omitted). */
  vizRate?: number;
}

/** The two flags' values, checked: the port 0 to 65535, the rate in range and only with --viz. */
export function parseVizFlags(viz: string | undefined, rate: string | undefined): VizFlags {
  const port = viz === undefined ? undefined : wholeNumber('--viz', viz, { min: 0, max: 65535 });
  if (rate === undefined) return port === undefined ? {} : { viz: port, vizRate: LIVE_RATE_HZ };
  if (port === undefined) throw new UsageError('--viz-rate sets the rate of the live visualizer: it needs --viz PORT');
  return { viz: port, vizRate: wholeNumber('--viz-rate', rate, { min: LIVE_RATE_MIN, max: LIVE_RATE_MAX }) };
}

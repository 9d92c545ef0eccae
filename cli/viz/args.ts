// `virtqueue viz` flags.
import { parseFlags, stringFlag, wholeNumber } from '../common.js';

export interface VizCommand { kind: 'viz'; port: number }

export const VIZ_DEFAULT_PORT = 8080;

export function parseViz(args: string[]): VizCommand | { kind: 'help'; topic: 'viz' } {
  const values = parseFlags(args, { port: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) return { kind: 'help', topic: 'viz' };
  const port = stringFlag(values, 'port');
  return { kind: 'viz', port: port === undefined ? VIZ_DEFAULT_PORT : wholeNumber('--port', port, { min: 0, max: 65535 }) };
}

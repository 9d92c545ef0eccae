// Plain-text tables for benchmark output.
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const width = header.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  const line = (r: string[]) => '| ' + r.map((s, c) => (c === 0 ? s.padEnd(width[c]) : s.padStart(width[c]))).join(' | ') + ' |';
  const rule = '|' + width.map((w, c) => (c === 0 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(header), rule, ...cells.slice(1).map(line)].join('\n');
}

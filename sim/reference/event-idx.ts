// The event index rule, written from the spec's wording rather than from its C expression.
//
// 2.7.7.2 (used buffer notifications) and 2.7.10.2 (available buffer notifications): a side that
// moved its index from `oldIdx` to `newIdx` published the entries oldIdx, oldIdx + 1, ...,
// newIdx - 1 (all modulo 2^16). The other side asked, through `event`, to be told when the
// entry at index `event` is published. So: notify exactly when `event` is one of those entries.

/** Whether `event` is among the 16-bit indices [oldIdx, newIdx), counted forward from oldIdx. */
export function eventPublished(event: number, newIdx: number, oldIdx: number): boolean {
  const published = (newIdx - oldIdx) & 0xffff; // how many entries were just published
  const distance = (event - oldIdx) & 0xffff;   // how far past oldIdx the wanted entry is
  return distance < published;
}

// The availability order of an in-order ring (VIRTIO_F_IN_ORDER, 2.7.9 and 2.8.8): a circle of q
// u16 ids in the order the chains were made available, from a head index, kept by the packed
// driver (PDRV_ORDER) and by either device (SDEV_ORDER, PDEV_ORDER) to check used entries against.

/**
 * The entry of the circle at `order` at position `i`, given as the head plus a count of at most
 * the chains in flight (at most q): below 2q, so one subtraction wraps it. A packed Queue Size
 * need not be a power of 2, and a division per chain was measurable in a txonly burst.
 */
// @ts-ignore: decorator
@inline export function orderSlot(order: u32, q: u32, i: u32): u32 {
  return order + (i >= q ? i - q : i) * 2;
}

/** The head index `n` entries on from `head` (both at most q). */
// @ts-ignore: decorator
@inline export function orderAdvance(q: u32, head: u32, n: u32): u32 {
  return head + n >= q ? head + n - q : head + n;
}

// Burst records exchanged between the host and the engine. One record format serves both
// directions, so a chain popped by a device can be handed to a driver unchanged.
//
// Chain record (the "chain view"): a chain's segments sit contiguously in a segment array,
// device-readable ones first, then device-writable ones (the order 2.7.4.2 requires).
//
//   0        4        8      10     12       16       20     22     24
//   +--------+--------+------+------+--------+--------+------+------+
//   | id     | seg    | nRd  | nWr  | rdLen  | wrLen  | desc | rsvd |
//   +--------+--------+------+------+--------+--------+------+------+
//   id     driver add: the caller's token; device pop: the head id to return in the used entry
//   seg    index of the chain's first segment in the segment array
//   nRd    device-readable segments;  nWr  device-writable segments
//   rdLen  total readable bytes;  wrLen  total writable bytes (written by pop, ignored by add)
//   desc   ring descriptors the chain took (written by pop)
export const CHAIN_SIZE = 24;
export const CHAIN_ID = 0;
export const CHAIN_SEG = 4;
export const CHAIN_NREAD = 8;
export const CHAIN_NWRITE = 10;
export const CHAIN_READ_LEN = 12;
export const CHAIN_WRITE_LEN = 16;
export const CHAIN_DESCS = 20;

// Segment: a buffer (or the part of one that lies in one memory region) as a Wasm offset.
//
//   0        4        8
//   +--------+--------+
//   | offset | len    |
//   +--------+--------+
export const SEG_SIZE = 8;
export const SEG_OFFSET = 0;
export const SEG_LEN = 4;

// Used record: device push input and driver collect output; the same shape as a split used
// ring element. id is the head id on the device side and the caller's token on the driver side.
//
//   0        4        8
//   +--------+--------+
//   | id     | len    |
//   +--------+--------+
export const USED_REC_SIZE = 8;
export const USED_REC_ID = 0;
export const USED_REC_LEN = 4;

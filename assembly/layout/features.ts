// Feature bit numbers (VIRTIO 1.2, section 6 "Reserved Feature Bits", and 5.1.3 for virtio-net).
// The engine reads the negotiated set from a queue's control block (FEATURES_LO / FEATURES_HI):
// bits 0..31 live in the low word, bits 32..63 in the high word.
export const F_INDIRECT_DESC = 28;
export const F_EVENT_IDX = 29;
export const F_VERSION_1 = 32;
export const F_ACCESS_PLATFORM = 33;
export const F_RING_PACKED = 34;
export const F_IN_ORDER = 35;
export const F_ORDER_PLATFORM = 36;
export const F_SR_IOV = 37;
export const F_NOTIFICATION_DATA = 38;

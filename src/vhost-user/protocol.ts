// vhost-user wire constants (QEMU docs/interop/vhost-user.rst). Numbers are in the machine's
// byte order, which is little-endian on every platform this runs on.

/** Header: request u32, flags u32, size u32. */
export const HEADER_SIZE = 12;
export const HDR_REQUEST = 0;
export const HDR_FLAGS = 4;
export const HDR_SIZE = 8;

export const FLAG_VERSION_MASK = 0x3;
/** The only protocol version there is. */
export const VERSION = 0x1;
export const FLAG_REPLY = 1 << 2;
export const FLAG_NEED_REPLY = 1 << 3;

/** Largest payload we accept: the biggest one defined is a config space access (12 + 256). */
export const MAX_PAYLOAD = 4096;
/** SET_MEM_TABLE carries at most this many regions (and as many fds). */
export const MEM_TABLE_MAX_REGIONS = 8;
/** Config space accesses carry at most 256 bytes (VHOST_USER_MAX_CONFIG_SIZE). */
export const MAX_CONFIG_SIZE = 256;

/** Feature bit the back-end sets in GET_FEATURES to say it speaks protocol features. */
export const F_PROTOCOL_FEATURES = 30;

/** Front-end requests. */
export const Request = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  SEND_RARP: 19,
  NET_SET_MTU: 20,
  SET_BACKEND_REQ_FD: 21,
  IOTLB_MSG: 22,
  SET_VRING_ENDIAN: 23,
  GET_CONFIG: 24,
  SET_CONFIG: 25,
  CREATE_CRYPTO_SESSION: 26,
  CLOSE_CRYPTO_SESSION: 27,
  POSTCOPY_ADVISE: 28,
  POSTCOPY_LISTEN: 29,
  POSTCOPY_END: 30,
  GET_INFLIGHT_FD: 31,
  SET_INFLIGHT_FD: 32,
  GPU_SET_SOCKET: 33,
  RESET_DEVICE: 34,
  VRING_KICK: 35,
  GET_MAX_MEM_SLOTS: 36,
  ADD_MEM_REG: 37,
  REM_MEM_REG: 38,
  SET_STATUS: 39,
  GET_STATUS: 40,
} as const;

export type RequestName = keyof typeof Request;
const NAMES = new Map<number, RequestName>(Object.entries(Request).map(([k, v]) => [v, k as RequestName]));

/** 'SET_MEM_TABLE', or 'REQUEST_99' for an id nobody defined. */
export const requestName = (id: number): string => NAMES.get(id) ?? `REQUEST_${id}`;

/** Protocol feature bits (GET/SET_PROTOCOL_FEATURES). */
export const ProtocolFeature = {
  MQ: 0,
  LOG_SHMFD: 1,
  RARP: 2,
  REPLY_ACK: 3,
  NET_MTU: 4,
  BACKEND_REQ: 5,
  CROSS_ENDIAN: 6,
  CRYPTO_SESSION: 7,
  PAGEFAULT: 8,
  CONFIG: 9,
  BACKEND_SEND_FD: 10,
  HOST_NOTIFIER: 11,
  INFLIGHT_SHMFD: 12,
  RESET_DEVICE: 13,
  INBAND_NOTIFICATIONS: 14,
  CONFIGURE_MEM_SLOTS: 15,
  STATUS: 16,
} as const;

// Payload layouts.
/** vring state: index u32, num u32. */
export const STATE_SIZE = 8;
/** vring address: index u32, flags u32, desc u64, used u64, avail u64, log u64. */
export const ADDR_SIZE = 40;
export const ADDR_INDEX = 0;
export const ADDR_FLAGS = 4;
export const ADDR_DESC = 8;
export const ADDR_USED = 16;
export const ADDR_AVAIL = 24;
export const ADDR_LOG = 32;
/** VHOST_VRING_F_LOG in the address flags. */
export const VRING_F_LOG = 1;
/** Memory table: nregions u32, padding u32, then regions. */
export const MEM_HEADER = 8;
/** Region: guest address u64, size u64, user address u64, mmap offset u64. */
export const REGION_SIZE = 32;
export const REGION_GPA = 0;
export const REGION_LEN = 8;
export const REGION_UADDR = 16;
export const REGION_MMAP_OFFSET = 24;
/** Single region (ADD/REM_MEM_REG): 8 bytes of padding, then a region. */
export const SINGLE_REGION_SIZE = 8 + REGION_SIZE;
/** Config space access: offset u32, size u32, flags u32, then size bytes. */
export const CONFIG_HEADER = 12;
/** KICK/CALL/ERR u64: bits 0-7 vring index, bit 8 "no fd: poll instead". */
export const VRING_IDX_MASK = 0xff;
export const VRING_NOFD_MASK = 0x100;
/** Packed rings pack the wrap counter into SET/GET_VRING_BASE's num: bits 0-14 index, bit 15 wrap. */
export const PACKED_BASE_WRAP = 1 << 15;

/**
 * Requests of the back-end request channel (vhost-user.rst "Back-end message types"), sent by
 * the back-end on the socket SET_BACKEND_REQ_FD gave it (PROTOCOL_F_BACKEND_REQ).
 */
export const BackendRequest = {
  IOTLB_MSG: 1,
  CONFIG_CHANGE_MSG: 2,
  VRING_HOST_NOTIFIER_MSG: 3,
} as const;

/**
 * IOTLB message (IOTLB_MSG both ways; vhost-user.rst "IOMMU support", struct vhost_iotlb_msg):
 * iova u64, size u64, uaddr u64, perm u8, type u8, then 6 bytes of padding.
 */
export const IOTLB_SIZE = 32;
export const IOTLB_IOVA = 0;
export const IOTLB_LEN = 8;
export const IOTLB_UADDR = 16;
export const IOTLB_PERM = 24;
export const IOTLB_TYPE = 25;
/** vhost_iotlb_msg.type. */
export const IotlbType = { MISS: 1, UPDATE: 2, INVALIDATE: 3, ACCESS_FAIL: 4 } as const;
/** vhost_iotlb_msg.perm (VHOST_ACCESS_*): bit 0 the device may read, bit 1 it may write. */
export const IotlbPerm = { RO: 1, WO: 2, RW: 3 } as const;

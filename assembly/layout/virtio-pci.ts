// Virtio over PCI, the modern interface (VIRTIO 1.2 §4.1), and the parts of PCI config space it
// is found through (PCI Local Bus 3.0 §6.1, §6.7). Driven from the host through VFIO
// (src/virtio-pci/). All little-endian.

// PCI config space header (type 0), the fields used here.
//
//   0        2        4        6        8                    0x34
//   +--------+--------+--------+--------+---- ... ----------+------+
//   | vendor | device | command| status |                   | cap  |
//   +--------+--------+--------+--------+---- ... ----------+------+
export const PCI_VENDOR_ID = 0x00; // u16
export const PCI_DEVICE_ID = 0x02; // u16
export const PCI_COMMAND = 0x04; // u16
export const PCI_STATUS = 0x06; // u16
export const PCI_CAPABILITY_LIST = 0x34; // u8: config offset of the first capability
export const PCI_CONFIG_SIZE = 256; // the conventional config space the capability list lives in

export const PCI_COMMAND_MEMORY = 0x2; // memory space decoding on
export const PCI_COMMAND_MASTER = 0x4; // bus mastering: the device may DMA (off until the driver sets it)
export const PCI_COMMAND_INTX_DISABLE = 0x400;
export const PCI_STATUS_CAP_LIST = 0x10; // the capability list exists

export const PCI_VENDOR_ID_VIRTIO = 0x1af4;
export const PCI_DEVICE_ID_VIRTIO_MODERN_BASE = 0x1040; // modern device id = 0x1040 + virtio device id (4.1.2)
export const VIRTIO_ID_NET = 1;

// A PCI capability's header: id, then the config offset of the next (0: the last).
//
//   0      1      2
//   +------+------+---- ...
//   | id   | next | (capability's own fields)
//   +------+------+---- ...
export const PCI_CAP_ID = 0;
export const PCI_CAP_NEXT = 1;
export const PCI_CAP_ID_VNDR = 0x09; // vendor-specific: virtio's structures (4.1.4)
export const PCI_CAP_ID_MSIX = 0x11;

// MSI-X capability: message control (table size - 1 in bits 0-10, enable bit 15).
export const PCI_MSIX_FLAGS = 2; // u16
export const PCI_MSIX_FLAGS_QSIZE = 0x7ff;
export const PCI_MSIX_FLAGS_ENABLE = 0x8000;

// struct virtio_pci_cap (4.1.4): where one virtio structure is.
//
//   0      1      2      3         4     5     6         8          12         16
//   +------+------+------+---------+-----+-----+---------+----------+----------+
//   | id   | next | len  | cfg_type| bar | id  | padding | offset   | length   |
//   +------+------+------+---------+-----+-----+---------+----------+----------+
// The notify capability (struct virtio_pci_notify_cap, 4.1.4.4) adds notify_off_multiplier
// (u32 at 16); VIRTIO_PCI_CAP_PCI_CFG (4.1.4.9) adds a 4-byte data window at 16.
export const VIRTIO_PCI_CAP_LEN = 2; // u8: this capability's length
export const VIRTIO_PCI_CAP_CFG_TYPE = 3; // u8
export const VIRTIO_PCI_CAP_BAR = 4; // u8
export const VIRTIO_PCI_CAP_ID = 5; // u8
export const VIRTIO_PCI_CAP_OFFSET = 8; // u32: within the BAR
export const VIRTIO_PCI_CAP_LENGTH = 12; // u32
export const VIRTIO_PCI_CAP_SIZE = 16;
export const VIRTIO_PCI_NOTIFY_CAP_MULT = 16; // u32: notify_off_multiplier
export const VIRTIO_PCI_NOTIFY_CAP_SIZE = 20;

// cfg_type values (4.1.4).
export const VIRTIO_PCI_CAP_COMMON_CFG = 1;
export const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
export const VIRTIO_PCI_CAP_ISR_CFG = 3;
export const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
export const VIRTIO_PCI_CAP_PCI_CFG = 5;
export const VIRTIO_PCI_CAP_SHARED_MEMORY_CFG = 8;
export const VIRTIO_PCI_CAP_VENDOR_CFG = 9;
// BARs a virtio structure may be in (4.1.4: values 0x0 to 0x5).
export const VIRTIO_PCI_BAR_MAX = 5;

// struct virtio_pci_common_cfg (4.1.4.3).
//
//   0x00 device_feature_select u32   0x04 device_feature u32
//   0x08 driver_feature_select u32   0x0c driver_feature u32
//   0x10 config_msix_vector u16      0x12 num_queues u16
//   0x14 device_status u8            0x15 config_generation u8
//   0x16 queue_select u16            0x18 queue_size u16
//   0x1a queue_msix_vector u16       0x1c queue_enable u16
//   0x1e queue_notify_off u16        0x20 queue_desc u64
//   0x28 queue_driver u64            0x30 queue_device u64
//   0x38 queue_notify_data u16       0x3a queue_reset u16
export const COMMON_DEVICE_FEATURE_SELECT = 0x00;
export const COMMON_DEVICE_FEATURE = 0x04;
export const COMMON_DRIVER_FEATURE_SELECT = 0x08;
export const COMMON_DRIVER_FEATURE = 0x0c;
export const COMMON_CONFIG_MSIX_VECTOR = 0x10;
export const COMMON_NUM_QUEUES = 0x12;
export const COMMON_DEVICE_STATUS = 0x14;
export const COMMON_CONFIG_GENERATION = 0x15;
export const COMMON_QUEUE_SELECT = 0x16;
export const COMMON_QUEUE_SIZE = 0x18;
export const COMMON_QUEUE_MSIX_VECTOR = 0x1a;
export const COMMON_QUEUE_ENABLE = 0x1c;
export const COMMON_QUEUE_NOTIFY_OFF = 0x1e;
export const COMMON_QUEUE_DESC = 0x20;
export const COMMON_QUEUE_DRIVER = 0x28;
export const COMMON_QUEUE_DEVICE = 0x30;
export const COMMON_QUEUE_NOTIFY_DATA = 0x38;
export const COMMON_QUEUE_RESET = 0x3a;
export const COMMON_CFG_SIZE = 0x38; // the fields every VIRTIO 1.x device has (up to queue_device)

// config_msix_vector / queue_msix_vector: no vector (4.1.5.1.2).
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

// Device status bits (2.1): device-status.ts, common to every transport.

// ISR status (4.1.4.5): read to clear.
export const ISR_QUEUE = 1;
export const ISR_CONFIG = 2;

// virtio-net's device-specific configuration (5.1.4), the fields before the RSS ones.
//
//   0                6        8                    10     12
//   +----------------+--------+--------------------+------+
//   | mac[6]         | status | max_virtqueue_pairs| mtu  |
//   +----------------+--------+--------------------+------+
export const NET_CONFIG_MAC = 0; // 6 bytes, with VIRTIO_NET_F_MAC
export const NET_CONFIG_MAC_SIZE = 6;
export const NET_CONFIG_STATUS = 6; // u16, with VIRTIO_NET_F_STATUS
export const NET_CONFIG_MAX_VIRTQUEUE_PAIRS = 8; // u16, with VIRTIO_NET_F_MQ
export const NET_CONFIG_MTU = 10; // u16, with VIRTIO_NET_F_MTU
export const NET_S_LINK_UP = 1;

// virtio-net's control virtqueue (5.1.6.5): a command is one chain, device-readable
// struct virtio_net_ctrl { u8 class; u8 command; command-specific-data[] } then one
// device-writable ack byte. The queue is number 2N (N: max_virtqueue_pairs with VIRTIO_NET_F_MQ,
// else 1; 5.1.2).
//
//   0      1        2                         2 + data
//   +------+--------+-------------------------+
//   | class| command| command-specific-data   |   then, device-writable: ack (u8)
//   +------+--------+-------------------------+
export const NET_CTRL_CLASS = 0;
export const NET_CTRL_COMMAND = 1;
export const NET_CTRL_DATA = 2;
export const NET_CTRL_OK = 0; // ack: VIRTIO_NET_OK
export const NET_CTRL_ERR = 1; // ack: VIRTIO_NET_ERR
// Multiqueue (5.1.6.5.5): class VIRTIO_NET_CTRL_MQ, command VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET with
// struct virtio_net_ctrl_mq { le16 virtqueue_pairs; }, 1 to max_virtqueue_pairs (at most 0x8000).
export const NET_CTRL_MQ = 4;
export const NET_CTRL_MQ_VQ_PAIRS_SET = 0;
export const NET_CTRL_MQ_VQ_PAIRS_SIZE = 2;
export const NET_CTRL_MQ_VQ_PAIRS_MIN = 1;
export const NET_CTRL_MQ_VQ_PAIRS_MAX = 0x8000;

// The device status field's bits (VIRTIO 1.2 2.1): what the driver has done so far during
// initialization (3.1.1), whatever the transport carries it in (virtio-pci: device_status in
// the common configuration; vhost-user: SET_STATUS / GET_STATUS).
export const STATUS_ACKNOWLEDGE = 1;
export const STATUS_DRIVER = 2;
export const STATUS_DRIVER_OK = 4;
export const STATUS_FEATURES_OK = 8;
export const STATUS_DEVICE_NEEDS_RESET = 64;
export const STATUS_FAILED = 128;

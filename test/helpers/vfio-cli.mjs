// Run by the host's Node inside the VFIO guest (test/vfio-port-guest.test.ts): `virtqueue vfio`
// with the arguments given and --device set to the device the guest's init bound to vfio-pci
// (only known inside the guest; with --mq first, the multiqueue one). Its stdout and stderr are
// the CLI's; so is its exit status.
import { vfioDeviceAddress, vfioDeviceAddressAt } from './vfio-guest-driver.mjs';

const { main } = await import(new URL('../../dist/cli/main.js', import.meta.url).href);
const mq = process.argv[2] === '--mq';
const args = process.argv.slice(mq ? 3 : 2);
process.exitCode = await main([...args, '--device', mq ? vfioDeviceAddressAt(1) : vfioDeviceAddress()]);

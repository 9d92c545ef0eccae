// Run by the host's Node inside the VFIO guest (test/vfio-port-guest.test.ts): `virtqueue vfio`
// with the arguments given and --device set to the device the guest's init bound to vfio-pci
// (only known inside the guest). Its stdout and stderr are the CLI's; so is its exit status.
import { vfioDeviceAddress } from './vfio-guest-driver.mjs';

const { main } = await import(new URL('../../dist/cli/main.js', import.meta.url).href);
process.exitCode = await main([...process.argv.slice(2), '--device', vfioDeviceAddress()]);

// Help text of `virtqueue sim`.
import { SIM_DEFAULTS } from '../../sim/options.js';
import { MIN_FRAME_SIZE, MAX_FRAME_SIZE } from '../../sim/frame.js';
import { MAX_QUEUE_SIZE } from '../../assembly/layout/split.js';

export const SIM_USAGE = `Usage: virtqueue sim [options]

Runs a virtio-net driver and a software NIC over two virtqueues (transmitq1, receiveq1) in one
thread (or, with --workers, on worker threads), in bursts, and checks every frame that arrives: sequence number, header and payload.

Options:
  --ring split|packed   ring layout: split (VIRTIO 1.2 §2.7) or packed (§2.8) (default ${SIM_DEFAULTS.ring})
  --queue-size N        Queue Size: 1 to ${MAX_QUEUE_SIZE}, a power of two for split (default ${SIM_DEFAULTS.queueSize})
  --packets N           frames to move (default ${SIM_DEFAULTS.packets})
  --batch N             chains per burst, 1 to the queue size (default ${SIM_DEFAULTS.batch})
  --seed S              seed for payloads, latency jitter, completion order and drops (default ${SIM_DEFAULTS.seed})
  --mode M              loopback: transmitted frames come back on receiveq1
                        generator: the NIC sends frames on receiveq1
                        sink: the NIC consumes frames from transmitq1
                        (default ${SIM_DEFAULTS.mode})
  --latency T           NIC completion latency, in ticks (one tick = one NIC poll; default ${SIM_DEFAULTS.latency})
  --jitter T            extra random latency of 0..T ticks (default 2 with --out-of-order, else 0)
  --drop P              probability that the wire drops a frame, in [0, 1) (default ${SIM_DEFAULTS.drop})
  --out-of-order        complete the chains due in one tick in a shuffled order
  --event-idx           negotiate VIRTIO_F_EVENT_IDX
  --indirect            negotiate VIRTIO_F_INDIRECT_DESC (packets become 2-segment chains,
                        each in an indirect table)
  --in-order            negotiate VIRTIO_F_IN_ORDER (the NIC completes in order and returns
                        runs of buffers with one used entry; excludes --out-of-order and --jitter)
  --frame-size N        frame bytes after the 12-byte virtio_net_hdr, ${MIN_FRAME_SIZE} to ${MAX_FRAME_SIZE} (default ${SIM_DEFAULTS.frameSize})
  --workers N           threads: 1 runs driver and NIC in this thread (default); 2 or 3 run
                        them as tasks on worker threads (loopback only, no --drop)
  --topology T          rtc: driver on worker 0, NIC on worker 1 (at most 2 workers)
                        pipeline: driver, NIC tx stage, NIC rx stage (joined by handle rings)
                        on workers 0, 1, 2 modulo N (at most 3; no --latency, --jitter,
                        --out-of-order) (default rtc; needs --workers 2+)
  --idle poll|adaptive  poll: workers busy-poll; adaptive: after empty polls a worker arms
                        its queues' notifications and sleeps until kicked (default poll;
                        adaptive with --viz)
  --viz PORT            serve the ring visualizer on 127.0.0.1:PORT (0: a free port) and
                        stream the running queues to its live mode; prints its address
                        (viz: http://127.0.0.1:PORT/?live) first; runs on --workers (default 2)
  --viz-rate HZ         live frames a second, 10 to 30 (default 10): each costs the main
                        thread a read of the rings and a socket write
  --replay FILE         replay a trace exported from the visualizer ('virtqueue viz'): the same
                        operations on a fresh queue, each result and the queue's bytes after it
                        compared with the recording (no other option but --json)
  --json                print the result as one JSON object (the last line of stdout)
  -h, --help            show this help

A run on workers (--workers, --viz) stopped early by SIGINT or SIGTERM prints its summary: it
says what stopped it ("stopped": "SIGINT" in --json; null for a run that reached its end) and
counts the frames sent and delivered; the frames not delivered were never sent or were on their
way, and are not counted lost. (The single-thread run ends at the signal without a summary.)

Exit status: 0 when every frame was delivered or dropped on purpose (lost 0), or a run stopped
early had no corrupt or duplicate frame; 1 when frames were lost or the run failed; 2 for bad
arguments. With --replay: 0 when the replay is identical,
1 when an operation differs, 2 when the file is not a valid trace.
`;

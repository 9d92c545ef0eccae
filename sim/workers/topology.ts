// Which simulator tasks run on which worker.
//
//   rtc       run to completion: the driver on worker 0, the whole NIC on worker 1 (with one
//             worker, both on worker 0). At most 2 workers.
//   pipeline  the NIC in two stages joined by HandleRings: tx stage (pops transmitq1, passes
//             heads on), rx stage (copies each frame into a receiveq1 buffer, passes the head
//             back for the tx stage to complete). Tasks [driver, tx stage, rx stage] go to
//             workers 0, 1, 2 modulo the worker count (2 workers: driver + rx stage on 0, tx
//             stage on 1). At most 3 workers.
export type Topology = 'rtc' | 'pipeline';
export const TOPOLOGIES: readonly Topology[] = ['rtc', 'pipeline'];

export const MAX_WORKERS: Record<Topology, number> = { rtc: 2, pipeline: 3 };

export interface Placement { driver: number; nic: number; txStage: number; rxStage: number }

export function place(topology: Topology, workers: number): Placement {
  if (topology === 'rtc') return { driver: 0, nic: Math.min(1, workers - 1), txStage: -1, rxStage: -1 };
  return { driver: 0, nic: -1, txStage: 1 % workers, rxStage: 2 % workers };
}

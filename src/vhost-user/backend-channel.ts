// The back-end's request channel (vhost-user.rst "Back-end communication",
// PROTOCOL_F_BACKEND_REQ): the socket the front-end gave with SET_BACKEND_REQ_FD, on which the
// back-end sends requests of its own. This back-end sends one: IOTLB_MSG with a MISS, asking the
// front-end to translate an IOVA it lacks (the front-end answers with an UPDATE on the main
// socket). Each IOVA page is asked for once until an UPDATE or INVALIDATE changes the IOTLB (a
// front-end that never answers is not flooded). The back-end asks for no reply; anything the
// front-end sends on this socket is read and dropped, with the fds closed.
import { UnixSocket, close, type Received } from '../native/index.js';
import * as P from './protocol.js';
import { encode, iotlbPayload } from './message.js';

/** IOVA pages asked for and not yet answered, at most. */
export const MAX_PENDING_MISSES = 256;
const PAGE_MASK = ~0xfffn;

export class BackendChannel {
  private readonly socket: UnixSocket;
  private readonly pending = new Set<bigint>();
  private endReason: string | undefined;
  /** MISS requests sent. */
  misses = 0;

  /** Takes `fd` (a connected unix socket; closed with the channel). */
  constructor(fd: number, private readonly log: (line: string) => void) {
    this.socket = UnixSocket.adopt(fd, { maxFds: 0 });
    this.socket.on('data', (got: Received) => { for (const f of got.fds) { try { close(f); } catch { /* gone */ } } });
    this.socket.on('end', () => this.end('the front-end closed it'));
    this.socket.on('error', (e: Error) => this.end(`socket error: ${e.message}`));
  }

  /** Undefined while the channel works; else why it stopped. */
  get ended(): string | undefined {
    return this.endReason;
  }

  /**
   * Asks for the translation of `iova` with permission `perm` (VHOST_ACCESS_*). False when it was
   * not sent: asked already (and not answered since), too many pending, or the channel is gone.
   */
  miss(iova: bigint, perm: number): boolean {
    if (this.endReason !== undefined) return false;
    const page = iova & PAGE_MASK;
    if (this.pending.has(page) || this.pending.size >= MAX_PENDING_MISSES) return false;
    this.pending.add(page);
    this.misses++;
    const message = encode(P.BackendRequest.IOTLB_MSG, P.VERSION, iotlbPayload({ iova, size: 0n, uaddr: 0n, perm, type: P.IotlbType.MISS }));
    this.socket.send(message, []).catch((e: Error) => this.end(`sending a MISS: ${e.message}`));
    return true;
  }

  /** The IOTLB changed: every page may be asked for again. */
  answered(): void {
    this.pending.clear();
  }

  private end(reason: string): void {
    if (this.endReason !== undefined) return;
    this.endReason = reason;
    this.log(`back-end request channel: ${reason}; IOTLB misses can no longer be asked for`);
    this.socket.close();
  }

  close(): void {
    if (this.endReason === undefined) this.endReason = 'closed';
    this.socket.close();
  }
}

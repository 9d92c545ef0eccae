// One front-end connection: reads the socket exactly `reader.wanted` bytes at a time (so each
// message's fds stay with its header), hands each message to the back-end session and sends its
// replies. Replies have back-pressure: while one waits for room in the socket, no more requests
// are read (a front-end that does not read its replies stops being served, it does not grow the
// back-end's memory). On a protocol error that ends the connection, on hang-up or on a socket
// error it logs the reason, closes the session (rings stopped, fds closed, guest memory
// unmapped) and the socket, and reports the end once.
import { close, type UnixSocket, type Received } from '../native/index.js';
import * as P from './protocol.js';
import type { Message } from './message.js';
import { MessageReader } from './reader.js';
import type { VhostUserBackend } from './backend.js';

export class VhostUserConnection {
  private readonly reader = new MessageReader();
  private ended = false;

  constructor(readonly socket: UnixSocket, readonly backend: VhostUserBackend,
              private readonly log: (line: string) => void, private readonly onEnd: (reason: string) => void) {
    socket.maxFds = P.MEM_TABLE_MAX_REGIONS;
    socket.maxBytes = this.reader.wanted;
    socket.on('data', (got) => this.onData(got));
    socket.on('end', () => this.end('the front-end hung up'));
    socket.on('error', (e) => this.end(`socket error: ${e.message}`));
    socket.on('close', () => this.end('the socket closed'));
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Ends the connection from this side (e.g. the server is closing). */
  close(reason = 'the back-end is closing'): void {
    this.end(reason);
  }

  private onData(got: Received): void {
    if (this.ended) {
      closeAll(got.fds);
      return;
    }
    let messages: Message[] = [];
    try {
      if (got.closedFds > 0 || got.truncated) {
        closeAll(got.fds);
        this.end(`more than ${P.MEM_TABLE_MAX_REGIONS} file descriptors with one message`);
        return;
      }
      messages = this.reader.push(got.data, got.fds, closeAll);
      while (messages.length > 0 && !this.ended) {
        const m = messages.shift()!;
        for (const reply of this.backend.handle(m)) this.reply(reply);
      }
    } catch (e) {
      this.end((e as Error).message);
    } finally {
      for (const m of messages) closeAll(m.fds);
      if (!this.ended) this.socket.maxBytes = this.reader.wanted;
    }
  }

  private reply(bytes: Uint8Array): void {
    const s = this.socket;
    s.send(bytes).then(() => {
      if (s.pendingSends === 0 && !this.ended) s.resume();
    }, (e: Error) => this.end(`sending a reply: ${e.message}`));
    // The kernel buffer is full: read nothing more until the front-end has taken its replies.
    if (s.pendingSends > 0) s.pause();
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.log(`connection ended: ${reason}`);
    try {
      this.backend.close();
    } catch (e) {
      this.log(`closing the session: ${(e as Error).message}`);
    }
    closeAll(this.reader.pendingFds);
    this.socket.close();
    this.onEnd(reason);
  }
}

function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      close(fd);
    } catch {
      // not ours any more: nothing left to leak
    }
  }
}

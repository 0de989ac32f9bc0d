// A capnp-es Transport over a node TCP socket, using Cap'n Proto's stream framing:
//
//   uint32 LE (segment count - 1), uint32 LE size in words of each segment, padding to a
//   multiple of 8 bytes, then the segments.
//
// capnp-es ships no TCP transport. This one reassembles messages from arbitrary chunks (a
// message split over several reads, several messages in one read), refuses a message larger
// than maxMessageBytes or with too many segments by closing the socket, and tells its owner
// when the socket closes (capnp-es itself does not fail calls in flight then; the client does).
import type { Socket } from "node:net";
import { Message } from "capnp-es";
import { Message as RpcMessage } from "capnp-es/capnp/rpc";

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const MAX_SEGMENTS = 512;

export class FramedSocketTransport {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ready: RpcMessage[] = [];
  private waiter?: { resolve: (m: RpcMessage) => void; reject: (e?: unknown) => void };
  private closedWith?: Error;
  private closed = false;
  private closeListeners: Array<(err: Error) => void> = [];

  constructor(
    private readonly socket: Socket,
    private readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
  ) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err: Error) => this.shut(err));
    socket.on("close", () => this.shut(new Error("connection closed by the peer")));
  }

  /** Called once, with the reason, when the connection is gone. */
  onClose(listener: (err: Error) => void): void {
    if (this.closed) listener(this.closedWith!);
    else this.closeListeners.push(listener);
  }

  sendMessage(msg: RpcMessage): void {
    if (this.closed) return;
    const bytes = msg.segment.message.toArrayBuffer();
    this.socket.write(new Uint8Array(bytes));
  }

  recvMessage(): Promise<RpcMessage> {
    const next = this.ready.shift();
    if (next) return Promise.resolve(next);
    // Rejecting with undefined ends capnp-es's receive loop quietly.
    if (this.closed) return Promise.reject(undefined);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  close(reason?: Error): void {
    this.shut(reason ?? new Error("connection closed by the client"));
  }

  private shut(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closedWith = err;
    this.socket.destroy();
    this.chunks = [];
    this.buffered = 0;
    const w = this.waiter;
    this.waiter = undefined;
    if (w && this.ready.length === 0) w.reject(undefined);
    for (const l of this.closeListeners.splice(0)) l(err);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    try {
      for (;;) {
        const frame = this.takeFrame();
        if (!frame) break;
        const m = new Message(frame, false).getRoot(RpcMessage);
        const w = this.waiter;
        if (w) {
          this.waiter = undefined;
          w.resolve(m);
        } else {
          this.ready.push(m);
        }
      }
    } catch (e) {
      this.shut(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Bytes [0, n) of the buffered input, as one Buffer (joins chunks only when needed). */
  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) {
      this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    }
    return this.chunks[0];
  }

  private consume(n: number): ArrayBuffer {
    const head = this.peek(n);
    // A copy: capnp-es reads the segments in place, and `head` may be a view of a larger buffer.
    const out = new ArrayBuffer(n);
    new Uint8Array(out).set(head.subarray(0, n));
    if (head.length === n) this.chunks.shift();
    else this.chunks[0] = head.subarray(n);
    this.buffered -= n;
    return out;
  }

  /** The next complete frame, or undefined when more bytes are needed. Throws on a bad one. */
  private takeFrame(): ArrayBuffer | undefined {
    if (this.buffered < 4) return undefined;
    const segments = this.peek(4).readUInt32LE(0) + 1;
    if (segments > MAX_SEGMENTS) {
      throw new Error(`message with ${segments} segments (at most ${MAX_SEGMENTS})`);
    }
    const tableBytes = 4 + 4 * segments + (segments % 2 === 0 ? 4 : 0);
    if (this.buffered < tableBytes) return undefined;
    const table = this.peek(tableBytes);
    let total = tableBytes;
    for (let i = 0; i < segments; i++) {
      total += table.readUInt32LE(4 + 4 * i) * 8;
      if (total > this.maxMessageBytes) {
        throw new Error(`message over ${this.maxMessageBytes} bytes`);
      }
    }
    if (this.buffered < total) return undefined;
    return this.consume(total);
  }
}

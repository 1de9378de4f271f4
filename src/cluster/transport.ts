/**
 * The network as the cluster's protocols see it (docs/CLUSTER.md#testing-without-sockets):
 * unreliable packets for gossip and ordered, reliable streams for bulk exchanges, after
 * memberlist's `Transport` (transport.go), which keeps the protocol ignorant of sockets.
 *
 * - **Packets** (UDP in production: CPORT + 1) carry probes, acks and piggybacked gossip. They
 *   may be lost, duplicated by nobody, delayed and reordered; each is at most
 *   `packetBytesMax` (config.ts) so it fits one Ethernet frame without IP fragmentation.
 * - **Streams** (TCP in production: CPORT) carry push-pull state exchanges and, later,
 *   replication. A stream delivers whole frames in order or breaks; the production transport
 *   frames them with a length prefix. A failed connect is a stream that closes.
 *
 * Addresses are opaque strings to the protocol ("host:port" for the real transport). The
 * in-memory implementation used by the tests and the simulator is memory-network.ts.
 */

export interface StreamHandlers {
  /** One whole frame, in the order the peer sent it. */
  frame(bytes: Uint8Array): void;
  /** Called once, when the peer closes, the connection breaks or the connect fails (not after our own `close()`). */
  close(reason: string): void;
}

export interface Stream {
  /** The peer's address as the transport knows it. */
  readonly remote: string;
  /** Sets the handlers; frames that arrive before this are held, in order. */
  attach(handlers: StreamHandlers): void;
  send(frame: Uint8Array): void;
  close(): void;
  /** Bytes accepted by `send` and not yet handed to the network; absent means always 0 (in memory). */
  bufferedBytes?(): number;
}

export interface TransportHandlers {
  /** A packet and the address it came from (where a reply goes). */
  packet(bytes: Uint8Array, from: string): void;
  /** A stream a peer opened to us. */
  stream(stream: Stream): void;
}

export interface Transport {
  /** Where peers send our packets. */
  readonly gossipAddress: string;
  /** Where peers open streams to us. */
  readonly clusterAddress: string;
  listen(handlers: TransportHandlers): void;
  /** Fire and forget: a packet may be lost without a word. */
  sendPacket(to: string, bytes: Uint8Array): void;
  /** A stream to `to`; when the connect fails the stream's `close` handler says why. */
  openStream(to: string): Stream;
  close(): void;
}

/**
 * The production transport (transport.ts): gossip packets over UDP on CPORT + 1
 * (`Bun.udpSocket`) and streams over TCP on CPORT (`Bun.listen` / `Bun.connect`), each stream
 * a sequence of length-prefixed frames (frames.ts), optionally in mutual TLS (tls.ts).
 *
 * The packet loop never dies (memberlist's habit): whatever a datagram holds goes to the
 * protocol, which counts and drops what it cannot read; a handler that throws anyway is
 * counted here and the next datagram is read as usual. A stream with a bad length prefix is
 * closed and counted; a peer whose certificate the CA did not sign is refused at the TLS
 * handshake and counted. Sends never throw: a packet that cannot be sent is counted and lost,
 * as the network would lose it; a stream that cannot connect closes with the reason.
 *
 * Hosts in addresses may be names: TCP connects resolve them; packets to a name wait for a
 * lookup, cached for a minute.
 */
import type { Socket, TCPSocketListener, udp } from "bun";
import dns from "node:dns/promises";
import net from "node:net";
import { frameBytesMax } from "../wire.ts";
import type { Stream, Transport, TransportHandlers } from "../transport.ts";
import { formatHostPort, parseHostPort } from "./address.ts";
import { type StreamEvents, TcpStream } from "./tcp-stream.ts";
import { type ClusterTls, peerVerified } from "./tls.ts";

export interface BunTransportOptions {
  /** Where to listen: TCP on `port`, UDP on `port + 1`; port 0 picks a free pair (tests). */
  bindHost: string;
  port: number;
  /** The host peers reach us at (addresses published in gossip); the bind host when it is specific. */
  advertiseHost: string;
  /** Mutual TLS on the TCP port. */
  tls?: ClusterTls;
  frameBytesMax?: number;
}

/** What the transport counts; the metrics export it. */
export interface TransportStats {
  streamsOpened: number;
  streamsAccepted: number;
  /** Connects that failed: refused, unreachable, timed out. */
  connectFailures: number;
  /** Streams closed because a length prefix was 0 or over the maximum. */
  badLengths: number;
  /** TLS handshakes that failed: no certificate, one the CA did not sign, a protocol error. */
  tlsFailures: number;
  streamBytesSent: number;
  streamBytesReceived: number;
  /** Packets that could not be sent (an unresolvable host, a socket error). */
  packetSendErrors: number;
  /** Packet handlers that threw: a bug, counted; the loop goes on. */
  packetHandlerErrors: number;
}

function newTransportStats(): TransportStats {
  return {
    streamsOpened: 0,
    streamsAccepted: 0,
    connectFailures: 0,
    badLengths: 0,
    tlsFailures: 0,
    streamBytesSent: 0,
    streamBytesReceived: 0,
    packetSendErrors: 0,
    packetHandlerErrors: 0,
  };
}

/** Attempts at finding a free TCP port whose successor is a free UDP port (port 0 only). */
const portPairAttemptsMax = 20;
const dnsCacheMs = 60_000;

type Udp = udp.Socket<"uint8array">;

export class BunTransport implements Transport {
  readonly stats = newTransportStats();
  readonly gossipAddress: string;
  readonly clusterAddress: string;
  private handlers: TransportHandlers | null = null;
  private readonly streams = new Set<TcpStream>();
  private readonly resolved = new Map<string, { address: string | null; untilMs: number }>();
  private closed = false;
  private readonly events: StreamEvents;

  private constructor(
    private readonly udp: Udp,
    private readonly listener: TCPSocketListener<TcpStream>,
    private readonly options: BunTransportOptions,
    private readonly frameMax: number,
  ) {
    this.clusterAddress = formatHostPort(options.advertiseHost, listener.port);
    this.gossipAddress = formatHostPort(options.advertiseHost, udp.port);
    this.events = {
      badLength: () => this.stats.badLengths++,
      bytesSent: (n) => {
        this.stats.streamBytesSent += n;
      },
      bytesReceived: (n) => {
        this.stats.streamBytesReceived += n;
      },
      gone: (stream) => this.streams.delete(stream),
    };
  }

  /** Binds both ports; throws (with the OS's reason) when either is taken. */
  static async open(options: BunTransportOptions): Promise<BunTransport> {
    const frameMax = options.frameBytesMax ?? frameBytesMax;
    let transport: BunTransport | null = null;
    const holder: { current: BunTransport | null } = { current: null };
    for (let attempt = 0; transport === null; attempt++) {
      const listener = listenTcp(options, holder);
      let udpSocket: Udp;
      try {
        udpSocket = await bindUdp(options.bindHost, listener.port + 1, holder);
      } catch (err) {
        listener.stop(true);
        if (options.port !== 0 || attempt + 1 >= portPairAttemptsMax) throw err;
        continue; // port 0: the port after the one TCP got is taken; try another pair
      }
      transport = new BunTransport(udpSocket, listener, options, frameMax);
    }
    holder.current = transport;
    return transport;
  }

  listen(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }

  sendPacket(to: string, bytes: Uint8Array): void {
    if (this.closed) return;
    let target: { host: string; port: number };
    try {
      target = parseHostPort(to);
    } catch {
      this.stats.packetSendErrors++;
      return;
    }
    const copy = bytes.slice(); // the caller may reuse its buffer once we return
    if (net.isIP(target.host)) this.sendTo(copy, target.port, target.host);
    else void this.resolve(target.host).then((ip) => (ip ? this.sendTo(copy, target.port, ip) : this.stats.packetSendErrors++));
  }

  openStream(to: string): Stream {
    const stream = new TcpStream(to, this.frameMax, this.events);
    this.stats.streamsOpened++;
    if (this.closed) {
      queueMicrotask(() => stream.ended("the transport is closed"));
      return stream;
    }
    this.streams.add(stream);
    let target: { host: string; port: number };
    try {
      target = parseHostPort(to);
    } catch (err) {
      queueMicrotask(() => stream.ended((err as Error).message));
      return stream;
    }
    const tls = this.options.tls;
    Bun.connect<TcpStream>({
      hostname: target.host,
      port: target.port,
      data: stream,
      socket: socketHandlers(this, tls !== undefined),
      ...(tls ? { tls: tls.client } : {}),
    }).catch((err: Error) => {
      this.stats.connectFailures++;
      stream.ended(`connect to ${to} failed: ${err.message}`);
    });
    return stream;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers = null;
    // Our own streams first: closed by us, they report nothing; then the sockets and the listener.
    for (const stream of [...this.streams]) stream.close();
    this.streams.clear();
    this.udp.close();
    this.listener.stop(true);
  }

  /** A datagram: to the protocol, whatever it holds (it counts and drops what it cannot read). */
  onPacket(bytes: Uint8Array, port: number, address: string): void {
    const handlers = this.handlers;
    if (this.closed || handlers === null) return;
    try {
      handlers.packet(bytes.slice(), formatHostPort(address, port));
    } catch {
      this.stats.packetHandlerErrors++;
    }
  }

  /** An accepted connection is ready (with TLS: the client's certificate checked). */
  onAccepted(stream: TcpStream): void {
    if (this.closed || this.handlers === null) {
      stream.close();
      return;
    }
    this.stats.streamsAccepted++;
    this.streams.add(stream);
    this.handlers.stream(stream);
  }

  get frameBytesMax(): number {
    return this.frameMax;
  }

  get streamEvents(): StreamEvents {
    return this.events;
  }

  private sendTo(bytes: Uint8Array, port: number, host: string): void {
    if (this.closed) return;
    try {
      if (!this.udp.send(bytes, port, host)) this.stats.packetSendErrors++;
    } catch {
      this.stats.packetSendErrors++;
    }
  }

  private async resolve(host: string): Promise<string | null> {
    const now = Date.now();
    const cached = this.resolved.get(host);
    if (cached && cached.untilMs > now) return cached.address;
    let address: string | null = null;
    try {
      address = (await dns.lookup(host)).address;
    } catch {
      address = null;
    }
    this.resolved.set(host, { address, untilMs: now + dnsCacheMs });
    return address;
  }
}

function bindUdp(host: string, port: number, holder: { current: BunTransport | null }): Promise<Udp> {
  return Bun.udpSocket({
    hostname: host,
    port,
    binaryType: "uint8array",
    socket: {
      data: (_socket, bytes, fromPort, fromAddress) => holder.current?.onPacket(bytes, fromPort, fromAddress),
      error: () => {
        if (holder.current) holder.current.stats.packetHandlerErrors++;
      },
    },
  });
}

function listenTcp(options: BunTransportOptions, holder: { current: BunTransport | null }): TCPSocketListener<TcpStream> {
  const tls = options.tls;
  return Bun.listen<TcpStream>({
    hostname: options.bindHost,
    port: options.port,
    exclusive: true,
    socket: socketHandlers(holder, tls !== undefined),
    ...(tls ? { tls: tls.server } : {}),
  });
}

/**
 * The socket handlers, shared by the listener (accepted sockets, whose stream is made in
 * `open`) and connects (whose stream comes as the socket's data). With TLS a stream is ready
 * only after the handshake, and only if the peer's certificate verified against the CA.
 */
function socketHandlers(owner: BunTransport | { current: BunTransport | null }, tls: boolean) {
  const transport = () => (owner instanceof BunTransport ? owner : owner.current);
  const accepted = (socket: Socket<TcpStream>) => socket.listener !== undefined;
  return {
    binaryType: "uint8array" as const,
    open(socket: Socket<TcpStream>) {
      const t = transport();
      if (!t) {
        socket.terminate();
        return;
      }
      if (accepted(socket))
        socket.data = new TcpStream(formatHostPort(socket.remoteAddress, socket.remotePort), t.frameBytesMax, t.streamEvents);
      const stream = socket.data;
      if (tls) stream.opened(socket);
      else {
        stream.connected(socket);
        if (accepted(socket)) t.onAccepted(stream);
      }
    },
    handshake(socket: Socket<TcpStream>, success: boolean, authorizationError: Error | null) {
      const t = transport();
      const stream = socket.data;
      if (!stream || !t) return;
      // A server verified the client itself (requestCert); a client judges the server (tls.ts).
      const verified = accepted(socket) ? success && authorizationError === null : peerVerified(authorizationError);
      if (!verified) {
        t.stats.tlsFailures++;
        stream.ended(`TLS: ${authorizationError?.message ?? "the handshake failed"}`);
        socket.terminate();
        return;
      }
      stream.connected(socket);
      if (accepted(socket)) t.onAccepted(stream);
    },
    data(socket: Socket<TcpStream>, chunk: Uint8Array) {
      socket.data?.data(chunk);
    },
    drain(socket: Socket<TcpStream>) {
      socket.data?.drain();
    },
    close(socket: Socket<TcpStream>, error?: Error) {
      socket.data?.ended(error ? `connection lost: ${error.message}` : "closed by the peer");
    },
    error(socket: Socket<TcpStream>, error: Error) {
      socket.data?.ended(`connection error: ${error.message}`);
    },
    // Bun.connect's promise rejects after this (counted there).
    connectError(socket: Socket<TcpStream>, error: Error) {
      socket.data?.ended(`connect failed: ${error.message}`);
    },
  };
}

// A small promise-based client for the tessera gateway (schemas/tessera.capnp, docs/API.md).
//
//   const s = await connect("127.0.0.1:7000", token);   // fails with unauthenticated
//   const { results } = await s.predict("m", ["some text\n"], { k: 3 });
//   const status = await s.admin().status();
//   s.close();
//
// Text inputs: a text input is one fastText line and gets fastText's end-of-line token only
// when it ends with "\n". `tessera predict` sends every line of its file WITH its "\n"; send
// "text\n" to get the same answers (see README.md).
//
// Every call fails with a TesseraError: the server's "tessera.<code>: ..." decoded, or a local
// deadline_exceeded when no answer came within the call's timeout, or a local unavailable
// (type DISCONNECTED) when the connection dropped with the call in flight. capnp-es does
// neither of the last two on its own.
import * as net from "node:net";
import { Conn } from "capnp-es";
import { FramedSocketTransport, DEFAULT_MAX_MESSAGE_BYTES } from "./transport.js";
import { TesseraError } from "./errors.js";
import * as schema from "./gen/tessera.js";

export { TesseraError } from "./errors.js";
export type { ErrorCode, ExceptionType } from "./errors.js";

export interface ConnectOptions {
  /** Client-side timeout of a call that does not set its own (ms). Default 30000. */
  callTimeoutMs?: number;
  /** Timeout of the TCP connect (ms). Default 10000. */
  connectTimeoutMs?: number;
  /** Largest message accepted from the server (bytes). Default 64 MiB. */
  maxMessageBytes?: number;
}

/** An input: a text line (end it with "\n" as the CLI does), or row ids with optional weights. */
export type Input = string | { ids: Array<number | bigint>; weights?: number[] };

export interface CallOptions {
  /** The call's deadline on the server (0 = its limits.request_timeout); the client waits
   * this long plus a grace second before failing the call locally. */
  timeoutMs?: number;
}

export interface PredictOptions extends CallOptions {
  /** Labels per input, >= 1, or -1 for all. Default 1. */
  k?: number;
  /** Leave out labels with a probability below this. Default 0. */
  threshold?: number;
}

export interface Label { label: string; prob: number; index: number }
export interface ServedBy { version: number; epoch: number }

/** The typed states and output rule of the wire's enums, by their names in lower case;
 * "unspecified" from a server older than the enums. */
export type VersionStateName = Lowercase<keyof typeof schema.VersionState>;
export type ReplicaStateName = Lowercase<keyof typeof schema.ReplicaState>;
export type OutputKindName = Lowercase<keyof typeof schema.OutputKind>;

function nameOf<E extends Record<string, number>>(e: E, value: number): Lowercase<keyof E & string> {
  for (const [k, v] of Object.entries(e))
    if (v === value) return k.toLowerCase() as Lowercase<keyof E & string>;
  return "unspecified" as Lowercase<keyof E & string>;  // a value newer than this client
}

export interface ReplicaInfo {
  node: string; state: string; stateKind: ReplicaStateName; id: string; error: string;
}
export interface ShardInfo {
  tensor: string; rowBegin: number; rowEnd: number; bytes: number; replicas: ReplicaInfo[];
}
export interface VersionInfo {
  version: number; state: string; stateKind: VersionStateName; epoch: number; path: string;
  embedder: string; classifier: string; dim: number; rows: number; labelCount: number;
  output: string; outputKind: OutputKindName;
  shards: ShardInfo[]; error: string; exactPooling: boolean;
}
export interface ModelInfo {
  name: string; activeVersion: number; versions: VersionInfo[];
  labels: Array<{ label: string; version: number }>;
}
export interface Member {
  name: string; address: string; roles: string[]; up: boolean; budgetBytes: number;
  usedBytes: number; rssBytes: number; replicas: number; loadingBytesDone: number;
  loadingBytesTotal: number;
}
export interface Status {
  ready: boolean; members: Member[]; models: ModelInfo[]; hedgesSent: number;
  hedgesWon: number; underReplicated: string[];
  coordinator: {
    name: string; rssBytes: number; budgetBytes: number; connections: number;
    refusedQuota: number; refusedMemory: number; failedLogins: number;
  };
}
export interface LoadOptions {
  path: string; name?: string; replicas?: number; activate?: boolean; exactPooling?: boolean;
}

const n = (v: bigint): number => Number(v);

function replicaOf(r: schema.ReplicaInfo): ReplicaInfo {
  return {
    node: r.node, state: r.state, stateKind: nameOf(schema.ReplicaState, r.stateKind), id: r.id,
    error: r.error,
  };
}
function modelOf(m: schema.ModelInfo): ModelInfo {
  return {
    name: m.name,
    activeVersion: n(m.activeVersion),
    versions: m.versions.map((v) => ({
      version: n(v.version), state: v.state, stateKind: nameOf(schema.VersionState, v.stateKind),
      epoch: n(v.epoch), path: v.path, embedder: v.embedder, classifier: v.classifier,
      dim: v.dim, rows: n(v.rows), labelCount: v.labelCount, output: v.output,
      outputKind: nameOf(schema.OutputKind, v.outputKind), error: v.error,
      exactPooling: v.exactPooling,
      shards: v.shards.map((s) => ({
        tensor: s.tensor, rowBegin: n(s.rowBegin), rowEnd: n(s.rowEnd), bytes: n(s.bytes),
        replicas: s.replicas.map(replicaOf),
      })),
    })),
    labels: m.labels.map((l) => ({ label: l.label, version: n(l.version) })),
  };
}
function memberOf(m: schema.Member): Member {
  return {
    name: m.name, address: m.address, roles: [...m.roles], up: m.up,
    budgetBytes: n(m.budgetBytes), usedBytes: n(m.usedBytes), rssBytes: n(m.rssBytes),
    replicas: m.replicas, loadingBytesDone: n(m.loadingBytesDone),
    loadingBytesTotal: n(m.loadingBytesTotal),
  };
}
function statusOf(s: schema.Status): Status {
  const c = s.coordinator;
  return {
    ready: s.ready, members: s.members.map(memberOf), models: s.models.map(modelOf),
    hedgesSent: n(s.hedgesSent), hedgesWon: n(s.hedgesWon), underReplicated: [...s.underReplicated],
    coordinator: {
      name: c.name, rssBytes: n(c.rssBytes), budgetBytes: n(c.budgetBytes),
      connections: n(c.connections), refusedQuota: n(c.refusedQuota),
      refusedMemory: n(c.refusedMemory), failedLogins: n(c.failedLogins),
    },
  };
}

/** Fills a ModelRef from "NAME", "NAME@VERSION" or "NAME@LABEL", as the CLI's --model. */
function fillModel(out: schema.ModelRef, ref: string): void {
  const at = ref.indexOf("@");
  const name = at < 0 ? ref : ref.slice(0, at);
  if (name === "") throw new TesseraError("invalid_argument", `bad model reference '${ref}'`);
  out.name = name;
  if (at < 0) {
    out.active = true;
    return;
  }
  const rest = ref.slice(at + 1);
  if (rest === "" || rest.includes("@")) {
    throw new TesseraError("invalid_argument", `bad model reference '${ref}'`);
  }
  if (/^\d+$/.test(rest)) out.version = BigInt(rest);
  else out.label = rest;
}

function fillInputs(list: { get(i: number): schema.Input }, inputs: Input[]): void {
  inputs.forEach((input, i) => {
    const slot = list.get(i);
    if (typeof input === "string") {
      slot.text = input;
      return;
    }
    const bag = slot._initIds();
    const ids = bag._initIds(input.ids.length);
    input.ids.forEach((id, j) => ids.set(j, BigInt(id)));
    const w = input.weights ?? [];
    const weights = bag._initWeights(w.length);
    w.forEach((x, j) => weights.set(j, x));
  });
}

const GRACE_MS = 1000;

class Connection {
  private pending = new Set<(err: TesseraError) => void>();
  private lost?: TesseraError;

  constructor(readonly transport: FramedSocketTransport, readonly callTimeoutMs: number) {
    transport.onClose((why) => {
      this.lost = new TesseraError("unavailable", `connection lost: ${why.message}`,
                                   "DISCONNECTED", undefined, true);
      for (const fail of [...this.pending]) fail(this.lost);
    });
  }

  /** Awaits `promise` (a capnp-es call), failing it on timeout or when the connection drops. */
  run<T>(what: string, timeoutMs: number | undefined, promise: Promise<T>): Promise<T> {
    const limit = timeoutMs ? timeoutMs + GRACE_MS : this.callTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      if (this.lost) {
        promise.catch(() => {});
        reject(this.lost);
        return;
      }
      const fail = (err: TesseraError) => {
        if (!this.pending.delete(fail)) return;
        clearTimeout(timer);
        reject(err);
      };
      const timer = setTimeout(() => fail(new TesseraError(
        "deadline_exceeded", `${what}: no answer within ${limit} ms`, "OVERLOADED", undefined,
        true)), limit);
      this.pending.add(fail);
      promise.then(
        (v) => { if (this.pending.delete(fail)) { clearTimeout(timer); resolve(v); } },
        (e) => fail(TesseraError.decode(e)),
      );
    });
  }
}

export class Admin {
  constructor(private readonly conn: Connection, private readonly cap: schema.Admin$Client) {}

  async status(opts: CallOptions = {}): Promise<Status> {
    const r = await this.conn.run("status", opts.timeoutMs, this.cap.status().promise());
    return statusOf(r.status);
  }
  async members(opts: CallOptions = {}): Promise<Member[]> {
    const r = await this.conn.run("members", opts.timeoutMs, this.cap.members().promise());
    return r.members.map(memberOf);
  }
  async load(o: LoadOptions, opts: CallOptions = {}): Promise<{ name: string; version: number }> {
    const r = await this.conn.run("load", opts.timeoutMs, this.cap.load((p) => {
      const lo = p._initOptions();
      lo.path = o.path;
      lo.name = o.name ?? "";
      lo.replicas = o.replicas ?? 0;
      lo.activate = o.activate ?? false;
      lo.exactPooling = o.exactPooling ?? false;
    }).promise());
    return { name: r.name, version: n(r.version) };
  }
  async activate(name: string, version: number, opts: CallOptions = {}): Promise<void> {
    await this.conn.run("activate", opts.timeoutMs, this.cap.activate((p) => {
      p.name = name;
      p.version = BigInt(version);
    }).promise());
  }
  async rollback(name: string, opts: CallOptions = {}): Promise<number> {
    const r = await this.conn.run("rollback", opts.timeoutMs,
                                  this.cap.rollback((p) => { p.name = name; }).promise());
    return n(r.version);
  }
  async setLabel(name: string, label: string, version: number, opts: CallOptions = {}):
      Promise<void> {
    await this.conn.run("setLabel", opts.timeoutMs, this.cap.setLabel((p) => {
      p.name = name;
      p.label = label;
      p.version = BigInt(version);
    }).promise());
  }
  /** version 0 unloads the whole model. */
  async unload(name: string, version = 0, opts: CallOptions = {}): Promise<void> {
    await this.conn.run("unload", opts.timeoutMs, this.cap.unload((p) => {
      p.name = name;
      p.version = BigInt(version);
    }).promise());
  }
}

/** A typed overloaded refusal (predict and embed ask for refusals as results): the retry hint
 * comes from the Refusal's field, not from the message text. */
function refusalError(r: schema.Refusal): TesseraError {
  return new TesseraError("overloaded", r.reason, "OVERLOADED", r.retryAfterMs);
}

export class Session {
  constructor(private readonly conn: Connection, private readonly cap: schema.Session$Client) {}

  /** One Prediction (labels, best first) per input, in input order. */
  async predict(model: string, inputs: Input[], opts: PredictOptions = {}):
      Promise<{ results: Label[][]; servedBy: ServedBy }> {
    const call = this.cap.predict((p) => {
      fillModel(p._initModel(), model);
      fillInputs(p._initInputs(inputs.length), inputs);
      p.topK = opts.k ?? 1;
      p.threshold = opts.threshold ?? 0;
      p.timeoutMs = opts.timeoutMs ?? 0;
      p.refusalAsResult = true;
    });
    const r = await this.conn.run("predict", opts.timeoutMs, call.promise());
    if (r._hasRefusal()) throw refusalError(r.refusal);
    return {
      results: r.results.map((pr) =>
        pr.labels.map((l) => ({ label: l.label, prob: l.prob, index: l.index }))),
      servedBy: { version: n(r.servedBy.version), epoch: n(r.servedBy.epoch) },
    };
  }

  /** The pooled vector of each input, in input order. */
  async embed(model: string, inputs: Input[], opts: CallOptions = {}):
      Promise<{ vectors: number[][]; servedBy: ServedBy }> {
    const call = this.cap.embed((p) => {
      fillModel(p._initModel(), model);
      fillInputs(p._initInputs(inputs.length), inputs);
      p.timeoutMs = opts.timeoutMs ?? 0;
      p.refusalAsResult = true;
    });
    const r = await this.conn.run("embed", opts.timeoutMs, call.promise());
    if (r._hasRefusal()) throw refusalError(r.refusal);
    return {
      vectors: r.vectors.map((v) => [...v]),
      servedBy: { version: n(r.servedBy.version), epoch: n(r.servedBy.epoch) },
    };
  }

  async listModels(opts: CallOptions = {}): Promise<ModelInfo[]> {
    const r = await this.conn.run("listModels", opts.timeoutMs, this.cap.listModels().promise());
    return r.models.map(modelOf);
  }

  /** The admin capability, pipelined (no round trip). Its calls fail with
   * permission_denied unless the token has the admin role. */
  admin(): Admin {
    const answer = this.cap.admin();
    // Nobody awaits the admin() answer itself; its failure reaches the calls made on it.
    answer.promise().catch(() => {});
    return new Admin(this.conn, answer.getAdmin());
  }

  close(): void {
    this.conn.transport.close();
  }
}

/**
 * Connects to a gateway ("host:port"), bootstraps Tessera and authenticates with `token`
 * (bootstrap and authenticate pipelined: one round trip). Rejects with `unauthenticated` for a
 * wrong token. The login is awaited because the gateway allows only small messages before it
 * (docs/API.md); calls on the session, e.g. admin().status(), are pipelined.
 */
export async function connect(address: string, token: string, opts: ConnectOptions = {}):
    Promise<Session> {
  const colon = address.lastIndexOf(":");
  if (colon < 0) throw new TesseraError("invalid_argument", `address '${address}' is not host:port`);
  const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(address.slice(colon + 1));
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new TesseraError("unavailable", `cannot connect to ${address}: timed out`,
                              "DISCONNECTED", undefined, true));
    }, opts.connectTimeoutMs ?? 10000);
    s.once("connect", () => { clearTimeout(timer); s.removeAllListeners("error"); resolve(s); });
    s.once("error", (e) => {
      clearTimeout(timer);
      reject(new TesseraError("unavailable", `cannot connect to ${address}: ${e.message}`,
                              "DISCONNECTED", undefined, true));
    });
  });
  socket.setNoDelay(true);
  const transport = new FramedSocketTransport(socket, opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
  const conn = new Conn(transport);
  const connection = new Connection(transport, opts.callTimeoutMs ?? 30000);
  // A protocol error in capnp-es's receive loop: drop the connection, which fails every call.
  conn.onError = (err?: Error) =>
    transport.close(new Error(`RPC protocol error: ${err?.message ?? "unknown"}`));
  const tessera = conn.bootstrap(schema.Tessera);
  const login = tessera.authenticate((p) => { p.token = token; });
  // Wait for the login before any call: until it succeeded, the gateway closes the connection
  // on a message over [limits] max_prelogin_bytes (4 KiB), so a batch pipelined behind a
  // wrong token would end as a lost connection instead of `unauthenticated`, and even behind
  // a good one it could be read before the login finished. One round trip, once.
  try {
    await connection.run("authenticate", undefined, login.promise());
  } catch (e) {
    transport.close();
    throw e;
  }
  return new Session(connection, login.getSession());
}

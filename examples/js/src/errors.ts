// Typed errors for tessera's Cap'n Proto exceptions.
//
// The gateway fails a call with a Cap'n Proto exception whose description reads
// "tessera.<code>: <message>" (docs/API.md, docs/CONFIG.md "Errors"). capnp-es keeps only that
// text (wrapped in its own "CAPNP-TS116 RPC method failed at ...: " prefix), not the exception
// type, so decode() recovers the code and derives the type from it. An `overloaded` refusal of
// predict or embed (a tenant quota, priority shedding, the coordinator's memory or in-flight
// bound) arrives as a typed Refusal result (the client asks for refusalAsResult) and becomes a
// TesseraError with retryAfterMs from its field; as an exception, its message ends
// "retry_after_ms=N", which decode() reads.

/** The Cap'n Proto exception type, which says what a client should do. */
export type ExceptionType = "FAILED" | "OVERLOADED" | "DISCONNECTED" | "UNIMPLEMENTED";

export const ERROR_CODES = [
  "invalid_argument", "unknown_model", "id_out_of_range", "limit_exceeded", "unauthenticated",
  "permission_denied", "unavailable", "deadline_exceeded", "overloaded", "corrupt_package",
  "io_error", "insufficient_memory", "epoch_mismatch", "already_exists", "unsupported",
  "internal", "insufficient_storage",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

const OVERLOADED_CODES: ReadonlySet<string> = new Set(["unavailable", "deadline_exceeded", "overloaded"]);

export function exceptionTypeOf(code: ErrorCode): ExceptionType {
  if (OVERLOADED_CODES.has(code)) return "OVERLOADED";
  if (code === "unsupported") return "UNIMPLEMENTED";
  return "FAILED";
}

export class TesseraError extends Error {
  override readonly name = "TesseraError";
  constructor(
    /** tessera's error code, e.g. "unknown_model". */
    readonly code: ErrorCode,
    /** The text after "tessera.<code>: ". */
    readonly detail: string,
    /** What to do: OVERLOADED = retry later, DISCONNECTED = reconnect, FAILED = do not retry. */
    readonly type: ExceptionType = exceptionTypeOf(code),
    /** An `overloaded` refusal's retry hint (Refusal.retryAfterMs, or the "retry_after_ms=N"
     * of its message): when the same call can pass. */
    readonly retryAfterMs?: number,
    /** True when this client made the error (timeout, lost connection), not the server. */
    readonly local = false,
  ) {
    super(`tessera.${code}: ${detail}`);
  }

  /** Retrying the same call later may succeed. */
  get retryable(): boolean {
    return this.type === "OVERLOADED" || this.type === "DISCONNECTED";
  }

  /** The error a call rejected with, typed; anything without a tessera code is `internal`. */
  static decode(err: unknown): TesseraError {
    if (err instanceof TesseraError) return err;
    const text = err instanceof Error ? err.message : String(err);
    // The first "tessera.<known code>: " in the text ("tessera.capnp:Session" in capnp-es's
    // prefix has no space after the colon, and is not a code anyway).
    const re = /tessera\.([a-z_]+): /g;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const code = m[1] as ErrorCode;
      if (!(ERROR_CODES as readonly string[]).includes(code)) continue;
      const detail = text.slice(m.index + m[0].length);
      const retry = /retry_after_ms=(\d+)\s*$/.exec(detail);
      return new TesseraError(code, detail, exceptionTypeOf(code),
                              retry ? Number(retry[1]) : undefined);
    }
    return new TesseraError("internal", `not a tessera error: ${text}`);
  }
}

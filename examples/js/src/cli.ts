#!/usr/bin/env node
// Command-line mode of the example, answering like the tessera CLI:
//
//   node dist/cli.js --gateway HOST:PORT --token TOKEN predict --model M [--k K]
//       [--threshold T] [--timeout-ms N] [FILE]     one line "label<TAB>prob..." per input
//   node dist/cli.js ... embed --model M [FILE]     one line of %.9g values per input
//   node dist/cli.js ... models                     listModels as JSON
//   node dist/cli.js ... status                     admin().status() as JSON
//
// --gateway and --token default to $TESSERA_GATEWAY and $TESSERA_TOKEN. FILE absent or "-" is
// stdin. Like `tessera predict`, every line is sent WITH its "\n" (fastText's end-of-line token
// depends on it), so the answers equal the CLI's. A failure prints
// "tessera: tessera.<code>: <message> [code=<code> type=<TYPE>]" on stderr and exits 1.
import { readFileSync } from "node:fs";
import { connect, Session, TesseraError } from "./client.js";
import { formatG } from "./format.js";

const MAX_BATCH = 1024;

function usage(): never {
  process.stderr.write(
    "usage: cli.js [--gateway HOST:PORT] [--token TOKEN] " +
    "(predict --model M [--k K] [--threshold T] [--timeout-ms N] [FILE] | " +
    "embed --model M [FILE] | models | status)\n");
  process.exit(2);
}

/** The lines of `data`, each with its "\n" (the last one without, if the file lacks it). */
export function splitLines(data: string): string[] {
  const lines: string[] = [];
  let begin = 0;
  while (begin < data.length) {
    const nl = data.indexOf("\n", begin);
    const end = nl < 0 ? data.length : nl + 1;
    lines.push(data.slice(begin, end));
    begin = end;
  }
  return lines;
}

function batches<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += MAX_BATCH) out.push(items.slice(i, i + MAX_BATCH));
  return out;
}

async function main(argv: string[]): Promise<number> {
  let gateway = process.env.TESSERA_GATEWAY ?? "";
  let token = process.env.TESSERA_TOKEN ?? "";
  let command = "";
  let model = "";
  let k = 1;
  let threshold = 0;
  let timeoutMs = 0;
  let file = "-";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : usage());
    if (a === "--gateway") gateway = value();
    else if (a === "--token") token = value();
    else if (a === "--model") model = value();
    else if (a === "--k") k = Number(value());
    else if (a === "--threshold") threshold = Number(value());
    else if (a === "--timeout-ms") timeoutMs = Number(value());
    else if (a.startsWith("--")) usage();
    else if (command === "") command = a;
    else file = a;
  }
  if (gateway === "" || command === "") usage();
  if ((command === "predict" || command === "embed") && model === "") usage();

  const session: Session = await connect(gateway, token);
  try {
    const readLines = () => splitLines(readFileSync(file === "-" ? 0 : file, "utf8"));
    const out: string[] = [];
    switch (command) {
      case "predict":
        for (const batch of batches(readLines())) {
          const { results } = await session.predict(model, batch, { k, threshold, timeoutMs });
          for (const labels of results) {
            out.push(labels.map((l) => `${l.label}\t${formatG(l.prob, 6)}`).join("\t"));
          }
        }
        break;
      case "embed":
        for (const batch of batches(readLines())) {
          const { vectors } = await session.embed(model, batch, { timeoutMs });
          for (const v of vectors) out.push(v.map((x) => formatG(x, 9)).join(" "));
        }
        break;
      case "models":
        out.push(JSON.stringify(await session.listModels(), null, 2));
        break;
      case "status":
        out.push(JSON.stringify(await session.admin().status(), null, 2));
        break;
      default:
        usage();
    }
    if (out.length > 0) process.stdout.write(out.join("\n") + "\n");
    return 0;
  } finally {
    session.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    const e = TesseraError.decode(err);
    const retry = e.retryAfterMs !== undefined ? ` retry_after_ms=${e.retryAfterMs}` : "";
    process.stderr.write(`tessera: ${e.message} [code=${e.code} type=${e.type}${retry}]\n`);
    process.exitCode = 1;
  });

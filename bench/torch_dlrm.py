#!/usr/bin/python3
"""PyTorch's side of bench/dlrm.sh: the model tests/torch/make_model.py wrote, in
torch.nn.EmbeddingBag and torch.nn.Linear modules in this process, timed on the same inputs
tessera is given.

  torch_dlrm.py MODEL_DIR [--seconds S] [--warmup S] [--threads 1,2] [--batch 256]
                [--check 100]

Reads MODEL_DIR/model.safetensors (by hand: an 8-byte little-endian header length, the JSON
header, the raw data; F32, F16 and BF16 become float32 as tessera reads them), spec.toml (which
tensors are which tables and layers, the pooling modes, the output), inputs.json and
expected.json.

1. Check: the first --check inputs, one per forward and as one batch, must agree with
   expected.json's scores (make_model.py's reference) within 1e-5 relative + 1e-6, the
   tolerance of tests/torch_itest.cpp; otherwise it exits 1, so the timed model is the real one.
2. For each --threads count (torch.set_num_threads), under torch.no_grad(): rows "single" (one
   input per forward, cycling through the inputs) and "batch" (--batch consecutive inputs per
   forward, in EmbeddingBag's offsets form, cycling), each --warmup unmeasured seconds then
   --seconds measured. The inputs become tensors before any timing, as `tessera bench --input
   ids` parses its lines before its run; a forward includes the output rule.

Prints one JSON object on stdout:
  {"check": {"inputs", "max_abs_diff"}, "peak_rss_kb",
   "rows": [{"threads", "batch", "forwards", "inputs", "elapsed_s", "inputs_per_s", "cores",
             "latency_us": {"p50", "p99"}}]}
latency_us is per forward (one input or one batch); cores = process CPU s / measured wall s.
"""
import argparse
import json
import math
import os
import resource
import struct
import time
import tomllib

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
               "none": lambda x: x}
OUTPUTS = {"softmax": lambda x: torch.softmax(x, dim=1), "sigmoid": torch.sigmoid,
           "none": lambda x: x}


def read_safetensors(path):
    """name -> float32 tensor, for every tensor of the file."""
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        for name, h in header.items():
            if name == "__metadata__":
                continue
            begin, end = h["data_offsets"]
            f.seek(8 + n + begin)
            raw = bytearray(end - begin)  # read in place: no second copy of a 358 MB table
            if f.readinto(raw) != len(raw):
                raise SystemExit("torch_dlrm: %s: tensor %s is cut short" % (path, name))
            t = torch.frombuffer(raw, dtype=DTYPES[h["dtype"]]) if raw else torch.zeros(0)
            out[name] = t.reshape(h["shape"]).to(torch.float32)
    return out


class Model(torch.nn.Module):
    """EmbeddingBags pooled and concatenated in spec order, then Linear + activation layers,
    then the output rule, batched: forward(bags) with bags[t] = (ids, offsets, weights|None)."""

    def __init__(self, spec, tensors):
        super().__init__()
        self.names = [t["name"] for t in spec.get("tables", [])]
        self.bags = torch.nn.ModuleList(
            torch.nn.EmbeddingBag.from_pretrained(tensors[t["tensor"]], mode=t["mode"],
                                                  padding_idx=t.get("padding_idx"))
            for t in spec.get("tables", []))
        self.linears, self.activations = torch.nn.ModuleList(), []
        for l in spec.get("layers", []):
            w = tensors[l["weight"]]
            lin = torch.nn.Linear(w.shape[1], w.shape[0], bias="bias" in l)
            with torch.no_grad():
                lin.weight.copy_(w)
                if "bias" in l:
                    lin.bias.copy_(tensors[l["bias"]])
            self.linears.append(lin)
            self.activations.append(ACTIVATIONS[l.get("activation", "none")])
        self.output = OUTPUTS[spec.get("output", {}).get("kind", "none")]

    def forward(self, bags):
        x = torch.cat([bag(ids, offsets, per_sample_weights=w)
                       for bag, (ids, offsets, w) in zip(self.bags, bags)], dim=1)
        for lin, act in zip(self.linears, self.activations):
            x = act(lin(x))
        return self.output(x) if self.linears else x


def batch_tensors(names, inputs):
    """The forward argument for `inputs` (lists of {"table", "ids", "weights"?}): per table
    its ids concatenated, each input's offset, and weights (ones where an input has none)."""
    out = []
    for name in names:
        ids, offsets, weights, weighted = [], [], [], False
        for bags in inputs:
            bag = next((b for b in bags if b["table"] == name), {"ids": []})
            offsets.append(len(ids))
            ids += bag["ids"]
            weighted |= "weights" in bag
            weights += bag.get("weights", [1.0] * len(bag["ids"]))
        out.append((torch.tensor(ids, dtype=torch.int64), torch.tensor(offsets, dtype=torch.int64),
                    torch.tensor(weights, dtype=torch.float32) if weighted else None))
    return out


def check(model, names, inputs, expected, n):
    """Max |got - want| over the first n inputs, one at a time and as one batch; exits 1 when
    one is off by more than 1e-5 * |want| + 1e-6."""
    n = min(n, len(inputs))
    worst = 0.0
    batched = model(batch_tensors(names, inputs[:n]))
    for i in range(n):
        want = torch.tensor(expected["scores"][i], dtype=torch.float64)
        for how, got in (("single", model(batch_tensors(names, [inputs[i]]))[0]),
                         ("batch", batched[i])):
            diff = (got.double() - want).abs()
            worst = max(worst, float(diff.max()) if diff.numel() else 0.0)
            if bool((diff > 1e-5 * want.abs() + 1e-6).any()):
                raise SystemExit("torch_dlrm: input %d (%s) differs from expected.json: got %s, "
                                 "want %s" % (i, how, got.tolist(), want.tolist()))
    return {"inputs": n, "max_abs_diff": worst}


def timed(model, calls, per_call, warmup_s, seconds):
    """Runs model(calls[i]) cycling, warmup_s unmeasured then `seconds` measured."""
    i, end = 0, time.perf_counter() + warmup_s
    while time.perf_counter() < end:
        model(calls[i])
        i = (i + 1) % len(calls)
    lat = []
    cpu0, start = time.process_time(), time.perf_counter()
    end, t1 = start + seconds, start
    while t1 < end:
        t0 = time.perf_counter()
        model(calls[i])
        t1 = time.perf_counter()
        lat.append(t1 - t0)
        i = (i + 1) % len(calls)
    wall, cpu = t1 - start, time.process_time() - cpu0
    lat.sort()
    rank = lambda p: lat[min(len(lat) - 1, max(0, math.ceil(p * len(lat)) - 1))]  # nearest
    return {"forwards": len(lat), "inputs": len(lat) * per_call, "elapsed_s": wall,
            "inputs_per_s": len(lat) * per_call / wall, "cores": cpu / wall,
            "latency_us": {"p50": int(rank(0.50) * 1e6), "p99": int(rank(0.99) * 1e6)}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--check", type=int, default=100)
    a = ap.parse_args()
    with open(os.path.join(a.dir, "spec.toml"), "rb") as f:
        spec = tomllib.load(f)
    with open(os.path.join(a.dir, "inputs.json")) as f:
        inputs = json.load(f)
    with open(os.path.join(a.dir, "expected.json")) as f:  # only the scores checked are kept
        expected = {"scores": json.load(f)["scores"][:a.check]}
    model = Model(spec, read_safetensors(os.path.join(a.dir, "model.safetensors"))).eval()
    names = model.names
    singles = [batch_tensors(names, [x]) for x in inputs]
    n, b = len(inputs), a.batch
    batches = [batch_tensors(names, [inputs[(s + j) % n] for j in range(b)])
               for s in range(0, n, b)]
    report = {"rows": []}
    with torch.no_grad():
        report["check"] = check(model, names, inputs, expected, a.check)
        for threads in (int(t) for t in a.threads.split(",")):
            torch.set_num_threads(threads)
            for calls, per_call in ((singles, 1), (batches, b)):
                row = {"threads": torch.get_num_threads(), "batch": per_call}
                row.update(timed(model, calls, per_call, a.warmup, a.seconds))
                report["rows"].append(row)
    report["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(report))


if __name__ == "__main__":
    main()

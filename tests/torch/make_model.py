#!/usr/bin/python3
"""Builds a random PyTorch embedding-bag model, writes it as safetensors with its tessera spec,
and computes the reference answers with torch.nn.EmbeddingBag and torch.nn.Linear (PyTorch
1.13 from Debian's python3-torch). Used by tests/torch_itest.cpp and bench/ (docs/MODELS.md).

  make_model.py OUT_DIR --seed S --dtype F32|F16|BF16 --output softmax|sigmoid|none
                --table NAME:ROWS:DIM:MODE[:PADDING_IDX] ... --layer OUT:ACTIVATION ...
                --inputs N [--weights] [--min-ids M] [--max-ids M]

Writes in OUT_DIR:
  model.safetensors   the tensors, in --dtype (written by hand: 8-byte little-endian header
                      length, the JSON header, the raw data)
  spec.toml           the spec `tessera import safetensors` reads; spec_embedder.toml and
                      spec_classifier.toml: its tables alone and its layers alone (composition)
  inputs.json         [[{"table": NAME, "ids": [...], "weights": [...]?}, ...], ...] per input
  inputs.txt          the same inputs, one line each, tokens TABLE:ID or TABLE:ID:WEIGHT
  expected.json       {"pooled": [[...]], "scores": [[...]]} per input: the concatenated pooled
                      vector and every label's output (probabilities, or raw scores for none)
The reference runs on the float32 weights the file's dtype converts back to, as tessera reads
them. Every fifth input has an empty bag in some table; padding ids and, with --weights,
per_sample_weights on sum tables are drawn too. A bag that is not empty has between --min-ids
(default 1) and --max-ids (default 12) ids, uniformly.
"""
import argparse
import json
import os
import struct

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
               "none": lambda x: x}


def write_safetensors(path, tensors, dtype):
    header, blobs, offset = {}, [], 0
    for name, t in tensors:
        data = t.to(DTYPES[dtype]).contiguous()
        raw = data.view(torch.int16 if dtype != "F32" else torch.int32).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dtype", default="F32", choices=sorted(DTYPES))
    ap.add_argument("--output", default="softmax", choices=["softmax", "sigmoid", "none"])
    ap.add_argument("--table", action="append", default=[])
    ap.add_argument("--layer", action="append", default=[])
    ap.add_argument("--inputs", type=int, default=64)
    ap.add_argument("--weights", action="store_true")
    ap.add_argument("--min-ids", type=int, default=1)
    ap.add_argument("--max-ids", type=int, default=12)
    ap.add_argument("--labels", default="")
    ap.add_argument("--layer-seed", type=int, default=0,
                    help="seeds the layers alone (default: from --seed); models with one --seed "
                         "and tables but other layer seeds share tables and inputs")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1)
    lgen = torch.Generator().manual_seed(a.layer_seed or a.seed + 2)
    os.makedirs(a.out, exist_ok=True)

    tables, tensors, spec = [], [], []
    for i, t in enumerate(a.table):
        parts = t.split(":")
        name, rows, dim, mode = parts[0], int(parts[1]), int(parts[2]), parts[3]
        pad = int(parts[4]) if len(parts) > 4 else None
        bag = torch.nn.EmbeddingBag(rows, dim, mode=mode, padding_idx=pad)
        with torch.no_grad():
            bag.weight.uniform_(-1.0, 1.0, generator=gen)
            if pad is not None:
                bag.weight[pad].uniform_(-1.0, 1.0, generator=gen)  # must not count: not zero
            # What tessera reads: the file's dtype converted back to float32.
            bag.weight.copy_(bag.weight.to(DTYPES[a.dtype]).to(torch.float32))
        tensor = "emb.%s.weight" % name
        tensors.append((tensor, bag.weight.detach()))
        tables.append((name, rows, mode, pad, bag))
        spec += ["[[tables]]", 'name = "%s"' % name, 'tensor = "%s"' % tensor,
                 'mode = "%s"' % mode]
        if pad is not None:
            spec.append("padding_idx = %d" % pad)

    table_spec, spec = spec, []
    layers, width = [], sum(t[4].embedding_dim for t in tables)
    for i, l in enumerate(a.layer):
        out, act = l.split(":")
        lin = torch.nn.Linear(width, int(out))
        with torch.no_grad():
            lin.weight.uniform_(-0.5, 0.5, generator=lgen)
            lin.bias.uniform_(-0.5, 0.5, generator=lgen)
            lin.weight.copy_(lin.weight.to(DTYPES[a.dtype]).to(torch.float32))
            lin.bias.copy_(lin.bias.to(DTYPES[a.dtype]).to(torch.float32))
        tensors += [("mlp.%d.weight" % i, lin.weight.detach()), ("mlp.%d.bias" % i,
                                                                 lin.bias.detach())]
        layers.append((lin, act))
        spec += ["[[layers]]", 'weight = "mlp.%d.weight"' % i, 'bias = "mlp.%d.bias"' % i,
                 'activation = "%s"' % act]
        width = int(out)
    if layers:
        spec += ["[output]", 'kind = "%s"' % a.output]
        if a.labels:
            spec.append("labels = [%s]" % ", ".join('"%s"' % s for s in a.labels.split(",")))

    write_safetensors(os.path.join(a.out, "model.safetensors"), tensors, a.dtype)
    name = ['name = "m%d"' % a.seed]
    for file, parts in [("spec.toml", name + table_spec + spec),
                        ("spec_embedder.toml", name + table_spec),
                        ("spec_classifier.toml", name + spec)]:
        with open(os.path.join(a.out, file), "w") as f:
            f.write("\n".join(parts) + "\n")

    inputs, lines, pooled_all, scores_all = [], [], [], []
    for n in range(a.inputs):
        bags, tokens, pooled = [], [], []
        for ti, (name, rows, mode, pad, bag) in enumerate(tables):
            count = 0 if (n % 5 == 0 and ti == n % len(tables)) else int(
                torch.randint(a.min_ids, a.max_ids + 1, (1,), generator=gen))
            ids = torch.randint(0, rows, (count,), generator=gen)
            if pad is not None and count > 1:
                ids[0] = pad  # a padding id, skipped (and not counted by mean)
            w = None
            if a.weights and mode == "sum":
                w = torch.rand(count, generator=gen) * 2 - 0.5
            with torch.no_grad():
                p = bag(ids, torch.tensor([0]), per_sample_weights=w)
            pooled.append(p[0])
            entry = {"table": name, "ids": ids.tolist()}
            if w is not None:
                entry["weights"] = w.tolist()
            bags.append(entry)
            for j, i in enumerate(ids.tolist()):
                tokens.append("%s:%d" % (name, i) if w is None else
                              "%s:%d:%s" % (name, i, repr(float(w[j]))))
        x = torch.cat(pooled) if pooled else torch.zeros(0)
        pooled_all.append(x.tolist())
        with torch.no_grad():
            for lin, act in layers:
                x = ACTIVATIONS[act](lin(x))
            if layers and a.output == "softmax":
                x = torch.softmax(x.double(), dim=0)
            elif layers and a.output == "sigmoid":
                x = torch.sigmoid(x.double())
        scores_all.append(x.tolist() if layers else [])
        inputs.append(bags)
        lines.append(" ".join(tokens))

    with open(os.path.join(a.out, "inputs.json"), "w") as f:
        json.dump(inputs, f)
    with open(os.path.join(a.out, "inputs.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(a.out, "expected.json"), "w") as f:
        json.dump({"pooled": pooled_all, "scores": scores_all}, f)


if __name__ == "__main__":
    main()

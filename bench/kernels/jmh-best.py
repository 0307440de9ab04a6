#!/usr/bin/env python3
"""Fastest call per MatMulBenchmark row (JMH -rf json, SampleTime in us) as GMAC/s and G weights/s."""
import json, sys
for path in sys.argv[1:]:
    for r in json.load(open(path)):
        p = r["params"]; rows, tokens, typ = int(p["rows"]), int(p["tokens"]), p.get("type", "Q8_0"); typ += " " + p.get("layout", "file")
        best = r["primaryMetric"]["scorePercentiles"]["0.0"]
        med = r["primaryMetric"]["scorePercentiles"]["50.0"]
        macs = rows * 2048 * tokens
        print(f"{path}: {typ:10s} rows={rows:6d} tokens={tokens:4d} best {best/1e3:9.3f} ms = {macs/best/1e3:7.2f} GMAC/s"
              f" ({rows*2048/best/1e3:6.2f} G weights/s); median {med/1e3:9.3f} ms")

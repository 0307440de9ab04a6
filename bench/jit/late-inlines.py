#!/usr/bin/env python3
"""C2's compiles of the CPU kernels in a -XX:+LogCompilation file: which Vector API calls it inlined
late, and which intrinsics failed.

C2 inlines the Vector API's force-inline methods while it parses a kernel until the parse has made
NodeCountInliningCutoff nodes; past that it inlines the rest late, after parsing. A late-inlined call
on a vector whose class C2 does not know exactly (a loop phi, a load's result) is bound through the
API's shared type profile, and when that fails its intrinsic fails and the vectors are boxed, in the
loop too (docs/benchmarks.md, sixteenth stop). The intrinsics themselves (store, ternaryOp, ...) are
always inlined late by design; this lists the other calls, the ones that should have been parsed.

Usage: late-inlines.py LOG [METHOD_REGEX]
"""
import collections
import re
import sys

# Vector API intrinsics (jdk.internal.vm.vector.VectorSupport), which C2 always inlines late.
INTRINSICS = {
    "binaryOp", "blend", "broadcastCoerced", "broadcastInt", "compare", "convert", "extract",
    "fromBitsCoerced", "insert", "load", "loadMasked", "maskReductionCoerced", "rearrangeOp",
    "reductionCoerced", "shuffleIota", "shuffleToVector", "store", "storeMasked", "ternaryOp",
    "test", "unaryOp",
}


def main():
    log = open(sys.argv[1], errors="replace").read()
    wanted = re.compile(sys.argv[2] if len(sys.argv) > 2 else r"io\.kvstream\.")
    listed = False
    for task in re.finditer(r"<task (?P<attrs>[^>]*)>(?P<body>.*?)</task>", log, re.S):
        attrs, body = task.group("attrs"), task.group("body")
        method = re.search(r"method='([^']*)'", attrs).group(1)
        # C1's tiers (1-3) do not inline late; only C2's compiles count.
        if not wanted.search(method) or re.search(r"level='[123]'", attrs):
            continue
        names = {m.group(1): m.group(2) for m in re.finditer(r"<method id='(\d+)' holder='\d+' name='([\w$<>]+)'", body)}
        late = collections.Counter()
        failed = 0
        # An intrinsic that expanded is logged right after its late_inline element; one that did
        # not expand (it stays a call, its vectors boxed) is not.
        for m in re.finditer(r"<late_inline method='(\d+)'.*?</late_inline>\s*(<\w+)?", body, re.S):
            name = names.get(m.group(1), "?")
            late[name] += 1
            if name in INTRINSICS and m.group(2) != "<intrinsic":
                failed += 1
        delayed = {name: n for name, n in late.items() if name not in INTRINSICS}
        if not delayed and not failed:
            continue
        listed = True
        osr = " (OSR)" if "osr_bci" in attrs else ""
        calls = ", ".join(f"{name} x{n}" for name, n in sorted(delayed.items()))
        print(f"{method.split(' ')[0].rsplit('.', 1)[-1]}.{method.split(' ')[1]}{osr}: "
              f"{sum(delayed.values())} calls inlined late ({calls}); {failed} intrinsics failed")
    if not listed:
        print("no kernel compile inlined a Vector API call late or failed an intrinsic")


if __name__ == "__main__":
    main()

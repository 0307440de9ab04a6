#!/usr/bin/env python3
"""C2's compiles of the CPU kernels in a -XX:+LogCompilation file: which Vector API calls it inlined
late, and which intrinsics failed.

C2 inlines the Vector API's force-inline methods while it parses a kernel until the parse has made
NodeCountInliningCutoff nodes; past that it inlines the rest late, after parsing. A late-inlined call
on a vector whose class C2 does not know exactly (a loop phi, a load's result) is bound through the
API's shared type profile, and when that fails its intrinsic fails and the vectors are boxed, in the
loop too (docs/benchmarks.md, sixteenth stop). The intrinsics themselves (store, ternaryOp, ...) are
always inlined late by design; this lists the other calls, the ones that should have been parsed.

Worst are calls inlined in pieces: the cutoff fell inside an API call (an FMA, a store), whose own
callees (VectorOperators.opCode, ImplCache.find, ...) are then inlined late one by one. Whether its
intrinsic still expands depends on the order C2 takes them in; in the eighteenth stop's slow Java 17
JVMs two FMAs of Q8_0's fused group did not, and ran the Java fallback, allocating per element.
These are counted apart, with the API calls they are inside.

Usage: late-inlines.py LOG [METHOD_REGEX]
"""
import collections
import re
import sys

# Vector API intrinsics (jdk.internal.vm.vector.VectorSupport), which C2 always inlines late.
# Q4_0PairsCompileTest (operators-gpu) checks one kernel the same way, with the same list.
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
        inside = collections.Counter()
        failed = 0
        # An intrinsic that expanded is logged right after its late_inline element; one that did
        # not expand (it stays a call, its vectors boxed) is not.
        for m in re.finditer(r"<late_inline method='(\d+)'(.*?)</late_inline>\s*(<\w+)?", body, re.S):
            name = names.get(m.group(1), "?")
            late[name] += 1
            if name in INTRINSICS and m.group(3) != "<intrinsic":
                failed += 1
            # The call's inlining chain, innermost first: more than one frame means its caller is
            # not the kernel but an API call the parse inlined in part.
            chain = re.findall(r"<jvms bci='\d+' method='(\d+)'", m.group(2))
            if name not in INTRINSICS and len(chain) > 1:
                inside[names.get(chain[-2], "?")] += 1
        delayed = {name: n for name, n in late.items() if name not in INTRINSICS}
        if not delayed and not failed:
            continue
        listed = True
        osr = " (OSR)" if "osr_bci" in attrs else ""
        calls = ", ".join(f"{name} x{n}" for name, n in sorted(delayed.items()))
        pieces = ", ".join(f"{n} inside {name}" for name, n in sorted(inside.items()))
        print(f"{method.split(' ')[0].rsplit('.', 1)[-1]}.{method.split(' ')[1]}{osr}: "
              f"{sum(delayed.values())} calls inlined late ({calls}); "
              f"{sum(inside.values())} of them inside a call inlined in pieces{' (' + pieces + ')' if pieces else ''}; "
              f"{failed} intrinsics failed")
    if not listed:
        print("no kernel compile inlined a Vector API call late or failed an intrinsic")


if __name__ == "__main__":
    main()

# Markdown table of a bench/cpu-peer.sh run: kvstream (one `bench --json` per model and JDK)
# against llama.cpp (llamacpp-bench.mjs lines per model and batch), with the acceptance targets.
# Each engine's figure is the best of its timed runs: on a shared machine the best run is the one
# least disturbed, and both engines get the same treatment.
import glob, json, os, re, sys

d = sys.argv[1]


def best_peer(name, batch, field):
    f = os.path.join(d, 'llamacpp-%s-b%d.jsonl' % (name, batch))
    if not os.path.exists(f):
        return None
    runs = [json.loads(l)[field] for l in open(f) if l.startswith('{')]
    return max(runs) if runs else None


def row_of(report, batch):
    return next((r for r in report['rows'] if r['batch'] == batch), None)


def best(row, field):
    return max(row[field + '_runs']) if row else None


def fmt(x, f='%.1f'):
    return '-' if x is None else f % x


def pct(x):
    return '-' if x is None else '%.0f%%' % (100 * x)


def ratio(a, b, target):
    """Bold only when the target is met: a ratio that rounds to the target but misses it, such
    as 0.599, prints with three decimals and \"under\"."""
    if a is None or b is None or b == 0:
        return '-'
    r = a / b
    if r >= target:
        return '**%.2fx**' % r
    return '%.3fx, under' % r if round(r, 2) >= target else '%.2fx, under' % r


def met_pct(x, target):
    return '-' if x is None else ('**%s**' % pct(x) if x >= target else '%s, under' % pct(x))


print('| model | Java | measure | kvstream | llama.cpp | kvstream / llama.cpp | target |')
print('|---|---|---|---:|---:|---:|---|')
for f in sorted(glob.glob(os.path.join(d, 'kvstream-*-java*.json'))):
    m = re.match(r'kvstream-(.*)-java(.*)\.json$', os.path.basename(f))
    name, java = m.group(1), m.group(2)
    k = json.load(open(f))
    threads = k['threads']
    b1, b8 = row_of(k, 1), row_of(k, 8)
    weight_bytes = k['weight_bytes_per_token']
    bandwidth = k.get('host_bandwidth_bytes_per_s')
    peak = k.get('host_fp32_fma_peak_flops_per_s')
    bound = bandwidth / weight_bytes if bandwidth else None
    flops = b1['prefill_flops_per_token'] if b1 else None
    k_dec1, p_dec1 = best(b1, 'decode_tok_s'), best_peer(name, 1, 'decode_tok_s')
    k_dec8, p_dec8 = best(b8, 'decode_tok_s'), best_peer(name, 8, 'decode_tok_s')
    k_pre, p_pre = best(b1, 'prefill_tok_s'), best_peer(name, 1, 'prefill_tok_s')
    of_bound = lambda x: None if x is None or bound is None else x / bound
    of_peak = lambda x: None if x is None or peak is None or flops is None else x * flops / peak
    label = '%s (%.0f MiB read per token), %d threads' % (name, weight_bytes / 1048576, threads)
    rows = [
        ('decode, batch 1 (tok/s)', fmt(k_dec1), fmt(p_dec1), ratio(k_dec1, p_dec1, 0.8), '>= 0.8x'),
        ('decode batch 1, of the bandwidth bound (%s GB/s: %s tok/s)' % (
            fmt(bandwidth and bandwidth / 1e9), fmt(bound)),
         pct(of_bound(k_dec1)), pct(of_bound(p_dec1)), '', ''),
        ('decode, batch 8 (tok/s, all sequences)', fmt(k_dec8), fmt(p_dec8), ratio(k_dec8, p_dec8, 0.8), '>= 0.8x'),
        ('prefill, %d tokens (tok/s)' % b1['prompt_len'] if b1 else 'prefill', fmt(k_pre), fmt(p_pre),
         ratio(k_pre, p_pre, 0.6), '>= 0.6x'),
        ('prefill, of the fp32 FMA peak (%s GFLOP/s, %s GFLOP per token)' % (
            fmt(peak and peak / 1e9), fmt(flops and flops / 1e9, '%.2f')),
         met_pct(of_peak(k_pre), 0.8), pct(of_peak(p_pre)), '', 'kvstream >= 80%'),
    ]
    allocated = b1 and b1.get('prefill_allocated_bytes_runs')
    if allocated:
        # The KV cache it fills, on compiled kernels; far more means a kernel ran the Vector API's
        # Java fallback in this JVM (bench prints a warning above 1 MiB per token).
        per_token = max(allocated) / b1['prompt_len']
        rows.append(('prefill, heap allocated per token (KV cache ~70 KB; fallback kernels: MBs)',
                     '%.0f KB%s' % (per_token / 1e3, ', fallback' if per_token > 1 << 20 else ''), '', '', ''))
    for i, r in enumerate(rows):
        print('| %s | %s | %s |' % (label if i == 0 else '', java if i == 0 else '', ' | '.join(r)))

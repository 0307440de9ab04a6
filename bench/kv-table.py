# Markdown table of the kv-matrix.sh results (one JSON per --kv spec, as `eval --json` writes them).
import json, os, sys, glob
d = sys.argv[1] if len(sys.argv) > 1 else "bench-out/kv"
rows = []
for f in sorted(glob.glob(d + '/*.json')):
    j = json.load(open(f))
    rows.append(j)
base = next((r for r in rows if r['kv'] == 'full'), None)
fp16 = next((r for r in rows if r['kv'] == 'fp16'), None)
def acc(r, t): return r['accuracy'].get(t, float('nan'))
print('| --kv | chat | passkey | video | agree with HF | bytes/token | vs fp16 | seconds |')
print('|---|---|---|---|---|---|---|---|')
order = lambda r: (r['kv'].count('+'), r['kv'])
for r in sorted(rows, key=order):
    ratio = fp16['kv_bytes_per_token'] / r['kv_bytes_per_token'] if fp16 else float('nan')
    extra = ''
    if 'patches' in r and r.get('patches_dropped'):
        extra = ' (%.1f%% patches dropped)' % (100.0 * r['patches_dropped'] / r['patches'])
    print('| `%s`%s | %.2f | %.2f | %.2f | %d/300 | %.0f | %.2fx | %.0f |' % (
        r['kv'], extra, acc(r, 'chat'), acc(r, 'passkey'), acc(r, 'video'), r['agree_reference'],
        r['kv_bytes_per_token'], ratio, r['seconds']))

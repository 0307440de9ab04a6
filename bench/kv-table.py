# Markdown table of the kv-matrix.sh results (one JSON per --kv spec, as `eval --json` writes them).
# "vs fp16" is the run's own fp16 basis (what an fp16 cache holding the same tokens stores, which
# eval reports for caches that evict nothing), else the fp16 run's measured bytes/token.
# "agree with HF" is n/a for sets without reference answers (bench/make-eval.py's).
import json, os, sys, glob
d = sys.argv[1] if len(sys.argv) > 1 else "bench-out/kv"
rows = []
for f in sorted(glob.glob(d + '/*.json')):
    j = json.load(open(f))
    rows.append(j)
fp16 = next((r for r in rows if r['kv'] == 'fp16'), None)
def acc(r, t): return r['accuracy'].get(t, float('nan'))
def ratio(r):
    basis = r.get('fp16_bytes_per_token') or (fp16['kv_bytes_per_token'] if fp16 else float('nan'))
    return basis / r['kv_bytes_per_token']
def agree(r):
    return '%d/%d' % (r['agree_reference'], r['samples']) if 'agree_reference' in r else 'n/a'
print('| --kv | chat | passkey | video | agree with HF | bytes/token | vs fp16 | seconds |')
print('|---|---|---|---|---|---|---|---|')
order = lambda r: (r['kv'].count('+'), r['kv'])
for r in sorted(rows, key=order):
    extra = ''
    if 'patches' in r and r.get('patches_dropped'):
        extra = ' (%.1f%% patches dropped)' % (100.0 * r['patches_dropped'] / r['patches'])
    print('| `%s`%s | %.2f | %.2f | %.2f | %s | %.0f | %.2fx | %.0f |' % (
        r['kv'], extra, acc(r, 'chat'), acc(r, 'passkey'), acc(r, 'video'), agree(r),
        r['kv_bytes_per_token'], ratio(r), r['seconds']))

#!/usr/bin/python3
"""Black-box check of a running kvstream pipeline with clients that are not kvstream's own.

librdkafka (python3-confluent-kafka) and Apache Avro's Python library (python3-avro), both from
Debian's packages, with the wire format written here from the Avro specification: single-object
encoding, C3 01, the CRC-64-AVRO fingerprint of the schema's canonical form (little endian), the
binary body. Nothing of this repository but the .avsc files is used.

Against `bin/kvstream local --serve` (or any deployed pipeline):

    bin/kvstream local --serve &          # prints "ready: bootstrap HOST:PORT ..."
    /usr/bin/python3 bench/blackbox/serve_fuzz.py --bootstrap HOST:PORT --fuzz 10000 --sessions 40

It sends valid chat turns among --fuzz random, truncated and mutated messages and messages with
unknown schema fingerprints, plus one of each bad request the job must name (empty session id,
a key other than the session id, out-of-range sampling, a frame of the wrong size, a prompt over
the context, max_new_tokens of 10^9). Then it checks:
  - every valid turn has exactly one final response (read_committed);
  - every bad request has an error response or a dead letter that names its problem;
  - nothing else is in the responses but answers to the requests sent;
  - the job still serves: a last turn sent after everything else is answered.
It prints one line per check and "N passed, N failed"; it exits non-zero on any failure.
"""
import argparse
import io
import json
import os
import random
import struct
import sys
import time
import uuid

import avro.io
import avro.schema
from confluent_kafka import Consumer, Producer, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "..", "..", "schemas", "src", "main", "avro")

# CRC-64-AVRO, as the Avro specification defines it.
EMPTY = 0xC15D213AA4D7A795
TABLE = []
for i in range(256):
    fp = i
    for _ in range(8):
        fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
    TABLE.append(fp & 0xFFFFFFFFFFFFFFFF)


def fingerprint(canonical: str) -> int:
    fp = EMPTY
    for b in canonical.encode("utf-8"):
        fp = ((fp >> 8) ^ TABLE[(fp ^ b) & 0xFF]) & 0xFFFFFFFFFFFFFFFF
    return fp


class Codec:
    def __init__(self, name):
        with open(os.path.join(SCHEMAS, name + ".avsc")) as f:
            self.schema = avro.schema.parse(f.read())
        self.header = b"\xc3\x01" + struct.pack("<Q", fingerprint(self.schema.canonical_form))

    def encode(self, datum) -> bytes:
        out = io.BytesIO()
        avro.io.DatumWriter(self.schema).write(datum, avro.io.BinaryEncoder(out))
        return self.header + out.getvalue()

    def decode(self, data: bytes):
        if not data.startswith(self.header):
            raise ValueError("not written with this schema")
        return avro.io.DatumReader(self.schema).read(avro.io.BinaryDecoder(io.BytesIO(data[len(self.header):])))


GREEDY = {"temperature": 0.0, "top_k": 0, "top_p": 1.0, "repetition_penalty": 1.0, "seed": 42}


def user_turn(text, max_new=12, sampling=None):
    return {"text": text, "max_new_tokens": max_new, "sampling": sampling or GREEDY}


def event(session, event_id, payload):
    return {"event_id": event_id, "session_id": session, "timestamp_ms": int(time.time() * 1000), "payload": payload}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--events", default="kvstream.events")
    p.add_argument("--responses", default="kvstream.responses")
    p.add_argument("--dead-letters", default="kvstream.dead-letters")
    p.add_argument("--fuzz", type=int, default=10000, help="bad messages (default 10000)")
    p.add_argument("--sessions", type=int, default=40, help="sessions with valid turns")
    p.add_argument("--turns", type=int, default=3, help="valid turns per session")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for the answers")
    args = p.parse_args()
    rnd = random.Random(args.seed)
    events, responses, dead = Codec("SessionEvent"), Codec("ResponseEvent"), Codec("DeadLetter")
    run = uuid.uuid4().hex[:8]

    producer = Producer({"bootstrap.servers": args.bootstrap, "enable.idempotence": True, "linger.ms": 20})
    sent = 0

    def send(key, value):
        nonlocal sent
        producer.produce(args.events, key=key, value=value)
        sent += 1
        if sent % 1000 == 0:
            producer.poll(0)

    # Valid turns, their keys the session ids, spread among the fuzz.
    valid = []
    facts = ["my lucky number is 4711.", "my favorite color is white.", "my pet is called rex."]
    for s in range(args.sessions):
        session = f"fz-{run}-s{s}"
        for t in range(args.turns):
            text = facts[(s + t) % len(facts)] if t == 0 else "what did i tell you?"
            valid.append((session, f"{session}-t{t}", events.encode(event(session, f"{session}-t{t}", user_turn(text)))))
    # The requests the job must name.
    bad_session = f"fz-{run}-bad"
    long_text = "zo ka " * 5000
    named = {
        "empty-session": (b"", events.encode(event("", f"{run}-empty", user_turn("hi"))), "dead", "empty session_id"),
        "key-mismatch": (b"someone-else", events.encode(event(bad_session, f"{run}-key", user_turn("hi"))), "dead",
                         "differs from session_id"),
        "sampling": (bad_session.encode(), events.encode(event(bad_session, f"{run}-sampling", user_turn(
            "hi", 4, {"temperature": 0.7, "top_k": 0, "top_p": 1.5, "repetition_penalty": 1.0, "seed": 1}))),
            "error", "top-p"),
        "frame-size": (bad_session.encode(), events.encode(event(bad_session, f"{run}-frame", {
            "index": 0, "timestamp_ms": 0, "width": 8, "height": 8, "rgb": bytes(8 * 8 * 3)})), "error", "Frame 0 is 8x8"),
        "over-context": (bad_session.encode(), events.encode(event(bad_session, f"{run}-long", user_turn(long_text))),
                         "error", "context"),
        "max-new-tokens": (bad_session.encode(), events.encode(event(bad_session, f"{run}-billion", user_turn("hi", 10 ** 9))),
                           "error", "max_new_tokens 1000000000"),
    }
    # Fuzz: random bytes, truncated valid messages, mutated headers, unknown fingerprints.
    sample = valid[0][2]
    fuzz = []
    for i in range(args.fuzz):
        kind = i % 4
        if kind == 0:
            value = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 200)))
        elif kind == 1:
            value = sample[: rnd.randint(0, len(sample) - 1)]
        elif kind == 2:
            value = bytearray(sample)
            value[rnd.randint(0, 9)] ^= 1 << rnd.randint(0, 7)
            value = bytes(value)
        else:
            value = b"\xc3\x01" + struct.pack("<Q", rnd.getrandbits(64)) + sample[10:]
        fuzz.append((f"fuzz-{i}".encode(), value))
    # Interleave.
    stream = [(s.encode(), v) for s, _, v in valid] + fuzz + [(k, v) for k, v, _, _ in named.values()]
    order = list(range(len(stream)))
    rnd.shuffle(order)
    # A session's turns keep their order: its positions take its items in the order they were made.
    positions = {}
    for pos, idx in enumerate(order):
        positions.setdefault(stream[idx][0], []).append((pos, idx))
    for items in positions.values():
        if len(items) > 1:
            for pos, idx in zip([p for p, _ in items], sorted(i for _, i in items)):
                order[pos] = idx
    t0 = time.time()
    started_ms = int(t0 * 1000) - 1000
    for idx in order:
        send(stream[idx][0], stream[idx][1])
    producer.flush(60)
    print(f"sent {len(valid)} valid turns, {len(named)} named bad requests and {len(fuzz)} fuzzed messages"
          f" in {time.time() - t0:.1f} s")

    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": f"fuzz-{run}", "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    consumer.subscribe([args.responses, args.dead_letters])
    finals, errors, others, letters, closed = {}, {}, [], [], {}
    wanted = {eid for _, eid, _ in valid}
    last_id = f"fz-{run}-last"
    last_sent = False
    deadline = time.time() + args.timeout
    quiet_since = None
    while time.time() < deadline:
        msg = consumer.poll(1.0)
        if not last_sent and wanted <= set(finals):
            # Everything answered: one more turn shows the job still serves.
            producer.produce(args.events, key=last_id.encode(),
                             value=events.encode(event(last_id, last_id, user_turn("my lucky number is 4711."))))
            producer.flush(30)
            last_sent = True
        if last_sent and last_id in finals:
            # Done once nothing more arrives for a few seconds (late dead letters, repeats).
            if msg is None:
                quiet_since = quiet_since or time.time()
                if time.time() - quiet_since > 5:
                    break
            else:
                quiet_since = None
        if msg is None or msg.error():
            continue
        if msg.topic() == args.dead_letters:
            letter = dead.decode(msg.value())
            if letter["timestamp_ms"] >= started_ms:  # not an earlier run's
                letters.append(letter)
            continue
        r = responses.decode(msg.value())
        payload = r["payload"]
        eid = r["event_id"]
        if not r["session_id"].startswith(f"fz-{run}") and not eid.startswith(run):
            continue  # another client's (the local stack's warm-up, an earlier run)
        if "finish_reason" in payload:
            finals.setdefault(eid, []).append(payload)
        elif "code" in payload:
            errors.setdefault(eid, []).append(payload)
        elif "seq" in payload:
            pass
        elif "reason" in payload:
            closed[eid] = payload
        else:
            others.append(r)
    consumer.close()

    passed, failed = 0, 0

    def check(ok, text):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + text)
        if ok:
            passed += 1
        else:
            failed += 1

    answered_once = sum(1 for e in wanted if len(finals.get(e, [])) == 1)
    check(answered_once == len(wanted), f"every valid turn answered exactly once: {answered_once} of {len(wanted)}")
    repeated = [e for e, f in finals.items() if len(f) > 1]
    check(not repeated, f"no final response twice ({len(repeated)} repeated)")
    for name, (_, value, where, text) in named.items():
        eid = events.decode(value)["event_id"]
        if where == "error":
            got = [e["message"] for e in errors.get(eid, [])]
            check(len(got) == 1 and text in got[0], f"{name}: one error naming it ({got[:1]})")
        else:
            got = [d["error"] for d in letters if d["value"] == value]
            check(len(got) == 1 and text in got[0], f"{name}: a dead letter naming it ({got[:1]})")
    fuzz_values = {v for _, v in fuzz}
    fuzz_letters = sum(1 for d in letters if d["value"] in fuzz_values or d["value"] is None)
    check(fuzz_letters >= len(fuzz),
          f"every fuzzed message kept as a dead letter: {fuzz_letters} of {len(fuzz)}")
    named_ids = {events.decode(v)["event_id"] for _, v, _, _ in named.values()}
    strays = [e for e in list(finals) + list(errors) if e not in wanted and e not in named_ids and e != last_id]
    check(not strays and not others,
          f"nothing else in the responses ({len(strays)} stray ids {strays[:3]}, {len(others)} unknown)")
    check(last_id in finals and len(finals[last_id]) == 1, "the job still serves after the fuzz")
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()

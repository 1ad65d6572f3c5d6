"""The peer queue for `cargo bench -p cutroom-tests --bench queue_peer`:
Celery with Redis, the reference queue of the seeds' Python stack, set up
as Cutroom's workers are: single-affinity prefork workers (one child each,
concurrency 1), late acknowledgement, one task prefetched at most.

Run by the benchmark with the peer's virtual environment (`bash
.ci/queue-peer`); prints one JSON object:
    python celery_noop.py --workers 4 --jobs 3000 --paced 1000 --rate 200

- drain: the workers are stopped (SIGSTOP), `jobs` no-op tasks are sent,
  the workers are let go (SIGCONT); tasks per second until the last ran.
- pickup: `paced` tasks sent at `rate` a second into idle workers; each
  records how long after it was sent it started (same machine clock).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from celery import Celery

BROKER = os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379/15")

app = Celery("celery_noop", broker=BROKER)
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="noop")
def noop(sent_at):
    started = time.time()
    r = _backend_client()
    r.rpush("peer:pickup", started - sent_at)
    r.incr("peer:done")


def _redis():
    import redis

    return redis.Redis.from_url(BROKER)


# One client per process, for the task body.
_client = None


def _backend_client():
    global _client
    if _client is None:
        _client = _redis()
    return _client



def start_workers(n):
    here = os.path.dirname(os.path.abspath(__file__))
    procs = []
    for i in range(n):
        procs.append(
            subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "celery_noop", "worker",
                    "-P", "prefork", "-c", "1", "-O", "fair",
                    "--prefetch-multiplier", "1", "-n", f"peer{i}@%h",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-l", "WARNING",
                ],
                cwd=here,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    deadline = time.time() + 120
    while time.time() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= n:
            return procs
    raise SystemExit(f"only {len(replies)} of {n} celery workers answered")


def signal_all(procs, sig):
    for p in procs:
        os.killpg(p.pid, sig)


def wait_done(r, n, limit=900):
    deadline = time.time() + limit
    while int(r.get("peer:done") or 0) < n:
        if time.time() > deadline:
            raise SystemExit(f"{int(r.get('peer:done') or 0)} of {n} tasks ran")
        time.sleep(0.005)


def percentile(values, p):
    values = sorted(values)
    return values[max(0, int(-(-len(values) * p // 1)) - 1)]


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--workers", type=int, default=4)
    args.add_argument("--jobs", type=int, default=3000)
    args.add_argument("--paced", type=int, default=1000)
    args.add_argument("--rate", type=float, default=200.0)
    a = args.parse_args()
    r = _redis()
    r.flushdb()
    procs = start_workers(a.workers)
    try:
        # Pickup into idle workers at a steady rate.
        r.delete("peer:done", "peer:pickup")
        step = 1.0 / a.rate
        t0 = time.time()
        for i in range(a.paced):
            wait = t0 + i * step - time.time()
            if wait > 0:
                time.sleep(wait)
            noop.delay(time.time())
        wait_done(r, a.paced)
        waits = [float(x) for x in r.lrange("peer:pickup", 0, -1)]

        # Drain a backlog.
        r.delete("peer:done", "peer:pickup")
        signal_all(procs, signal.SIGSTOP)
        for _ in range(a.jobs):
            noop.delay(time.time())
        started = time.time()
        signal_all(procs, signal.SIGCONT)
        wait_done(r, a.jobs)
        elapsed = time.time() - started
    finally:
        signal_all(procs, signal.SIGCONT)
        signal_all(procs, signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
    print(
        json.dumps(
            {
                "jobs_per_second": a.jobs / elapsed,
                "pickup_p50_ms": percentile(waits, 0.50) * 1000,
                "pickup_p99_ms": percentile(waits, 0.99) * 1000,
                "pickup_max_ms": max(waits) * 1000,
            }
        )
    )


if __name__ == "__main__":
    main()

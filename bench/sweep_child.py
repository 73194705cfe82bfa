"""Run the project's own sweep once in a fresh process and report time, count, hand-offs and peak RSS as JSON.

`python -m bench.sweep_child REPORT.json [expiry]` — the process the beat job's task would be: Django set up from the environment,
`refunds.services.withdrawal_refund_due()` (or, with `expiry`, `wallet_expire_due()`) called with the default batch size, the payout and notification
hand-offs published after each batch's commit to the real broker (CELERY_BROKER_URL, Redis).
"""
import json
import os
import resource
import sys
import time


def _handed_off(redis_url: str) -> dict[str, int]:
    """What the broker holds: per task name, how many messages and how many refunds / requests they carry."""
    import base64

    import redis

    r = redis.Redis.from_url(redis_url)
    out: dict[str, int] = {"messages": 0}
    for raw in r.lrange("celery", 0, -1) + r.lrange(os.environ.get("PAYOUT_QUEUE", "payouts"), 0, -1):
        message = json.loads(raw)
        task = message["headers"]["task"].rsplit(".", 1)[-1]
        args = json.loads(base64.b64decode(message["body"]))[0]
        ids = next((a for a in args if isinstance(a, list)), None)
        out["messages"] += 1
        out[task] = out.get(task, 0) + (len(ids) if ids is not None else 1)
    return out


def main() -> None:
    import django

    django.setup()
    from refunds.services import wallet_expire_due, withdrawal_refund_due

    sweep = wallet_expire_due if sys.argv[2:] == ["expiry"] else withdrawal_refund_due

    broker = os.environ["CELERY_BROKER_URL"]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    refunded = sweep()
    seconds = time.perf_counter() - started
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # the sweep's, before the broker is read back
    report = {
        "refunded": refunded,
        "seconds": seconds,
        "handoffs": _handed_off(broker),  # the broker DB is emptied before each run
        "rss_before_mb": rss_before / 1024,
        "peak_rss_mb": peak_rss / 1024,
    }
    with open(sys.argv[1], "w") as out:
        json.dump(report, out)


if __name__ == "__main__":
    main()

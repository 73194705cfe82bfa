"""Run callables in real threads that start together, each on its own database connection."""
import threading

from django.db import connection


def run_together(*calls, timeout: float = 60):
    """Start every call at the same instant (a barrier); return ("ok", value) or ("error", exception) for each."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(index, call):
        try:
            connection.ensure_connection()  # connect before the barrier so the calls really overlap
            barrier.wait()
            results[index] = ("ok", call())
        except Exception as exc:  # noqa: BLE001 — the test inspects what each thread met
            results[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (deadlock?)"
    return results


def outcomes(results):
    """The values returned and the exception classes raised, for assertions."""
    values = [value for kind, value in results if kind == "ok"]
    raised = sorted(type(value).__name__ for kind, value in results if kind == "error")
    return values, raised

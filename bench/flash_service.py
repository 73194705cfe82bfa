"""The purchase service alone (no HTTP): P processes buy one campaign for B buyers; prints purchases/s until sold
out and the mean number of backends waiting on a row lock. Run from a checkout, on a database of your own (DATABASE_URL; it is emptied):
    python -m bench.flash_service PROCESSES BUYERS STOCK"""
import os
import sys
import time
import multiprocessing as mp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
sys.path.insert(0, os.getcwd())


def buyer(ids, campaign_id, barrier):
    import django
    django.setup()
    from django.db import connection
    from allowance.models import Campaign
    from allowance.services import campaign_purchase
    from consumers.models import Consumer
    from core import errors
    connection.ensure_connection()
    barrier.wait()
    for cid in ids:
        try:  # as the API does: the campaign read for each purchase (the service uses it as read)
            campaign_purchase(campaign=Campaign.objects.get(pk=campaign_id), consumer=Consumer.objects.get(pk=cid))
        except errors.OutOfStock:
            pass


def main():
    procs, buyers, stock = map(int, sys.argv[1:4])
    import django
    django.setup()
    from django.db import connection
    from bench import flash
    fx = flash._setup(buyers, stock)
    ids = [cid for _, cid in fx["rows"]]
    barrier = mp.Barrier(procs + 1)
    ps = [mp.Process(target=buyer, args=(ids[i::procs], fx["flash_id"], barrier)) for i in range(procs)]
    for p in ps:
        p.start()
    barrier.wait()
    from datetime import datetime, timezone as tz
    started = datetime.now(tz.utc)
    waits = []
    while any(p.is_alive() for p in ps):
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) FILTER (WHERE state = 'active')"
                        " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            waits.append(cur.fetchone())
        time.sleep(0.05)
    out = flash._outcome(fx["flash_id"], started)
    flash._check("service", out)
    n = len(waits) or 1
    print(f"{procs} processes: sold {out['payments']} in {out['seconds']:.2f}s = {out['rate']:.0f}/s; "
          f"backends waiting on a lock {sum(w[0] for w in waits) / n:.2f} of {sum(w[1] for w in waits) / n:.2f} active (mean of {n} samples)")


if __name__ == "__main__":
    main()

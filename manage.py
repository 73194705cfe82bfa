#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    # With no DATABASE_URL, the embedded servers of a running `make run` (scripts/run_urls.py): `manage.py
    # reconcile` beside the demo just works.
    from scripts.run_urls import urls_use_running

    urls_use_running()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

"""Dates and times in English: the same "2026-12-02 08:12" in flash messages, pages, emails and the admin
(Django's own English default, "Dec. 2, 2026, 8:12 a.m.", would differ from what the pages show)."""
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"

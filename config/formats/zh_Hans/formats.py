"""Dates and times in Simplified Chinese: "2026-12-02 08:12", as Chinese payment apps and this product's pages
write them, everywhere (flash messages, pages, emails, the admin)."""
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"

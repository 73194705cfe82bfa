"""A database out of reach (a failover in progress, PgBouncer restarting) is a 503 with Retry-After that changes
nothing — never a 500 or a traceback (issue 20's failover smoke saw thousands of 500s in those windows)."""
import contextlib

import pytest
from django.db import connections
from django.test import Client

from tests.factories import CampaignFactory

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


@contextlib.contextmanager
def database_out_of_reach():
    """The default alias pointed at a port where nothing listens, as a client sees a primary that just died."""
    connection = connections["default"]
    connection.close()
    saved = connection.settings_dict["PORT"], connection.settings_dict["HOST"]
    connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"], connection.settings_dict["HOST"] = saved


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_503_with_retry_after_while_the_database_is_out_of_reach():
    CampaignFactory()
    with database_out_of_reach():
        response = Client().get("/api/v1/campaigns/")
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "2"
    assert response.json()["code"] == "service_unavailable"
    # and once it is back, the same call works
    assert Client().get("/api/v1/campaigns/").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("headers, text", [(EN, "could not reach its database"), (ZH, "服务暂时无法连接数据库")])
def test_a_page_answers_the_products_503_page_in_the_visitors_language(headers, text):
    CampaignFactory()
    with database_out_of_reach():
        response = Client().get("/", **headers)
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    page = response.content.decode()
    assert text in page and "Traceback" not in page

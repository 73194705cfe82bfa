"""The Swagger UI at /api/docs/ works in a real browser (Debian's Chromium) under a CSP that allows no inline
script (issue 18): its start-up script is a file of its own, so the page needs no 'unsafe-inline'."""
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_swagger_ui_renders_every_operation_with_no_csp_violation(pages_server, chromium):
    # Given the browser, listening for what the page's Content-Security-Policy blocks
    context = chromium.new_context()
    context.set_default_timeout(20_000)
    page = context.new_page()
    blocked = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text
            else None)

    # When it opens the API docs
    answer = page.goto(f"{pages_server.url}/api/docs/")

    # Then the policy allows scripts from the site only, and Swagger UI drew the API with its operations
    script_src = answer.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    assert script_src.strip() == "'self'"
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Store Allowance API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/campaigns/{id}/purchase/" in [p.replace("\u200b", "") for p in paths], paths[:10]
    assert blocked == []
    context.close()

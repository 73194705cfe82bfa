"""Both languages: every message of the Chinese catalogue is translated and compiled, and pages follow the
browser's language (Accept-Language) or the switcher."""
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from core import errors
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory
from tests.pages.helpers import pending_request

LOCALE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"


def _po_entries(path: Path) -> list[dict]:
    """msgid → msgstr(s) and flags of every entry of a .po file (a small reader: gettext's own format)."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry, current = {"flags": "", "_translations": []}, None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] += line
            match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"$', line)
            if match:
                current = match.group(1)
                entry.setdefault(current, "")
                entry[current] += match.group(2)
                if current.startswith("msgstr"):
                    entry["_translations"].append(current)
            elif line.startswith('"') and current:
                entry[current] += line[1:-1]
        if entry.get("msgid"):
            entries.append(entry)
    return entries


def test_every_message_in_the_chinese_catalogue_has_a_translation():
    entries = _po_entries(LOCALE / "django.po")
    assert len(entries) > 250
    untranslated = [e["msgid"] for e in entries if not all(e[key] for key in e["_translations"])]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert untranslated == []
    assert fuzzy == []


def test_the_compiled_catalogue_is_committed_and_matches_the_source():
    compiled = gettext.GNUTranslations((LOCALE / "django.mo").open("rb"))
    for entry in _po_entries(LOCALE / "django.po"):
        msgid = entry["msgid"].encode().decode("unicode_escape").encode("latin-1").decode("utf-8")
        if "msgid_plural" in entry:
            assert compiled.ngettext(msgid, "x", 1) != msgid or not msgid, msgid
        else:
            assert compiled.gettext(msgid) != msgid, msgid


@pytest.mark.parametrize("error", [errors.InsufficientAllowance, errors.WalletFrozen, errors.RequestNotPending,
                                   errors.PurchaseLimitReached, errors.ReturnExceedsOrder, errors.NothingToWithdraw,
                                   errors.PrincipalChanged, errors.WithdrawalAmountChanged])
def test_domain_errors_speak_chinese_when_the_page_does(error):
    with translation.override("zh-hans"):
        message = str(error(available="1.00", limit=1, returnable="1.00"))
    assert re.search(r"[\u4e00-\u9fff]", message), message


@pytest.fixture
def consumer_client(db):
    request = pending_request(consumer=ConsumerFactory(), campaign=CampaignFactory(), spend=1000)
    client = Client()
    client.force_login(request.wallet.consumer.user)
    return client, request


def test_my_allowance_in_chinese_when_the_browser_asks_for_zh_hans(consumer_client):
    client, _ = consumer_client
    page = client.get("/me/allowance/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    for word in ("我的膨胀金", "膨胀金", "本金", "权益金", "提现", "撤销申请", "常见问题"):
        assert word in page, word
    assert "Principal" not in page and "My Allowance" not in page


def test_merchant_pages_in_chinese_use_the_notices_words(consumer_client):
    _, request = consumer_client
    staff = StaffFactory(store=request.wallet.store).user
    client = Client()
    client.force_login(staff)
    page = client.get("/merchant/users/", {"account_name": request.wallet.consumer.account_name},
                      HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    for word in ("用户管理", "立即退款", "发送挽留消息", "本金", "权益金"):
        assert word in page, word
    dashboard = client.get("/merchant/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    for word in ("进行中活动", "历史活动", "未消耗本金"):
        assert word in dashboard, word


def test_the_language_switcher_overrides_the_browser(consumer_client):
    client, _ = consumer_client
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/me/allowance/"},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and response["Location"] == "/me/allowance/"
    assert "我的膨胀金" in client.get("/me/allowance/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "My Allowance" in client.get("/me/allowance/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/accounts/register/"])
def test_every_public_page_has_the_language_switcher(db, path):
    page = Client().get(path).content.decode()
    assert 'action="/i18n/setlang/"' in page and 'value="zh-hans"' in page and 'value="en"' in page

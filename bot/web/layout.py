"""The dashboard's page shells: the style and scripts every page carries, and the layouts
(a dashboard page with its navigation, a message page, the Mini App pages), rendered from the
Jinja2 templates in bot/web/templates/.

Everything a page needs is in the page itself (style, script, charts), so it works with no
resource from the internet; the style and the scripts are constants here, allowed by their
SHA-256 in the Content-Security-Policy (bot/web/dashboard_security.py), and nothing else runs.
The templates escape every value they are given; only the code's own HTML is passed as Markup:
these constants, blocks already rendered from a template, and the bot's Telegram HTML (whose
text the bot escaped).
"""

from __future__ import annotations

from functools import cache
from urllib.parse import urlencode

from aiogram.utils.i18n import gettext as _
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from handlers.views.text import N_
from services.validation import shown

PAGES = (
    ("", N_("Overview")),
    ("communities", N_("Communities")),
    ("groupbuys", N_("Group-buys")),
    ("members", N_("Members")),
    ("ledger", N_("Ledger")),
    ("broadcasts", N_("Broadcasts")),
    ("promotions", N_("Promotions calendar")),
    ("cocreation", N_("Co-creation")),
    ("metrics", N_("Metrics")),
    ("rewards", N_("Rewards to hand over")),
    ("tickets", N_("After-sales tickets")),
    ("delivery", N_("Delivery")),
    ("reviews", N_("Reviews")),
    ("trials", N_("Trials")),
    ("memberships", N_("Memberships")),
    ("statement", N_("Statement")),
    ("sessions", N_("Sessions")),
)

# the languages a reader can switch to, each in its own script
LANGUAGES = (("en", "English"), ("zh_Hans", "简体中文"), ("zh_Hant", "繁體中文"))

STYLE = """
:root { --ink:#1d2733; --muted:#5f6b7a; --line:#dde3ea; --accent:#3478f6; --bg:#f6f8fb; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC",
  "Noto Sans CJK SC",sans-serif; color:var(--ink); background:var(--bg); }
header { background:#fff; border-bottom:1px solid var(--line); padding:10px 16px; }
header h1 { font-size:18px; margin:0 0 6px; }
nav a { display:inline-block; margin:2px 10px 2px 0; color:var(--accent); text-decoration:none; }
nav a.here { color:var(--ink); font-weight:600; }
main { padding:16px; max-width:1200px; }
form.filters { display:flex; flex-wrap:wrap; gap:8px; align-items:end; margin-bottom:14px; }
form.filters label { display:flex; flex-direction:column; font-size:13px; color:var(--muted); }
input, select, button { font:inherit; padding:5px 8px; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(260px,1fr)); gap:10px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 12px; }
.card i { display:block; color:var(--muted); font-size:13px; margin-top:4px; }
.block { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px;
  margin:14px 0; overflow-x:auto; }
.block h2 { font-size:16px; margin:0 0 8px; }
table { border-collapse:collapse; font-size:13px; }
th, td { border-bottom:1px solid var(--line); padding:4px 8px; text-align:left;
  white-space:nowrap; }
th { color:var(--muted); font-weight:600; }
.note { color:var(--muted); font-size:13px; }
.error { color:#b3261e; }
.csv { float:right; font-size:13px; }
form.inline { display:inline; }
form.inline button { padding:0; border:0; background:none; color:var(--accent); cursor:pointer; }
svg text { font-family:inherit; }
.photos { display:flex; flex-wrap:wrap; gap:10px; }
.photos figure { margin:0; font-size:13px; color:var(--muted); }
.photos img { display:block; max-width:180px; max-height:180px; border:1px solid var(--line);
  border-radius:6px; }
.levels form { border-top:1px solid var(--line); padding-top:8px; margin:8px 0 0; }
.levels .group { flex-basis:100%; }
"""


MINI_APP_SCRIPT = """
(function () {
  var status = document.getElementById('status');
  var hash = new URLSearchParams(location.hash.slice(1));
  var data = hash.get('tgWebAppData') ||
    (window.Telegram && window.Telegram.WebApp && window.Telegram.WebApp.initData) || '';
  if (!data) { status.textContent = status.dataset.missing; return; }
  fetch('auth', {
    method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/x-www-form-urlencoded'},
    body: 'init_data=' + encodeURIComponent(data)
  }).then(function (response) {
    if (response.ok) { location.replace('./'); return; }
    status.textContent = status.dataset.refused;
  }).catch(function () { status.textContent = status.dataset.refused; });
})();
"""


# The keeper's Mini App page: scan a member's pickup QR code with Telegram's own scanner (the
# Mini App events web_app_open_scan_qr_popup / qr_text_received, posted the way Telegram's
# clients take them, so no script is fetched from the internet), or type the code; either is
# posted with the signed initData to /dashboard/pickup, which answers with what to say.
KEEPER_SCRIPT = """
(function () {
  var result = document.getElementById('result');
  var hash = new URLSearchParams(location.hash.slice(1));
  var data = hash.get('tgWebAppData') ||
    (window.Telegram && window.Telegram.WebApp && window.Telegram.WebApp.initData) || '';
  function say(text, ok) { result.textContent = text; result.className = ok ? 'ok' : 'bad'; }
  if (!data) { say(result.dataset.missing, false); }
  function post(type, payload) {
    var body = JSON.stringify(payload || {});
    if (window.TelegramWebviewProxy) { window.TelegramWebviewProxy.postEvent(type, body); return; }
    var message = JSON.stringify({eventType: type, eventData: payload || {}});
    window.parent.postMessage(message, '*');
  }
  var token = '';  // the initData is sent once, for a token the next posts carry
  function redeem(code) {
    var who = token ? 'token=' + encodeURIComponent(token)
      : 'init_data=' + encodeURIComponent(data);
    fetch('pickup', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      body: who + '&code=' + encodeURIComponent(code)
    }).then(function (response) { return response.json(); })
      .then(function (answer) {
        if (answer.token) { token = answer.token; }
        say(answer.message || result.dataset.missing, answer.ok);
      })
      .catch(function () { say(result.dataset.failed, false); });
  }
  function received(type, payload) {
    if (type === 'qr_text_received' && payload && payload.data) {
      post('web_app_close_scan_qr_popup');
      redeem(payload.data);
    }
  }
  window.Telegram = window.Telegram || {};
  window.Telegram.WebView = window.Telegram.WebView || {};
  window.Telegram.WebView.receiveEvent = received;
  window.addEventListener('message', function (event) {
    try { var m = JSON.parse(event.data); received(m.eventType, m.eventData); } catch (e) {}
  });
  document.getElementById('scan').addEventListener('click', function () {
    post('web_app_open_scan_qr_popup', {text: result.dataset.prompt});
  });
  document.getElementById('typed').addEventListener('submit', function (event) {
    event.preventDefault();
    redeem(document.getElementById('code').value);
  });
})();
"""


# the keeper's page: the dashboard's style and its own (one constant: the CSP allows its hash)
KEEPER_STYLE = (
    STYLE + " #result.ok{color:#1a7f37} #result.bad{color:#b42318} button,input{font-size:1.1em;"
    "padding:.5em;margin:.3em 0}"
)


@cache
def templates() -> Environment:
    """The dashboard's templates: every value escaped, and an unknown name an error."""
    return Environment(
        loader=PackageLoader("bot.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # they ship with the code: compiled once, never checked again
    )


def render(name: str, /, **context: object) -> str:
    """One template of bot/web/templates/ with its context."""
    return templates().get_template(name).render(**context)


def html_lang(lang: str) -> str:
    """A catalog's locale (zh_Hans) as HTML's lang attribute writes it (zh-Hans)."""
    return lang.replace("_", "-")


def page(
    *,
    title: str,
    here: str,
    body: str,
    lang: str,
    user: str,
    query: dict[str, str] | None = None,
) -> str:
    """A whole dashboard page with its navigation (links keep the period and group); `body`
    is the page's HTML, built from escaped text."""
    keep = urlencode({k: v for k, v in (query or {}).items() if k in ("period", "community")})
    suffix = f"?{keep}" if keep else ""
    return render(
        "page.html",
        lang=html_lang(lang),
        style=Markup(STYLE),
        title=shown(title),
        heading=_("Community dashboard"),
        links=[((path or "./") + suffix, path == here, _(label)) for path, label in PAGES],
        languages=[
            ("?" + urlencode({**(query or {}), "lang": code}), name) for code, name in LANGUAGES
        ],
        user=user,
        sign_out=_("Sign out"),
        everywhere=_("Sign out everywhere"),
        body=Markup(body),  # the page's own fragments, escaped as they were built
    )


def message_page(title: str, text: str, lang: str = "en") -> str:
    """A page with one message and no navigation (sign-in problems)."""
    return render("message.html", lang=html_lang(lang), style=Markup(STYLE), title=title, text=text)


def mini_app_page(lang: str) -> str:
    """The page Telegram opens as the Mini App: it sends the signed initData to sign in."""
    return render(
        "mini_app.html",
        lang=html_lang(lang),
        style=Markup(STYLE),
        script=Markup(MINI_APP_SCRIPT),
        title=_("Community dashboard"),
        signing_in=_("Signing in…"),
        missing=_("Open this page from the bot: send /dashboard."),
        refused=_(
            "Telegram could not confirm who you are. Close and open the dashboard again from "
            "the bot."
        ),
    )


def keeper_page(lang: str) -> str:
    """The Mini App page a keeper confirms pickups on: scan the QR code, or type the code."""
    return render(
        "keeper.html",
        lang=html_lang(lang),
        style=Markup(KEEPER_STYLE),
        script=Markup(KEEPER_SCRIPT),
        title=_("Confirm a pickup"),
        scan=_("📷 Scan the member's QR code"),
        typed=_("Or type the pickup code:"),
        confirm=_("Confirm pickup"),
        prompt=_("Point the camera at the member's pickup QR code"),
        missing=_("Open this page from the bot: send /redeem."),
        failed=_("The bot did not answer. Check the connection and try again."),
    )

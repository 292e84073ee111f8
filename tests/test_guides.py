"""The guides are executable: every example command in the staff and leader guides (English and
简体中文) runs, in the guide's order, from a fresh store, through the real Dispatcher against
the emulator, and gets an answer that is neither a usage line nor an error.

How a guide says who types what, where (HTML comments, which a rendered guide does not show):

    <!-- example: you in private -->        what follows is typed by @you, in private
    <!-- example: lee in "Tea Lovers" -->   ... by @lee, in the group Tea Lovers
    <!-- example: mia in "Tea Lovers": /buy 2 1 -->   a step the guide tells in words
    <!-- example: say Tea tasting -->       the current person answers a wizard's question
                                            (in a group: as a reply to the bot's question)
    <!-- example: press ✅ Confirm -->       ... taps the button of that label (or of that
                                            label and a count: "🔔 Remind unpaid (3)")
    <!-- example: expect Saved. -->         the last step's answer holds this text (right
                                            after a command: the answer may be a refusal)
    <!-- example: mia sees Order #2 -->     the bot sent (or edited) a message holding this
                                            text in Mia's private chat during the last step
    <!-- example: "Tea Lovers" sees #2 -->  ... in the group Tea Lovers
    <!-- example: lee sees -->              ... any message, in Lee's private chat
    <!-- example: vote 0 -->                the current person votes for option 0 of the
                                            group's newest poll
    <!-- example: skip -->                  the next command is a reference, not an example
    <!-- example: reference -->             what follows, to the end, is a table of commands
                                            shown above (a quick reference), not examples

An example command is a code span (outside headings), or a line of a fenced block, that starts
with "/".
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.config import Settings
from tests.conftest import (
    COFFEE,
    KAI,
    LEE,
    MIA,
    OWNER,
    SAM,
    TEA,
    Harness,
    make_settings,
    pacing_of,
)
from tgemu import Emulator

log = logging.getLogger(__name__)  # each step and its answer: pytest --log-cli-level=INFO
ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDES = [
    "staff-guide.md",
    "staff-guide.zh-Hans.md",
    "leader-guide.md",
    "leader-guide.zh-Hans.md",
    "operator-guide.md",
    "operator-guide.zh-Hans.md",
]

YOU = 2001  # the reader of the staff guide, made staff by its first example
MEMBER = 2002  # "@member" of the guides
GROUPS = {"Tea Lovers": TEA, "Coffee Club": COFFEE, "茶友会": TEA, "咖啡俱乐部": COFFEE}

COMMENT = re.compile(r"<!--\s*example:\s*(.*?)\s*-->", re.DOTALL)
SPAN = re.compile(r"`(/[a-z][a-z0-9_]*(?:[ @][^`]*)?)`")
SEES = re.compile(r'^(\w+|"[^"]+") sees(?: (.+))?$')
CONTEXT = re.compile(r'^(\w+) in (private|"[^"]+")(?::\s*(.+))?$')

# the first words of the bot's usage lines, refusals and errors (English msgids); their
# translations are found in the catalogs
FAILURE_PREFIXES = (
    "Send /",
    "Sorry",
    "There is no ",
    "I could not",
    "I do not know",
    "I don't know",
    "That is not",
    "That is more",
    "Only ",
    "You cannot",
    "Add the reason",
    "Tell me which",
    "Tell me who",
    "Give a reason",
    "A tag is",
    "Reply to",
)


@dataclass(frozen=True, slots=True)
class Step:
    """One thing a person does that the guide tells, from the line it is on."""

    line: int
    kind: str  # command, say, press, expect
    text: str
    who: str = ""
    where: str = ""


def steps_of(path: Path) -> list[Step]:
    """The guide's examples and annotations, in order."""
    steps: list[Step] = []
    who, where = "you", "private"
    skip = False
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            if line.startswith("/"):
                if skip:
                    skip = False
                else:
                    steps.append(Step(number, "command", line.strip(), who, where))
            continue
        # the comments and the spans of the line, in the order they are written (the spans
        # of a heading name the section's topic: they are not examples)
        found = [(m.start(), "comment", m.group(1)) for m in COMMENT.finditer(line)]
        prose = COMMENT.sub(lambda m: " " * len(m.group(0)), line)
        if not line.startswith("#"):
            found += [(m.start(), "span", m.group(1)) for m in SPAN.finditer(prose)]
        for _at, kind, text in sorted(found):
            if kind == "span":
                if skip:
                    skip = False
                else:
                    steps.append(Step(number, "command", text.strip(), who, where))
                continue
            if text == "skip":
                skip = True
                continue
            if text == "reference":  # the rest is a table of the commands shown above
                return steps
            verb, _sep, rest = text.partition(" ")
            if verb in ("say", "press", "expect", "vote"):
                steps.append(Step(number, verb, rest, who, where))
                continue
            seen = SEES.match(text)
            if seen:
                steps.append(Step(number, "sees", seen.group(2) or "", seen.group(1)))
                continue
            context = CONTEXT.match(text)
            assert context, f"{path.name}:{number}: cannot read the annotation {text!r}"
            person, place, command = context.groups()
            place = place.strip('"')
            if command:
                kind, _sep, vote = command.partition(" ")
                if kind == "vote":
                    steps.append(Step(number, "vote", vote.strip(), person, place))
                else:
                    steps.append(Step(number, "command", command.strip(), person, place))
            else:
                who, where = person, place
    assert not skip, f"{path.name}: a skip with nothing after it"
    return steps


def failure_markers(locale: str) -> tuple[str, ...]:
    """The starts of the bot's usage and error messages in `locale`."""
    catalog_path = ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po"
    with catalog_path.open("rb") as handle:
        catalog = read_po(handle)
    markers: set[str] = set()
    for message in catalog:
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        if not msgid.startswith(FAILURE_PREFIXES):
            continue
        text = message.string if isinstance(message.string, str) else message.string[0]
        text = (text or msgid).split("{")[0].strip()
        if len(text) >= 4:
            markers.add(text)
    return tuple(sorted(markers))


CAST = {  # username: (id, first name)
    "olivia": (OWNER, "Olivia"),
    "you": (YOU, "You"),
    "member": (MEMBER, "Member"),
    "sam": (SAM, "Sam"),
    "lee": (LEE, "Lee"),
    "mia": (MIA, "Mia"),
    "kai": (KAI, "Kai"),
}


def people(emulator: Emulator, language: str) -> dict[str, int]:
    """The cast by the usernames the guides write (@you, @member, @lee ...), all speaking the
    guide's language, all in both groups; @member is an administrator of Coffee Club."""
    for username, (user_id, name) in CAST.items():
        emulator.add_user(user_id, name, username=username, language_code=language)
    for group in (TEA, COFFEE):
        for user_id in (YOU, MEMBER):
            emulator.set_member_status(group, user_id, "member")
    emulator.set_member_status(COFFEE, MEMBER, "administrator")  # a candidate to lead it
    return {username: user_id for username, (user_id, _name) in CAST.items()}


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, emulator: Emulator, database_url: str, redis_url: str | None
) -> Settings:
    """The guides' operator set a payment provider token (Telegram payments in CNY)."""
    return make_settings(
        **pacing_of(request),
        telegram_api_url=emulator.base_url,
        database_url=database_url,
        redis_url=redis_url,
        owner_ids=frozenset({OWNER}),
        throttle_limit=10_000,
        pace_messages=False,
        strict_transactions=True,
        card_edit_seconds=60.0,
        payment_provider_token="TEST:provider",
    )


def test_the_annotations_read_as_steps() -> None:
    steps = steps_of(DOCS / "staff-guide.md")
    assert steps[0] == Step(steps[0].line, "command", "/start", "you", "private")
    assert steps[1] == Step(steps[1].line, "command", "/grant_staff @you", "olivia", "private")
    assert steps[2] == Step(steps[2].line, "sees", "You are now brand staff", "you")
    assert steps[3].who == "you"
    assert steps[-1] == Step(steps[-1].line, "command", "/revoke_staff @sam", "olivia", "private")


def test_every_guide_is_annotated() -> None:
    """Each guide in docs/ is run, and every person and place its annotations name exists."""
    assert sorted(GUIDES) == sorted(path.name for path in DOCS.glob("*.md"))
    for guide in GUIDES:
        steps = steps_of(DOCS / guide)
        assert steps, guide
        for step in steps:
            if step.kind == "sees":
                assert step.who in CAST or step.who.strip('"') in GROUPS, (guide, step)
            else:
                assert step.who in CAST, (guide, step)
                assert step.where == "private" or step.where in GROUPS, (guide, step)
        lines = (DOCS / guide).read_text(encoding="utf-8").splitlines()
        marked = [n for n, line in enumerate(lines) if "<!-- example: reference -->" in line]
        for n in marked:  # only a closing table is left out
            rest = [line for line in lines[n + 1 :] if line.strip()]
            assert all(line.startswith(("|", "#")) for line in rest), (guide, n + 1)


CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class Reader:
    """What the cast sees of the bot while the guide is followed."""

    harness: Harness
    chats: dict[str, int]  # a person's username or a group's title: its chat
    marks: dict[int, dict[int, int]] = field(default_factory=dict)

    def mark(self) -> None:
        """From now on, `news` reports what the bot sends or edits."""
        self.marks = {
            chat: {m.message_id: m.edit_count for m in self.harness.emulator.bot_messages(chat)}
            for chat in set(self.chats.values())
        }

    def news(self, name: str) -> list[str]:
        """The texts the bot sent, or edited, in the chat of `name` since the mark."""
        chat = self.chats[name]
        viewer = chat if chat > 0 else None
        before = self.marks.get(chat, {})
        return [
            m.text or ""
            for m in self.harness.emulator.bot_messages(chat, viewer=viewer)
            if before.get(m.message_id, -1) != m.edit_count
        ]


@pytest.mark.parametrize("guide", GUIDES)
async def test_every_example_of_the_guide_runs(harness: Harness, guide: str) -> None:
    chinese = "zh-Hans" in guide
    cast = people(harness.emulator, "zh-hans" if chinese else "en")
    markers = failure_markers("zh_Hans" if chinese else "en")
    await harness.join_groups()  # the owner added the bot: Lee leads Tea Lovers, Kai Coffee Club
    reader = Reader(harness, {**cast, **{f'"{title}"': chat for title, chat in GROUPS.items()}})
    steps = steps_of(DOCS / guide)
    failures: list[str] = []
    last: list[str] = []
    for number, step in enumerate(steps):
        where = f"{guide}:{step.line}"
        if step.kind == "expect":
            if not any(step.text in text for text in last):
                failures.append(f"{where}: expected {step.text!r} in {last!r}")
            continue
        if step.kind == "sees":
            news = reader.news(step.who)
            if not any(text and step.text in text for text in news):
                failures.append(f"{where}: {step.who} should see {step.text!r}, got {news!r}")
            continue
        user = cast[step.who]
        chat = user if step.where == "private" else GROUPS[step.where]
        reader.mark()
        if step.kind == "vote":  # on the newest poll the bot posted in the chat
            poll = next(
                m for m in reversed(harness.emulator.bot_messages(chat)) if m.kind == "poll"
            )
            harness.emulator.answer_poll(user, poll.raw["poll"]["id"], [int(step.text)])
            await harness.feed_pending()
            continue
        if step.kind == "press":  # the newest message in the chat with that button
            found = next(
                (
                    (m, index)
                    for m in reversed(harness.emulator.bot_messages(chat))
                    for index, label in enumerate(m.button_texts)
                    if label == step.text
                    or (
                        label.startswith(step.text)
                        and label[len(step.text) :].lstrip().startswith(("(", "（"))
                    )
                ),
                None,
            )
            assert found is not None, f"{where}: no button {step.text!r}"
            message, index = found
            harness.new_bot_messages(chat)
            answer = await harness.press(user, chat, message.message_id, index=index)
            last = [answer or "", *(m.text or "" for m in harness.new_bot_messages(chat))]
        elif step.kind == "say" and chat < 0:  # in a group, answers reply to the question
            question = harness.emulator.last_bot_message(chat)
            last = await harness.send(
                user, chat, step.text, reply_to_message_id=question.message_id
            )
        else:
            last = await harness.send(user, chat, step.text)
        log.info("%s %s in %s: %s -> %r", where, step.who, step.where, step.text, last)
        if not any(last):
            failures.append(f"{where}: {step.text} got no answer")
            continue
        if chinese and step.kind == "command" and not any(CJK.search(text) for text in last):
            failures.append(f"{where}: {step.text} was not answered in Chinese: {last!r}")
        following = steps[number + 1] if number + 1 < len(steps) else None
        if following is not None and following.kind == "expect":
            continue  # the guide says what the answer is, a refusal perhaps
        for text in last:
            failed = [marker for marker in markers if text.startswith(marker)]
            if failed:
                failures.append(f"{where}: {step.text} was answered {text!r}")
    assert not failures, "\n".join(failures)

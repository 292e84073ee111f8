"""The playground's pretend world: its users (personas) and groups, the picture :photo sends,
and the bot's clock that :wait moves on."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from PIL import Image, ImageDraw

from models.base import utcnow
from tgemu import Emulator


@dataclass(frozen=True)
class Persona:
    user_id: int
    name: str
    language_code: str
    role: str
    in_groups: bool = True  # a member of every group of the world from the start


PERSONAS = (
    Persona(101, "alice", "en", "owner of the bot (OWNER_IDS)"),
    Persona(102, "bob", "zh-hans", "member"),
    Persona(103, "carol", "zh-hant", "leader: creator of Tea Lovers"),
    Persona(104, "dan", "en", "leader: creator of Coffee Club"),
    Persona(105, "erin", "zh-hans", "newcomer: in no group, never wrote to the bot", False),
)
GROUPS = {"tea": (-100100, "Tea Lovers", 103), "coffee": (-100200, "Coffee Club", 104)}

PHOTO_SIZE = (640, 480)


def sample_photo() -> bytes:
    """A JPEG to send as a photo: a tea-coloured picture with a cup on it."""
    image = Image.new("RGB", PHOTO_SIZE, (196, 150, 96))
    draw = ImageDraw.Draw(image)
    draw.ellipse((220, 140, 420, 340), fill=(120, 70, 30), outline=(250, 240, 220), width=12)
    draw.rectangle((0, 400, 640, 480), fill=(90, 120, 60))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


class PlaygroundClock:
    """The bot's time in the playground: the real time, plus the hours `:wait` let pass."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


def build_world(emulator: Emulator) -> None:
    """The personas as users of the emulator, and the groups with their members."""
    for p in PERSONAS:
        emulator.add_user(
            p.user_id, p.name.capitalize(), username=p.name, language_code=p.language_code
        )
    members = [p.user_id for p in PERSONAS if p.in_groups]
    for chat_id, title, creator in GROUPS.values():
        emulator.add_group(
            chat_id, title, creator=creator, members=[m for m in members if m != creator]
        )

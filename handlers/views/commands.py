"""The command menus Telegram shows, per scope, per role and per language."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.text import N_, CommitHook, HandlerSettings
from services.member import MemberView
from services.role import Role, menu_role

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Command:
    """A command, where it is offered, and the least role that may use it."""

    name: str
    description: str  # an untranslated message id
    role: Role
    in_private: bool
    in_group: bool
    # in private, a leader (below `role` there) is served for the groups they lead
    leaders_in_private: bool = False
    # offered in a group's menu to its Telegram admins only (candidates who may apply to lead)
    admins_only: bool = False
    # False: answered and listed by /help, but left out of Telegram's command menu, which
    # holds at most MENU_LIMIT commands (the rarely used undo commands)
    in_menu: bool = True


def _private(name: str, description: str, role: Role = Role.MEMBER, **options: bool) -> Command:
    """A command offered in private chats only."""
    return Command(name, description, role, True, False, **options)


def _in_group(name: str, description: str, role: Role = Role.MEMBER, **options: bool) -> Command:
    """A command offered in groups only."""
    return Command(name, description, role, False, True, **options)


def _anywhere(name: str, description: str, role: Role = Role.MEMBER, **options: bool) -> Command:
    """A command offered in private chats and in groups."""
    return Command(name, description, role, True, True, **options)


COMMANDS: tuple[Command, ...] = (
    _private("start", N_("Open the main menu")),
    _private("orders", N_("Your orders: pay, cancel, pickup, review")),
    _anywhere("help", N_("What I can do for you")),
    _private("language", N_("Choose your language")),
    _private("wallet", N_("Your points and commission")),
    _private("payout", N_("Ask for your released commission")),
    _private("handover", N_("Hand over the cash you collected")),
    _anywhere("invite", N_("Your invitation link and QR code")),
    _private("referrals", N_("Friends you invited and what you earned")),
    _in_group("leaderboard", N_("Top inviters in this group")),
    _private("leaderboard_optin", N_("Show or hide your name on leaderboards")),
    _private("me", N_("Your tier, points and perks")),
    # in the menu's Points and perks; Telegram's command menu is full
    _private("membership", N_("Paid membership: subscribe or cancel"), in_menu=False),
    _anywhere("checkin", N_("Daily check-in for points")),
    _private("points", N_("Where your points came from")),
    _private("rewards", N_("Redeem your points: tap a reward, then Confirm")),
    _private("coupons", N_("Your coupons")),
    _private("ticket_open", N_("Report a problem with a paid order (售后)")),
    _private("ticket", N_("Your after-sales tickets, or one ticket")),
    _private("ticket_say", N_("Write on an after-sales ticket")),
    _private("usecoupon", N_("Use a coupon on an unpaid order")),
    _anywhere("gift", N_("Give points to a member")),
    _private("donate", N_("Donate points to charity")),
    _private("tiers", N_("Membership tiers and perks")),
    _private("timezone", N_("Your time zone")),
    _private("birthday", N_("Your birthday, for a gift")),
    _private("review", N_("Review an order you picked up")),
    _anywhere("suggest", N_("Send the brand an idea")),
    _private("nps_me", N_("Tell us how we are doing")),
    _anywhere("products", N_("Products on sale")),
    _anywhere("buy", N_("Order a product")),
    _private("reservations", N_("Your orders to pay at pickup, and until when they are held")),
    _private("cancel", N_("Stop what you are doing")),
    _private("stop", N_("No more offers from us")),
    _private("privacy", N_("What we keep about you, and why")),
    _private("mydata", N_("Everything we hold about you, as a file")),
    _private("forgetme", N_("Erase your personal data")),
    _in_group("lead", N_("Apply to lead this group (its admins)"), admins_only=True),
    _in_group("settings", N_("Group language and time zone"), Role.LEADER),
    _in_group("list", N_("Who joined the group-buys (接龙)")),
    _in_group("groupbuy", N_("Open a group-buy in this group"), Role.LEADER),
    _in_group("signup", N_("Open a sign-up list (接龙) of several items"), Role.LEADER),
    # the same, under the name Chinese-speaking leaders know (/help lists it; the menu does not)
    _in_group(
        "jielong", N_("Open a sign-up list (接龙) of several items"), Role.LEADER, in_menu=False
    ),
    _in_group("gb_extend", N_("Extend a group-buy's deadline"), Role.LEADER),
    _in_group("gb_close", N_("Close a group-buy now"), Role.LEADER),
    _in_group("gb_cancel", N_("Cancel a group-buy"), Role.LEADER),
    _in_group("orders", N_("The group's orders for pickup"), Role.LEADER),
    _in_group("paid", N_("Mark a member's orders paid"), Role.LEADER),
    _in_group("pickedup", N_("Mark a member's orders picked up"), Role.LEADER),
    _anywhere(
        "stats", N_("Sales, members and NPS with a chart"), Role.LEADER, leaders_in_private=True
    ),
    _private(
        "statement",
        N_("A leader's statement (cash and commission) as a CSV"),
        Role.LEADER,
        leaders_in_private=True,
    ),
    _private(
        "sheet", N_("The pickup sheet of a formed group-buy"), Role.LEADER, leaders_in_private=True
    ),
    _anywhere(
        "pickup_point_add",
        N_("Add a pickup point: name | address | hours"),
        Role.LEADER,
        leaders_in_private=True,
    ),
    _anywhere(
        "pickup_points", N_("Pickup points and their keepers"), Role.LEADER, leaders_in_private=True
    ),
    _anywhere(
        "pickup_point_remove",
        N_("Stop offering a pickup point"),
        Role.LEADER,
        leaders_in_private=True,
        in_menu=False,
    ),
    _anywhere(
        "keeper_add", N_("Name a keeper of a pickup point"), Role.LEADER, leaders_in_private=True
    ),
    _anywhere(
        "keeper_remove",
        N_("Remove a keeper of a pickup point"),
        Role.LEADER,
        leaders_in_private=True,
        in_menu=False,
    ),
    # members for their own orders, a leader for their groups' orders, staff for any (the
    # service decides per order and audits it): a member command, out of the menu
    _anywhere("for", N_("Say whom an order is for (代订): /for ORDER TEXT"), in_menu=False),
    _private("address", N_("Give the address to deliver an order to")),
    _private("ship", N_("Mark an order shipped with its tracking number"), Role.STAFF),
    _private("delivered", N_("Mark a shipped order delivered"), Role.STAFF),
    _private("to_ship", N_("Orders to ship, as a CSV file"), Role.STAFF),
    _private(
        "shipping_option_add", N_("Add a shipping option: name | price | countries"), Role.STAFF
    ),
    _private("shipping_options", N_("Shipping options and their prices"), Role.STAFF),
    _private(
        "shipping_option_remove", N_("Stop offering a shipping option"), Role.STAFF, in_menu=False
    ),
    _private(
        "redeem", N_("Confirm a pickup by its code (核销)"), Role.LEADER, leaders_in_private=True
    ),
    _anywhere(
        "gb_points",
        N_("Choose the pickup points a group-buy offers"),
        Role.LEADER,
        leaders_in_private=True,
    ),
    _anywhere(
        "point_sheet",
        N_("A pickup point's sheet: what waits there"),
        Role.LEADER,
        leaders_in_private=True,
    ),
    _private(
        "tickets",
        N_("After-sales tickets waiting, with their clocks"),
        Role.LEADER,
        leaders_in_private=True,
    ),
    _private(
        "ticket_reship",
        N_("Close a ticket by sending the item again"),
        Role.LEADER,
        leaders_in_private=True,
    ),
    _private(
        "ticket_decline",
        N_("Close a ticket with nothing owed, and why"),
        Role.LEADER,
        leaders_in_private=True,
    ),
    _private("dashboard", N_("Open the web dashboard"), Role.LEADER, leaders_in_private=True),
    _in_group("leader_add", N_("Make a member a leader of this group"), Role.STAFF),
    _anywhere("leaders", N_("Leaders of each group, and applications"), Role.STAFF),
    _anywhere("leader_suspend", N_("Suspend a leader, with a reason"), Role.STAFF),
    _anywhere("leader_reinstate", N_("Lift a leader's suspension"), Role.STAFF, in_menu=False),
    _anywhere("leader_remove", N_("End a leader's appointment"), Role.STAFF),
    _private(
        "leader_record", N_("A leader's record: pickups, refunds, complaints, cash"), Role.STAFF
    ),
    _private("leader_limit", N_("Limit a leader's open group-buys or cash orders"), Role.STAFF),
    _private("staff", N_("List the brand staff"), Role.STAFF),
    _private("groups", N_("Groups to approve, suspend or reinstate"), Role.STAFF),
    _private(
        "group_level",
        N_("Set a group's level (open, VIP, core) and who may join"),
        Role.STAFF,
        in_menu=False,
    ),
    _private(
        "group_invite", N_("Invite a member to a VIP or core group"), Role.STAFF, in_menu=False
    ),
    _private(
        "membership_plans", N_("Paid membership plans and their members"), Role.STAFF, in_menu=False
    ),
    _private(
        "membership_plan_add", N_("Sell a monthly membership in Stars"), Role.STAFF, in_menu=False
    ),
    _private(
        "membership_plan_off", N_("Stop selling a membership plan"), Role.STAFF, in_menu=False
    ),
    _private(
        "buyers_group",
        N_("Set the buyers' group first buyers are invited to"),
        Role.STAFF,
        in_menu=False,
    ),
    _private("export", N_("Ledger entries as a CSV file"), Role.STAFF),
    _private("leader_cash", N_("Cash leaders owe, hand-overs and payouts"), Role.STAFF),
    _private("fulfil", N_("Rewards to hand over to members"), Role.STAFF),
    _private("product_new", N_("Add a product step by step"), Role.STAFF),
    _private("product_add", N_("Add a product in one line"), Role.STAFF),
    _private("product_set", N_("Change a product"), Role.STAFF),
    _private(
        "product_translate", N_("A product's title and description in a language"), Role.STAFF
    ),
    _private("refund", N_("Refund an order"), Role.STAFF),
    _private("refund_paid", N_("Record a refund paid back by hand"), Role.STAFF),
    _private("ticket_refund", N_("Close a ticket with a refund"), Role.STAFF),
    _private("ticket_coupon", N_("Close a ticket with a coupon as compensation"), Role.STAFF),
    _private("drop", N_("Open one group-buy in every group"), Role.STAFF),
    _private(
        "drop_pickup", N_("Change a drop's pickup text in one language"), Role.STAFF, in_menu=False
    ),
    _private("tier_set", N_("Add or change a membership tier"), Role.STAFF),
    _private("reward_add", N_("Add a reward to the catalog"), Role.STAFF),
    _private("reward_off", N_("Take a reward out of the catalog"), Role.STAFF),
    _private("charity", N_("Points in the charity pool"), Role.STAFF),
    _private("coupon_new", N_("Create a coupon"), Role.STAFF),
    _private("coupon_grant", N_("Give a member a coupon"), Role.STAFF),
    _private("coupon_templates", N_("Coupon templates: given and used"), Role.STAFF),
    _private("care", N_("Member segments and care rules"), Role.STAFF),
    _private("care_add", N_("Add a care rule for a segment"), Role.STAFF),
    _private("care_off", N_("Stop a care rule"), Role.STAFF),
    _private(
        "care_result",
        N_("What a care rule won back, against its hold-out"),
        Role.STAFF,
        in_menu=False,
    ),
    _private("broadcast", N_("Send a promotion to groups and members"), Role.STAFF),
    _private("broadcasts", N_("Broadcasts: progress, pause, cancel"), Role.STAFF),
    _private("broadcast_status", N_("How far a broadcast got"), Role.STAFF),
    _private(
        "broadcast_result",
        N_("What a broadcast earned: orders per variant"),
        Role.STAFF,
        in_menu=False,
    ),
    _private("promotions", N_("Promotions calendar: each group's week"), Role.STAFF),
    _in_group("tag", N_("Tag this group for broadcasts"), Role.STAFF),
    _private("campaign_new", N_("Create a referral campaign code"), Role.STAFF),
    _private("referrals_held", N_("Referrals held for review"), Role.STAFF),
    _private("referral_stats", N_("Whether the referral program pays off"), Role.STAFF),
    _private("poll_new", N_("Ask the groups a co-creation poll"), Role.STAFF),
    _private("polls", N_("Polls and their status"), Role.STAFF),
    _private("poll_close", N_("Close a poll now and post its result"), Role.STAFF),
    _private("poll_presale", N_("Put a poll's winner on pre-sale"), Role.STAFF),
    _private("suggestions", N_("Members' suggestions to adopt or decline"), Role.STAFF),
    _private(
        "reviews",
        N_("Reviews waiting for moderation"),
        Role.LEADER,
        leaders_in_private=True,
        in_menu=False,
    ),
    _private(
        "points_grant",
        N_("Grant or take a member's points, with a reason"),
        Role.STAFF,
        in_menu=False,
    ),
    _private(
        "digest",
        N_("Your Monday digest: on or off"),
        Role.LEADER,
        leaders_in_private=True,
        in_menu=False,
    ),
    _private(
        "metrics",
        N_("The main rates of the last 8 weeks as a chart"),
        Role.LEADER,
        leaders_in_private=True,
        in_menu=False,
    ),
    _private(
        "alert_set", N_("Be told when a number crosses a threshold"), Role.STAFF, in_menu=False
    ),
    _private("alerts", N_("The alerts staff set"), Role.STAFF, in_menu=False),
    _private("alert_remove", N_("Remove an alert"), Role.STAFF, in_menu=False),
    _private(
        "trial_new", N_("Create a product trial and invite ambassadors"), Role.STAFF, in_menu=False
    ),
    _private("trial", N_("A product trial's reports: summary and CSV"), Role.STAFF, in_menu=False),
    _private("report", N_("Write your product trial report"), in_menu=False),
    _private("nps", N_("Ask opted-in members the NPS question"), Role.STAFF),
    _private("nps_report", N_("NPS per community, with comments"), Role.STAFF),
    _private("grant_staff", N_("Make someone brand staff"), Role.OWNER),
    _private("revoke_staff", N_("Remove someone from staff"), Role.OWNER),
    _private("audit", N_("Recent privileged actions"), Role.OWNER),
)

MENU_LIMIT = 100  # Telegram refuses a command menu of more (BOT_COMMANDS_TOO_MUCH)

# Telegram's menus are per ISO 639-1 code, so Chinese shows Simplified by default; a member who
# picks Traditional with /language gets a menu of their own (see sync_private_commands).
MENU_LANGUAGES: tuple[tuple[str, str | None], ...] = (("en", None), ("en", "en"), ("zh_Hans", "zh"))


def commands_for(role: Role, *, private: bool, admin: bool = False) -> list[Command]:
    """The commands a user of this role may use in a private chat or in a group (`admin`: as
    one of the group's Telegram admins)."""
    return [
        command
        for command in COMMANDS
        if command.role <= role
        and (command.in_private if private else command.in_group)
        and (admin or not command.admins_only)
    ]


def menu_of(commands: list[Command]) -> list[Command]:
    """The commands Telegram's menu shows: those meant for it, never more than it holds."""
    return [command for command in commands if command.in_menu][:MENU_LIMIT]


def _bot_commands(i18n: I18n, commands: list[Command], locale: str) -> list[BotCommand]:
    return [
        BotCommand(command=c.name, description=i18n.gettext(c.description, locale=locale))
        for c in menu_of(commands)
    ]


async def set_default_commands(bot: Bot, i18n: I18n) -> None:
    """Register the menus for private chats, groups and group admins in every menu language."""
    scopes = (
        (BotCommandScopeAllPrivateChats(), commands_for(Role.MEMBER, private=True)),
        (BotCommandScopeAllGroupChats(), commands_for(Role.MEMBER, private=False)),
        (
            BotCommandScopeAllChatAdministrators(),
            commands_for(Role.LEADER, private=False, admin=True),
        ),
    )
    for locale, language_code in MENU_LANGUAGES:
        for scope, commands in scopes:
            await bot.set_my_commands(
                _bot_commands(i18n, commands, locale), scope=scope, language_code=language_code
            )


async def sync_private_commands(
    bot: Bot, i18n: I18n, *, chat_id: int, role: Role, locale: str
) -> None:
    """Give one private chat the menu of the member's role in their chosen language."""
    try:
        await bot.set_my_commands(
            _bot_commands(i18n, commands_for(role, private=True), locale),
            scope=BotCommandScopeChat(chat_id=chat_id),
        )
    except TelegramAPIError as exc:
        # the user never opened a private chat with the bot: the default menu applies
        log.info("could not set the menu of chat %s: %s", chat_id, exc)


async def refresh_private_menu(
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    after_commit: CommitHook,
    member: MemberView,
) -> None:
    """Once the update's change is committed, give the member the private menu of the role
    they now hold (a new leader gets their leader commands; a removed one loses them)."""
    if not member.started:  # no private chat: the default menu applies
        return
    role = await menu_role(session, member_id=member.id, owner_ids=settings.owner_ids)
    after_commit.add(
        partial(
            sync_private_commands, bot, i18n, chat_id=member.id, role=role, locale=member.locale
        )
    )

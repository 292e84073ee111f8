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


COMMANDS: tuple[Command, ...] = (
    Command("start", N_("Open the main menu"), Role.MEMBER, True, False),
    Command("orders", N_("Your orders: pay, cancel, pickup, review"), Role.MEMBER, True, False),
    Command("help", N_("What I can do for you"), Role.MEMBER, True, True),
    Command("language", N_("Choose your language"), Role.MEMBER, True, False),
    Command("wallet", N_("Your points and commission"), Role.MEMBER, True, False),
    Command("payout", N_("Ask for your released commission"), Role.MEMBER, True, False),
    Command("handover", N_("Hand over the cash you collected"), Role.MEMBER, True, False),
    Command("invite", N_("Your invitation link and QR code"), Role.MEMBER, True, True),
    Command("referrals", N_("Friends you invited and what you earned"), Role.MEMBER, True, False),
    Command("leaderboard", N_("Top inviters in this group"), Role.MEMBER, False, True),
    Command(
        "leaderboard_optin", N_("Show or hide your name on leaderboards"), Role.MEMBER, True, False
    ),
    Command("me", N_("Your tier, points and perks"), Role.MEMBER, True, False),
    # in the menu's Points and perks; Telegram's command menu is full
    Command(
        "membership",
        N_("Paid membership: subscribe or cancel"),
        Role.MEMBER,
        True,
        False,
        in_menu=False,
    ),
    Command("checkin", N_("Daily check-in for points"), Role.MEMBER, True, True),
    Command("points", N_("Where your points came from"), Role.MEMBER, True, False),
    Command(
        "rewards", N_("Redeem your points: tap a reward, then Confirm"), Role.MEMBER, True, False
    ),
    Command("coupons", N_("Your coupons"), Role.MEMBER, True, False),
    Command(
        "ticket_open", N_("Report a problem with a paid order (售后)"), Role.MEMBER, True, False
    ),
    Command("ticket", N_("Your after-sales tickets, or one ticket"), Role.MEMBER, True, False),
    Command("ticket_say", N_("Write on an after-sales ticket"), Role.MEMBER, True, False),
    Command("usecoupon", N_("Use a coupon on an unpaid order"), Role.MEMBER, True, False),
    Command("gift", N_("Give points to a member"), Role.MEMBER, True, True),
    Command("donate", N_("Donate points to charity"), Role.MEMBER, True, False),
    Command("tiers", N_("Membership tiers and perks"), Role.MEMBER, True, False),
    Command("timezone", N_("Your time zone"), Role.MEMBER, True, False),
    Command("birthday", N_("Your birthday, for a gift"), Role.MEMBER, True, False),
    Command("review", N_("Review an order you picked up"), Role.MEMBER, True, False),
    Command("suggest", N_("Send the brand an idea"), Role.MEMBER, True, True),
    Command("nps_me", N_("Tell us how we are doing"), Role.MEMBER, True, False),
    Command("products", N_("Products on sale"), Role.MEMBER, True, True),
    Command("buy", N_("Order a product"), Role.MEMBER, True, True),
    Command(
        "reservations",
        N_("Your orders to pay at pickup, and until when they are held"),
        Role.MEMBER,
        True,
        False,  # answered in groups too, but a member's list is theirs: offered in private
    ),
    Command("cancel", N_("Stop what you are doing"), Role.MEMBER, True, False),
    Command("stop", N_("No more offers from us"), Role.MEMBER, True, False),
    Command("privacy", N_("What we keep about you, and why"), Role.MEMBER, True, False),
    Command("mydata", N_("Everything we hold about you, as a file"), Role.MEMBER, True, False),
    Command("forgetme", N_("Erase your personal data"), Role.MEMBER, True, False),
    Command(
        "lead",
        N_("Apply to lead this group (its admins)"),
        Role.MEMBER,
        False,
        True,
        admins_only=True,
    ),
    Command("settings", N_("Group language and time zone"), Role.LEADER, False, True),
    Command("list", N_("Who joined the group-buys (接龙)"), Role.MEMBER, False, True),
    Command("groupbuy", N_("Open a group-buy in this group"), Role.LEADER, False, True),
    Command("signup", N_("Open a sign-up list (接龙) of several items"), Role.LEADER, False, True),
    # the same, under the name Chinese-speaking leaders know (/help lists it; the menu does not)
    Command(
        "jielong",
        N_("Open a sign-up list (接龙) of several items"),
        Role.LEADER,
        False,
        True,
        in_menu=False,
    ),
    Command("gb_extend", N_("Extend a group-buy's deadline"), Role.LEADER, False, True),
    Command("gb_close", N_("Close a group-buy now"), Role.LEADER, False, True),
    Command("gb_cancel", N_("Cancel a group-buy"), Role.LEADER, False, True),
    Command("orders", N_("The group's orders for pickup"), Role.LEADER, False, True),
    Command("paid", N_("Mark a member's orders paid"), Role.LEADER, False, True),
    Command("pickedup", N_("Mark a member's orders picked up"), Role.LEADER, False, True),
    Command(
        "stats",
        N_("Sales, members and NPS with a chart"),
        Role.LEADER,
        True,
        True,
        leaders_in_private=True,
    ),
    Command(
        "statement",
        N_("A leader's statement (cash and commission) as a CSV"),
        Role.LEADER,
        True,
        False,
        leaders_in_private=True,
    ),
    Command(
        "sheet",
        N_("The pickup sheet of a formed group-buy"),
        Role.LEADER,
        True,
        False,
        leaders_in_private=True,
    ),
    Command(
        "pickup_point_add",
        N_("Add a pickup point: name | address | hours"),
        Role.LEADER,
        True,
        True,
        leaders_in_private=True,
    ),
    Command(
        "pickup_points",
        N_("Pickup points and their keepers"),
        Role.LEADER,
        True,
        True,
        leaders_in_private=True,
    ),
    Command(
        "pickup_point_remove",
        N_("Stop offering a pickup point"),
        Role.LEADER,
        True,
        True,
        leaders_in_private=True,
        in_menu=False,
    ),
    Command(
        "keeper_add",
        N_("Name a keeper of a pickup point"),
        Role.LEADER,
        True,
        True,
        leaders_in_private=True,
    ),
    Command(
        "keeper_remove",
        N_("Remove a keeper of a pickup point"),
        Role.LEADER,
        True,
        True,
        leaders_in_private=True,
        in_menu=False,
    ),
    # members for their own orders, a leader for their groups' orders, staff for any (the
    # service decides per order and audits it): a member command, out of the menu
    Command(
        "for",
        N_("Say whom an order is for (代订): /for ORDER TEXT"),
        Role.MEMBER,
        True,
        True,
        in_menu=False,
    ),
    Command("address", N_("Give the address to deliver an order to"), Role.MEMBER, True, False),
    Command("ship", N_("Mark an order shipped with its tracking number"), Role.STAFF, True, False),
    Command("delivered", N_("Mark a shipped order delivered"), Role.STAFF, True, False),
    Command("to_ship", N_("Orders to ship, as a CSV file"), Role.STAFF, True, False),
    Command(
        "shipping_option_add",
        N_("Add a shipping option: name | price | countries"),
        Role.STAFF,
        True,
        False,
    ),
    Command("shipping_options", N_("Shipping options and their prices"), Role.STAFF, True, False),
    Command(
        "shipping_option_remove",
        N_("Stop offering a shipping option"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command(
        "redeem",
        N_("Confirm a pickup by its code (核销)"),
        Role.LEADER,
        True,
        False,
        leaders_in_private=True,
    ),
    Command(
        "gb_points",
        N_("Choose the pickup points a group-buy offers"),
        Role.LEADER,
        True,
        True,
        leaders_in_private=True,
    ),
    Command(
        "point_sheet",
        N_("A pickup point's sheet: what waits there"),
        Role.LEADER,
        True,
        True,
        leaders_in_private=True,
    ),
    Command(
        "tickets",
        N_("After-sales tickets waiting, with their clocks"),
        Role.LEADER,
        True,
        False,
        leaders_in_private=True,
    ),
    Command(
        "ticket_reship",
        N_("Close a ticket by sending the item again"),
        Role.LEADER,
        True,
        False,
        leaders_in_private=True,
    ),
    Command(
        "ticket_decline",
        N_("Close a ticket with nothing owed, and why"),
        Role.LEADER,
        True,
        False,
        leaders_in_private=True,
    ),
    Command(
        "dashboard",
        N_("Open the web dashboard"),
        Role.LEADER,
        True,
        False,
        leaders_in_private=True,
    ),
    Command("leader_add", N_("Make a member a leader of this group"), Role.STAFF, False, True),
    Command("leaders", N_("Leaders of each group, and applications"), Role.STAFF, True, True),
    Command("leader_suspend", N_("Suspend a leader, with a reason"), Role.STAFF, True, True),
    Command(
        "leader_reinstate", N_("Lift a leader's suspension"), Role.STAFF, True, True, in_menu=False
    ),
    Command("leader_remove", N_("End a leader's appointment"), Role.STAFF, True, True),
    Command(
        "leader_record",
        N_("A leader's record: pickups, refunds, complaints, cash"),
        Role.STAFF,
        True,
        False,
    ),
    Command(
        "leader_limit",
        N_("Limit a leader's open group-buys or cash orders"),
        Role.STAFF,
        True,
        False,
    ),
    Command("staff", N_("List the brand staff"), Role.STAFF, True, False),
    Command("groups", N_("Groups to approve, suspend or reinstate"), Role.STAFF, True, False),
    Command(
        "group_level",
        N_("Set a group's level (open, VIP, core) and who may join"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command(
        "group_invite",
        N_("Invite a member to a VIP or core group"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command(
        "membership_plans",
        N_("Paid membership plans and their members"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command(
        "membership_plan_add",
        N_("Sell a monthly membership in Stars"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command(
        "membership_plan_off",
        N_("Stop selling a membership plan"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command(
        "buyers_group",
        N_("Set the buyers' group first buyers are invited to"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command("export", N_("Ledger entries as a CSV file"), Role.STAFF, True, False),
    Command("leader_cash", N_("Cash leaders owe, hand-overs and payouts"), Role.STAFF, True, False),
    Command("fulfil", N_("Rewards to hand over to members"), Role.STAFF, True, False),
    Command("product_new", N_("Add a product step by step"), Role.STAFF, True, False),
    Command("product_add", N_("Add a product in one line"), Role.STAFF, True, False),
    Command("product_set", N_("Change a product"), Role.STAFF, True, False),
    Command(
        "product_translate",
        N_("A product's title and description in a language"),
        Role.STAFF,
        True,
        False,
    ),
    Command("refund", N_("Refund an order"), Role.STAFF, True, False),
    Command("refund_paid", N_("Record a refund paid back by hand"), Role.STAFF, True, False),
    Command("ticket_refund", N_("Close a ticket with a refund"), Role.STAFF, True, False),
    Command(
        "ticket_coupon", N_("Close a ticket with a coupon as compensation"), Role.STAFF, True, False
    ),
    Command("drop", N_("Open one group-buy in every group"), Role.STAFF, True, False),
    Command(
        "drop_pickup",
        N_("Change a drop's pickup text in one language"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command("tier_set", N_("Add or change a membership tier"), Role.STAFF, True, False),
    Command("reward_add", N_("Add a reward to the catalog"), Role.STAFF, True, False),
    Command("reward_off", N_("Take a reward out of the catalog"), Role.STAFF, True, False),
    Command("charity", N_("Points in the charity pool"), Role.STAFF, True, False),
    Command("coupon_new", N_("Create a coupon"), Role.STAFF, True, False),
    Command("coupon_grant", N_("Give a member a coupon"), Role.STAFF, True, False),
    Command("coupon_templates", N_("Coupon templates: given and used"), Role.STAFF, True, False),
    Command("care", N_("Member segments and care rules"), Role.STAFF, True, False),
    Command("care_add", N_("Add a care rule for a segment"), Role.STAFF, True, False),
    Command("care_off", N_("Stop a care rule"), Role.STAFF, True, False),
    Command(
        "care_result",
        N_("What a care rule won back, against its hold-out"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command("broadcast", N_("Send a promotion to groups and members"), Role.STAFF, True, False),
    Command("broadcasts", N_("Broadcasts: progress, pause, cancel"), Role.STAFF, True, False),
    Command("broadcast_status", N_("How far a broadcast got"), Role.STAFF, True, False),
    Command(
        "broadcast_result",
        N_("What a broadcast earned: orders per variant"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command("promotions", N_("Promotions calendar: each group's week"), Role.STAFF, True, False),
    Command("tag", N_("Tag this group for broadcasts"), Role.STAFF, False, True),
    Command("campaign_new", N_("Create a referral campaign code"), Role.STAFF, True, False),
    Command("referrals_held", N_("Referrals held for review"), Role.STAFF, True, False),
    Command("referral_stats", N_("Whether the referral program pays off"), Role.STAFF, True, False),
    Command("poll_new", N_("Ask the groups a co-creation poll"), Role.STAFF, True, False),
    Command("polls", N_("Polls and their status"), Role.STAFF, True, False),
    Command("poll_close", N_("Close a poll now and post its result"), Role.STAFF, True, False),
    Command("poll_presale", N_("Put a poll's winner on pre-sale"), Role.STAFF, True, False),
    Command("suggestions", N_("Members' suggestions to adopt or decline"), Role.STAFF, True, False),
    Command(
        "reviews",
        N_("Reviews waiting for moderation"),
        Role.LEADER,
        True,
        False,
        leaders_in_private=True,
        in_menu=False,
    ),
    Command(
        "points_grant",
        N_("Grant or take a member's points, with a reason"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command(
        "digest",
        N_("Your Monday digest: on or off"),
        Role.LEADER,
        True,
        False,
        leaders_in_private=True,
        in_menu=False,
    ),
    Command(
        "metrics",
        N_("The main rates of the last 8 weeks as a chart"),
        Role.LEADER,
        True,
        False,
        leaders_in_private=True,
        in_menu=False,
    ),
    Command(
        "alert_set",
        N_("Be told when a number crosses a threshold"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command("alerts", N_("The alerts staff set"), Role.STAFF, True, False, in_menu=False),
    Command("alert_remove", N_("Remove an alert"), Role.STAFF, True, False, in_menu=False),
    Command(
        "trial_new",
        N_("Create a product trial and invite ambassadors"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command(
        "trial",
        N_("A product trial's reports: summary and CSV"),
        Role.STAFF,
        True,
        False,
        in_menu=False,
    ),
    Command(
        "report",
        N_("Write your product trial report"),
        Role.MEMBER,
        True,
        False,
        in_menu=False,
    ),
    Command("nps", N_("Ask opted-in members the NPS question"), Role.STAFF, True, False),
    Command("nps_report", N_("NPS per community, with comments"), Role.STAFF, True, False),
    Command("grant_staff", N_("Make someone brand staff"), Role.OWNER, True, False),
    Command("revoke_staff", N_("Remove someone from staff"), Role.OWNER, True, False),
    Command("audit", N_("Recent privileged actions"), Role.OWNER, True, False),
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

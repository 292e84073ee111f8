"""The dashboard's forms and the photos it shows.

Each POST is the same verb as the bot's command or button, audited, and the member is told once
it committed: mark an order shipped (POST /dashboard/ship), moderate a review (POST
/dashboard/review), start a trial, switch a membership plan off or add one, set a group's
level. Photos of reviews, trials and tickets are fetched from Telegram by the bot, for the
reader's groups only, so no Telegram file address (it holds the bot's token) reaches a
browser."""

from __future__ import annotations

from urllib.parse import urlencode

from aiogram.utils.i18n import gettext as _
from aiohttp import web

from bot.web.dashboard_core import (
    LEVEL_ACTION,
    PLAN_ADD_ACTION,
    PLAN_OFF_ACTION,
    PREFIX,
    SHIP_ACTION,
    DashboardCore,
)
from handlers.views.delivery import SHIPPED, refusal, shipped_notice
from handlers.views.levels import REFUSALS as LEVEL_REFUSALS
from handlers.views.membership import PLAN_REFUSALS as MEMBERSHIP_REFUSALS
from handlers.views.membership import (
    cancel_subscription,
    switched_off_notices,
)
from handlers.views.product import photo_tag
from handlers.views.review import MODERATION_ERRORS, moderation_notice
from handlers.views.text import N_
from handlers.views.trial import ERRORS as TRIAL_ERRORS
from handlers.views.trial import invitations
from services.audit import record_action
from services.delivery import DeliveryError, ship_order
from services.levels import LevelError, parse_level, parse_rule, set_level
from services.member import get_member
from services.membership import (
    MembershipError,
    add_plan,
    parse_grant,
    parse_stars,
    switch_off,
)
from services.review import (
    NOTE_MAX,
    ModerationError,
    moderate,
    review_photo,
)
from services.ticket import ticket_photo
from services.trial import (
    TrialError,
    new_trial,
    report_photo,
)
from services.validation import (
    NumberRefused,
    number,
    telegram_id,
)


class ActionRoutes(DashboardCore):
    """The dashboard's form posts and photos."""

    async def ship(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/ship with order, carrier and tracking: staff mark a paid delivery
        order shipped, as /ship does (audited); the member is told once it committed."""
        view = await self._staff_post(
            request, SHIP_ACTION, N_("Only brand staff ship orders."), required_role=""
        )
        if isinstance(view, web.Response):
            return view
        actor = view.reader.member_id
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            form = await request.post()
            order_id = number(str(form.get("order", ""))[:32])
            if order_id is None:
                return self._message(
                    request, 400, _("Not shipped"), _("Write the order's number, like 12.")
                )
            refused: DeliveryError | None = None
            async with self.runtime.sessions() as session:
                async with session.begin():
                    try:
                        order = await ship_order(
                            session,
                            order_id=order_id,
                            actor_id=actor,
                            carrier=str(form.get("carrier", ""))[:64],
                            tracking=str(form.get("tracking", "")).strip()[:128],
                            now=self.now(),
                        )
                    except DeliveryError as exc:
                        refused = exc
                if refused is not None:  # nothing was shipped; the refusal is audited alone
                    async with session.begin():
                        await record_action(
                            session,
                            actor_id=actor,
                            chat_id=None,
                            action=SHIP_ACTION,
                            allowed=False,
                            now=self.now(),
                            required_role="staff",
                            detail=f"order {order_id}: {refused.reason} (dashboard)",
                        )
                    return self._message(request, 400, _("Not shipped"), refusal(refused))
                buyer = await get_member(session, order.member_id)
        if buyer is not None and buyer.started:
            locale = buyer.locale or self.settings.default_locale
            with self.runtime.i18n.context(), self.runtime.i18n.use_locale(locale):
                notice = shipped_notice(
                    SHIPPED,
                    order_id=order.id,
                    carrier=order.carrier,
                    tracking=order.tracking_number,
                )
            self.runtime.notifier.send(buyer.id, notice)
        return web.Response(
            status=303, headers={"Location": f"{PREFIX}/delivery?shipped={order.id}"}
        )

    async def review(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/review with order, decision (approve or reject) and reason: staff, or
        the leader of the review's group, decide a waiting review as the bot's buttons do
        (audited; a rejection needs the reason the member is told); the member hears once it
        committed."""
        view = await self._post_view(request)
        if isinstance(view, web.Response):
            return view
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            form = await request.post()
            order_id = number(str(form.get("order", ""))[:32])
            decision = str(form.get("decision", ""))
            note = " ".join(str(form.get("reason", "")).split())[:NOTE_MAX]
            if order_id is None or decision not in ("approve", "reject"):
                return self._message(
                    request, 400, _("Not decided"), _("Choose Approve or Reject under a review.")
                )
            if decision == "reject" and not note:
                return self._message(
                    request,
                    400,
                    _("Not decided"),
                    _("Write why the review is rejected: the member reads it."),
                )
            refused: ModerationError | None = None
            async with self.runtime.sessions() as session, session.begin():
                try:  # the audit row moderate writes commits even when it refuses
                    done = await moderate(
                        session,
                        order_id=order_id,
                        moderator_id=view.reader.member_id,
                        staff=view.reader.staff,
                        approve=decision == "approve",
                        photo_points=self.settings.review_photo_points,
                        now=self.now(),
                        note=note,
                    )
                except ModerationError as exc:
                    refused = exc
            if refused is not None:
                return self._message(
                    request,
                    403 if refused.reason == "not_allowed" else 400,
                    _("Not decided"),
                    _(MODERATION_ERRORS[refused.reason]),
                )
        if done.member_started:
            with self.runtime.i18n.context():
                text, markup = moderation_notice(
                    self.runtime.i18n, done, approve=decision == "approve", note=note
                )
            self.runtime.notifier.send(done.review.member_id, text, reply_markup=markup)
        return web.Response(
            status=303,
            headers={"Location": f"{PREFIX}/reviews?{urlencode({decision: str(order_id)})}"},
        )

    async def trial_new(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/trial-new: staff create a trial as /trial_new does (the same
        service, audited as trial.create); the candidates are invited once it committed."""
        view = await self._staff_post(
            request, "trial.create", N_("Only brand staff create trials.")
        )
        if isinstance(view, web.Response):
            return view
        actor = view.reader.member_id
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            form = await request.post()
            product_text, _sep, variant = (
                str(form.get("product", "")).strip()[:64].replace("：", ":").partition(":")
            )
            options = {
                key: " ".join(str(form.get(key, "")).split())[:200]
                for key in ("places", "invite", "aspects", "due")
            }
            try:
                async with self.runtime.sessions() as session, session.begin():
                    created = await new_trial(
                        session,
                        product_id=number(product_text) or 0,
                        variant=variant.strip(),
                        options=options,
                        actor_id=actor,
                        timezone=view.zone.key,
                        now=self.now(),
                    )
            except TrialError as exc:  # rolled back: nothing was taken from the stock
                detail = f"“{exc.detail or product_text}”"
                text = _(TRIAL_ERRORS.get(exc.reason, TRIAL_ERRORS["no_trial"])).format(part=detail)
                return self._message(request, 400, _("Not created"), text)
            sent = invitations(created, self.runtime.i18n, self.settings.default_timezone)
        for member_id, text, markup in sent:  # committed: now the invitations
            self.runtime.notifier.send(member_id, text, reply_markup=markup)
        query = urlencode({"trial": created.trial.id, "invited": len(sent)})
        return web.Response(status=303, headers={"Location": f"{PREFIX}/trials?{query}"})

    async def plan_off(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/membership-plan-off with plan: staff stop selling a membership plan,
        as /membership_plan_off does (audited); once it committed, the renewals are cancelled
        with Telegram and the members told."""
        view = await self._staff_post(
            request, PLAN_OFF_ACTION, N_("Only brand staff switch membership plans off.")
        )
        if isinstance(view, web.Response):
            return view
        actor = view.reader.member_id
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            form = await request.post()
            word = str(form.get("plan", ""))[:32]
            plan_id = number(word)
            refused: MembershipError | None = None
            async with self.runtime.sessions() as session, session.begin():
                try:
                    off = await switch_off(
                        session,
                        plan_id=plan_id or 0,
                        actor_id=actor,
                        now=self.now(),
                        default_locale=self.settings.default_locale,
                    )
                    notices = await switched_off_notices(
                        session,
                        off,
                        default_timezone=self.settings.default_timezone,
                        i18n=self.runtime.i18n,
                    )
                except MembershipError as exc:
                    refused = exc
            if refused is not None:
                return self._message(
                    request,
                    400,
                    _("Not switched off"),
                    _(MEMBERSHIP_REFUSALS[refused.reason]).format(word=word),
                )
        for member_id, charge_id, text in notices:  # committed: now Telegram and the members
            await cancel_subscription(self.runtime.bot, member_id, charge_id)()
            self.runtime.notifier.send(member_id, text)
        return web.Response(
            status=303, headers={"Location": f"{PREFIX}/memberships?off={off.plan.id}"}
        )

    async def plan_add(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/membership-plan-add with name, stars and grant: staff put a plan on
        sale as /membership_plan_add does (the same parsers and service, audited as
        membership.plan_add); bad input is refused with the bot's words and adds nothing."""
        view = await self._staff_post(
            request, PLAN_ADD_ACTION, N_("Only brand staff add membership plans.")
        )
        if isinstance(view, web.Response):
            return view
        actor = view.reader.member_id
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            form = await request.post()
            name = str(form.get("name", ""))[:200]
            stars_text = str(form.get("stars", ""))[:32]
            grant = str(form.get("grant", ""))[:200]
            refused: MembershipError | None = None
            async with self.runtime.sessions() as session, session.begin():
                try:
                    stars = parse_stars(stars_text)
                    tier_rank, level = await parse_grant(session, grant)
                    plan = await add_plan(
                        session,
                        name=name,
                        stars=stars,
                        tier_rank=tier_rank,
                        level=level,
                        actor_id=actor,
                        now=self.now(),
                    )
                except MembershipError as exc:  # nothing was added
                    refused = exc
            if refused is not None:
                return self._message(
                    request,
                    400,
                    _("Not added"),
                    _(MEMBERSHIP_REFUSALS[refused.reason]).format(word=refused.detail),
                )
        return web.Response(
            status=303, headers={"Location": f"{PREFIX}/memberships?added={plan.id}"}
        )

    async def group_level(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/group-level with group, level and who: staff set a group's level and
        who may join it as /group_level does (the same parsers and service, audited as
        group.level_set); bad input is refused with the bot's words and changes nothing."""
        view = await self._staff_post(
            request, LEVEL_ACTION, N_("Only brand staff set group levels.")
        )
        if isinstance(view, web.Response):
            return view
        actor = view.reader.member_id
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            form = await request.post()
            try:
                group_id = telegram_id(str(form.get("group", ""))[:32])
            except NumberRefused:
                group_id = None
            level_text = str(form.get("level", ""))[:64]
            who = " ".join(str(form.get("who", "")).split())[:64]
            refused: LevelError | None = None
            async with self.runtime.sessions() as session, session.begin():
                try:
                    level = parse_level(level_text)
                    rule, tier = await parse_rule(session, who or "invite")
                    changed = await set_level(
                        session,
                        community_id=group_id or 0,
                        level=level,
                        rule=rule,
                        tier=tier,
                        actor_id=actor,
                        now=self.now(),
                    )
                except LevelError as exc:  # nothing was changed
                    refused = exc
            if refused is not None:
                return self._message(
                    request,
                    400,
                    _("Not changed"),
                    _(LEVEL_REFUSALS[refused.reason]).format(word=refused.detail),
                )
        query = urlencode({"level_set": changed.community_id})
        return web.Response(status=303, headers={"Location": f"{PREFIX}/communities?{query}"})

    async def review_photo(self, request: web.Request) -> web.StreamResponse:
        """GET /dashboard/review-photos/<order>-<place>-<tag>.jpg: a photo of a review, for
        staff and the leaders of the review's group; 404 for anyone else."""
        view = await self._view(request)
        if isinstance(view, web.Response):
            return view
        order_id = number(request.match_info["order_id"])
        position = number(request.match_info["position"])
        found = None
        if order_id is not None and position is not None:
            async with self.reads() as session:
                found = await review_photo(session, order_id=order_id, position=position)
        scope = view.reader.scope
        if (
            found is None
            or photo_tag(found[0]) != request.match_info["tag"]
            or (scope is not None and found[1] not in scope)
        ):
            raise web.HTTPNotFound()
        return await self._photo(found[0])

    async def trial_photo(self, request: web.Request) -> web.StreamResponse:
        """GET /dashboard/trial-photos/<trial>-<member>-<place>-<tag>.jpg: a photo of a trial
        report, for staff only; 404 for anyone else."""
        view = await self._view(request)
        if isinstance(view, web.Response):
            return view
        trial_id = number(request.match_info["trial_id"])
        member_id = number(request.match_info["member_id"])
        position = number(request.match_info["position"])
        found = None
        if view.reader.staff and None not in (trial_id, member_id, position):
            async with self.reads() as session:
                found = await report_photo(
                    session,
                    trial_id=trial_id or 0,
                    member_id=member_id or 0,
                    position=position or 0,
                )
        if found is None or photo_tag(found) != request.match_info["tag"]:
            raise web.HTTPNotFound()
        return await self._photo(found)

    async def ticket_photo(self, request: web.Request) -> web.StreamResponse:
        """GET /dashboard/ticket-photos/<message id>-<tag>.jpg: a photo sent on a ticket, for
        staff and the leaders of the ticket's group; 404 for anyone else, or once erased."""
        view = await self._view(request)
        if isinstance(view, web.Response):
            return view
        try:
            message_id = number(request.match_info["message_id"], prefix="")
        except NumberRefused:
            message_id = None
        if message_id is None:
            raise web.HTTPNotFound()
        async with self.reads() as session:
            found = await ticket_photo(session, message_id)
        scope = view.reader.scope
        if (
            found is None
            or photo_tag(found.file_id) != request.match_info["tag"]
            or (scope is not None and found.chat_id not in scope)
        ):
            raise web.HTTPNotFound()
        return await self._photo(found.file_id)

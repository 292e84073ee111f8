"""Referrals: codes, attribution once per newcomer, rewards on the first paid order,
commission up the chain, burst review, and what members and staff read about it.

Rules (../shared/DESIGN.md, "Referrals"): one referrer per member, set once, never self,
never a cycle, never a bot; the referrer is rewarded when the invitee's first order is paid;
commission goes at most `depth` levels up, and never more than three.

"Already a member" means the bot had recorded the person before the update that carries the
code: they had started the bot, or written or acted in one of its groups. Only someone whose
very first contact with the bot is `/start <code>` can be attributed.

The feature lives in submodules (values, links, groups, attribution, rewards, held, reading,
stats); its public API is re-exported here, so importers name `services.referral` only.
"""

from services.referral.attribution import attribute as attribute
from services.referral.groups import GroupsToJoin as GroupsToJoin
from services.referral.groups import GroupToJoin as GroupToJoin
from services.referral.groups import group_to_join as group_to_join
from services.referral.groups import groups_to_join as groups_to_join
from services.referral.held import held_referrals as held_referrals
from services.referral.held import review as review
from services.referral.links import code_of_invite_link as code_of_invite_link
from services.referral.links import create_campaign as create_campaign
from services.referral.links import deep_link as deep_link
from services.referral.links import group_invite_link as group_invite_link
from services.referral.links import groupbuy_of_start_parameter as groupbuy_of_start_parameter
from services.referral.links import groupbuy_start_parameter as groupbuy_start_parameter
from services.referral.links import invite_link_name as invite_link_name
from services.referral.links import member_code as member_code
from services.referral.links import new_code as new_code
from services.referral.links import save_group_invite_link as save_group_invite_link
from services.referral.links import sheet_of_start_parameter as sheet_of_start_parameter
from services.referral.links import sheet_start_parameter as sheet_start_parameter
from services.referral.reading import leaderboard as leaderboard
from services.referral.reading import member_referrals as member_referrals
from services.referral.reading import toggle_leaderboard as toggle_leaderboard
from services.referral.rewards import REFERRAL_HOLD as REFERRAL_HOLD
from services.referral.rewards import order_paid as order_paid
from services.referral.rewards import order_refunded as order_refunded
from services.referral.rewards import release_referral_commissions as release_referral_commissions
from services.referral.stats import program_stats as program_stats
from services.referral.values import CAMPAIGN_CODE as CAMPAIGN_CODE
from services.referral.values import CODE_ALPHABET as CODE_ALPHABET
from services.referral.values import CODE_LENGTH as CODE_LENGTH
from services.referral.values import COMMISSION_STATUSES as COMMISSION_STATUSES
from services.referral.values import DAILY_COUNTER as DAILY_COUNTER
from services.referral.values import GROUPBUY_START as GROUPBUY_START
from services.referral.values import MAX_DEPTH as MAX_DEPTH
from services.referral.values import QUALIFIED_STATUSES as QUALIFIED_STATUSES
from services.referral.values import REFUSED_ALREADY_MEMBER as REFUSED_ALREADY_MEMBER
from services.referral.values import REFUSED_ALREADY_REFERRED as REFUSED_ALREADY_REFERRED
from services.referral.values import REFUSED_BOT as REFUSED_BOT
from services.referral.values import REFUSED_CYCLE as REFUSED_CYCLE
from services.referral.values import REFUSED_EXPIRED as REFUSED_EXPIRED
from services.referral.values import REFUSED_MALFORMED as REFUSED_MALFORMED
from services.referral.values import REFUSED_SELF as REFUSED_SELF
from services.referral.values import REFUSED_UNKNOWN as REFUSED_UNKNOWN
from services.referral.values import SHEET_START as SHEET_START
from services.referral.values import START_PARAMETER as START_PARAMETER
from services.referral.values import TX_COMMISSION_ADJUST as TX_COMMISSION_ADJUST
from services.referral.values import TX_REFERRAL_COMMISSION as TX_REFERRAL_COMMISSION
from services.referral.values import (
    TX_REFERRAL_COMMISSION_RELEASE as TX_REFERRAL_COMMISSION_RELEASE,
)
from services.referral.values import TX_REFERRAL_POINTS as TX_REFERRAL_POINTS
from services.referral.values import TX_WELCOME_POINTS as TX_WELCOME_POINTS
from services.referral.values import Attribution as Attribution
from services.referral.values import CampaignView as CampaignView
from services.referral.values import HeldReferral as HeldReferral
from services.referral.values import LeaderboardRow as LeaderboardRow
from services.referral.values import MemberReferrals as MemberReferrals
from services.referral.values import PaidOutcome as PaidOutcome
from services.referral.values import ReferralError as ReferralError
from services.referral.values import ReferralRefusal as ReferralRefusal
from services.referral.values import ReferralRules as ReferralRules
from services.referral.values import Review as Review
from services.referral.values import StatsRow as StatsRow

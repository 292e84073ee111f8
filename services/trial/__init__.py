"""The product-trial programme (体验官): staff create a trial of a product (or one variant) for a
number of places and an audience; invited members accept (a place is taken by a conditional
UPDATE, so never more than `places` win) and get a free trial order, booked in the ledger as a
marketing expense; they report on the trial's aspects with ratings, words and photos; staff read
the reports as a set; with the ambassador's consent a report becomes a review marked as a free
trial; ambassadors who reported well are tagged for the next trial (`invite=ambassadors`).

The feature lives in submodules (values, read, audience, creating, invites, reports, summary,
clock); its public API is re-exported here, so importers name `services.trial` only.
"""

from services.trial.audience import MAX_CANDIDATES as MAX_CANDIDATES
from services.trial.audience import PROMOTER_SCORE as PROMOTER_SCORE
from services.trial.audience import TOP_REFERRERS as TOP_REFERRERS
from services.trial.audience import reachable_ambassadors as reachable_ambassadors
from services.trial.clock import Reminder as Reminder
from services.trial.clock import claim_reminder as claim_reminder
from services.trial.clock import close_due_trials as close_due_trials
from services.trial.clock import due_reminders as due_reminders
from services.trial.creating import create_trial as create_trial
from services.trial.creating import new_trial as new_trial
from services.trial.invites import TX_TRIAL_ORDER as TX_TRIAL_ORDER
from services.trial.invites import Answer as Answer
from services.trial.invites import answer_invite as answer_invite
from services.trial.read import get_trial as get_trial
from services.trial.read import get_trial_view as get_trial_view
from services.trial.read import list_trials as list_trials
from services.trial.reports import GOOD_REPORT_WORDS as GOOD_REPORT_WORDS
from services.trial.reports import ReportTask as ReportTask
from services.trial.reports import attach_report_photo as attach_report_photo
from services.trial.reports import open_reports as open_reports
from services.trial.reports import report_task as report_task
from services.trial.reports import share_report as share_report
from services.trial.reports import submit_report as submit_report
from services.trial.summary import ReportRow as ReportRow
from services.trial.summary import Summary as Summary
from services.trial.summary import TrialStats as TrialStats
from services.trial.summary import report_photo as report_photo
from services.trial.summary import report_photos as report_photos
from services.trial.summary import report_rows as report_rows
from services.trial.summary import trial_stats as trial_stats
from services.trial.summary import trial_summary as trial_summary
from services.trial.values import AUDIENCES as AUDIENCES
from services.trial.values import TIER_ALIASES as TIER_ALIASES
from services.trial.values import TIER_PREFIXES as TIER_PREFIXES
from services.trial.values import Audience as Audience
from services.trial.values import Created as Created
from services.trial.values import Invitee as Invitee
from services.trial.values import TrialError as TrialError
from services.trial.values import TrialRefusal as TrialRefusal
from services.trial.values import TrialView as TrialView
from services.trial.values import parse_aspects as parse_aspects
from services.trial.values import parse_audience as parse_audience

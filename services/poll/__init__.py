"""Co-creation polls: ask every group one question and get one honest answer across them.

Non-anonymous polls hold one ballot per member per poll (a unique row updated in place), so a
member who votes in two groups, or changes their mind, counts once; a retraction removes the
ballot only when it comes from the copy that holds it. Voters are rewarded once per poll
through the points ledger. Anonymous polls only have the counts Telegram reports per copy.
Closing is claimed by a conditional UPDATE, so the scheduler and staff close a poll once.
"""

from services.poll._common import MAX_OPTION as MAX_OPTION
from services.poll._common import MAX_POINTS_PER_VOTE as MAX_POINTS_PER_VOTE
from services.poll._common import MAX_QUESTION as MAX_QUESTION
from services.poll._common import AnswerResult as AnswerResult
from services.poll._common import PollError as PollError
from services.poll._common import PollRefusal as PollRefusal
from services.poll._common import PollResult as PollResult
from services.poll._common import PollView as PollView
from services.poll._common import PostView as PostView
from services.poll._common import check_question as check_question
from services.poll._common import get_poll as get_poll
from services.poll._common import parse_closing as parse_closing
from services.poll._common import parse_options as parse_options
from services.poll._common import parse_points as parse_points
from services.poll._common import posts_of as posts_of
from services.poll.closing import ClosedPoll as ClosedPoll
from services.poll.closing import StoppedCopy as StoppedCopy
from services.poll.closing import close_poll as close_poll
from services.poll.closing import copies_to_stop as copies_to_stop
from services.poll.closing import due_polls as due_polls
from services.poll.closing import mark_stopped as mark_stopped
from services.poll.closing import open_polls as open_polls
from services.poll.closing import poll_page as poll_page
from services.poll.closing import tally as tally
from services.poll.presale import FIRST_WHO as FIRST_WHO
from services.poll.presale import MAX_HEAD_START as MAX_HEAD_START
from services.poll.presale import MIN_HEAD_START as MIN_HEAD_START
from services.poll.presale import claim_presale as claim_presale
from services.poll.presale import due_releases as due_releases
from services.poll.presale import held_polls as held_polls
from services.poll.presale import hold_presale as hold_presale
from services.poll.presale import offers_option as offers_option
from services.poll.presale import parse_first as parse_first
from services.poll.presale import release_poll as release_poll
from services.poll.voting import create_poll as create_poll
from services.poll.voting import record_answer as record_answer
from services.poll.voting import record_counts as record_counts
from services.poll.voting import record_post as record_post

"""Relationship metrics over weeks: is the community active, growing by referral, retaining
and repurchasing, and do co-creators buy more?

Every figure is aggregated by the database (one statement per metric, grouped by week), so a
brand of 50,000 members never travels into Python. Weeks are local Monday-to-Sunday weeks in
the brand's time zone, given to the database as a small `weeks` table of UTC bounds, which
works the same on SQLite and PostgreSQL. A slice narrows the members counted: the groups in
scope (one group, a leader's groups, or the whole brand) and optionally one tier.

Rates are exact `Ratio`s; money is integer minor units of one currency.
"""

from services.metrics._common import week_bounds as week_bounds
from services.metrics.figures import DEFAULT_WEEKS as DEFAULT_WEEKS
from services.metrics.figures import DEFINITIONS as DEFINITIONS
from services.metrics.figures import LTV_DAYS as LTV_DAYS
from services.metrics.figures import MAX_WEEKS as MAX_WEEKS
from services.metrics.figures import RETENTION_WEEKS as RETENTION_WEEKS
from services.metrics.figures import Cohort as Cohort
from services.metrics.figures import MetricsReport as MetricsReport
from services.metrics.figures import Slice as Slice
from services.metrics.figures import Uplift as Uplift
from services.metrics.figures import WeekFigures as WeekFigures
from services.metrics.report import metrics_report as metrics_report
from services.metrics.rows import CSV_COLUMNS as CSV_COLUMNS
from services.metrics.rows import RATE_METRICS as RATE_METRICS
from services.metrics.rows import metric_rows as metric_rows
from services.metrics.rows import metrics_csv as metrics_csv

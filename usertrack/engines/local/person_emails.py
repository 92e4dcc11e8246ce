"""The events store's `person_emails`: each person's normalized emails but '' and the first
moment each was seen (`person_id, person_email_norm, first_at`), built with the store in the same
atomic write as its other per-person tables (usertrack.engines.local.eventstore), so never older or
newer than the events: at 5.35 M events 98,000 rows.

It gives a `--persons` cell's emails (segment_persons.sql's rows of some persons:
LocalPostHogSource.segment_persons_of): an email counts from its first event on, so those first
seen up to as_of are the person's emails of the events up to as_of. A store built before the
table reads them from person_days, person_hours and the events (rollups.SEGMENT_PERSONS_OF).
"""

from __future__ import annotations

from usertrack.engines.local.rollups import AS_OF, KEPT

TABLE = "person_emails"

BUILD_SQL = f"""
CREATE TABLE {TABLE} AS
SELECT person_id, person_email_norm, min(timestamp) AS first_at
FROM events
WHERE person_id IS NOT NULL AND coalesce(person_email_norm, '') <> ''
GROUP BY ALL
ORDER BY person_id
"""

# rollups.SEGMENT_PERSONS_OF's rows (the persons `$usertrack_ids` alone, their greatest email)
# but for those of '' (a person whose only emails are blanks: the caller lists them without
# one either way): a hash lookup in a row a person, 0.02 s of CPU for 16,600 persons of
# 100,000, where person_days' person-days and the day's events cost 0.08 s.
SEGMENT_EMAILS_OF = f"""
SELECT CAST(person_id AS VARCHAR) AS person_id, max(person_email_norm) AS email
FROM {TABLE}
WHERE first_at <= {AS_OF} AND {KEPT}
  AND CAST(person_id AS VARCHAR) IN (SELECT unnest($usertrack_ids))
GROUP BY person_id
"""

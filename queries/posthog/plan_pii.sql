-- name: plan_pii
-- description: String property values over the last N days that look like personal data or secrets (emails, phone numbers, card-like numbers, API keys and tokens, long random strings), per event, property and kind, on events and on the persons active in the window (the tracking-plan audit).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 30
--
-- Every key of every event's properties (and of every active person's properties, `source`
-- 'person', `event` '') is read once as a string and classified by the first pattern that
-- fits it, in this order. credential (a known key prefix: sk_live_, ghp_, xoxb-, AKIA, phx_, a JWT), email, card (13 to
-- 19 digits in groups of 4), phone (a leading + or a 3-3-4 grouping), random_string (32 or more
-- characters of a key alphabet mixing upper case, lower case and digits). Patterns use no
-- backslashes and no look-around, so RE2 reads them the same in ClickHouse and DuckDB. Card-like
-- values are grouped one row per value (`value`) so the caller can keep those that pass the Luhn
-- check; for other kinds `value` is ''. `example` is the smallest value of the group: the caller
-- masks it and never shows it whole. Internal accounts are left out. At most 500 rows (the caller says when the cap is reached).
SELECT
    source,
    event,
    key,
    kind,
    CASE WHEN kind = 'card' THEN text ELSE '' END AS value,
    count() AS events,
    min(text) AS example
FROM (
    SELECT
        source,
        event,
        key,
        text,
        CASE WHEN match(text, '(sk|rk)_(live|test)_[A-Za-z0-9]{8,}|sk-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abposr]-[A-Za-z0-9-]{8,}|AKIA[0-9A-Z]{16}|phx_[A-Za-z0-9]{20,}|eyJ[A-Za-z0-9_-]{8,}[.]eyJ[A-Za-z0-9_-]{8,}[.][A-Za-z0-9_-]{8,}') THEN 'credential'
            WHEN match(text, '[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+([.][A-Za-z0-9-]+)*[.][A-Za-z]{2,}') THEN 'email'
            WHEN match(text, '^[0-9]{4}([ -]?[0-9]{4}){2}[ -]?[0-9]{1,7}$') THEN 'card'
            WHEN match(text, '^[+][0-9][0-9 ().-]{6,18}[0-9]$|^[(]?[0-9]{3}[)]?[ .-][0-9]{3}[ .-][0-9]{4}$') THEN 'phone'
            WHEN match(text, '^[A-Za-z0-9_+/=-]{32,}$') AND match(text, '[A-Z]') AND match(text, '[a-z]') AND match(text, '[0-9]') THEN 'random_string'
            ELSE '' END AS kind
    FROM (
        SELECT 'event' AS source, event, key, JSONExtractString(properties, key) AS text
        FROM (
            SELECT event, properties, arrayJoin(JSONExtractKeys(properties)) AS key
            FROM events
            WHERE timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
              AND timestamp <= toDateTime({as_of}, 'UTC')
              AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
        )
        UNION ALL
        SELECT 'person' AS source, '' AS event, key, JSONExtractString(properties, key) AS text
        FROM (
            SELECT properties, arrayJoin(JSONExtractKeys(properties)) AS key
            FROM persons
            WHERE NOT match(lowerUTF8(trim(JSONExtractString(properties, 'email'), ' \t\r\n')), {exclude_pattern})
              AND id IN (
                  SELECT person_id FROM events
                  WHERE timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
                    AND timestamp <= toDateTime({as_of}, 'UTC')
              )
        )
    )
)
WHERE kind != ''
GROUP BY source, event, key, kind, value
ORDER BY events DESC, source, event, key, kind, value
LIMIT 500

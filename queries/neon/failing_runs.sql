-- name: failing_runs
-- description: Workflow runs that failed over the last N days, by error: failed runs, affected users, first and last failure.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 7
-- param limit: 10
--
-- Workflow level (fastapi_run), as the analyst workflow insists: a run can fail from infrastructure while every
-- tool call in it succeeded, so this is not the tool-level table. The error is the first line of
-- run_error_log with its numbers replaced by N (so "run 17341" and "run 3304" group together) and a
-- leading "Workflow run N failed at step N of N: " dropped. Numbers that carry meaning stay: a
-- status or exit code after status/code/HTTP/exit/returned/rc ("HTTP 503", "exit code 137",
-- "rc=137") and an HTTP status before its reason ("429 Too Many Requests"). Window:
-- (as_of - N days, as_of]. Ties are broken by the error in byte order (COLLATE "C", whatever the
-- database's locale).
-- The numbers' pattern is slow (its look-behind, at every digit), so it runs once a distinct
-- line; a line that starts "Workflow run N failed at step N of N: " with digits for each N gets
-- it on the rest alone. Those three numbers are always replaced (no status word before them,
-- no reason after), so the error is the same, and the rest leaves few distinct lines.
WITH failed AS (
    SELECT
        created_at,
        email,
        stripped,
        CASE WHEN stripped THEN substr(line, strpos(line, ': ') + 2) ELSE line END AS text
    FROM (
        SELECT
            created_at,
            email,
            line,
            line ~ '^Workflow run [0-9]+ failed at step [0-9]+ of [0-9]+: ' AS stripped
        FROM (
            SELECT
                r.created_at,
                lower(btrim(w.email, E' \t\r\n')) AS email,
                split_part(coalesce(r.run_error_log, ''), E'\n', 1) AS line
            FROM fastapi_run AS r
            JOIN fastapi_user AS f ON f.id = r.user_id
            JOIN wasp_user AS w ON w.id = f.wasp_user_id
            WHERE r.run_state = 'failed'
              AND r.created_at > %(as_of)s - make_interval(days => %(days)s)
              AND r.created_at <= %(as_of)s
              AND w.email IS NOT NULL
              AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
        ) AS runs
    ) AS lines
),
shapes AS MATERIALIZED (
    SELECT
        stripped,
        text,
        CASE WHEN stripped THEN numbered ELSE
            regexp_replace(numbered, '^Workflow run N failed at step N of N: ', '')
        END AS error
    FROM (
        SELECT
            stripped,
            text,
            regexp_replace(
                text,
                '(?<![0-9])(?<!(status|code|http|exit|exited|returned|rc)[ :=]{0,2})[0-9]+(?![0-9])'
                '(?! (Bad Request|Unauthorized|Forbidden|Not Found|Too Many Requests'
                '|Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout))',
                'N', 'gi'
            ) AS numbered
        FROM (SELECT DISTINCT stripped, text FROM failed) AS distinct_lines
    ) AS numbered
)
SELECT
    coalesce(nullif(s.error, ''), '(no error log)') AS error,
    count(*) AS failed_runs,
    count(DISTINCT f.email) AS affected_users,
    min(f.created_at) AS first_failed_at,
    max(f.created_at) AS last_failed_at
FROM failed AS f
JOIN shapes AS s ON s.stripped = f.stripped AND s.text = f.text
GROUP BY coalesce(nullif(s.error, ''), '(no error log)')
ORDER BY failed_runs DESC, affected_users DESC, coalesce(nullif(s.error, ''), '(no error log)') COLLATE "C"
LIMIT %(limit)s

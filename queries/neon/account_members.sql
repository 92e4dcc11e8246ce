-- name: account_members
-- description: Each user's account: the normalized email and the account key, for the analyses counted per account (--by-account).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- setting work_mem: 32MB
--
-- {account_table}, {account_column} and {account_user_column} are the configured account key
-- (docs/connecting.md, "Accounts"), checked against the database and quoted by usertrack. The email
-- is normalized as everywhere in usertrack (usertrack/core/emails.py). A user in several accounts
-- counts in the first by key (byte order); users created after as_of and internal ones are left out.
-- Each email is normalized once (OFFSET 0 keeps PostgreSQL from writing the expression out again in
-- every condition); user ids and emails are compared byte-wise (COLLATE "C": the same equality,
-- without the locale's slower comparisons when the members are sorted). The sorts are given the
-- memory to stay off disk at 100,000 members. Users are compared with as_of as a UTC timestamp
-- worked out once (AT TIME ZONE is immutable; the bound timestamptz would cast every user's
-- created_at), the session's zone being UTC.
SELECT DISTINCT ON (u.email)
    u.email,
    m.{account_column}::text AS account
FROM (
    SELECT w.id::text COLLATE "C" AS id, lower(btrim(w.email, E' \t\r\n')) COLLATE "C" AS email
    FROM wasp_user AS w
    WHERE w.email IS NOT NULL AND w.created_at <= (%(as_of)s AT TIME ZONE 'UTC')
    OFFSET 0
) AS u
JOIN {account_table} AS m ON m.{account_user_column}::text COLLATE "C" = u.id
WHERE m.{account_column} IS NOT NULL
  AND u.email <> ''
  AND u.email !~ %(exclude_pattern)s
ORDER BY u.email, m.{account_column}::text COLLATE "C"

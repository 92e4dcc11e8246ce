-- name: account_members
-- description: Each user's account: the normalized email and the account key, for the analyses counted per account (--by-account).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- {account_table}, {account_column} and {account_user_column} are the configured account key
-- (docs/connecting.md, "Accounts"), checked against the database and quoted by usertrack. The email
-- is normalized as everywhere in usertrack (usertrack/emails.py). A user in several accounts
-- counts in the first by key (byte order); users created after as_of and internal ones are left out.
SELECT DISTINCT ON (lower(btrim(w.email, E' \t\r\n')))
    lower(btrim(w.email, E' \t\r\n')) AS email,
    m.{account_column}::text AS account
FROM {account_table} AS m
JOIN wasp_user AS w ON w.id::text = m.{account_user_column}::text
WHERE m.{account_column} IS NOT NULL
  AND w.email IS NOT NULL
  AND lower(btrim(w.email, E' \t\r\n')) <> ''
  AND w.created_at <= %(as_of)s
  AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
ORDER BY lower(btrim(w.email, E' \t\r\n')), m.{account_column}::text COLLATE "C"

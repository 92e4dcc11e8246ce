"""Story: who is who: emails, names, and where the two sources disagree about them.

8 `@datagen.dev` employees; 120 identified PostHog-only visitors (6 %) with an email and no
account; the email's case differs between the sources for 4 % of accounts (Jane Doe among them:
`Jane.Doe@Acme.io` in Neon, `jane.doe@acme.io` in PostHog), stray whitespace for 1 % in Neon and
0.5 % in PostHog. Then each PostHog person's ids, devices and properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from usertrack.core.errors import DataError
from usertrack.demo.sampling import normalized, object_array, pick_mask, uuid_halves
from usertrack.demo.timeline import DAY
from usertrack.demo.vocabulary import (
    BROWSERS,
    COUNTRIES,
    DOMAIN_PREFIXES,
    DOMAIN_SUFFIXES,
    DOMAIN_TLDS,
    FIRST_NAMES,
    INTERNAL_DOMAIN,
    INTERNAL_NAMES,
    LAST_NAMES,
    OSES,
    PERSONAL_DOMAINS,
    REFERRERS,
)

if TYPE_CHECKING:
    import numpy as np

    from usertrack.demo.accounts import Accounts


def make_emails(
    rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """n unique lower-case emails, with the first names, last names and local parts used."""
    import numpy as np

    first = rng.integers(0, len(FIRST_NAMES), size=n)
    last = rng.integers(0, len(LAST_NAMES), size=n)
    companies = np.array(
        [p + s + t for p in DOMAIN_PREFIXES for s in DOMAIN_SUFFIXES for t in DOMAIN_TLDS]
    )
    companies = companies[rng.permutation(len(companies))]
    personal = rng.random(n) < 0.18
    # A few companies have many users (teams), most have one or two.
    company_idx = np.minimum(
        (len(companies) * rng.random(n) ** 2.2).astype(np.int64), len(companies) - 1
    )
    domain = np.where(
        personal,
        np.array(PERSONAL_DOMAINS)[rng.integers(0, len(PERSONAL_DOMAINS), size=n)],
        companies[company_idx],
    )
    f = np.array(FIRST_NAMES)[first]
    la = np.array(LAST_NAMES)[last]
    fmt = rng.choice(4, size=n, p=[0.55, 0.2, 0.15, 0.1])
    digits = np.char.mod("%02d", rng.integers(1, 100, size=n))
    local = np.where(
        fmt == 0,
        np.char.add(np.char.add(f, "."), la),
        np.where(
            fmt == 1,
            f,
            np.where(
                fmt == 2, np.char.add(f.astype("<U1"), la), np.char.add(np.char.add(f, "_"), la)
            ),
        ),
    )
    local = np.where(personal, np.char.add(np.char.add(np.char.add(f, "."), la), digits), local)
    email = np.char.add(np.char.add(local, "@"), domain)
    # De-duplicate: the k-th repeat of an address gets k+1 appended to its local part.
    for _ in range(10):
        _, inverse, counts = np.unique(email, return_inverse=True, return_counts=True)
        if counts.max() == 1:
            break
        order = np.argsort(inverse, kind="stable")
        starts = np.cumsum(counts) - counts
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - np.repeat(starts, counts)
        dup = rank > 0
        local = np.where(dup, np.char.add(local, np.char.mod("%d", rank + 1)), local)
        email = np.char.add(np.char.add(local, "@"), domain)
    else:  # pragma: no cover - ten rounds always suffice for these pools
        raise DataError("could not generate unique demo emails")
    return email, f, la, local


@dataclass
class Identities:
    """Emails and names: per account (as Neon and PostHog each hold them), then per PostHog-only
    visitor."""

    n_ph: int
    neon_email: np.ndarray
    ph_email: np.ndarray
    ph_only_email: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    ph_first: np.ndarray
    ph_last: np.ndarray


def name_people(rng: np.random.Generator, acc: Accounts, stories: dict[str, int]) -> Identities:
    import numpy as np

    n, n_int, internal, jane = acc.n, acc.n_int, acc.internal, acc.jane
    n_ph = max(3, round(0.06 * n))
    email_all, first_all, last_all, _ = make_emails(rng, n + n_ph)
    base_email = email_all[:n].astype(object)
    ph_only_email = email_all[n:].astype(object)
    first_name, last_name = first_all[:n].astype(object), last_all[:n].astype(object)
    int_idx = np.flatnonzero(internal)
    base_email[int_idx] = object_array(
        f"{name}@{INTERNAL_DOMAIN}" for name in INTERNAL_NAMES[:n_int]
    )
    first_name[int_idx] = object_array(INTERNAL_NAMES[:n_int])
    last_name[int_idx] = object_array(["datagen"] * n_int)
    base_email[jane], first_name[jane], last_name[jane] = "jane.doe@acme.io", "jane", "doe"

    neon_email = base_email.copy()
    ph_email = base_email.copy()
    eligible = acc.has_events & ~internal
    eligible[jane] = False
    case_diff = pick_mask(rng, eligible, max(3, round(0.04 * n)))
    case_diff[jane] = True
    local_part = np.char.partition(base_email[case_diff].astype(str), "@")
    neon_email[case_diff] = np.char.add(
        np.char.add(np.char.title(local_part[:, 0]), "@"), np.char.capitalize(local_part[:, 2])
    ).astype(object)
    ws_neon = pick_mask(rng, eligible & ~case_diff, max(2, round(0.01 * n)))
    neon_email[ws_neon] = np.where(
        rng.random(int(ws_neon.sum())) < 0.5,
        np.char.add(base_email[ws_neon].astype(str), " "),
        np.char.add(" ", base_email[ws_neon].astype(str)),
    ).astype(object)
    ws_ph = pick_mask(rng, eligible & ~case_diff & ~ws_neon, max(2, round(0.005 * n)))
    ph_email[ws_ph] = np.char.add(base_email[ws_ph].astype(str), " ").astype(object)
    stories["case_differs"] = int(case_diff.sum())
    stories["whitespace_neon"] = int(ws_neon.sum())
    stories["whitespace_posthog"] = int(ws_ph.sum())
    stories["internal"] = n_int
    stories["neon_only"] = int((~acc.has_events).sum())
    stories["posthog_only"] = n_ph
    ph_first = first_all[n:].astype(object)
    ph_last = last_all[n:].astype(object)
    return Identities(
        n_ph, neon_email, ph_email, ph_only_email, first_name, last_name, ph_first, ph_last
    )


def person_frame(
    rng: np.random.Generator, acc: Accounts, ids: Identities, p_start: np.ndarray, n_anon: int
) -> dict[str, np.ndarray]:
    """The `pers` frame: every PostHog person's ids (identified, anonymous, second device),
    country, browser, OS, first referrer, email and name. Accounts first, then PostHog-only
    visitors, then anonymous ones."""
    import numpy as np

    n, n_person = acc.n, len(p_start)
    p_ms = p_start // 1000
    pid_hi, pid_lo = uuid_halves(rng, p_ms)
    anon_hi, anon_lo = uuid_halves(rng, p_ms - rng.integers(0, 4 * DAY // 1000, size=n_person))
    dev_hi, dev_lo = uuid_halves(rng, p_ms + rng.integers(1, 20 * DAY // 1000, size=n_person))
    country = rng.choice(len(COUNTRIES), size=n_person, p=normalized([c[1] for c in COUNTRIES]))
    browser = rng.choice(len(BROWSERS), size=n_person, p=normalized([b[1] for b in BROWSERS]))
    osys = rng.choice(len(OSES), size=n_person, p=normalized([b[1] for b in OSES]))
    mobile = rng.random(n_person) < 0.08
    init_ref = rng.choice(len(REFERRERS), size=n_person, p=normalized([r[1] for r in REFERRERS]))
    none = np.full(n_anon, None, dtype=object)
    p_email = np.concatenate([ids.ph_email, ids.ph_only_email, none])
    p_email[:n][~acc.has_events] = None
    p_name = np.concatenate(
        [_full_names(ids.first_name, ids.last_name), _full_names(ids.ph_first, ids.ph_last), none]
    )
    p_did0 = np.concatenate([acc.wasp_id.astype(str).astype(object), ids.ph_only_email, none])
    return {
        "pid": np.arange(n_person, dtype=np.int32),
        "hi": pid_hi,
        "lo": pid_lo,
        "anon_hi": anon_hi,
        "anon_lo": anon_lo,
        "dev_hi": dev_hi,
        "dev_lo": dev_lo,
        "did0": p_did0,
        "email": p_email,
        "name": p_name,
        "country": country.astype(np.int16),
        "browser": browser.astype(np.int16),
        "os": osys.astype(np.int16),
        "mobile": mobile,
        "init_ref": init_ref.astype(np.int16),
    }


def _full_names(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """ "Jane Doe" from "jane" and "doe"."""
    import numpy as np

    return np.char.add(
        np.char.add(np.char.capitalize(first.astype(str)), " "),
        np.char.capitalize(last.astype(str)),
    ).astype(object)

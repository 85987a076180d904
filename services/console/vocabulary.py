"""The words the console shows from data (a status, a role, a category) as the reader's
language says them: the ``said`` filter looks each up in the catalogue, as written with its
underscores read as spaces. Listed here so that the catalogue holds them; the values stay
the codes programs match on (``tests/console/test_languages.py`` checks the list is whole).
"""

from __future__ import annotations

from kit.i18n import N_

ROLES = (N_("admin"), N_("focal point"), N_("caseworker"), N_("auditor"))
DIRECTIONS = (N_("incoming"), N_("outgoing"))
REFERRAL_STATUSES = (
    N_("pending approval"),
    N_("approved"),
    N_("sent"),
    N_("received"),
    N_("accepted"),
    N_("declined"),
    N_("completed"),
    N_("cancelled"),
    N_("revoked"),
    N_("expired"),
    N_("rejected"),
    N_("refused by recipient"),
)
AGREEMENT_STATUSES = (
    N_("draft"),
    N_("proposed"),
    N_("active"),
    N_("suspended"),
    N_("terminated"),
    N_("expired"),
    N_("superseded"),
    N_("not yet valid"),
)
LEGAL_BASES = (
    N_("consent"),
    N_("vital interest"),
    N_("legal obligation"),
    N_("public interest"),
)
CATEGORIES = (
    N_("identity"),
    N_("contact"),
    N_("documents"),
    N_("asylum history"),
    N_("family"),
    N_("specific needs"),
    N_("health"),
    N_("protection"),
    N_("skills"),
    N_("return plan"),
    N_("reintegration"),
    N_("monitoring"),
    N_("biometrics"),
)
SUBJECTS = (N_("referral"), N_("agreement"), N_("journey"), N_("programme"), N_("case"))

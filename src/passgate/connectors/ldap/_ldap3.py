"""ldap3, imported here once so that every other module gets it without warnings.

ldap3 2.9.1 (its latest release) imports pyasn1's old names ``tagMap``/``typeMap``,
which pyasn1 0.6.1+ still serves but with a DeprecationWarning at import time. That
warning is about ldap3's code, not ours: it is silenced for this one import only
(pinning an older pyasn1, the BER parser of untrusted answers, would be worse).
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", r"(tagMap|typeMap) is deprecated", DeprecationWarning, r"ldap3\..*"
    )
    import ldap3
    from ldap3.core import exceptions as ldap_errors
    from ldap3.core import results
    from ldap3.utils.conv import escape_filter_chars

__all__ = ["escape_filter_chars", "ldap3", "ldap_errors", "results"]

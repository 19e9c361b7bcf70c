"""The admin API's service layer: clients, password-database users, sessions,
revocations, signing keys and the audit log, as plain async services that audit every
call. No web code here: ``passgate.server.admin`` is the HTTP layer over it."""

from passgate.admin.api import AdminAPI, build_admin
from passgate.admin.audit import Actor
from passgate.admin.auth import AdminTokenHash, hash_token, new_admin_token
from passgate.admin.errors import AdminError

__all__ = [
    "Actor",
    "AdminAPI",
    "AdminError",
    "AdminTokenHash",
    "build_admin",
    "hash_token",
    "new_admin_token",
]

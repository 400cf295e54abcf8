"""Built-in accounts and invite codes, kept in the hub database.

The tables live beside JupyterHub's own (prefixed `campushub_`) so that one
backup of the hub database holds everything. Both the hub process and the
`campushub users` command use this store.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from campushub.identity.passwords import hash_password, needs_rehash, verify_password
from campushub.tables import Base, Store, utc_now

ACTIVE = "active"
# Where a sign-in method puts an e-mail address it vouches for, in the model it returns (for `link_by: email`).
EMAIL_KEY = "campushub_email"
# Where a method puts the provider's unchangeable id of the person (GitHub's numeric account id).
SUBJECT_KEY = "campushub_subject"
PENDING = "pending"


class Account(Base):
    __tablename__ = "campushub_accounts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    created: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class Invite(Base):
    __tablename__ = "campushub_invites"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    uses_left: Mapped[int] = mapped_column(Integer)
    expires: Mapped[datetime] = mapped_column(DateTime)


class MethodClaim(Base):
    """Which sign-in method a username belongs to: the first one that used it."""

    __tablename__ = "campushub_method_claims"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    method: Mapped[str] = mapped_column(String(32))


class EmailLink(Base):
    """With `link_by: email`: the account a vouched-for e-mail address signs in to (the first that used it)."""

    __tablename__ = "campushub_email_links"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))


class ExternalId(Base):
    """A provider's own, unchangeable id of a person (GitHub's numeric account id) -> their CampusHub username.

    Logins can be renamed and then taken by someone else; the id cannot.
    """

    __tablename__ = "campushub_external_ids"

    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))


class Tombstone(Base):
    """A removed user's name: nobody may take it until an admin releases it (`campushub users release`)."""

    __tablename__ = "campushub_removed_names"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    method: Mapped[str] = mapped_column(String(32))
    removed: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    archive: Mapped[str] = mapped_column(String(1024), default="")


class ConfigAdmin(Base):
    """A name made admin because campus.yaml listed it: taken off the list, it loses admin at the next start."""

    __tablename__ = "campushub_config_admins"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)


REMOVED = "removed"


@dataclass(frozen=True)
class NameRecord:
    """Everything CampusHub knows about one username (`campushub users list --all`)."""

    name: str
    method: str  # the method that owns it, `-` for none yet
    state: str  # active, pending, removed, or `claimed` (a method signed someone in with it)


@dataclass(frozen=True)
class AccountInfo:
    name: str
    status: str
    created: datetime


class AccountExists(ValueError):
    pass


class NoSuchAccount(KeyError):
    pass


def _owner(session: Session, name: str) -> str | None:
    """Who owns `name`: a tombstone, then the first method's claim, then an active built-in account."""
    if session.get(Tombstone, name) is not None:
        return REMOVED
    claim = session.get(MethodClaim, name)
    if claim is not None:
        return claim.method
    account = session.get(Account, name)
    return "local" if account is not None and account.status == ACTIVE else None


def _unlink(session: Session, name: str) -> None:
    """Forget the e-mail addresses and provider ids that lead to `name`."""
    session.execute(delete(EmailLink).where(EmailLink.name == name))
    session.execute(delete(ExternalId).where(ExternalId.name == name))


def _hash_code(code: str) -> str:
    # Invite codes are random and long: a fast hash suffices and allows lookup by hash.
    return hashlib.sha256(code.strip().encode()).hexdigest()


class AccountStore(Store):
    """Accounts in the database at `db_url` (the hub database)."""

    def create(self, name: str, password: str, status: str = ACTIVE) -> None:
        with self._session() as session:
            if session.get(Account, name) is not None:
                raise AccountExists(name)
            session.add(Account(name=name, password_hash=hash_password(password), status=status))

    def verify(self, name: str, password: str) -> AccountInfo | None:
        """The account if `password` is right, else None (same cost either way)."""
        with self._session() as session:
            account = session.get(Account, name)
            stored = account.password_hash if account else None
            if not verify_password(stored, password):
                return None
            assert account is not None
            if needs_rehash(account.password_hash):
                account.password_hash = hash_password(password)
            return AccountInfo(account.name, account.status, account.created)

    def get(self, name: str) -> AccountInfo | None:
        with self._session() as session:
            account = session.get(Account, name)
            return AccountInfo(account.name, account.status, account.created) if account else None

    def list(self, status: str | None = None) -> list[AccountInfo]:
        with self._session() as session:
            query = select(Account).order_by(Account.name)
            if status:
                query = query.where(Account.status == status)
            return [AccountInfo(a.name, a.status, a.created) for a in session.scalars(query)]

    def approve(self, name: str) -> None:
        with self._session() as session:
            account = session.get(Account, name)
            if account is None:
                raise NoSuchAccount(name)
            account.status = ACTIVE

    def set_password(self, name: str, password: str) -> None:
        with self._session() as session:
            account = session.get(Account, name)
            if account is None:
                raise NoSuchAccount(name)
            account.password_hash = hash_password(password)

    def remove(self, name: str) -> None:
        with self._session() as session:
            account = session.get(Account, name)
            if account is None:
                raise NoSuchAccount(name)
            session.delete(account)

    def claim(self, name: str, method: str) -> str:
        """The method `name` belongs to, recording `method` if it is the first.

        Active built-in accounts are `local`'s; a sign-up still waiting for approval claims nothing (else
        asking for a campus name would lock its owner out). A removed user's name is `removed`'s until released.
        """
        with self._session() as session:
            owner = _owner(session, name) or method
            if owner != REMOVED and session.get(MethodClaim, name) is None:
                session.add(MethodClaim(name=name, method=owner))
            return owner

    def assign(self, name: str, method: str) -> str:
        """Give `name` to `method` whoever used it before (campus.yaml's `admins` says `method:name`);
        a removed user's name stays reserved."""
        with self._session() as session:
            if session.get(Tombstone, name) is not None:
                return REMOVED
            claim = session.get(MethodClaim, name)
            if claim is None:
                session.add(MethodClaim(name=name, method=method))
            else:
                claim.method = method
            return method

    def linked_account(self, email: str) -> str | None:
        with self._session() as session:
            existing = session.get(EmailLink, email)
            return existing.name if existing else None

    def link_email(self, email: str, name: str) -> None:
        with self._session() as session:
            if session.get(EmailLink, email) is None:
                session.add(EmailLink(email=email, name=name))

    def owner(self, name: str) -> str | None:
        """The method that owns `name` (`removed` for a removed user's), or None while it is free."""
        with self._session() as session:
            return _owner(session, name)

    def name_for_subject(self, method: str, subject: str) -> str | None:
        with self._session() as session:
            existing = session.get(ExternalId, (method, subject))
            return existing.name if existing else None

    def subject_of(self, method: str, name: str) -> str | None:
        with self._session() as session:
            found = session.scalars(
                select(ExternalId).where(ExternalId.method == method, ExternalId.name == name)
            ).first()
            return found.subject if found else None

    def bind_subject(self, method: str, subject: str, name: str) -> None:
        with self._session() as session:
            if session.get(ExternalId, (method, subject)) is None:
                session.add(ExternalId(method=method, subject=subject, name=name))

    def retire(self, name: str, archive: str = "") -> None:
        """Forget everything that ties `name` to a person and reserve it (a tombstone) until released."""
        with self._session() as session:
            claim = session.get(MethodClaim, name)
            account = session.get(Account, name)
            method = claim.method if claim else ("local" if account is not None else "-")
            for model in (MethodClaim, Account):
                row = session.get(model, name)
                if row is not None:
                    session.delete(row)
            _unlink(session, name)
            tombstone = session.get(Tombstone, name)
            if tombstone is None:
                session.add(Tombstone(name=name, method=method, archive=archive))
            elif archive:
                tombstone.archive = archive

    def release(self, name: str) -> bool:
        """Free a removed user's name; False if it was not reserved."""
        with self._session() as session:
            tombstone = session.get(Tombstone, name)
            if tombstone is None:
                return False
            session.delete(tombstone)
            return True

    def forget_claim(self, name: str) -> bool:
        """Drop a method's claim on a name nobody uses any more (stale ownership); False if there was none."""
        with self._session() as session:
            claim = session.get(MethodClaim, name)
            if claim is None:
                return False
            session.delete(claim)
            _unlink(session, name)
            return True

    def removed(self, name: str) -> bool:
        with self._session() as session:
            return session.get(Tombstone, name) is not None

    def names(self) -> list[NameRecord]:
        """Every username CampusHub knows, with the method that owns it and its state."""
        records: dict[str, NameRecord] = {}
        with self._session() as session:
            for claim in session.scalars(select(MethodClaim)):
                records[claim.name] = NameRecord(claim.name, claim.method, "claimed")
            for account in session.scalars(select(Account)):
                if account.status == ACTIVE:
                    records[account.name] = NameRecord(account.name, "local", ACTIVE)
                elif account.name in records:  # the name went to another method while the request waited
                    owner = records[account.name].method
                    records[account.name] = NameRecord(account.name, owner, f"claimed, {account.status} request")
                else:
                    records[account.name] = NameRecord(account.name, "-", account.status)
            for tombstone in session.scalars(select(Tombstone)):
                records[tombstone.name] = NameRecord(tombstone.name, tombstone.method, REMOVED)
        return [records[name] for name in sorted(records)]

    def config_admins(self) -> set[str]:
        with self._session() as session:
            return {row.name for row in session.scalars(select(ConfigAdmin))}

    def set_config_admins(self, names: set[str]) -> None:
        with self._session() as session:
            session.execute(delete(ConfigAdmin))
            session.add_all(ConfigAdmin(name=name) for name in names)

    def create_invite(self, uses: int, valid_for: timedelta) -> str:
        code = secrets.token_urlsafe(12)
        with self._session() as session:
            session.add(Invite(code_hash=_hash_code(code), uses_left=uses, expires=utc_now() + valid_for))
        return code

    def redeem_invite(self, code: str) -> bool:
        """Use up one use of `code`; False if unknown, used up or expired."""
        with self._session() as session:
            invite = session.get(Invite, _hash_code(code))
            if invite is None or invite.uses_left < 1 or invite.expires < utc_now():
                return False
            invite.uses_left -= 1
            return True

    def hub_groups(self, name: str) -> list[str]:
        """The groups JupyterHub's own tables hold for `name` (none before the first sign-in)."""
        from jupyterhub import orm

        with self._sessions() as session:
            user = session.scalars(select(orm.User).where(orm.User.name == name)).first()
            return sorted(group.name for group in user.groups) if user is not None else []

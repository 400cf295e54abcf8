"""SAML sign-ins in progress and the IdP sessions behind hub sessions, kept in the hub database.

Both must outlive the hub process: `campushub reload` and upgrades restart it, and a person who was at the
IdP's password page meanwhile must still be let in, while a response that answers no request this hub sent
(or one already answered) must still be refused. Single logout needs the NameID and session index the IdP
signed someone in with, however long ago that was.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import DateTime, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from campushub.tables import Base, Store, utc_now


class SamlRequest(Base):
    """An AuthnRequest sent and not yet answered: where the person was going, and which IdP was asked."""

    __tablename__ = "campushub_saml_requests"

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    method: Mapped[str] = mapped_column(String(64), index=True)
    next_url: Mapped[str] = mapped_column(Text)
    idp: Mapped[str] = mapped_column(String(1024))
    expires: Mapped[datetime] = mapped_column(DateTime, index=True)


class SamlSession(Base):
    """The IdP session a person's hub session came from: what a LogoutRequest must name."""

    __tablename__ = "campushub_saml_sessions"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_id: Mapped[str] = mapped_column(Text)  # the NameID element as the IdP sent it
    idp: Mapped[str] = mapped_column(String(1024))
    session_index: Mapped[str] = mapped_column(String(1024))
    updated: Mapped[datetime] = mapped_column(DateTime)


class SamlStore(Store):
    def remember(self, method: str, request_id: str, next_url: str, idp: str, lifetime: float) -> None:
        """Record a request sent, forgetting the ones nobody answered in time."""
        now = utc_now()
        with self._session() as session:
            session.execute(delete(SamlRequest).where(SamlRequest.expires <= now))
            session.add(SamlRequest(request_id=request_id, method=method, next_url=next_url, idp=idp,
                                    expires=now + timedelta(seconds=lifetime)))  # fmt: skip

    def waiting(self, method: str) -> dict[str, str]:
        """{request ID: where to go next} of this method's requests still open, as pysaml2 wants them."""
        with self._session() as session:
            rows = session.execute(
                select(SamlRequest.request_id, SamlRequest.next_url).where(
                    SamlRequest.method == method, SamlRequest.expires > utc_now()
                )
            )
            return {request_id: next_url for request_id, next_url in rows}

    def take(self, method: str, request_id: str) -> tuple[str, str] | None:
        """(where to go next, the IdP asked) of an open request, which is closed by this: None for the second
        answer to it, even when two arrive at once (only one delete finds the row)."""
        with self._session() as session:
            found = session.execute(
                select(SamlRequest.next_url, SamlRequest.idp).where(
                    SamlRequest.method == method, SamlRequest.request_id == request_id, SamlRequest.expires > utc_now()
                )
            ).first()
            if found is None:
                return None
            removed = session.execute(
                delete(SamlRequest).where(SamlRequest.method == method, SamlRequest.request_id == request_id)
            )
            return (found.next_url, found.idp) if removed.rowcount == 1 else None

    def keep_session(self, name: str, method: str, name_id: str, idp: str, session_index: str) -> None:
        with self._session() as session:
            found = session.get(SamlSession, (name, method))
            if found is None:
                session.add(SamlSession(name=name, method=method, name_id=name_id, idp=idp,
                                        session_index=session_index, updated=utc_now()))  # fmt: skip
            else:
                found.name_id, found.idp, found.session_index, found.updated = name_id, idp, session_index, utc_now()

    def session_of(self, name: str, method: str) -> tuple[str, str, str] | None:
        """(NameID, IdP, session index) of the person's IdP session; None when none is known."""
        with self._session() as session:
            found = session.get(SamlSession, (name, method))
            return None if found is None else (found.name_id, found.idp, found.session_index)

    def end_session(self, name: str, method: str) -> tuple[str, str, str] | None:
        """(NameID, IdP, session index) of the person's IdP session, now forgotten; None when none is known."""
        with self._session() as session:
            found = session.get(SamlSession, (name, method))
            if found is None:
                return None
            session.delete(found)
            return found.name_id, found.idp, found.session_index

    def forget(self, name: str) -> None:
        """A removed person's IdP sessions, of every method."""
        with self._session() as session:
            session.execute(delete(SamlSession).where(SamlSession.name == name))

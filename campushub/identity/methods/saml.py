"""SAML 2.0 identity providers (Shibboleth, a federation such as InCommon or DFN-AAI, ADFS), each under a name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from campushub.config.sections import Section
from campushub.identity.methods.base import Probe, SignInMethod
from campushub.identity.saml_sp import DEFAULT_GROUP_ATTRIBUTES, DEFAULT_USERNAME_ATTRIBUTES

if TYPE_CHECKING:
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

SAML_CLASS = "campushub.identity.saml.CampusSAMLAuthenticator"


class SamlSignIn(Section):
    """One SAML 2.0 identity provider, or a federation's metadata with several."""

    label: str = Field("Campus single sign-on (SAML)", description="Text of this method's button on the sign-in page.")
    idp_metadata_file: Path | None = Field(None, description="The IdP's (or the federation's) metadata, as a file.")
    idp_metadata_url: str | None = Field(
        None,
        description="The IdP's (or the federation's) metadata URL, fetched at start and every "
        "`metadata_refresh_hours`.",
        pattern=r"^https?://\S+$",
    )
    metadata_signing_certificate: Path | None = Field(
        None,
        description="The federation's metadata signing certificate (PEM): metadata whose signature it does not "
        "verify is refused. Required with `idp_metadata_url` unless the URL is https on your own IdP.",
    )
    metadata_refresh_hours: float = Field(
        12,
        gt=0,
        description="How often `idp_metadata_url` is fetched again (hours). A fetch that fails or does not verify "
        "keeps the last good metadata in use and is tried again within 5 minutes.",
    )
    idp_entity_id: str | None = Field(
        None,
        description="Which IdP of the metadata people sign in with. Empty: the only one, or, with several, a page "
        "where each person chooses theirs.",
    )
    discovery_url: str | None = Field(
        None,
        description="A federation's discovery service (SAML IdP Discovery Protocol, e.g. a SeamlessAccess or "
        "Shibboleth EDS page), shown instead of CampusHub's own list when the metadata holds several IdPs and "
        "`idp_entity_id` is empty. Only IdPs of the metadata are accepted from it.",
        pattern=r"^https?://\S+$",
    )
    entity_id: str | None = Field(
        None,
        description="This service provider's entity ID. Empty: `<public URL>/hub/saml/<name>/metadata`, the URL "
        "its metadata is served at.",
    )
    username_attributes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_USERNAME_ATTRIBUTES),
        description="Attributes tried in order for the username (friendly names).",
    )
    username_scopes: list[str] = Field(
        default_factory=list,
        description="Scopes stripped from a scoped username (`alice@uni.edu` becomes `alice` for `uni.edu`); "
        "a scoped name from any other scope is refused. Empty: scoped names are kept whole.",
    )
    group_attributes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_GROUP_ATTRIBUTES),
        description="Attributes whose values are the person's groups (synced at each sign-in).",
    )
    allowed_groups: list[str] = Field(default_factory=list, description="Groups whose members may sign in.")
    allow_all: bool = Field(False, description="Let everyone the IdP signs in through (for a campus-only IdP).")
    admin_groups: list[str] = Field(default_factory=list, description="Groups whose members are admins.")
    signed_response_only: bool = Field(
        False,
        description="Accept an unsigned assertion inside a signed response. Off: every assertion must be signed, "
        "which is what Shibboleth does; turn on only for an IdP that cannot sign assertions.",
    )
    clock_skew: int = Field(60, ge=0, le=600, description="Seconds the IdP's clock may differ from this machine's.")

    @model_validator(mode="after")
    def _one_metadata_source(self) -> SamlSignIn:
        if (self.idp_metadata_file is None) == (self.idp_metadata_url is None):
            raise ValueError("give the IdP's metadata as exactly one of `idp_metadata_file` and `idp_metadata_url`")
        if (
            self.idp_metadata_url
            and self.idp_metadata_url.startswith("http:")
            and not self.metadata_signing_certificate
        ):
            raise ValueError(
                "metadata fetched over plain http can be changed on the way: give the federation's "
                "`metadata_signing_certificate`, or an https `idp_metadata_url`"
            )
        if not (self.allow_all or self.allowed_groups):
            raise ValueError("say who may sign in: `allowed_groups` (e.g. [student, staff]) or `allow_all: true`")
        return self


class SamlMethod(SignInMethod):
    type_name = "saml"
    config_model = SamlSignIn
    kind = "redirect"
    authenticator_class = SAML_CLASS
    instances = "many"
    url_prefix_base = "saml"

    @property
    def login_path(self) -> str:
        return f"saml/{self.name}/login"

    @property
    def syncs_groups(self) -> bool:
        return bool(self.settings.group_attributes)

    def authenticator_config(self, config: CampusConfig, layout: Layout) -> dict[str, Any]:
        from campushub.hub.layout import database_url

        saml: SamlSignIn = self.settings
        base = (config.listen.public_url or "").rstrip("/")
        return {
            "method_id": self.name,
            "login_service": saml.label,
            "idp_metadata_file": str(saml.idp_metadata_file or ""),
            "idp_metadata_url": saml.idp_metadata_url or "",
            "metadata_signing_certificate": str(saml.metadata_signing_certificate or ""),
            "metadata_refresh_seconds": saml.metadata_refresh_hours * 3600,
            "idp_entity_id": saml.idp_entity_id or "",
            "discovery_url": saml.discovery_url or "",
            "entity_id": saml.entity_id or (f"{base}/hub/saml/{self.name}/metadata" if base else ""),
            "key_dir": str(layout.secrets_dir),
            "username_attributes": list(saml.username_attributes),
            "username_scopes": list(saml.username_scopes),
            "group_attributes": list(saml.group_attributes),
            "allowed_groups": set(saml.allowed_groups),
            "allow_all": saml.allow_all,
            "admin_groups": set(saml.admin_groups),
            "signed_response_only": saml.signed_response_only,
            "clock_skew": saml.clock_skew,
            "db_url": database_url(config, layout),
        }

    def probes(self) -> list[Probe]:
        """The IdP metadata read, its IdPs named, certificates about to expire said."""
        import shutil

        from campushub.identity.saml_metadata import XMLSEC
        from campushub.identity.saml_sp import metadata_summary

        saml: SamlSignIn = self.settings
        label = f"saml {self.name} metadata"
        # pysaml2 signs and verifies every message with xmlsec1.
        missing = f"{XMLSEC} is not installed, so nobody can sign in: apt-get install xmlsec1"
        signer: Probe = (f"saml {self.name} signatures ({XMLSEC})", None if shutil.which(XMLSEC) else missing)
        try:
            if saml.idp_metadata_file is not None:
                xml = saml.idp_metadata_file.read_text(encoding="utf-8")
            else:
                import requests

                answer = requests.get(str(saml.idp_metadata_url), timeout=10)
                answer.raise_for_status()
                xml = answer.text
        except (OSError, UnicodeDecodeError) as exc:
            source = saml.idp_metadata_file or saml.idp_metadata_url
            return [signer, (label, f"cannot read {source}: {exc}")]
        idps, problems = metadata_summary(xml)
        if saml.idp_metadata_url and saml.metadata_signing_certificate:
            from campushub.identity.saml_metadata import MetadataRefused, verify_signature

            try:
                verify_signature(xml, saml.metadata_signing_certificate)
            except MetadataRefused as refused:
                problems.insert(0, f"refused: {refused}")
        if saml.idp_entity_id and saml.idp_entity_id not in idps:
            problems.append(f"`idp_entity_id` {saml.idp_entity_id} is not among them")
        shown = ", ".join(idps[:5]) + (f" and {len(idps) - 5} more" if len(idps) > 5 else "")
        return [signer, (f"{label} ({shown or 'no IdP'})", "; ".join(problems) or None)]

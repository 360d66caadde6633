"""The ``[plugin.web]`` section of the site configuration."""

from __future__ import annotations

from typing import Any

import attrs

from rosetta_core import validators as v


def _url(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or (value and not value.startswith(("http://", "https://"))):
        raise v.FieldError(attribute.name, "must be an http(s) URL, or empty")


def _bool(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise v.FieldError(attribute.name, "must be true or false")


@attrs.frozen(kw_only=True)
class WebOptions:
    """The ``[plugin.web]`` section.

    - ``listen``: where the front listens, ``ADDRESS:PORT`` (default ``127.0.0.1:8000``).
    - ``public_url``: how users reach it (behind a TLS front); empty: ``http://{listen}``.
    - ``secure_cookies``: users reach it over HTTPS: cookies get ``Secure``.
    - ``site_title``: the name shown in every page's header.
    - ``site_text``: the welcome text of the main page (plain text; blank lines make paragraphs).
    - ``admin_name``: the first admin's user name, made with a generated password by ``rosetta
      serve`` on a store without an admin (the password is printed once).
    """

    listen: str = attrs.field(default="127.0.0.1:8000", validator=v.listen)
    public_url: str = attrs.field(default="", validator=_url)
    secure_cookies: bool = attrs.field(default=False, validator=_bool)
    site_title: str = attrs.field(default="Rosetta", validator=v.text)
    site_text: str = attrs.field(
        default=(
            "Run software containers (Jupyter notebooks, remote desktops, SSH servers, any web "
            "interface) as tasks on this platform's computing resources, and open them in your "
            "browser."
        ),
        validator=v.text,
    )
    admin_name: str = attrs.field(default="admin", validator=v.name)

    @property
    def address(self) -> tuple[str, int]:
        """``listen`` as (host, port)."""
        return v.listen_address(self.listen)

    @property
    def url(self) -> str:
        """The address users reach: ``public_url``, else ``http://{listen}``."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

"""Signing in to the IMAP server: a password (LOGIN), or an OAuth2 access token (SASL OAUTHBEARER or XOAUTH2).

The token comes from the account's ``oauth2_token_command`` (oama, pizauth,
a provider's script): the product runs no OAuth flow of its own and keeps no
token. A token is a secret like a password: it goes to the server and
nowhere else (no log line, no exception text, no state).

A rejected token is asked for once more and tried once more (it may have
expired between the helper's answer and the server's check); a second
rejection raises AuthError, which pauses the account: retrying a refused
sign-in in a loop only risks a lockout.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, LoginError

from mail_followup.config import Account
from mail_followup.errors import AccountError, AuthError
from mail_followup.imap.credentials import command_program

log = logging.getLogger(__name__)

# In order of preference: the standard (RFC 7628) first, then Google's older flavour.
OAUTH2_MECHANISMS = ("OAUTHBEARER", "XOAUTH2")


def sign_in(client: IMAPClient, account: Account, secret: Callable[[Account], str],
            token: Callable[[Account], str]) -> str:
    """Authenticate ``client`` for ``account``; return the method used: "password", "OAUTHBEARER" or "XOAUTH2".

    Without ``oauth2_token_command`` this is the plain LOGIN with
    ``secret(account)`` (a refusal raises imapclient's LoginError, as
    before). With it, the mechanism is picked from the server's
    capabilities and ``token(account)`` gives the access token.
    """
    imap = account.imap
    if not imap.oauth2_token_command:
        client.login(imap.username, secret(account))
        return "password"
    mechanism = choose_mechanism(account, _capabilities(client))
    helper = command_program(imap.oauth2_token_command)
    status = _authenticate(client, account, mechanism, token(account))
    if status is None:
        log.debug("account %s: signed in with %s", account.name, mechanism)
        return mechanism
    log.info("account %s: the server %s rejected the access token%s; asking %s for a fresh one",
             account.name, imap.host, status, helper)
    fresh = token(account)
    try:
        status = _authenticate(client, account, mechanism, fresh)
    except IMAPClientAbortError:
        # It hung up after rejecting a token. Count that as a refusal: reconnecting at every
        # pass would be the very retry loop toward a lockout that pausing avoids.
        raise AuthError(
            account.name,
            f"the server {imap.host} rejected the OAuth2 access token from oauth2_token_command ({helper}) "
            f"for {imap.username} and closed the connection before a fresh token could be tried",
            f"run the helper by hand to check that it gives a current token for {imap.username}, "
            f"then resume the account (a reload)",
        ) from None
    if status is None:
        log.debug("account %s: signed in with %s and a fresh token", account.name, mechanism)
        return mechanism
    raise AuthError(
        account.name,
        f"the server {imap.host} rejected the OAuth2 access token from oauth2_token_command ({helper}) "
        f"for {imap.username}, and a fresh one from it too{status}",
        f"the token helper's refresh token may be revoked or expired: sign in again with the helper "
        f"(e.g. oama authorize, pizauth refresh) and check that it is set up for {imap.username}; "
        f"the account stays paused until then (resume it with a reload)",
    )


def choose_mechanism(account: Account, capabilities: set[str]) -> str:
    """OAUTHBEARER when the server offers it, else XOAUTH2; AccountError when it offers neither."""
    for mechanism in OAUTH2_MECHANISMS:
        if f"AUTH={mechanism}" in capabilities:
            return mechanism
    offered = sorted(c.removeprefix("AUTH=") for c in capabilities if c.startswith("AUTH="))
    raise AccountError(
        account.name,
        f"the server {account.imap.host} offers neither OAUTHBEARER nor XOAUTH2 sign-in "
        f"(it offers: {', '.join(offered) or 'no SASL mechanism'}), so oauth2_token_command cannot be used",
        "check host and port (the provider's IMAP server for OAuth2 accounts, with TLS), "
        "or sign in with a password (an app password) instead of oauth2_token_command",
    )


def initial_response(mechanism: str, username: str, access_token: str, host: str, port: int) -> bytes:
    """The client's first SASL message (before base64).

    OAUTHBEARER (RFC 7628 section 3.1): a GS2 header naming the user as
    authorization identity, then key=value pairs separated by ^A, ended by
    ^A^A. XOAUTH2 (Google's "XOAUTH2 mechanism"): ``user=...^Aauth=Bearer ...^A^A``.
    """
    if mechanism == "OAUTHBEARER":
        authzid = username.replace("=", "=3D").replace(",", "=2C")
        text = f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {access_token}\x01\x01"
    elif mechanism == "XOAUTH2":
        text = f"user={username}\x01auth=Bearer {access_token}\x01\x01"
    else:
        raise ValueError(f"not an OAuth2 mechanism: {mechanism}")
    return text.encode("utf-8")


class _Exchange:
    """The client side of one OAUTHBEARER/XOAUTH2 exchange, for imapclient's ``sasl_login``.

    The first challenge is empty: answer with the token. A second one is the
    server's error (a JSON document); RFC 7628 3.2.3 wants a dummy ^A in
    answer (XOAUTH2: an empty line), never the token again. The error's
    ``status`` is kept for the message.
    """

    def __init__(self, mechanism: str, first: bytes) -> None:
        self.mechanism = mechanism
        self._first: bytes | None = first
        self.status = ""

    def __call__(self, challenge: bytes) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        self.status = _error_status(challenge)
        return b"\x01" if self.mechanism == "OAUTHBEARER" else b""


def _error_status(challenge: bytes) -> str:
    """``status`` from the server's JSON error challenge, if it is a short plain word."""
    try:
        status = json.loads(challenge.decode("utf-8")).get("status")
    except (ValueError, AttributeError):
        return ""
    if isinstance(status, str) and 0 < len(status) <= 40 and status.replace("_", "").isalnum():
        return status
    return ""


def _authenticate(client: IMAPClient, account: Account, mechanism: str, access_token: str) -> str | None:
    """One AUTHENTICATE; None when it succeeded, else a note for the message (the server's status, if any).

    A lost connection is not a rejection: it raises IMAPClientAbortError
    (a network failure, unless it follows a rejection).
    """
    imap = account.imap
    exchange = _Exchange(mechanism, initial_response(mechanism, imap.username, access_token, imap.host,
                                                     imap.effective_port))
    try:
        client.sasl_login(mechanism, exchange)
    except LoginError as exc:
        # imapclient turns every error of AUTHENTICATE into LoginError, a dropped connection too.
        cause = exc.__context__
        if isinstance(cause, IMAPClientAbortError):  # imaplib's text names the command, never its data
            raise cause from None
        return f" (server said: {exchange.status})" if exchange.status else ""
    return None


def _capabilities(client: IMAPClient) -> set[str]:
    return {c.decode().upper() if isinstance(c, bytes) else str(c).upper() for c in client.capabilities()}

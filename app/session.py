"""Who is using this browser session, and the sign-in controls.

With OpenID Connect configured in Streamlit secrets, ``st.login`` signs users
in and their e-mail and groups claim decide what they may read (admins: the
``admin_emails`` / ``admin_groups`` secrets). Without it there are two roles:
everyone is a user, and the admin password (a scrypt hash in secrets or
``ASKDOCS_ADMIN_PASSWORD_HASH``, made with ``python -m app.auth hash``) makes
this session an admin. The password is compared as a hash and never stored
or logged; only the fact "admin" is kept in this session's state.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import streamlit as st

from app.auth import admin_password_hash, oidc_configured, principal_from_oidc, verify_password
from askdocs.types import Principal


def _secrets() -> Mapping[str, Any]:
    try:
        return dict(st.secrets)
    except Exception:  # no secrets.toml at all: a valid, common set-up
        return {}


def current_principal() -> Principal:
    secrets = _secrets()
    if oidc_configured(secrets):
        if getattr(st.user, "is_logged_in", False):
            info = {key: st.user.get(key) for key in st.user.keys()}  # noqa: SIM118 - a proxy, not a dict
            return principal_from_oidc(info, secrets.get("admin_emails", []), secrets.get("admin_groups", []))
        return Principal.anonymous()
    if st.session_state.get("askdocs_admin"):
        return Principal("admin", is_admin=True)
    return Principal.anonymous()


def sign_in_sidebar(principal: Principal) -> None:
    secrets = _secrets()
    with st.sidebar:
        if oidc_configured(secrets):
            if getattr(st.user, "is_logged_in", False):
                st.caption(f"Signed in as {principal.name}{' (admin)' if principal.is_admin else ''}")
                st.button("Log out", on_click=st.logout)
            else:
                st.button("Log in", on_click=st.login)
            return
        if principal.is_admin:
            st.caption("Signed in as admin")
            if st.button("Sign out"):
                st.session_state.pop("askdocs_admin", None)
                st.rerun()
            return
        expected = admin_password_hash(secrets, os.environ)
        with st.expander("Admin sign-in"):
            if expected is None:
                st.caption("No admin password is set: see the README, section “Admin password”.")
                return
            with st.form("admin-sign-in", clear_on_submit=True):
                password = st.text_input("Admin password", type="password")
                if st.form_submit_button("Sign in"):
                    if verify_password(password, expected):
                        st.session_state["askdocs_admin"] = True
                        st.rerun()
                    st.error("Wrong password.")

"""Admin password hashing, where the hash is configured, OIDC detection and principals from OIDC claims."""

from __future__ import annotations

import base64
import subprocess
import sys
import tomllib

import pytest
from streamlit.runtime.secrets import AttrDict

from app.auth import (
    admin_password_hash,
    hash_password,
    oidc_configured,
    oidc_providers,
    principal_from_oidc,
    verify_password,
)
from askdocs.types import Principal
from tests.conftest import ROOT

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password("correct horse battery staple")


# -- hashing -------------------------------------------------------------------------------------
def test_the_right_password_verifies_and_a_wrong_one_does_not(stored):
    assert stored.startswith("scrypt$32768$8$3$")
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapl", stored)
    assert not verify_password("", stored)


def test_two_hashes_of_one_password_differ_and_both_verify(stored):
    again = hash_password("correct horse battery staple")
    assert again != stored and stored.split("$")[4] != again.split("$")[4]  # fresh salt
    assert verify_password("correct horse battery staple", again)
    assert len(base64.b64decode(again.split("$")[4])) == 16


def test_unicode_passwords_round_trip():
    assert verify_password("pässwörd ✓", hash_password("pässwörd ✓"))


def _replace_field(encoded: str, index: int, value: str) -> str:
    parts = encoded.split("$")
    parts[index] = value
    return "$".join(parts)


@pytest.mark.parametrize(
    "broken",
    [
        lambda h: "",
        lambda h: "not a hash",
        lambda h: h.replace("scrypt$", "bcrypt$"),
        lambda h: h + "$extra",
        lambda h: h.rsplit("$", 1)[0],  # no key
        lambda h: _replace_field(h, 1, "abc"),  # n not a number
        lambda h: _replace_field(h, 1, "1000"),  # n not a power of two
        lambda h: _replace_field(h, 1, str(2**40)),  # would need terabytes: refused, not attempted
        lambda h: _replace_field(h, 2, "0"),
        lambda h: _replace_field(h, 3, "-1"),
        lambda h: _replace_field(h, 4, "!!not base64!!"),
        lambda h: _replace_field(h, 4, ""),
        lambda h: _replace_field(h, 5, h.split("$")[5][:-8] + "AAAA"),  # shorter key
        lambda h: _replace_field(h, 1, "16384"),  # other cost: a different key
    ],
)
def test_a_malformed_hash_is_false_never_an_exception(stored, broken):
    assert verify_password("correct horse battery staple", broken(stored)) is False


def test_non_string_hash_is_false():
    assert verify_password("x", None) is False  # type: ignore[arg-type]


# -- where the admin hash comes from -------------------------------------------------------------
def test_secrets_win_over_the_environment():
    env = {"ASKDOCS_ADMIN_PASSWORD_HASH": "scrypt$from-env"}
    assert admin_password_hash({"admin_password_hash": "scrypt$from-secrets"}, env) == "scrypt$from-secrets"
    assert admin_password_hash({}, env) == "scrypt$from-env"
    assert admin_password_hash({"admin_password_hash": "  "}, env) == "scrypt$from-env"  # blank is unset
    assert admin_password_hash({}, {}) is None


# -- OIDC configuration --------------------------------------------------------------------------
SHARED = 'redirect_uri = "http://localhost:8501/oauth2callback"\ncookie_secret = "a-long-random-secret"\n'
PROVIDER = (
    'client_id = "id"\nclient_secret = "secret"\n'
    'server_metadata_url = "https://idp.example/.well-known/openid-configuration"\n'
)


def secrets(toml: str) -> AttrDict:
    """What ``st.secrets`` hands over for this secrets.toml."""
    return AttrDict(tomllib.loads(toml))


@pytest.mark.parametrize(
    ("toml", "providers"),
    [
        ("", []),
        ('admin_password_hash = "scrypt$x"', []),
        (f"[auth]\n{SHARED}{PROVIDER}", ["default"]),
        (f"[auth]\n{SHARED}\n[auth.google]\n{PROVIDER}\n[auth.okta]\n{PROVIDER}", ["google", "okta"]),
        (f"[auth]\n{PROVIDER}", []),  # no redirect_uri / cookie_secret: st.login would refuse
        (f'[auth]\nredirect_uri = "http://x/oauth2callback"\n{PROVIDER}', []),  # no cookie_secret
        (f"[auth]\n{SHARED}{PROVIDER.replace('client_secret', 'client_secrt')}", []),
        (f'[auth]\n{SHARED}\n[auth.google]\nclient_id = "id"\n', []),  # provider incomplete
        (f"[auth]\n{SHARED}\n[auth.my_idp]\n{PROVIDER}", []),  # Streamlit rejects "_" in names
        ('auth = "yes"', []),
    ],
)
def test_oidc_is_configured_only_when_st_login_can_work(toml, providers):
    assert oidc_providers(secrets(toml)) == providers
    assert oidc_configured(secrets(toml)) is bool(providers)


# -- principals ----------------------------------------------------------------------------------
def test_admin_by_email_is_case_insensitive():
    user = {"is_logged_in": True, "email": "Ada@Example.org", "name": "Ada Lovelace", "sub": "1"}
    assert principal_from_oidc(user, ["ada@example.ORG"], []) == Principal("ada@example.org", (), True)
    assert principal_from_oidc(user, ["bob@example.org"], ["admins"]).is_admin is False


@pytest.mark.parametrize("claim", [["staff", "admins"], "staff, admins", " staff,,admins ,staff"])
def test_groups_claim_as_list_or_comma_separated_string(claim):
    principal = principal_from_oidc({"email": "bob@example.org", "groups": claim}, [], ["admins"])
    assert principal.groups == ("staff", "admins")
    assert principal.is_admin


def test_admin_lists_from_secrets_may_be_one_comma_separated_string():
    user = {"email": "ada@example.org", "groups": ["staff"]}
    assert principal_from_oidc(user, "bob@example.org, ADA@example.org", "").is_admin
    assert principal_from_oidc(user, "", "ops,staff").is_admin
    assert not principal_from_oidc(user, "a", "s").is_admin  # a string is not a list of letters


def test_no_groups_claim_and_odd_groups_claims_mean_no_groups():
    assert principal_from_oidc({"email": "c@x.org"}, [], ["admins"]).groups == ()
    assert principal_from_oidc({"email": "c@x.org", "groups": {"a": 1}}, [], []).groups == ()


@pytest.mark.parametrize("verified", [False, "false"])
def test_an_unverified_email_grants_nothing(verified):
    user = {"email": "boss@example.org", "email_verified": verified, "preferred_username": "boss", "sub": "9"}
    assert principal_from_oidc(user, ["boss@example.org"], []) == Principal("9", (), False)
    verified_user = {**user, "email_verified": True}
    assert principal_from_oidc(verified_user, ["boss@example.org"], []) == Principal(
        "boss@example.org", (), True
    )


def test_without_email_the_name_is_the_subject_never_a_display_name():
    assert principal_from_oidc({"name": "Ada", "preferred_username": "ada", "sub": "42"}, [], []).name == "42"
    assert principal_from_oidc({"name": "Ada"}, [], []) == Principal.anonymous()


def test_logged_out_or_empty_user_is_anonymous():
    logged_out = {"is_logged_in": False, "email": "a@b.c"}
    assert principal_from_oidc(logged_out, ["a@b.c"], []) == Principal.anonymous()
    assert principal_from_oidc({}, [], []) == Principal(None, (), False)


# -- CLI -----------------------------------------------------------------------------------------
def run_cli(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.auth", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_cli_prints_only_a_hash_that_verifies():
    result = run_cli("hash", stdin="  spaces are part of it \n")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert verify_password("  spaces are part of it ", line)
    assert "spaces" not in result.stdout + result.stderr


def test_cli_refuses_an_empty_password_and_unknown_commands():
    empty = run_cli("hash", stdin="\n")
    assert empty.returncode != 0 and empty.stdout == ""
    usage = run_cli(stdin="secret\n")
    assert usage.returncode != 0 and usage.stdout == "" and "ASKDOCS_ADMIN_PASSWORD_HASH" in usage.stderr

"""`motcua token ROLE`: a bearer token from the development issuer, standing in for VNeID
(citizens) and the agencies' identity provider (staff) on one machine."""

from __future__ import annotations

import click

from motcua.api.identity import PERMISSIONS, ROLES


@click.command()
@click.argument("role", type=click.Choice(ROLES))
@click.option("--sub", required=True, help="Who: a citizen's personal id, or a staff account.")
@click.option("--agency", default=None, help="Staff: the agency acted for, e.g. UBND-00070.")
@click.option(
    "--officer-role",
    "officer_roles",
    multiple=True,
    help="Officers: a task role they may decide (repeat), e.g. civil_status_officer.",
)
@click.option(
    "--permission",
    "permissions",
    type=click.Choice(PERMISSIONS),
    multiple=True,
    help="Beyond the role (repeat): personal_data reads personal data unmasked (auditors).",
)
@click.option("--ttl", default=8 * 3600, show_default=True, help="Seconds the token is valid.")
def token(
    role: str, sub: str, agency: str | None, officer_roles: tuple[str, ...],
    permissions: tuple[str, ...], ttl: int,
) -> None:  # fmt: skip
    """Print a token for ROLE; give it as `Authorization: Bearer ...` or MOTCUA_TOKEN."""
    from motcua.api.identity import IdentityError, issue_token

    try:
        click.echo(
            issue_token(
                sub,
                role,
                agency=agency,
                officer_roles=officer_roles,
                permissions=permissions,
                ttl=ttl,
            )  # fmt: skip
        )
    except IdentityError as e:
        raise click.ClickException(str(e)) from None

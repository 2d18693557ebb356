"""`motcua pki`: the local development CA and the agencies' signing certificates.

`motcua pki init` creates (once) the CA and a certificate for every known agency under
`data_dir/pki/` and prints their paths and SHA-256 fingerprints; `motcua pki show` prints
what exists without creating anything. Development and tests only: real agencies sign with
certificates from a licensed trust service provider.
"""

from __future__ import annotations

import click

from motcua import pki as pki_mod


def _print(infos: list[pki_mod.CertInfo]) -> None:
    for info in infos:
        click.echo(f"{info.name}")
        click.echo(f"  subject:     {info.subject}")
        click.echo(f"  certificate: {info.cert_path}")
        click.echo(f"  key:         {info.key_path}")
        click.echo(f"  sha256:      {info.sha256_fingerprint}")
        click.echo(f"  valid until: {info.not_after:%Y-%m-%d}")


@click.group()
def pki() -> None:
    """Development CA and agency signing certificates (data_dir/pki)."""


@pki.command("init")
@click.option(
    "--agency",
    "agencies",
    multiple=True,
    help="Agency (sign_as) to create; repeatable. Default: every known agency.",
)
def init(agencies: tuple[str, ...]) -> None:
    """Create the development CA and agency certificates (existing ones are kept)."""
    try:
        infos = pki_mod.init(list(agencies) or None)
    except pki_mod.PkiError as err:
        raise click.UsageError(str(err)) from err
    _print(infos)


@pki.command("show")
def show() -> None:
    """Print the CA and agency certificates that exist, creating nothing."""
    infos = pki_mod.existing()
    if not infos:
        click.echo(f"no certificates under {pki_mod.pki_dir()}: run `motcua pki init`")
        return
    _print(infos)

"""``ecg-stream relearn``: make patients learn their normal again (an electrode change)."""

from __future__ import annotations

import asyncio

import click

from stream.cli.settings_help import settings_epilog
from stream.redact import redact_urls
from stream.settings import Settings


@click.command("relearn", epilog=settings_epilog("relearn"))
@click.argument("patients", nargs=-1, required=True)
@click.pass_obj
def relearn(settings: Settings, patients: tuple[str, ...]) -> None:
    """Forget the learned normals of PATIENTS: each learns again from its next beat.

    For an electrode moved or changed, a new lead, a patient whose normal changed: the next
    ECG_LEARNING_S seconds of each patient's signal are a learning period again (its beats
    are marked learning and raise no alert). Deletes the Redis keys of docs/adaptation.md.

    \b
    Example:
      ecg-stream relearn bed-12 bed-14
    """
    from stream.thresholds.normal import NORMAL_VERSION  # local: keeps --help fast
    from stream.thresholds.normal_store import RedisNormalStore
    from stream.thresholds.redis_store import redis_client

    async def run() -> int:
        client = redis_client(settings)
        try:
            store = RedisNormalStore(client, settings.redis_key_prefix, NORMAL_VERSION)
            return await store.delete(patients)
        finally:
            await client.aclose()

    import redis  # local: keeps --help fast

    try:
        found = asyncio.run(run())
    except (redis.RedisError, OSError) as exc:
        msg = redact_urls(f"Redis at {settings.redis_url}: {exc}")
        raise click.ClickException(msg) from exc
    click.echo(f"{found} of {len(patients)} patients had a learned normal or a learning period; "
               "all learn again from their next beat")

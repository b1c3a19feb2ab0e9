"""``ecg-stream board``: the ward board, every patient's state from the output topics."""

from __future__ import annotations

import click

from stream.cli.settings_help import settings_epilog
from stream.clients.probes import require_free_port, require_kafka
from stream.settings import Settings


@click.command("board", epilog=settings_epilog("board"))
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to serve on (default ECG_BOARD_PORT, 6070; address: ECG_BIND_HOST).")
@click.option("--lookback", "lookback_s", type=click.FloatRange(min=0), default=120.0,
              show_default=True,
              help="On start, read this many seconds of the output topics back (by record "
                   "time), so the board opens with the recent state.")
@click.option("--interval", "interval_s", type=click.FloatRange(0.1, 10), default=0.5,
              show_default=True, help="Seconds between the pages' updates.")
@click.option("--strip-seconds", "strip_s", type=click.FloatRange(2, 60), default=10.0,
              show_default=True, help="Seconds of signal kept per patient for the strip.")
@click.option("--max-patients", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Patients kept (the least recently updated is dropped beyond).")
@click.pass_obj
def board(settings: Settings, port: int | None, lookback_s: float, interval_s: float,
          strip_s: float, max_patients: int) -> None:
    """Serve the ward board: every patient, whatever worker scores them.

    Reads every partition of the scores, alerts, events, signal and beats topics (no consumer
    group, nothing committed) and serves /board/: one row per patient (state, heart rate, last
    anomaly, alarm, learning), most urgent first, updated every --interval; each patient's
    page has the signal strip in mV against seconds with the beat marks (beat mode: the last
    beats). Alarms come from ecg.alerts: run `ecg-stream alerts --publish` beside it. Pages
    need ECG_WEB_TOKEN when it is set; /metrics and /health need none (no patient data).
    Stop with SIGTERM or Ctrl-C.

    \b
    Examples:
      ecg-stream board                        # http://127.0.0.1:6070/board/
      ECG_WEB_TOKEN=$(openssl rand -hex 16) ecg-stream board --port 8080
    """
    from stream.board.feed import BoardFeed  # local: aiohttp and aiokafka, keeps --help fast
    from stream.board.service import BoardOptions, run_board
    from stream.observe.access import exposure_warning

    require_kafka(settings)
    port = settings.board_port if port is None else port
    setting = "--port" if port != settings.board_port else "ECG_BOARD_PORT"
    require_free_port(settings.bind_host, port, setting)
    warning = exposure_warning(settings.bind_host, settings.web_token, "the ward board")
    if warning:
        click.echo(f"warning: {warning}", err=True)
    opts = BoardOptions(port=port, lookback_s=lookback_s, interval_s=interval_s,
                        strip_s=strip_s, max_patients=max_patients)

    def ready(url: str, feed: BoardFeed) -> None:
        token = " (token: ECG_WEB_TOKEN)" if settings.web_token is not None else ""
        base = url.removesuffix("/board/")
        reading = (f"reading {feed.counts.partitions} partitions of the output topics"
                   if feed.counts.partitions else "no output topic yet (read once created)")
        click.echo(f"board ready: {url}{token}, metrics {base}/metrics, health {base}/health; "
                   f"{reading} from Kafka {settings.kafka_bootstrap}")

    run_board(settings, opts, ready)

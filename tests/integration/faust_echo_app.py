"""A minimal Faust app for the foundation test: upper-cases values from one topic to another.

Run as a real worker: ``python faust_echo_app.py worker --without-web``; the topics and the
app id come from ECHO_IN, ECHO_OUT and ECHO_APP_ID, the broker from the project's settings.
"""

import os

import faust

from stream.clients.kafka import faust_broker_url, faust_credentials
from stream.settings import Settings

settings = Settings()
app = faust.App(
    os.environ["ECHO_APP_ID"],
    broker=faust_broker_url(settings),
    broker_credentials=faust_credentials(settings),
    store="memory://",
    topic_partitions=2,
    web_enabled=False,
)
source = app.topic(os.environ["ECHO_IN"], key_serializer="raw", value_serializer="raw")
sink = app.topic(os.environ["ECHO_OUT"], key_serializer="raw", value_serializer="raw")


@app.agent(source)
async def echo(stream):  # noqa: ANN001, ANN201
    async for key, value in stream.items():
        await sink.send(key=key, value=value.upper())


if __name__ == "__main__":
    app.main()

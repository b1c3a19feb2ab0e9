# The ecg-stream image used by docker-compose.yml (worker, replay producer, CLI).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY stream ./stream
COPY models ./models
COPY producers ./producers
RUN pip install . && useradd --create-home ecg
USER ecg
ENTRYPOINT ["ecg-stream"]
CMD ["--help"]

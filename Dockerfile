# The ingestd worker image: Python 3.11, ffmpeg for the media stage, ingestd with the
# PostgreSQL and Kafka extras. Runs as an unprivileged user.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY streams ./streams
COPY connectors ./connectors
COPY ingestd ./ingestd
RUN pip install --no-cache-dir '.[postgres,kafka]'

RUN useradd --system --uid 10001 ingestd
USER ingestd
ENV INGESTD_METRICS_HOST=0.0.0.0 \
    INGESTD_METRICS_PORT=9108 \
    INGESTD_SECRETS_DIR=/run/secrets
EXPOSE 9108
ENTRYPOINT ["ingestd"]
CMD ["worker"]

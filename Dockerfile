# newswire worker image: the agents, run against the Kafka named by NEWSWIRE_BROKER_URL.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY newswire ./newswire
COPY streams ./streams
COPY agents ./agents
COPY schemas ./schemas
COPY seeds ./seeds
RUN pip install --no-cache-dir .
ENV NEWSWIRE_DATA_DIR=/var/lib/newswire \
    NEWSWIRE_WEB_PORT=6066
EXPOSE 6066
CMD ["newswire", "worker"]

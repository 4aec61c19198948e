# newswire worker image: the agents, run against the Kafka named by NEWSWIRE_BROKER_URL
# (no embedded broker: that is the `embedded` extra, for development).
FROM python:3.11-slim

WORKDIR /app
# The dependencies first, in a layer of their own: a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import subprocess, sys, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--no-cache-dir', *deps])"

COPY README.md ./
COPY newswire ./newswire
COPY streams ./streams
COPY agents ./agents
COPY schemas ./schemas
COPY seeds ./seeds
RUN pip install --no-cache-dir --no-deps .

# A user of its own; its data directory exists in the image, owned by it, so that a
# volume mounted there is created with that owner.
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/newswire newswire
USER newswire
ENV NEWSWIRE_DATA_DIR=/var/lib/newswire \
    NEWSWIRE_WEB_PORT=6066
EXPOSE 6066
CMD ["newswire", "worker"]

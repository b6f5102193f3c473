# employes-sync: the operator, its batch workers, the trigger and the demo simulator, in one image.
#
#   docker build -t employes-sync:0.1.0 .
#
# Two stages: the builder makes a wheel of this package and installs it into a virtualenv; the final
# stage copies only that virtualenv onto a clean slim base (no compilers, no build tools, no pip cache).
# The `local` extra (embedded PostgreSQL) is deliberately not installed: in a cluster the database is
# a real server, reached through the DSN an EmployesSync references.
#
# BASE_IMAGE is the official Python image by default. Where that cannot be pulled (an air-gapped
# build host), pass a mirror of it, or any Debian-based image with python3.11 and pip on PATH as
# `python` and `pip`:
#
#   docker build --build-arg BASE_IMAGE=registry.example.com/python:3.11.13-slim-bookworm -t employes-sync:0.1.0 .
ARG BASE_IMAGE=python:3.11.13-slim-bookworm

FROM ${BASE_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# A venv without pip or setuptools: the image never installs anything at run time, so they would only
# be dead weight (and attack surface). The base's own pip installs into it with --python.
RUN python -m venv --without-pip /opt/venv

# The dependencies pyproject lists first, in a layer of their own: a rebuild after a change to the
# sources or the README reuses it.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
       > /tmp/requirements.txt \
    && pip --python /opt/venv/bin/python install --no-cache-dir -r /tmp/requirements.txt
# README.m[d] matches README.md when it exists and nothing otherwise (pyproject names it as the
# readme; a missing one only warns).
COPY README.m[d] ./
COPY operator/ ./operator/
# Build the wheel, install it (its dependencies are in already), check the set, prove the script runs.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && pip --python /opt/venv/bin/python install --no-cache-dir --no-deps /wheels/*.whl \
    && pip --python /opt/venv/bin/python check \
    && /opt/venv/bin/employes-sync --help > /dev/null


FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="employes-sync" \
      org.opencontainers.image.description="Kubernetes operator syncing Employes.nl employees into PostgreSQL timelines" \
      org.opencontainers.image.licenses="MIT"

# A fixed numeric UID/GID, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
RUN groupadd --system --gid 10001 employes \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin employes

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

USER 10001:10001
WORKDIR /tmp

# 8080: /metrics; 8081: kopf's /healthz; 8089: the demo simulator.
EXPOSE 8080 8081 8089

ENTRYPOINT ["employes-sync"]
CMD ["operator"]

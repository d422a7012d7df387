# askdocs: the web app, the REST API and (for compose) a Chroma server, from one slim image.
#   docker build -t askdocs .                                       CPU (the default)
#   docker build -t askdocs:gpu --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
#   docker run -p 8501:8501 -v askdocs-data:/data askdocs           web app, embedded Chroma under /data
#   docker run -p 8502:8502 -v askdocs-data:/data askdocs api       REST API instead (one of the two: see
#                                                                   docs/deployment.md to run both)
# Two stages: the build stage installs into a virtualenv (with a compiler at hand, for any package that
# ships no wheel); the runtime stage copies only that virtualenv onto a fresh python:3.11-slim.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The CPU index keeps the image free of CUDA libraries (~5 GB less). The CUDA wheels of the same torch
# version bundle their CUDA runtime, so the GPU variant needs only this argument, not a CUDA base image.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
# torch first and alone, from the chosen index, so nothing later pulls another build of it.
RUN pip install torch==2.13.0 --index-url ${TORCH_INDEX_URL}
COPY requirements.txt requirements-nodeps.txt ./
RUN pip install -r requirements.txt \
 && pip install --no-deps -r requirements-nodeps.txt

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ASKDOCS_DATA_DIR=/data \
    ASKDOCS_REST_HOST=0.0.0.0
# Same base image as the build stage, so the virtualenv's python symlink resolves; no compiler here.
COPY --from=build /opt/venv /opt/venv

WORKDIR /srv/askdocs
COPY askdocs/ askdocs/
COPY ingest/ ingest/
COPY retrieval/ retrieval/
COPY generation/ generation/
COPY eval/ eval/
COPY tuning/ tuning/
COPY app/ app/
COPY .streamlit/config.toml .streamlit/config.toml
COPY sample_docs/ sample_docs/
COPY docker/entrypoint.sh /usr/local/bin/askdocs-entrypoint
COPY docker/healthcheck.py /usr/local/bin/askdocs-healthcheck

RUN useradd --create-home --uid 10001 askdocs \
 && mkdir -p /data /models /chroma && chown askdocs /data /models /chroma \
 && chmod 0755 /usr/local/bin/askdocs-entrypoint /usr/local/bin/askdocs-healthcheck
USER askdocs
VOLUME ["/data"]
# 8501 web app, 8502 REST API, 8000 Chroma server (`askdocs-entrypoint chroma`, used by compose.yaml)
EXPOSE 8501 8502 8000

ENTRYPOINT ["/usr/local/bin/askdocs-entrypoint"]
CMD ["web"]

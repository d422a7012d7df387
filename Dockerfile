# askdocs web app on the embedded defaults: CPU torch, packaged offline models, embedded Chroma under /data.
# Build: docker build -t askdocs .    Run: docker run -p 8501:8501 -v askdocs-data:/data askdocs
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ASKDOCS_DATA_DIR=/data

WORKDIR /srv/askdocs

# torch first and alone, from the CPU index, so nothing later pulls a CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY requirements.txt requirements-nodeps.txt ./
RUN pip install -r requirements.txt \
 && pip install --no-deps -r requirements-nodeps.txt

COPY askdocs/ askdocs/
COPY ingest/ ingest/
COPY retrieval/ retrieval/
COPY generation/ generation/
COPY eval/ eval/
COPY app/ app/
COPY .streamlit/ .streamlit/
COPY sample_docs/ sample_docs/
COPY docker/entrypoint.sh /usr/local/bin/askdocs-entrypoint

RUN useradd --create-home --uid 10001 askdocs \
 && mkdir -p /data && chown askdocs /data \
 && chmod 0755 /usr/local/bin/askdocs-entrypoint
USER askdocs
VOLUME ["/data"]
EXPOSE 8501

ENTRYPOINT ["/usr/local/bin/askdocs-entrypoint"]

#!/bin/sh
# The image's commands. The single-container default (`web`) indexes the sample documents first; under
# compose a one-shot `index` service does that once, before the replicas start (INDEX_SAMPLES=0 there),
# so two replicas never rebuild the same BM25 files at the same moment.
#   web [streamlit options]   the web app on 0.0.0.0:8501
#   api                       the REST API on ASKDOCS_REST_HOST:ASKDOCS_REST_PORT (0.0.0.0:8502 in the image)
#   index [PATH...]           python -m ingest (default: the sample documents), then exit
#   chroma                    a Chroma server on 0.0.0.0:8000, data in /chroma (the chromadb of requirements.txt)
#   anything else             index the samples, then run it as given: python -m generation ask "..."
set -e
command="${1:-web}"
[ "$#" -gt 0 ] && shift
samples() {
    if [ "${INDEX_SAMPLES:-1}" != 0 ]; then python -m ingest sample_docs/documents; fi
}
case "$command" in
    web)
        samples
        exec python -m app --server.address 0.0.0.0 --server.port 8501 "$@" ;;
    api)
        samples
        exec python -m app.api ;;
    index)
        if [ "$#" -eq 0 ]; then set -- sample_docs/documents; fi
        exec python -m ingest "$@" ;;
    chroma)
        exec chroma run --path "${CHROMA_PATH:-/chroma}" --host 0.0.0.0 --port "${CHROMA_PORT:-8000}" ;;
    *)
        samples
        exec "$command" "$@" ;;
esac

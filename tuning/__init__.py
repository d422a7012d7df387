"""Training and adapting rerankers: the offline reranker (``train_reranker``) and per-collection adaptation.

A layer of its own above ``retrieval``, ``generation`` and ``eval``: it writes questions with a local
generator, measures with eval's metrics and data sets, and trains what retrieval then serves. Query time
never imports it; what a search needs of an adaptation (``retrieval.rerankers.per_collection``) stays in ``retrieval``.
"""

"""Candidate retrieval, rankers, baselines, ranking metrics, MLflow tracking and registry (imports features/)."""

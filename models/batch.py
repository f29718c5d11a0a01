"""Nightly suggestions for every citizen, on this process or on a Dask cluster.

One run computes one kind's top ``k`` for every citizen of the population (except those who had switched AI
suggestions off when the run started: their choice in the consent store, else the population's default; see
:mod:`features.consent`) with readiness, gap, bridging trainings, the exact per-feature explanation and, for a
mitigated version, which fairness guarantee moved an item up, and stores them (:mod:`models.batch_write`):

1. **plan** — the citizens in id order, cut into partitions of ``partition_size``; the model (the registry's
   champion, or the alias asked; a kind the fairness gate withdrew has none); a *payload* with everything a
   partition needs besides its citizens: the booster and its re-ranker, the catalogue with its item embeddings
   (the match space), the bridging trainings;
2. **partitions** — for each: the citizens' contexts (read from the population with row-group pruning, so no
   process loads the whole population), ranking by the service's :class:`models.suggest.Suggester`, the gap
   analysis (vectorised, the rules of :mod:`models.gap`), one Parquet file written whole or not at all;
3. **commit** — the manifest, written last: only then is the batch visible to readers.

Engines: ``local`` runs the partitions in this process; ``dask`` submits one task per partition to a Dask
cluster (``scheduler`` address, or a ``LocalCluster`` started here). The payload travels **once per worker**,
as a worker plugin (a worker that joins or restarts gets it too), never with a task; each worker builds its
Suggester from it once. Both engines run the same partition function on the same partitions, so their batches
are identical. A worker that dies mid-run has its partitions recomputed elsewhere: a partition file appears only
whole and under a name fixed by the plan, so no citizen is lost or written twice. A crashed run resumes: the
next run with the same plan keeps the partitions already written (and reads the consent store as of the
interrupted run's start, so that its plan stays the same).

Exactness: the service computes one citizen at a time, and a float32 matrix product over many citizens rounds
differently (by ~1e-7) from the one-row product. With ``exact`` (the default) the batch computes the semantic
similarity row by row, like the service, so a precomputed suggestion equals the live one bit for bit; this
costs ~15 % at a few thousand items and more for a catalogue of 100k vacancies (see docs/scaling.md).

The modules:

- :mod:`models.batch_run` — :func:`~models.batch_run.run_batch`: checks, plan, model, engines, commit (the engine
  choice: :mod:`models.compute_engine`);
- :mod:`models.batch_partition` — the payload and the partition function every engine runs;
- :mod:`models.batch_gaps` — the vectorised gap analysis;
- :mod:`models.row_exact_space` — the match space computed row by row (``exact``);
- :mod:`models.batch_layout` — the stored batch on disk: file names, folder rules, format number;
- :mod:`models.batch_write` — writing it: partitions, labels, manifest, resume, pruning;
- :mod:`models.batch_read` — reading it, for the service: the newest complete batch, one citizen's suggestions.
"""

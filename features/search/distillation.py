"""Asymmetric multilingual distillation of the bundled MiniLM into a small Dutch-English query encoder.

In the style of Reimers & Gurevych (2020): the teacher (the bundled, English-only MiniLM) has embedded the concepts
(:func:`features.search.concept_vectors`); the student (MiniLM keeping ``layers`` of its six transformer layers)
learns to embed Dutch labels, the opening of Dutch descriptions and English labels where the teacher placed the
concept. The loss is cross-entropy over all training concepts' vectors (every other concept is a negative) plus a
distillation term pulling the student towards the teacher's embedding of the text, or of its English translation
for Dutch text. ``models.encoder_training`` runs it, evaluates it and registers the result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from features.errors import LoopbaanError
from features.minilm import minilm_folder, no_weight_loading_bars
from features.search.encoders import native_bfloat16, torch_threads
from features.search.evaluation import ConceptSplit
from features.search.labels import LabelTable
from features.search.semantic import ConceptVectors


@dataclass(frozen=True)
class EncoderConfig:
    """How much to train and evaluate (presets: ``models.encoder_training.FULL`` and ``QUICK``)."""

    layers: int = 3
    epochs: int = 2
    batch_size: int = 64
    learning_rate: float = 2e-4
    warmup_fraction: float = 0.05
    max_tokens: int = 32
    bfloat16: bool = True  # the student's forward in bfloat16 where the CPU has it natively; loss and weights float32
    scale: float = 20.0
    distillation_weight: float = 1.0
    english_per_concept: int = 1  # English label anchors per training concept and epoch
    descriptions: bool = True
    max_examples: int | None = None  # per epoch
    max_fit_minutes: float | None = None  # stop early (and say so) on a machine too busy to finish in time
    final_pass: bool = True  # after the evaluation, one pass that adds the held-out concepts (the registered model)
    final_learning_rate: float = 1e-4
    final_max_minutes: float | None = 2.5
    concept_sample: int | None = None  # concepts per kind, a seeded sample; None = all
    eval_queries: int | None = None  # test queries per kind (half as many validation ones); None = all
    test_fraction: float = 0.2
    valid_fraction: float = 0.1


@dataclass(frozen=True)
class Example:
    """One training text: the class it belongs to and the row of its distillation target."""

    text: str
    concept: int  # row of the class matrix (training concepts of every kind)
    target: int  # row of the target matrix
    source: str  # nl-label | en-label | nl-description


@dataclass(frozen=True)
class TrainingData:
    """Examples by source, the class matrix (training concepts' teacher vectors) and the distillation targets."""

    dutch: list[Example]
    english: list[Example]
    classes: np.ndarray
    targets: np.ndarray

    def epoch(self, *, config: EncoderConfig, rng: np.random.Generator) -> list[Example]:
        """All Dutch examples and ``english_per_concept`` English labels per concept, shuffled and capped."""
        by_concept: dict[int, list[Example]] = {}
        for example in self.english:
            by_concept.setdefault(example.concept, []).append(example)
        english = [examples[int(index)] for examples in by_concept.values()
                   for index in rng.permutation(len(examples))[:config.english_per_concept]]
        examples = [*self.dutch, *english]
        examples = [examples[int(index)] for index in rng.permutation(len(examples))]
        return examples[:config.max_examples] if config.max_examples is not None else examples

    def focused(self, classes: set[int], *, config: EncoderConfig, rng: np.random.Generator) -> list[Example]:
        """An epoch's examples of ``classes`` and as many of the others (so what was learned is rehearsed), at most
        ``config.max_examples`` in all."""
        examples = self.epoch(config=replace(config, max_examples=None), rng=rng)
        new = [example for example in examples if example.concept in classes]
        if config.max_examples is not None:
            new = new[:config.max_examples // 2]
        old = [example for example in examples if example.concept not in classes][:len(new)]
        mixed = [*new, *old]
        return [mixed[int(index)] for index in rng.permutation(len(mixed))]


def sampled(table: LabelTable, *, sample: int | None, seed: int) -> LabelTable:
    """A seeded sample of ``sample`` concepts (all when None), renumbered in taxonomy order."""
    if sample is None or sample >= table.n_concepts:
        return table
    chosen = np.sort(np.random.default_rng(seed).choice(table.n_concepts, size=sample, replace=False))
    new_position = np.full(table.n_concepts, -1, dtype=np.int64)
    new_position[chosen] = np.arange(len(chosen))
    keep = new_position[table.owners] >= 0
    return LabelTable(kind=table.kind, uris=table.uris[chosen], names_nl=table.names_nl[chosen],
                      names_en=table.names_en[chosen], texts=table.texts[keep], langs=table.langs[keep],
                      preferred=table.preferred[keep], owners=new_position[table.owners[keep]])


def dutch_descriptions(taxonomy, kind: str, uris: np.ndarray) -> dict[str, str]:
    frame = taxonomy.occupations if kind == "occupations" else taxonomy.competencies
    column = frame.set_index("uri")["description_nl"].reindex(uris)
    return {uri: text for uri, text in column.items() if isinstance(text, str) and text.strip()}


def training_data(tables: dict[str, LabelTable], vectors: dict[str, ConceptVectors],
                  concepts: dict[str, np.ndarray], descriptions: dict[str, dict[str, str]]) -> TrainingData:
    """Examples from the labels (and Dutch descriptions) of ``concepts``, the training concepts of each kind."""
    dutch: list[Example] = []
    english: list[Example] = []
    classes, targets = [], []
    class_offset = target_offset = 0
    for kind, table in tables.items():
        cv = vectors[kind]
        train = np.asarray(concepts[kind], dtype=np.int64)
        classes.append(cv.matrix[train])
        targets.extend([cv.label_vectors, cv.matrix])
        label_target = {int(row): target_offset + slot for slot, row in enumerate(cv.label_rows.tolist())}
        concept_target_offset = target_offset + len(cv.label_rows)
        starts = np.searchsorted(table.owners, np.arange(table.n_concepts + 1))
        for slot, concept in enumerate(train.tolist()):
            klass = class_offset + slot
            rows = np.arange(starts[concept], starts[concept + 1])
            english_pref = [row for row in rows if table.langs[row] == "en" and table.preferred[row]
                            and int(row) in label_target]
            translation = label_target[int(english_pref[0])] if english_pref else concept_target_offset + concept
            for row in rows.tolist():
                if table.langs[row] == "nl":
                    dutch.append(Example(str(table.texts[row]), klass, translation, "nl-label"))
                elif row in label_target:
                    english.append(Example(str(table.texts[row]), klass, label_target[row], "en-label"))
            description = descriptions.get(kind, {}).get(str(table.uris[concept]))
            if description:
                dutch.append(Example(description, klass, concept_target_offset + concept, "nl-description"))
        class_offset += len(train)
        target_offset = concept_target_offset + table.n_concepts
    return TrainingData(dutch=dutch, english=english, classes=np.concatenate(classes).astype(np.float32),
                        targets=np.concatenate(targets).astype(np.float32))


def length_batches(examples: list[Example], *, batch_size: int, tokenizer,
                   rng: np.random.Generator) -> list[list[Example]]:
    """Batches of texts of similar length (little padding), in random order; the classes are fixed, so batch
    composition does not change the loss."""
    lengths = np.array([len(ids) for ids in tokenizer([example.text for example in examples],
                                                      add_special_tokens=False, truncation=True,
                                                      max_length=512)["input_ids"]])
    order = np.lexsort((rng.random(len(examples)), lengths))
    chunks = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    return [[examples[int(index)] for index in chunks[int(slot)]] for slot in rng.permutation(len(chunks))]


def student(*, layers: int, max_tokens: int):
    """A fresh copy of the bundled MiniLM keeping ``layers`` evenly spread transformer layers (never the cached one)."""
    import torch
    from sentence_transformers import SentenceTransformer

    with no_weight_loading_bars():
        model = SentenceTransformer(str(minilm_folder()), device="cpu", local_files_only=True)
    bert = model[0].auto_model
    total = len(bert.encoder.layer)
    if not 1 <= layers <= total:
        raise LoopbaanError(f"layers must be between 1 and {total}; got {layers}")
    keep = sorted({round(index * (total - 1) / max(layers - 1, 1)) for index in range(layers)})
    bert.encoder.layer = torch.nn.ModuleList([bert.encoder.layer[index] for index in keep])
    bert.config.num_hidden_layers = len(keep)
    model.max_seq_length = max_tokens
    return model


def fit(model, data: TrainingData, *, config: EncoderConfig, seed: int, progress: bool,
        echo: Callable[[str], None], threads: int = 1, epochs: int | None = None,
        learning_rate: float | None = None, minutes: float | None = None,
        pick: Callable[[np.random.Generator], list[Example]] | None = None, name: str = "fit") -> dict[str, float]:
    """Train ``model`` in place on ``threads`` torch threads, by default as ``config`` says.

    ``pick`` chooses each epoch's examples (default: :meth:`TrainingData.epoch`). Returns the mean loss of each
    epoch (``<name>_loss_epoch_<n>``), the steps done, ``<name>_stopped_early`` (1.0 when the time budget,
    ``minutes`` or ``config.max_fit_minutes``, ran out before the last step) and ``<name>_bfloat16`` (1.0 when the
    forward ran in bfloat16 autocast: about twice as fast as float32 on a CPU that has it, docs/search.md).
    """
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    classes = torch.from_numpy(data.classes)
    targets = torch.from_numpy(data.targets)
    epochs = config.epochs if epochs is None else epochs
    minutes = config.max_fit_minutes if minutes is None else minutes
    pick = pick or (lambda generator: data.epoch(config=config, rng=generator))
    plans = [length_batches(pick(rng), batch_size=config.batch_size, tokenizer=model.tokenizer, rng=rng)
             for _ in range(epochs)]
    steps = sum(len(plan) for plan in plans)
    bfloat16 = config.bfloat16 and native_bfloat16()
    # fused: one kernel over all parameters; the per-tensor loop spent a fifth of each step on the embedding table
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate or config.learning_rate, weight_decay=0.01,
                                  fused=True)
    warmup = max(1, int(config.warmup_fraction * steps))

    def schedule(step: int) -> float:
        return (step + 1) / warmup if step < warmup else max(0.0, (steps - step) / max(1, steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    losses: dict[str, float] = {}
    deadline = time.monotonic() + 60 * minutes if minutes else math.inf
    done = 0
    bar = tqdm(total=steps, desc=f"encoder {name}", unit="batch", disable=not progress)
    try:
        with torch_threads(threads):
            for epoch, plan in enumerate(plans, start=1):
                total, seen = 0.0, 0
                for batch in plan:
                    if time.monotonic() > deadline:
                        break
                    features = model.preprocess([example.text for example in batch])
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                        embeddings = model(features)["sentence_embedding"]
                    embeddings = F.normalize(embeddings.float(), dim=-1)
                    labels = torch.tensor([example.concept for example in batch])
                    wanted = targets[torch.tensor([example.target for example in batch])]
                    loss = F.cross_entropy(config.scale * embeddings @ classes.T, labels) \
                        + config.distillation_weight * (1.0 - (embeddings * wanted).sum(dim=-1)).mean()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    scheduler.step()
                    total += float(loss.detach())
                    seen += 1
                    done += 1
                    bar.update(1)
                    bar.set_postfix(epoch=epoch, loss=f"{float(loss.detach()):.3f}")
                if seen:
                    losses[f"{name}_loss_epoch_{epoch}"] = total / seen
                    echo(f"encoder {name}: epoch {epoch}/{epochs}: {seen:,} batches, mean loss "
                         f"{losses[f'{name}_loss_epoch_{epoch}']:.3f}")
                if time.monotonic() > deadline:
                    echo(f"encoder {name}: stopped after {done:,} of {steps:,} batches: the {minutes:g}-minute budget "
                         f"ran out (a busy machine); the run records it as {name}_stopped_early")
                    break
    finally:
        bar.close()
        model.eval()
    return {**losses, f"{name}_steps": float(done), f"{name}_stopped_early": float(done < steps),
            f"{name}_bfloat16": float(bfloat16)}


def final_pass(model, *, tables: dict[str, LabelTable], vectors: dict[str, ConceptVectors],
                splits: dict[str, ConceptSplit], descriptions: dict[str, dict[str, str]], config: EncoderConfig,
                seed: int, progress: bool, echo: Callable[[str], None], threads: int) -> dict[str, float]:
    """One pass over the held-out concepts' examples (with as many rehearsed ones): the model that is registered has
    then seen every concept, while the figures logged are those of the model before this pass."""
    everything = {kind: np.arange(table.n_concepts) for kind, table in tables.items()}
    data = training_data(tables, vectors, everything, descriptions)
    held_out, offset = set(), 0
    for kind, table in tables.items():
        held_out.update((offset + splits[kind].held_out).tolist())
        offset += table.n_concepts
    echo(f"encoder: final pass adding the {len(held_out):,} held-out concepts before registering")
    return fit(model, data, config=config, seed=seed + 7, progress=progress, echo=echo, threads=threads, epochs=1,
               learning_rate=config.final_learning_rate, minutes=config.final_max_minutes, name="final",
               pick=lambda rng: data.focused(held_out, config=config, rng=rng))

"""Training: everything between a model and trained parameters.

``train`` ([`jaxnn.fit`][], the one loop: epochs, evaluation, callbacks, checkpoints, resume),
``epoch`` (the compiled epoch: samplers, one optimiser step), ``population`` (``fit`` over ``N``
members at once), ``parallel`` (per-example gradients, data-parallel steps), ``checkpoint`` and
``run_dir`` (what a run leaves on disk), ``optim`` (optimisers and schedules), ``augment``,
``precision``, ``memory`` and ``plots`` (curves of a run)."""

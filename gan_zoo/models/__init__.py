"""Models. Each is a keras.Model subclass (via :class:`gan_zoo.models.base.ZooModel`,
which holds the usual defaults) that training.run() drives through:

- ``paper_defaults``: dict of settings (the run's or its own) the model's paper fixes;
- ``output_range``: the (low, high) pixel range its decoder/generator emits;
- ``from_flags(config, source, steps_per_epoch)``: build and compile it;
- ``examples_per_step(config)``: data examples one ``train_step`` consumes;
- ``Hparams``: the dataclass of its family's hyperparameters, whose
  ``validate(run)`` raises UserError for values it cannot use;
- ``image_shape(config, source)``: the (H, W, C) it works at;
- ``checkpoint_items()``: trackables (optimizers, ...) a checkpoint must hold;
- ``preview(num, seed)``: images in [0, 1] for the per-epoch grid;
- ``schedule_values()``: optimizer hyper-parameters now, for TensorBoard;
- ``serves``: what its export serves, kinds of gan_zoo/signatures.py;
- ``draws``: the pictures of held-out data it draws every epoch, kinds of
  gan_zoo/pictures.py (none for the GANs).

Optional hooks, used only where a model declares them in ``capabilities``
(a frozenset of hook names; gan_zoo.models.base.ZooModel checks, when a class
is defined, that every declared hook exists and every hook is declared):

- ``held_out_metrics(images, labels)``: {name: float} of held-out data, per
  epoch, logged with the training metrics as ``val_<name>`` (the validation
  split, where the dataset has one) or ``test_<name>``;
- ``training_callbacks()``: Keras callbacks the model's own training needs
  (the AAE's switches from pretraining to regularization and from noisy
  to clean discriminator inputs);
- ``labelled_subset(config)``: the model also trains on labelled minibatches
  (``labelled_image``, ``labelled_label``) from this many class-balanced
  training examples (0 = all); the ordinary batches then carry label -1;
- ``preview_with_batch_stats(num, seed, batch_size)``: samples drawn with
  each minibatch's own BatchNorm statistics (--eval_batch_stats).
"""

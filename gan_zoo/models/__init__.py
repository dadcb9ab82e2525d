"""Models. Each is a keras.Model subclass that training.run() drives through:

- ``paper_defaults``: dict of Config fields the model's paper fixes;
- ``output_range``: the (low, high) pixel range its decoder/generator emits;
- ``from_flags(config, source, steps_per_epoch)``: build and compile it;
- ``examples_per_step(config)``: data examples one ``train_step`` consumes;
- ``check_config(config)``: raise UserError for settings it cannot use;
- ``image_shape(config, source)``: the (H, W, C) it works at;
- ``checkpoint_items()``: trackables (optimizers, ...) a checkpoint must hold;
- ``preview(num, seed)``: images in [0, 1] for the per-epoch grid;
- ``schedule_values()``: optimizer hyper-parameters now, for TensorBoard;
- ``export_signatures()``: name -> tf.function with an input_signature.
"""

"""Optimizers and schedules the papers specify and Keras lacks.

Goodfellow et al.'s code (pylearn2) used SGD whose learning rate is divided by
1.000004 after every update down to a floor, and whose momentum rises
linearly from 0.5 to 0.7 over the first 250 epochs. Keras' SGD takes momentum
as a constant, so :class:`ScheduledMomentumSGD` reads it from a schedule of
the optimizer's own update count. Both optimizers here update each variable
with one fused TensorFlow kernel where they can.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from gan_zoo.errors import UserError


@keras.saving.register_keras_serializable("gan_zoo")
class DecayWithFloor(keras.optimizers.schedules.LearningRateSchedule):
    """lr(t) = max(initial / factor**t, floor): pylearn2's ExponentialDecay."""

    def __init__(self, initial: float, factor: float, floor: float):
        self.initial, self.factor, self.floor = initial, factor, floor

    def __call__(self, step):
        # exp(-t log f), with log f taken in float64: 1/1.000004 rounded to
        # float32 and raised to the t-th power drifts by 0.1 % at t = 1e5.
        step = ops.cast(step, "float32")
        decayed = self.initial * ops.exp(-step * math.log(self.factor))
        return ops.maximum(decayed, self.floor)

    def get_config(self):
        return {"initial": self.initial, "factor": self.factor, "floor": self.floor}


def epochs_done(updates, updates_per_epoch: int):
    """Whole epochs an optimizer has finished after ``updates`` updates (float32)."""
    return ops.floor(ops.cast(updates, "float32") / float(updates_per_epoch))


class EpochDrops:
    """Mixin: the learning rate (constant or scheduled) times ``drop_factor``
    for each of ``drop_epochs`` that has ended: the stepped rates of papers
    trained with SGD (the AAE appendix's, for one). ``updates_per_epoch``
    converts the update count to epochs, so a discriminator stepped k times a
    step drops at the same epoch as its generator.

    A mixin, not a schedule: a constant rate stays the optimizer's variable,
    so checkpoints keep one layout with or without drops, and a finished run
    can resume with drops added (Keras matches optimizer variables by
    position, and a schedule has no rate variable).
    """

    def __init__(self, *args, drop_factor=1.0, drop_epochs=(), updates_per_epoch=1, **kwargs):
        super().__init__(*args, **kwargs)
        self.drop_factor, self.drop_epochs = drop_factor, tuple(drop_epochs)
        self.updates_per_epoch = updates_per_epoch

    def _get_current_learning_rate(self):
        rate = super()._get_current_learning_rate()
        if not self.drop_epochs:
            return rate
        epoch = epochs_done(self.iterations, self.updates_per_epoch)
        ended = ops.cast(epoch >= ops.convert_to_tensor(self.drop_epochs, "float32"), "float32")
        return rate * ops.power(self.drop_factor, ops.sum(ended))

    def get_config(self):
        return {
            **super().get_config(),
            "drop_factor": self.drop_factor,
            "drop_epochs": list(self.drop_epochs),
            "updates_per_epoch": self.updates_per_epoch,
        }


def drop_epochs(text: str) -> tuple[int, ...]:
    """--lr_drop_epochs as sorted epochs; raises UserError with the fix if malformed."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.isdigit() and int(part) > 0 for part in parts):
        raise UserError(
            f"--lr_drop_epochs={text!r} must be positive whole epochs separated by commas, "
            "e.g. --lr_drop_epochs=100,150."
        )
    return tuple(sorted(int(part) for part in parts))


@keras.saving.register_keras_serializable("gan_zoo")
class EpochRamp(keras.optimizers.schedules.LearningRateSchedule):
    """A value that moves linearly from ``start`` to ``end`` over ``epochs`` epochs.

    Piecewise constant within an epoch, as pylearn2's MomentumAdjustor, which
    updated momentum once per epoch (from epoch 1, saturating at ``epochs``).
    ``updates_per_epoch`` converts the optimizer's update count to epochs.
    """

    def __init__(self, start: float, end: float, epochs: int, updates_per_epoch: int):
        self.start, self.end = start, end
        self.epochs, self.updates_per_epoch = epochs, updates_per_epoch

    def __call__(self, step):
        if self.epochs <= 0:
            return ops.convert_to_tensor(self.start, "float32")
        epoch = epochs_done(step, self.updates_per_epoch)
        alpha = ops.clip(epoch / float(self.epochs), 0.0, 1.0)
        return self.start + (self.end - self.start) * alpha

    def get_config(self):
        return {
            "start": self.start,
            "end": self.end,
            "epochs": self.epochs,
            "updates_per_epoch": self.updates_per_epoch,
        }


@keras.saving.register_keras_serializable("gan_zoo")
class ScheduledMomentumSGD(EpochDrops, keras.optimizers.SGD):
    """SGD with classical momentum whose coefficient follows a schedule.

    Update (same as pylearn2's Momentum rule):
      v <- mu(t) * v - lr(t) * g;   w <- w + v
    """

    def __init__(self, learning_rate, momentum_schedule, **kwargs):
        kwargs.pop("momentum", None)
        # A non-zero constant makes the base class create the velocity slots.
        super().__init__(learning_rate=learning_rate, momentum=0.5, **kwargs)
        if isinstance(momentum_schedule, dict):
            momentum_schedule = keras.saving.deserialize_keras_object(momentum_schedule)
        self.momentum_schedule = momentum_schedule

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        momentum = ops.cast(self.momentum_schedule(self.iterations), variable.dtype)
        velocity = self.momentums[self._get_variable_index(variable)]
        if _fusable():
            # The same update in one pass over the weights. As separate ops
            # (below) each re-reads every weight, a large share of the MLP
            # GAN's step on a CPU (README, benchmarks/op_profile.py). TensorFlow's
            # kernel computes v * mu - g * lr, then w + v, in this order, so
            # the weights are bit-identical.
            tf.raw_ops.ResourceApplyKerasMomentum(
                var=variable.handle,
                accum=velocity.handle,
                lr=learning_rate,
                grad=gradient,
                momentum=momentum,
                use_nesterov=False,
            )
            return
        self.assign(velocity, velocity * momentum - gradient * learning_rate)
        self.assign_add(variable, velocity)

    def current_momentum(self) -> float:
        return float(self.momentum_schedule(self.iterations))

    def get_config(self):
        config = super().get_config()
        config.pop("momentum", None)
        config["momentum_schedule"] = keras.saving.serialize_keras_object(self.momentum_schedule)
        return config


@keras.saving.register_keras_serializable("gan_zoo")
class Adam(EpochDrops, keras.optimizers.Adam):
    """Keras' Adam, with each variable's update as TensorFlow's one fused op.

    Keras writes the update as about fifteen ops per variable. Tracing them
    was about half of what a short AAE run spent building its step (the test
    suite builds hundreds), and on a CPU each of those ops re-reads the whole
    weight tensor. ``ResourceApplyAdam`` makes the same update in one pass:
    m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2), w -= m alpha / (sqrt(v) +
    eps), alpha = lr sqrt(1 - b2^t) / (1 - b1^t). It differs from Keras' ops
    in rounding only: the kernel forms 1 - b2 in float32 where Keras rounds it
    from float64. With AMSGrad, and where :func:`_fusable` says no, Keras'
    own ops run.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or not _fusable():
            return super().update_step(gradient, variable, learning_rate)
        # TensorFlow's own ops here: Keras' ops and Variable arithmetic infer
        # dtypes in Python, which made these scalars cost more tracing than
        # the update itself.
        dtype = variable.dtype
        step = tf.cast(self.iterations.value, dtype) + 1.0
        beta_1, beta_2 = tf.constant(self.beta_1, dtype), tf.constant(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].handle,
            v=self._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.constant(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )


def _fusable() -> bool:
    """Whether an update may call TensorFlow's fused kernels on the handles of
    the variable and its slots: the TensorFlow backend, with no strategy or
    one of the mirrored kind. Those hand ``update_step`` one device's copy of
    the variable at a time, inside an update context in which a slot's
    ``handle`` is that device's copy too. TPU and parameter-server strategies
    place and update variables their own ways; there Keras' ops run."""
    if keras.backend.backend() != "tensorflow":
        return False
    if not tf.distribute.has_strategy():
        return True
    return isinstance(
        tf.distribute.get_strategy(),
        (
            tf.distribute.MirroredStrategy,
            tf.distribute.MultiWorkerMirroredStrategy,
            tf.distribute.OneDeviceStrategy,
        ),
    )


@keras.saving.register_keras_serializable("gan_zoo")
class LossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """Keras' dynamic loss scaling for float16, counting every step in ``iterations``.

    Keras' version reports its inner optimizer's update count, which stops
    while steps are skipped for overflowing gradients; the driver reads
    ``iterations`` as the training step count (checkpoint numbers, where a
    resumed run re-enters its data), so here it counts skipped steps too.
    """

    @property
    def iterations(self):
        return self._iterations

    def apply(self, grads, trainable_variables=None):
        super().apply(grads, trainable_variables)
        self._iterations.assign_add(1)


def descend(optimizer: keras.optimizers.Optimizer, tape: tf.GradientTape, loss, variables) -> None:
    """One update of ``variables`` along -d ``loss`` / d ``variables``, as taped.

    Under loss scaling (--mixed_precision=mixed_float16) backpropagation
    starts from the loss scale instead of 1, which scales every float16
    intermediate gradient clear of underflow; the optimizer divides the
    scale out again and skips the update if any gradient overflowed.
    """
    optimizer.apply_gradients(zip(gradients(optimizer, tape, loss, variables), variables))


def gradients(optimizer: keras.optimizers.Optimizer, tape: tf.GradientTape, loss, variables):
    """d ``loss`` / d ``variables`` as ``optimizer`` expects them: starting from
    its loss scale under loss scaling (see :func:`descend`)."""
    start = None
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        start = optimizer.scale_loss(tf.ones_like(loss))
    return tape.gradient(loss, variables, output_gradients=start)


def build(config, updates_per_epoch: int, learning_rate: float = 0.0) -> keras.optimizers.Optimizer:
    """The optimizer a Config asks for, one fresh instance per network.

    Args:
      config: the run's Config (optimizer, learning_rate, lr_decay, ...).
      updates_per_epoch: how many times *this* optimizer steps per epoch
        (k times the steps for a discriminator), for epoch-based schedules.
      learning_rate: this network's own initial rate (e.g. --d_learning_rate);
        0 means --learning_rate.
    """
    initial = learning_rate or config.learning_rate
    learning_rate = initial
    if config.lr_decay != 1.0:
        learning_rate = DecayWithFloor(initial, config.lr_decay, config.min_learning_rate)
    drops = dict(
        drop_factor=config.lr_drop_factor,
        drop_epochs=drop_epochs(config.lr_drop_epochs),
        updates_per_epoch=updates_per_epoch,
    )
    if config.optimizer == "adam":
        optimizer = Adam(learning_rate, beta_1=config.beta_1, beta_2=config.beta_2, **drops)
    else:
        schedule = EpochRamp(
            config.momentum, config.final_momentum, config.momentum_epochs, updates_per_epoch
        )
        optimizer = ScheduledMomentumSGD(learning_rate, schedule, **drops)
    if config.mixed_precision == "mixed_float16":
        return LossScaleOptimizer(optimizer)
    return optimizer

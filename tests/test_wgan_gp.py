"""WGAN-GP, the preset of the GAN family (Gulrajani et al. 2017)."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from gan_zoo import registry, training
from gan_zoo.datasets import digits, pipeline
from gan_zoo.errors import UserError
from gan_zoo.models.dcgan import DCGAN

SMALL = dict(model="wgan_gp", image_size=32, ngf=8, ndf=8, batch_size=4)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("wgan_gp") / "run", **SMALL)
    model = registry.model_class("wgan_gp").from_flags(cfg, digits.load(), 2)
    data, _ = pipeline.training_dataset(
        digits.load(),
        "train",
        DCGAN.examples_per_step(cfg),
        DCGAN.output_range,
        cfg.seed,
        image_shape=DCGAN.image_shape(cfg, digits.load()),
    )
    return cfg, model, data


def test_the_preset_sets_the_papers_settings_and_flags_still_override_them(built):
    cfg, model, _ = built
    assert (cfg.adversarial_loss, cfg.penalty, cfg.penalty_weight, cfg.d_steps) == (
        "wasserstein",
        "gradient",
        10.0,
        5,
    )
    assert (cfg.optimizer, cfg.learning_rate, cfg.beta_1, cfg.beta_2) == ("adam", 1e-4, 0.0, 0.9)
    for optimizer in (model.d_optimizer, model.g_optimizer):
        assert (float(optimizer.beta_1), float(optimizer.beta_2)) == (0.0, 0.9)
    assert isinstance(model, DCGAN) and model.name == "wgan_gp"
    assert tiny_config(cfg.workdir, **dict(SMALL, d_steps=2)).d_steps == 2


def test_the_critic_has_no_batchnorm_and_the_generator_keeps_it(built):
    _, model, _ = built

    def normalisers(net):
        return [layer for layer in net.layers if "BatchNorm" in type(layer).__name__]

    assert normalisers(model.discriminator) == []
    assert normalisers(model.generator)


def test_a_step_takes_five_critic_updates_then_one_generator_update(built):
    _, model, data = built
    critic = [v.numpy().copy() for v in model.discriminator.trainable_variables]
    before = (int(model.d_optimizer.iterations), int(model.g_optimizer.iterations))
    logs = model.fit(data, steps_per_epoch=1, epochs=1, verbose=0).history
    assert (int(model.d_optimizer.iterations), int(model.g_optimizer.iterations)) == (
        before[0] + 5,
        before[1] + 1,
    )
    changed = {
        v.path
        for b, v in zip(critic, model.discriminator.trainable_variables)
        if not np.array_equal(b, v.numpy())
    }
    # Every critic weight moves but the score's bias, whose gradient is
    # d(E[D(G(z))] - E[D(x)])/db = 1 - 1 = 0 (and the penalty has none).
    assert {v.path for v in model.discriminator.trainable_variables} - changed == {"logit/bias"}
    # A critic reports scores, not probabilities, and its penalty.
    assert set(logs) == {"d_loss", "g_loss", "critic_x", "critic_G_z", "penalty"}
    assert logs["penalty"][0] > 0


def test_the_penalty_enters_the_critics_loss_with_its_weight(built):
    cfg, model, data = built
    batch = next(iter(data))
    batch = {k: v[:4] for k, v in batch.items()}
    fake = model.generate_from(model.sample_noise(4), batch, training=True)
    state = model.seed_generator.state.numpy()
    loss, real_out, fake_out = model.discriminator_loss(batch["image"], fake, batch)
    model.seed_generator.state.assign(state)
    model.penalty_weight = 0.0
    plain, _, _ = model.discriminator_loss(batch["image"], fake, batch)
    model.penalty_weight = cfg.penalty_weight
    np.testing.assert_allclose(float(plain), float(tf.reduce_mean(fake_out - real_out)), rtol=1e-5)
    assert float(loss) > float(plain)


def test_the_export_serves_the_critics_score(built, tmp_path):
    cfg, model, _ = built
    directory = training.export_model(cfg, model, str(tmp_path / "export"))
    served = tf.saved_model.load(directory).signatures["discriminate"](
        images=tf.zeros((2, 32, 32, 1))
    )
    assert set(served) == {"score"}
    np.testing.assert_allclose(
        served["score"].numpy(),
        model.discriminator(tf.fill((2, 32, 32, 1), -1.0), training=False).numpy().reshape(-1),
        rtol=1e-5,
    )


def test_a_gradient_penalty_on_a_batchnorm_critic_is_refused(tmp_path):
    with pytest.raises(UserError, match="add --d_norm=none"):
        tiny_config(tmp_path, **dict(SMALL, d_norm="batch"))

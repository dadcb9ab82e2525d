"""The first training steps of every model, recorded to compare refactors by.

``record(flags)`` resolves ``flags`` as train.py would (the digits dataset, a
small network), trains three steps and returns every step's logged losses and
a fingerprint of the weights after them. tests/data/golden_steps.json holds
these records as main computed them before the models were restructured
(issue 16); tests/test_golden_steps.py checks that the same flags still give
the same numbers. Re-record only when a change of behaviour is intended, and
say so in the commit:

    python tests/golden_steps.py   # rewrites tests/data/golden_steps.json
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "golden_steps.json")
STEPS = 3
SMALL = {
    "batch_size": 8,
    "hidden_units": 16,
    "hidden_layers": 1,
    "latent_dim": 4,
    "steps_per_execution": 1,
}

# One case per model, and one per objective or phase that a model can switch.
CASES = {
    "gan": {"model": "gan"},
    "gan_minimax_k2": {"model": "gan", "adversarial_loss": "minimax", "d_steps": 2},
    "gan_simultaneous": {"model": "gan", "gan_update": "simultaneous"},
    "dcgan": {"model": "dcgan", "image_size": 32, "ngf": 8, "ndf": 8},
    "cgan": {"model": "cgan"},
    "ae": {"model": "ae"},
    "ae_conv_mse": {"model": "ae", "architecture": "conv", "recon_loss": "mse"},
    "dae": {"model": "dae", "corruption": "salt_and_pepper"},
    "vae": {"model": "vae", "kl_warmup_epochs": 2},
    "cvae": {"model": "cvae"},
    # Recorded before cae's paper default became Rifai's tied network: pinned
    # to the untied MLP that the records guard; cae_tied is that network.
    "cae": {"model": "cae", "contraction_weight": 0.1, "architecture": "mlp"},
    "cae_stochastic": {
        "model": "cae",
        "contraction": "stochastic",
        "contraction_weight": 0.1,
        "architecture": "mlp",
    },
    "cae_tied": {"model": "cae", "contraction_weight": 0.1},
    "vae_semi_supervised": {"model": "vae_semi_supervised", "num_labels": 20},
    "aae": {"model": "aae"},
    "aae_mixture_conditional": {
        "model": "aae",
        "prior": "mixture_gaussian",
        "latent_dim": 2,
        "conditional_prior": True,
    },
    "aae_supervised": {"model": "aae_supervised"},
    "aae_semi_supervised": {"model": "aae_semi_supervised", "num_labels": 20, "input_noise": 0.3},
    # Recorded before aae_clustering's defaults became beta_1 = 0.1 and
    # d_input_noise = 0.3; pinned, so that the record still guards the same steps.
    "aae_clustering": {
        "model": "aae_clustering",
        "num_clusters": 4,
        "pretrain_epochs": 0,
        "beta_1": 0.9,
        "d_input_noise": 0.0,
    },
    "aae_dim_reduction": {"model": "aae_dim_reduction", "num_labels": 20},
    "aae_dim_reduction_unsupervised": {
        "model": "aae_dim_reduction_unsupervised",
        "num_clusters": 4,
    },
    "vae_mixture": {"model": "vae", "prior": "mixture_gaussian", "latent_dim": 2},
}


def record(flags: dict, workdir: str) -> dict:
    """{metric: [value after each step]} and the weights' fingerprint after
    STEPS steps of the model that ``flags`` resolve to."""
    import keras
    import numpy as np

    from gan_zoo import config, registry, training

    # The small widths where the model has them (the GANs' networks are the
    # papers'; models_with has every model that has a setting).
    small = {
        k: v
        for k, v in SMALL.items()
        if k in config.RunConfig.__dataclass_fields__ or flags["model"] in registry.models_with(k)
    }
    cfg = registry.resolve(
        {
            **small,
            **flags,
            "workdir": workdir,
            "dataset": "digits",
            "epochs": 1,
            "steps_per_epoch": STEPS,
        }
    )
    _, model, make_dataset, *_ = training._prepare(cfg, resume_from=None)
    steps = {}

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            for name, value in logs.items():
                steps.setdefault(name, []).append(float(np.asarray(value).reshape(-1)[0]))

    model.fit(
        make_dataset(0),
        epochs=1,
        steps_per_epoch=STEPS,
        callbacks=[Record()],
        verbose=0,
        shuffle=False,
    )
    weights = [np.asarray(v, np.float64) for v in model.trainable_weights]
    return {
        "steps": steps,
        "weights": {
            "count": sum(w.size for w in weights),
            "sum": float(sum(w.sum() for w in weights)),
            "abs_sum": float(sum(np.abs(w).sum() for w in weights)),
        },
    }


if __name__ == "__main__":
    import tempfile

    records = {name: record(flags, tempfile.mkdtemp()) for name, flags in CASES.items()}
    with open(PATH, "w") as f:
        json.dump(records, f, indent=1, sort_keys=True)
    print(f"wrote {len(records)} records to {PATH}", file=sys.stderr)

"""The AAE appendix's optimisation, as the experiments here read it.

The paper trains every AAE with plain SGD and momentum; gan_zoo's flagfiles
use Adam, whose per-phase rates the config expresses, and these per-phase
momenta it does not.
"""


def appendix_optimizers():
    """The appendix's plain SGD: reconstruction lr 0.01 with momentum 0.9, both
    adversarial networks lr 0.1 with momentum 0.1, the labelled cost lr 0.1."""
    import keras

    sgd = keras.optimizers.SGD
    return dict(
        ae_optimizer=sgd(0.01, momentum=0.9),
        d_optimizer=sgd(0.1, momentum=0.1),
        g_optimizer=sgd(0.1, momentum=0.1),
        c_optimizer=sgd(0.1, momentum=0.9),
    )

"""gan_zoo: GANs, adversarial autoencoders and their relatives in Keras 3."""

__version__ = "0.1.0"

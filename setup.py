from setuptools import find_packages, setup

# python -m gan_zoo.onnx_export and train.py --export_onnx. Tested together with
# tensorflow 2.21, numpy 2.4 and protobuf 7.36, none of which they downgrade.
# Part of "test" too, so that the suite always checks the ONNX files.
ONNX = ["tf2onnx>=1.17,<1.18", "onnx>=1.23,<1.24", "onnxruntime>=1.32,<1.33"]

TOOLS = [
    "sample",
    "walk",
    "arithmetic",
    "probe",
    "evaluate",
    "train_classifier",
    "prepare_lsun",
    "curves",
    "toy1d",
    "onnx_export",
    "results",
    "latent_figure",
]

setup(
    name="gan_zoo",
    version="0.1.0",
    description="GANs (Goodfellow 2014), DCGAN, adversarial autoencoders and their relatives "
    "in Keras 3 / TensorFlow.",
    packages=find_packages(include=["gan_zoo", "gan_zoo.*"]),
    package_data={"gan_zoo": ["data/*.npz", "data/*.weights.h5"]},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<4",
        "tensorflow-datasets>=4.9.10,<5",
        # tfds imports it when it downloads, but does not declare it.
        "importlib_resources>=6",
        "tensorboard>=2.21,<2.22",
        "numpy>=2.0,<3",
        "matplotlib>=3.9,<4",
        "pillow>=10.1",
        "lmdb>=1.4",
        "absl-py>=2.1,<3",
    ],
    # Every tool but train.py (the README's entry point, kept at the root):
    # gan-zoo-<tool> is python -m gan_zoo.<tool>.
    entry_points={
        "console_scripts": [
            f"gan-zoo-{tool.replace('_', '-')}=gan_zoo.cli:console" for tool in TOOLS
        ]
    },
    extras_require={
        "onnx": ONNX,
        # scikit-learn: the SVM probe's test compares our solver with LinearSVC.
        "test": [
            "pytest>=8",
            "pytest-xdist>=3.6,<4",
            "ruff==0.17.6",
            "scikit-learn>=1.5,<2",
            *ONNX,
        ],
    },
)

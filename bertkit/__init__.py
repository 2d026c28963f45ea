"""bertkit: fine-tune and use BERT-family encoders from the command line."""

__version__ = "0.1.0"

__all__ = ["__version__", "QA", "Classifier", "attention"]


def __getattr__(name):  # lazy: `import bertkit` must stay cheap for the CLI
    if name == "QA":
        from bertkit.qa.api import QA

        return QA
    if name == "Classifier":
        from bertkit.classify.predict import Classifier

        return Classifier
    if name == "attention":
        import importlib

        return importlib.import_module("bertkit.attention")
    raise AttributeError(f"module 'bertkit' has no attribute {name!r}")

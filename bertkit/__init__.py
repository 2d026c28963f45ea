"""bertkit: fine-tune and use BERT-family encoders from the command line."""

__version__ = "0.1.0"

__all__ = ["__version__", "QA", "Classifier", "Tagger", "attention", "task_registry"]


def task_registry() -> dict:
    """{name: TaskSpec} of every task (bertkit/tasks.py), imported on first use."""
    from bertkit.tasks import TASKS

    return TASKS


def __getattr__(name):  # lazy: `import bertkit` must stay cheap for the CLI
    for spec in task_registry().values():  # each task's predictor: bertkit.Classifier, bertkit.QA, ...
        if spec.api_name == name:
            from bertkit.taskspec import load

            return load(spec.predictor_ref)
    if name == "attention":
        import importlib

        return importlib.import_module("bertkit.attention")
    raise AttributeError(f"module 'bertkit' has no attribute {name!r}")

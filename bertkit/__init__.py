"""bertkit: fine-tune and use BERT-family encoders from the command line."""

__version__ = "0.1.0"


def task_registry() -> dict:
    """{name: TaskSpec} of every task (bertkit/tasks.py), imported on first use."""
    from bertkit.tasks import TASKS

    return TASKS


def __getattr__(name):  # lazy: `import bertkit` must stay cheap for the CLI
    if name == "__all__":  # from the registry: a new task adds its predictor here without editing this file
        return ["__version__", *(s.api_name for s in task_registry().values()), "attention", "task_registry"]
    for spec in task_registry().values():  # each task's predictor: bertkit.Classifier, bertkit.QA, ...
        if spec.api_name == name:
            from bertkit.taskspec import load

            return load(spec.predictor_ref)
    if name == "attention":
        import importlib

        return importlib.import_module("bertkit.attention")
    raise AttributeError(f"module 'bertkit' has no attribute {name!r}")

"""Token classification as a bertkit task (registered in bertkit/tasks.py)."""

from bertkit.taskspec import TaskSpec

SPEC = TaskSpec(
    name="ner", help="Token classification: named entities, POS tags (CoNLL, JSON Lines).",
    settings_ref="bertkit.ner.settings:NERConfig", train_ref="bertkit.ner.train:train",
    predictor_ref="bertkit.ner.predict:Tagger", api_name="Tagger", cli_ref="bertkit.ner.cli:app",
    report_ref="bertkit.ner.report:sections", extra_metrics_ref="bertkit.ner.metric_adapter:ner_extra",
    auto_class="AutoModelForTokenClassification", arch_suffixes=("ForTokenClassification",),
    outputs={"logits": {0: "batch", 1: "sequence"}},
    noun="a token classifier", use_hint="use `bertkit ner predict`", train_noun="a token classifier",
    untrained_head="token classification head", pad={"labels": -100},
    serve_ref="bertkit.ner.serve:ADAPTER", gate_ref="bertkit.ner.gate:measure",
)

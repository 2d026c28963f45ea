"""A local Hugging Face `evaluate` metric (loads offline): Matthews correlation with scikit-learn.

    bertkit classify eval -m runs/reviews --data examples/reviews-dev.csv --extra-metric examples/metrics/mcc.py
"""

import datasets
import evaluate
from sklearn.metrics import matthews_corrcoef


class Mcc(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Matthews correlation coefficient of label ids (scikit-learn).",
            citation="",
            inputs_description="predictions, references: label ids",
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        return {"mcc": float(matthews_corrcoef(references, predictions))}

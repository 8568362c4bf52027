"""The rft example's grader: 1.0 when the last number of the answer is the expected one.

Azure runs `grade(sample, item)` without network, with 2 GB of memory and a 2 minute limit;
`item` is the training example (its `answer` field), `sample` the model's output.
"""

import re


def grade(sample: dict, item: dict) -> float:
    numbers = re.findall(r"-?\d+(?:\.\d+)?", sample.get("output_text", "").replace(",", ""))
    return 1.0 if numbers and float(numbers[-1]) == float(item["answer"]) else 0.0

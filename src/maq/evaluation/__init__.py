"""Evaluation: human-likeness metrics, checkpoint selection and the agent_performance CSV.

* :mod:`maq.evaluation.metrics`: exact DTW and standardized W1 of one episode against human data;
* :mod:`maq.evaluation.select`: the best checkpoint of a run by its training-time evaluation;
* :mod:`maq.evaluation.report`: aggregates and the locked, atomic CSV append;
* :mod:`maq.evaluation.evaluate`: the ``maq evaluate`` command that ties them together;
* :mod:`maq.evaluation.reference`: the Random and Human reference rows of the likeness score;
* :mod:`maq.evaluation.rows`: the results CSV read back, grouped per method and scored;
* :mod:`maq.evaluation.results`: the Markdown results report (``maq report``).

``evaluate`` and ``reference`` load policies through the method table (maq.methods), so they sit
above it, beside the CLI; the other modules are a library below it (tests/test_layering.py).
"""

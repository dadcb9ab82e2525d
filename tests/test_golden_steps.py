"""The same flags give the same first steps: the losses and weights that
tests/golden_steps.py recorded before the models were restructured."""

import json

import golden_steps
import numpy as np
import pytest

with open(golden_steps.PATH) as f:
    RECORDED = json.load(f)


@pytest.mark.parametrize("case", sorted(golden_steps.CASES))
def test_the_same_flags_give_the_same_first_steps_as_recorded(case, tmp_path):
    now = golden_steps.record(golden_steps.CASES[case], str(tmp_path))
    before = RECORDED[case]
    assert sorted(now["steps"]) == sorted(before["steps"])
    for name, values in before["steps"].items():
        # Other CPUs (AVX-512, another oneDNN path) round differently.
        np.testing.assert_allclose(
            now["steps"][name], values, rtol=1e-4, atol=1e-6, err_msg=f"{case}: {name}"
        )
    assert now["weights"]["count"] == before["weights"]["count"]
    np.testing.assert_allclose(now["weights"]["abs_sum"], before["weights"]["abs_sum"], rtol=1e-5)
    np.testing.assert_allclose(
        now["weights"]["sum"], before["weights"]["sum"], rtol=1e-4, atol=1e-3
    )

"""Columns and their layout: what the header must name, how fields may be padded."""

import numpy as np
import pytest

from trajectory.dump_cases import ELEMENTS, ORTHO, walk
from lmpflow.trajectory import DumpFormatError, read_dump, write_dump


def test_padded_columns_parse(tmp_path):
    truth = walk(n_frames=10)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS, float_format="%22.15g")
    np.testing.assert_allclose(read_dump(p, cache=False).positions, truth, atol=1e-10)


def test_missing_columns(tmp_path):
    truth = walk(n_frames=3)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS)
    text = p.read_text()
    p.write_text(text.replace("ITEM: ATOMS id type element xu yu zu",
                              "ITEM: ATOMS id type element xu yu q"))
    with pytest.raises(DumpFormatError, match="position columns"):
        read_dump(p, cache=False)
    p.write_text(text.replace("ITEM: ATOMS id ", "ITEM: ATOMS mol "))
    with pytest.raises(DumpFormatError, match="'id'"):
        read_dump(p, cache=False)

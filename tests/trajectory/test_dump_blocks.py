"""Gzip dumps that are cut short (a killed run) or damaged."""

import gzip
import zlib

import numpy as np
import pytest

from trajectory.dump_cases import ELEMENTS, ORTHO, walk
from lmpflow.trajectory import DumpFormatError, read_dump, write_dump


def test_gzip_cut_inside_a_frame_keeps_the_complete_frames(tmp_path):
    truth = walk(n_frames=200)
    p = write_dump(tmp_path / "d.lammpstrj.gz", truth, ORTHO, elements=ELEMENTS)
    data = p.read_bytes()
    p.write_bytes(data[:len(data) // 2])  # what a killed run leaves: no gzip trailer
    with pytest.raises(DumpFormatError, match=f"{p}.*truncated.*on_truncated='drop'"):
        read_dump(p, cache=False)
    with pytest.warns(UserWarning, match=f"{p}.*truncated"):
        tr = read_dump(p, cache=False, on_truncated="drop", block_bytes=4096)
    assert 50 < tr.n_frames < 200
    np.testing.assert_allclose(tr.positions, truth[:tr.n_frames], atol=1e-8)


def test_gzip_cut_between_frames_is_a_truncation_too(tmp_path):
    # The text ends with a complete frame, but the gzip stream has no end: frames may be lost.
    truth = walk(n_frames=20)
    full = write_dump(tmp_path / "full", truth, ORTHO, elements=ELEMENTS).read_bytes()
    cut = full.index(b"ITEM: TIMESTEP\n12\n")
    p = tmp_path / "d.gz"
    with open(p, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb") as gz:
            gz.write(full[:cut])
            gz.flush(zlib.Z_SYNC_FLUSH)  # everything so far decodable ...
            end = raw.tell()
            gz.write(full[cut:])
    p.write_bytes(p.read_bytes()[:end])  # ... and the rest of the stream lost
    with pytest.raises(DumpFormatError, match=f"{p}: the gzip stream ends .*after frame 11"):
        read_dump(p, cache=False)
    with pytest.warns(UserWarning, match="gzip stream ends"):
        tr = read_dump(p, cache=False, on_truncated="drop")
    np.testing.assert_allclose(tr.positions, truth[:12], atol=1e-8)


def test_corrupt_gzip_names_the_file(tmp_path):
    truth = walk(n_frames=50)
    p = write_dump(tmp_path / "d.gz", truth, ORTHO, elements=ELEMENTS)
    data = bytearray(p.read_bytes())
    data[-8] ^= 0xFF  # the CRC in the gzip trailer
    p.write_bytes(bytes(data))
    with pytest.raises(DumpFormatError, match=f"{p}: corrupt gzip data.*CRC"):
        read_dump(p, cache=False)
    data[-8] ^= 0xFF
    data[len(data) // 2:len(data) // 2 + 64] = bytes(64)  # damaged in the middle
    p.write_bytes(bytes(data))
    with pytest.raises(DumpFormatError, match=f"{p}: corrupt gzip data"):
        read_dump(p, cache=False)
    assert not (tmp_path / "d.gz.lmpflow" / "positions.npy").exists()

"""read_dump(cache=False) holds the positions once: no second copy while joining blocks."""

import tracemalloc

import numpy as np

from lmpflow.trajectory import read_dump
from lmpflow.trajectory.memory_sink import MemorySink


def test_memory_sink_grows_past_a_low_guess_and_trims_a_high_one():
    rng = np.random.default_rng(0)
    blocks = [rng.normal(size=(n, 5, 3)) for n in (3, 1, 7, 2, 9)]
    for guess in (1, 8, 1000):
        sink = MemorySink()
        sink.expect(guess)
        for b in blocks[:2]:
            sink.write(b)
        view = sink.buffer(len(blocks[2]), 5)  # assembled in place, then committed
        view[...] = blocks[2]
        sink.write(view)
        for b in blocks[3:]:
            sink.write(b)
        out = sink.publish(22, 5, {})
        np.testing.assert_array_equal(out, np.concatenate(blocks))
        assert out.flags.owndata and out.shape == (22, 5, 3)


def _quick_dump(path, positions, box_A):
    """``id type element xu yu zu`` text, one printf template per frame (write_dump is slow)."""
    n_atoms = positions.shape[1]
    head = ("ITEM: TIMESTEP\n{}\nITEM: NUMBER OF ATOMS\n%d\nITEM: BOX BOUNDS pp pp pp\n"
            "0 %g\n0 %g\n0 %g\nITEM: ATOMS id type element xu yu zu\n"
            ) % ((n_atoms,) + (box_A,) * 3)
    line = "".join(f"{i + 1} 1 Li %.6f %.6f %.6f\n" for i in range(n_atoms))
    with open(path, "w") as fh:
        for k, frame in enumerate(positions):
            fh.write(head.format(10 * k) + line % tuple(frame.ravel()))
    return path


def test_read_without_cache_peaks_near_one_copy_of_the_positions(tmp_path):
    rng = np.random.default_rng(1)
    n_frames, n_atoms = 3000, 200
    truth = rng.uniform(0, 10, (n_atoms, 3)) + np.cumsum(
        rng.normal(0, 0.05, (n_frames, n_atoms, 3)), axis=0)
    p = _quick_dump(tmp_path / "d", truth, 10.0)
    positions_bytes = truth.nbytes
    import pandas  # noqa: F401  (the fallback imports it on first use: not the reader's memory)
    tracemalloc.start()
    try:
        tr = read_dump(p, cache=False, block_bytes=1 << 18)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(tr.positions, truth, atol=1e-6)
    # One copy plus read buffers and blocks in flight; joining blocks at the end needed two.
    assert peak < 1.3 * positions_bytes, (peak, positions_bytes)

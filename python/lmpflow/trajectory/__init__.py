"""Read and write LAMMPS text dumps (``dump custom``), with correct unwrapping.

Modules, one concept each: ``trajectory`` (the result), ``dump_format`` (headers, boxes,
columns), ``dump_blocks`` (file → chunks of whole frames), ``frame_scan`` (frame headers
of a chunk), ``tokenizer`` (compiled or pandas number parsing), ``atoms`` (atom identity
across frames), ``unwrap``, ``dump_cache`` and ``memory_sink`` (where positions go),
``dump_reader`` and ``dump_writer``.
"""

from .dump_reader import read_dump
from .dump_writer import write_dump
from .tokenizer import native_parser_path
from .trajectory import DumpFormatError, Trajectory

__all__ = ["DumpFormatError", "Trajectory", "native_parser_path", "read_dump", "write_dump"]

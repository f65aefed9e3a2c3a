"""lmpflow: machine-learned force fields in LAMMPS for Li-ion transport in solid electrolytes."""
__version__ = "0.1.0"
